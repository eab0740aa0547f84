"""The de-identification plan's frames, as pure functions over polars frames:
per instance what happens (:func:`plan_frame`), the mapping old → new
(:func:`mapping_frame`) and the rules in effect (:func:`rules_frame`).
:class:`dicomkit.deid.plan.DeidentifyPlan` shows them and writes.

>>> import polars as pl
>>> from dicomkit.deid.engine import Settings
>>> rules = rules_frame(Settings.make("k"), None)
>>> rules.filter(pl.col("name") == "Patient's Name")["action"].to_list()
['Z']
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping

import polars as pl

from dicomkit.deid.burned import burned_in_reason_of
from dicomkit.deid.engine import Settings
from dicomkit.deid.iod import resolve_choice
from dicomkit.deid.keyed import date_offset, new_uid, pseudonym
from dicomkit.deid.table import load_rules, rule_action

__all__ = [
    "BEYOND_TABLE",
    "UID_COLUMNS",
    "VERBS",
    "mapping_frame",
    "most_frequent",
    "plan_frame",
    "rules_frame",
]

#: The UID columns of the scan that the plan maps.
UID_COLUMNS = (
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "FrameOfReferenceUID",
)
#: The action codes in words.
VERBS = {
    "D": "replace with a dummy",
    "Z": "empty",
    "X": "remove",
    "K": "keep",
    "C": "clean",
    "U": "remap UID",
}

#: The rules beyond the table's rows, as shown by :meth:`DeidentifyPlan.rules`.
BEYOND_TABLE: tuple[tuple[str, str, str], ...] = (
    (
        "private, not safe",
        "X",
        "private attributes removed (Table E.1-1 (GGGG,EEEE) odd: X)",
    ),
    (
        "not in table: numbers, CS, AT",
        "K",
        "kept: technical values that hold no free text",
    ),
    ("not in table: UID", "U", "remapped like every UID (class UIDs kept)"),
    ("not in table: sequence", "K", "kept, every item cleaned by the same rules"),
    (
        "not in table: pixel data, group 0028 binary",
        "K",
        "kept (burned-in text is not cleaned: refused by default)",
    ),
    (
        "not in table: technical text (Manufacturer, ConvolutionKernel …)",
        "K",
        "kept: dicomkit.deid.iod.KEEP_TEXT",
    ),
    (
        "not in table: other text, names, dates, binary",
        "X",
        "removed: not needed by the image",
    ),
    (
        "file meta, preamble",
        "U",
        "rebuilt: transfer syntax, class, new MediaStorageSOPInstanceUID; zero preamble",
    ),
)


def rules_frame(settings: Settings, sop_class: str | None) -> pl.DataFrame:
    """Every table row with the action it gets under ``settings`` (choices
    resolved for ``sop_class``) and why, then the rules beyond the table: what
    :meth:`dicomkit.deid.plan.DeidentifyPlan.rules` shows."""
    rows = []
    for rule in load_rules():
        code, option = rule_action(rule, settings.options)
        action, why = code, VERBS.get(code, code)
        if "/" in code:
            from pydicom.datadict import keyword_for_tag

            keyword = keyword_for_tag(rule.tag) if rule.tag is not None else ""
            action, why = resolve_choice(code, keyword or rule.name, sop_class)
        rows.append((rule.tag_text, rule.name, rule.basic, option, code, action, why))
    for name, action, why in BEYOND_TABLE:
        safe = "retain_safe_private" in settings.options
        if name.startswith("private") and safe:
            action, why = (
                "C",
                "only the elements PS3.15 Table E.3.10-1 lists as safe (by "
                "private creator and offset) kept, with their creators; "
                "every other block removed whole",
            )
        rows.append(("", name, "", "dicomkit", action, action, why))
    schema = ["tag", "name", "table", "option", "code", "action", "why"]
    return pl.DataFrame(rows, schema=schema, orient="row")


def mapping_frame(frame: pl.DataFrame, written_uids: Mapping[str, str]) -> pl.DataFrame:
    """Old → new from a plan's ``frame`` and the UIDs remapped in the files
    written (``written_uids``): what
    :attr:`dicomkit.deid.plan.DeidentifyPlan.mapping` shows."""
    f = frame
    parts = [
        f.select(
            pl.lit("PatientID").alias("kind"),
            pl.lit("PatientID").alias("attribute"),
            pl.col("PatientID").fill_null("").alias("old"),
            pl.col("new_PatientID").alias("new"),
        )
    ]
    if "offset_days" in f.columns and f["offset_days"].null_count() < f.height:
        parts.append(
            f.select(
                pl.lit("date_offset_days").alias("kind"),
                pl.lit("PatientID").alias("attribute"),
                pl.col("PatientID").fill_null("").alias("old"),
                pl.col("offset_days").cast(pl.Utf8).alias("new"),
            )
        )
    for column in UID_COLUMNS:
        if column in f.columns:
            parts.append(
                f.filter(pl.col(column).is_not_null()).select(
                    pl.lit("UID").alias("kind"),
                    pl.lit(column).alias("attribute"),
                    pl.col(column).alias("old"),
                    pl.col(f"new_{column}").alias("new"),
                )
            )
    if written_uids:
        old, new = zip(*sorted(written_uids.items()), strict=True)
        parts.append(
            pl.DataFrame(
                {
                    "kind": ["UID"] * len(old),
                    "attribute": ["(in the files)"] * len(old),
                    "old": list(old),
                    "new": list(new),
                }
            )
        )
    mapping = pl.concat(parts, how="vertical_relaxed")
    return mapping.unique(["kind", "old"], keep="first", maintain_order=True)


def most_frequent(frame: pl.DataFrame, column: str) -> str | None:
    """The most frequent value of ``column`` (the smallest of ties), or None."""
    if column not in frame.columns or frame[column].null_count() == frame.height:
        return None
    value = frame[column].drop_nulls().mode().sort()[0]
    return str(value)


def plan_frame(instances: pl.DataFrame, settings: Settings) -> pl.DataFrame:
    """One row per instance: its source UIDs and ``path``, the new PatientID
    and UIDs, ``offset_days``, ``action`` (``write`` or ``refuse``) and ``why``."""
    key, options = settings.key, settings.options
    retain_uids = "retain_uids" in options
    columns = [
        "path",
        "PatientID",
        *[c for c in UID_COLUMNS if c in instances.columns],
    ]
    extra = [
        c
        for c in ("Modality", "SOPClassUID", "BurnedInAnnotation")
        if c in instances.columns
    ]
    f = instances.select(*columns, *[c for c in extra if c not in columns])

    def mapped(
        values: Iterable[str | None], fn: functools.partial[str] | None
    ) -> dict[str, str]:
        return {v: (fn(v) if fn else v) for v in set(values) if v is not None}

    patients = mapped(
        f["PatientID"].fill_null(""), functools.partial(pseudonym, key=key)
    )
    f = f.with_columns(
        pl.col("PatientID")
        .fill_null("")
        .replace_strict(patients)
        .alias("new_PatientID")
    )
    for column in UID_COLUMNS:
        if column in f.columns:
            uids = mapped(
                f[column], None if retain_uids else functools.partial(new_uid, key=key)
            )
            f = f.with_columns(
                pl.col(column).replace_strict(uids, default=None).alias(f"new_{column}")
            )
    if "retain_longitudinal_modified_dates" in options:
        offsets = {p: date_offset(p, key) for p in patients}
        f = f.with_columns(
            pl.col("PatientID")
            .fill_null("")
            .replace_strict(offsets, return_dtype=pl.Int64)
            .alias("offset_days")
        )
    else:
        f = f.with_columns(pl.lit(None, dtype=pl.Int64).alias("offset_days"))
    whys = []
    actions = []
    for row in f.iter_rows(named=True):
        reason = burned_in_reason_of(
            row.get("BurnedInAnnotation"), row.get("Modality"), row.get("SOPClassUID")
        )
        if reason and not settings.allow_burned_in:
            actions.append("refuse")
            whys.append(
                f"{reason}: dicomkit does not clean pixels; check them, then pass allow_burned_in=True"
            )
        elif reason:
            actions.append("write")
            whys.append(
                f"{reason}: copied as asked (allow_burned_in=True), with a warning"
            )
        else:
            actions.append("write")
            whys.append(
                "PS3.15 Basic Profile" + (f" + {', '.join(options)}" if options else "")
            )
    return f.with_columns(
        pl.Series("action", actions, dtype=pl.Utf8),
        pl.Series("why", whys, dtype=pl.Utf8),
    )
