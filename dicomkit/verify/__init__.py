"""Verify that the UIDs and the geometry of a collection hold what they promise.

Pure: frames in, a findings frame out. ``verify()`` never raises on bad data; it
returns one row per finding with these columns:

``severity``          ``error | warning | info``
``check``             a stable snake_case id (see :data:`CHECKS`)
``level``             ``file | collection | patient | study | series | instance``
``uid``               the PatientID or UID of the group (or instance) concerned
``message``           what was expected, what was found, where, and what to do
``sop_instance_uids`` the instances concerned (list)
``value``             the measured value, where there is one (mm, degrees, count)
``paths``             the files concerned that are not instances (``unreadable_file``)
``PatientID``, ``StudyDate``, ``SeriesNumber``, ``SeriesDescription``, ``Modality``
                      where the finding is, so that it reads without a join: the
                      value the instances concerned share (null where they differ)

Messages name a series by its number and description before its UID
(``series 3 "AX T1" (1.2.840…)``) and quote paths relative to the folder that
holds every file scanned (:func:`dicomkit.text.common_folder`).

Tolerances are parameters (:class:`Tolerances`) with the defaults of
``split-verify-rules.md`` §3; :mod:`dicomkit.geometry` says what each one means.
"""

from __future__ import annotations

import re
from typing import Any

import polars as pl

from dicomkit.exceptions import VerificationError
from dicomkit.render import clip
from dicomkit.text import common_folder
from dicomkit.verify._common import (
    CHECKS,
    CONTEXT_COLUMNS,
    FINDING_SCHEMA,
    SEVERITY_ORDER,
    Tolerances,
)
from dicomkit.verify.consistency import consistency_findings
from dicomkit.verify.files import file_findings
from dicomkit.verify.identity import identity_findings
from dicomkit.verify.slices import geometry_findings

__all__ = [
    "BLOCKING_CHECKS",
    "CHECKS",
    "FINDING_SCHEMA",
    "Tolerances",
    "VerificationError",
    "describe_checks",
    "series_badges",
    "verify",
]


#: Findings that make a series something other than one regular volume. A
#: ``duplicate_position`` that is a clean repeat is not blocking: it is 4-D.
BLOCKING_CHECKS = frozenset(
    {
        "mixed_orientation",
        "duplicate_position",
        "missing_slices",
        "irregular_spacing",
        "missing_geometry",
        "invalid_orientation",
        "mixed_pixel_format",
        "mixed_modality",
    }
)


def series_badges(findings: pl.DataFrame, instances: pl.DataFrame) -> dict[str, str]:
    """The worst severity of the findings about each series (its own, and its
    instances'): ``{SeriesInstanceUID: "error" | "warning" | "info"}``."""
    of_sop = dict(
        zip(instances["SOPInstanceUID"], instances["SeriesInstanceUID"], strict=True)
    )
    series = set(instances["SeriesInstanceUID"].drop_nulls())
    worst: dict[str, str] = {}
    for row in findings.iter_rows(named=True):
        targets = {row["uid"]} & series if row["level"] == "series" else set()
        targets |= {of_sop[s] for s in row["sop_instance_uids"] if of_sop.get(s)}
        for uid in targets:
            if (
                uid not in worst
                or SEVERITY_ORDER[row["severity"]] < SEVERITY_ORDER[worst[uid]]
            ):
                worst[uid] = row["severity"]
    return worst


def describe_checks() -> pl.DataFrame:
    """The catalogue of checks: id, level, default severity and what it detects."""
    return pl.DataFrame(
        [(k, *v) for k, v in CHECKS.items()],
        schema=["check", "level", "severity", "description"],
        orient="row",
    )


def verify(
    instances: pl.DataFrame,
    resends: pl.DataFrame | None = None,
    *,
    errors: pl.DataFrame | None = None,
    frames: pl.DataFrame | None = None,
    tolerances: Tolerances | None = None,
    strict: bool = False,
) -> pl.DataFrame:
    """Run every check and return the findings (never raises unless ``strict``).

    Parameters
    ----------
    instances
        The instance frame.
    resends
        The resend frame (for ``sop_uid_conflict`` and ``modified_resend``).
    errors
        The error frame (``path``, ``reason``, ``message``): one
        ``unreadable_file`` finding per reason. An empty ``instances`` frame is a
        ``no_instances`` finding.
    frames
        Per-frame geometry of multi-frame instances: ``SOPInstanceUID``,
        ``frame`` (1-based), ``ImagePositionPatient``, ``ImageOrientationPatient``.
        Their frames replace the instance's own position in the geometry checks.
    tolerances
        Geometry tolerances (:class:`Tolerances`).
    strict
        Raise :class:`VerificationError` when any finding is an error.
    """
    tol = tolerances or Tolerances()
    root = common_folder(
        p
        for frame in (instances, resends, errors)
        if frame is not None and "path" in frame.columns
        for p in frame["path"]
    )
    rows: list[dict[str, Any]] = []
    rows += file_findings(instances, errors, root)
    rows += identity_findings(instances, resends, root)
    rows += consistency_findings(instances)
    rows += geometry_findings(instances, frames, tol)
    _name_series(rows, instances, resends)
    findings = _with_context(pl.DataFrame(rows, schema=FINDING_SCHEMA), instances)
    findings = findings.sort(
        pl.col("severity").replace_strict(SEVERITY_ORDER, return_dtype=pl.Int8),
        "check",
        "uid",
        maintain_order=True,
    )
    if strict and (findings["severity"] == "error").any():
        raise VerificationError(findings)
    return findings


# -- reading a finding without a join ------------------------------------------------

_SERIES_IN_MESSAGE = re.compile(
    r"(?<![\w.])(series|SeriesInstanceUID) ([0-9][0-9.]*[0-9])"
)


def _series_names(frame: pl.DataFrame | None) -> dict[str, str]:
    """SeriesInstanceUID → ``3 "AX T1"`` (number and description, where known)."""
    if frame is None or frame.is_empty() or "SeriesNumber" not in frame.columns:
        return {}
    described = "SeriesDescription" in frame.columns
    named = (
        frame.drop_nulls("SeriesInstanceUID")
        .group_by("SeriesInstanceUID")
        .agg(
            pl.col("SeriesNumber").drop_nulls().unique().alias("n"),
            (pl.col("SeriesDescription") if described else pl.lit(None, pl.Utf8))
            .drop_nulls()
            .unique()
            .alias("d"),
        )
    )
    names: dict[str, str] = {}
    for uid, numbers, descriptions in named.iter_rows():
        parts = [str(numbers[0])] if len(numbers) == 1 else []
        if len(descriptions) == 1:
            parts.append('"' + clip(descriptions[0]).replace('"', "'") + '"')
        if parts:
            names[uid] = " ".join(parts)
    return names


def _name_series(
    rows: list[dict[str, Any]],
    instances: pl.DataFrame,
    resends: pl.DataFrame | None,
) -> None:
    """Put each series' number and description before its UID in the messages:
    ``series 1.2.3`` becomes ``series 3 "AX T1" (1.2.3)``."""
    names = _series_names(resends) | _series_names(instances)
    if not names:
        return

    def named(match: re.Match[str]) -> str:
        word, uid = match.groups()
        if uid not in names:
            return match.group(0)
        if word == "series":
            return f"series {names[uid]} ({uid})"
        return f"series {names[uid]} (SeriesInstanceUID {uid})"

    for row in rows:
        row["message"] = _SERIES_IN_MESSAGE.sub(named, row["message"])


def _with_context(findings: pl.DataFrame, instances: pl.DataFrame) -> pl.DataFrame:
    """Fill PatientID, StudyDate, SeriesNumber, SeriesDescription and Modality from
    the instances each finding is about: its ``sop_instance_uids``, and every
    instance of the series, study or patient it names."""
    present = [c for c in CONTEXT_COLUMNS if c in instances.columns]
    if findings.is_empty() or instances.is_empty() or not present:
        return findings
    numbered = findings.with_row_index("_i")
    context = instances.select(
        "SOPInstanceUID",
        *{"PatientID", "StudyInstanceUID", "SeriesInstanceUID", *present}
        & set(instances.columns),
    )
    members = [
        numbered.select("_i", pl.col("sop_instance_uids").alias("SOPInstanceUID"))
        .explode("SOPInstanceUID")
        .join(context, on="SOPInstanceUID")
    ]
    for level, key in (
        ("series", "SeriesInstanceUID"),
        ("study", "StudyInstanceUID"),
        ("patient", "PatientID"),
    ):
        if key in context.columns:
            members.append(
                numbered.filter(pl.col("level") == level)
                .select("_i", pl.col("uid").alias(key))
                .join(context, on=key)
            )
    columns = ["_i", *present]
    shared = (
        pl.concat([m.select(columns) for m in members])
        .group_by("_i")
        .agg(
            [
                pl.when(pl.col(c).drop_nulls().n_unique() == 1)
                .then(pl.col(c).drop_nulls().first())
                .alias(c)
                for c in present
            ]
        )
    )
    filled = (
        numbered.drop(present).join(shared, on="_i", how="left").sort("_i").drop("_i")
    )
    return filled.select(
        [
            pl.col(c).cast(FINDING_SCHEMA[c]) if c in present else pl.col(c)
            for c in FINDING_SCHEMA
        ]
    )
