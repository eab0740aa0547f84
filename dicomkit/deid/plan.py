"""The de-identification plan: what will happen, per attribute class and per
instance, and why; then the new files, written once asked.

>>> import dicomkit as dk
>>> col = dk.scan("data/sample")                                   # doctest: +SKIP
>>> plan = col.deidentify(key="project secret",
...                       options=["retain_longitudinal_modified_dates"])  # doctest: +SKIP
>>> plan.rules().filter(pl.col("action") == "C")                   # doctest: +SKIP
>>> plan.mapping          # old → new, for the data custodian only  # doctest: +SKIP
>>> new = plan.write("shared/")                                     # doctest: +SKIP
>>> plan.compare(new)     # same numbers of patients, studies, series, instances  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import html
import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

import polars as pl

from dicomkit._warnings import warn
from dicomkit.deid.engine import Settings, deidentify_dataset
from dicomkit.deid.frames import (
    BEYOND_TABLE,
    VERBS,
    mapping_frame,
    most_frequent,
    plan_frame,
    rules_frame,
)
from dicomkit.exceptions import DeidentificationWarning, DicomkitError
from dicomkit.render import clip

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from dicomkit.io.deid_write import TransformResult
    from dicomkit.plan import PlanSource

__all__ = ["BEYOND_TABLE", "DeidentifyPlan", "transform"]

_SAFE = re.compile(r"[^A-Za-z0-9.]+")


def transform(settings: Settings, ds: Dataset) -> TransformResult:
    """De-identify ``ds`` for :func:`dicomkit.io.deid_write.write_jobs` (picklable
    with :func:`functools.partial`)."""
    from dicomkit.io.deid_write import TransformResult

    for tag in [t for t in ds._dict if t >> 16 == 0]:
        del ds[
            tag
        ]  # command-set elements: never valid in a file (dcmwrite refuses them)
    outcome = deidentify_dataset(ds, settings)
    return TransformResult(outcome.refused, outcome.findings, outcome.uids)


def _component(text: str | None) -> str:
    """A path component from a new value: ASCII letters, digits and dots only."""
    name = _SAFE.sub("_", text or "").strip("._")[:64].strip("._")
    return name or "unknown"


R = TypeVar("R")


class DeidentifyPlan(Generic[R]):
    """A de-identification of a collection, inspected before anything is written.

    Built by :meth:`dicomkit.Collection.deidentify`. Nothing is read or written
    until :meth:`explain` (one file) or :meth:`write`.

    Attributes
    ----------
    frame
        One row per instance: its source UIDs and ``path``, the new PatientID and
        UIDs it gets, its date ``offset_days`` (with
        ``retain_longitudinal_modified_dates``), ``action`` (``write`` or
        ``refuse``) and ``why``.
    settings
        The key (never shown), the options and ``allow_burned_in``.
    report
        After :meth:`write`: one row per instance, ``status`` ``written``,
        ``refused`` or ``failed``, with the ``message`` and the ``findings``.
    """

    def __init__(
        self,
        source: PlanSource,
        settings: Settings,
        *,
        wrap: Callable[[pl.DataFrame, pl.DataFrame, pl.DataFrame], R],
    ) -> None:
        self._source = source
        self._wrap = wrap
        self.settings = settings
        self.frame = plan_frame(source.instances, settings)
        self.report: pl.DataFrame | None = None
        self._written_uids: dict[str, str] = {}

    def __len__(self) -> int:
        return self.frame.height

    # -- inspecting ------------------------------------------------------------------

    def rules(self, sop_class: str | None = None) -> pl.DataFrame:
        """Every table row with the action it gets here, and why; then the rules
        beyond the table.

        Columns: ``tag``, ``name``, ``table`` (the Basic Profile code), ``option``
        (the option that decided, or ``basic``), ``code`` (the code in effect),
        ``action`` (the choice resolved for ``sop_class``, by default the most
        frequent SOP class of the collection) and ``why``.
        """
        sop_class = sop_class or most_frequent(self.frame, "SOPClassUID")
        return rules_frame(self.settings, sop_class)

    def classes(self) -> pl.DataFrame:
        """The table's rows grouped by the action they get: ``action``, ``n_rows``,
        ``examples`` — the per-class view the repr shows."""
        return (
            self.rules()
            .filter(pl.col("table") != "")
            .group_by("action")
            .agg(
                pl.len().alias("n_rows"),
                pl.col("name").head(4).str.join(", ").alias("examples"),
            )
            .sort("n_rows", descending=True)
        )

    def explain(self, sop_instance_uid: str) -> pl.DataFrame:
        """Every element of one instance's file (sequence items included) with its
        ``action`` and ``why``: reads that one file, writes nothing.

        Columns ``where`` (the sequence path), ``tag``, ``keyword``, ``VR``,
        ``action`` (the table's code, or ``keep``/``drop`` beyond it), ``why``.
        """
        from dicomkit.io.deid_write import read_dataset

        rows = self.frame.filter(pl.col("SOPInstanceUID") == sop_instance_uid)
        if rows.is_empty():
            from dicomkit.exceptions import UnknownUIDError

            raise UnknownUIDError(sop_instance_uid, "SOPInstanceUID", [])
        ds = read_dataset(rows["path"][0], header_only=True)
        settings = Settings(self.settings.key, self.settings.options, True)
        outcome = deidentify_dataset(ds, settings, log=True)
        schema = ["where", "tag", "keyword", "VR", "action", "why"]
        return pl.DataFrame(outcome.log or [], schema=schema, orient="row")

    @property
    def mapping(self) -> pl.DataFrame:
        """Old → new, for the data custodian: it re-identifies, so it is never
        written beside the copies (keep it apart, like the key).

        Columns ``kind`` (``PatientID``, ``UID``, ``date_offset_days``),
        ``attribute``, ``old``, ``new``. Before :meth:`write` the UIDs are those of
        the scan's columns; after it, every UID remapped in any file (sequence
        items, file meta) is added.
        """
        return mapping_frame(self.frame, self._written_uids)

    def compare(self, new: PlanSource) -> pl.DataFrame:
        """Patients, studies, series and instances: written (the plan's instances
        less those refused or failed) against ``new`` (the rescan). Equal counts
        mean the same hierarchy shape."""
        written = self.frame
        if self.report is not None:
            ok = self.report.filter(pl.col("status") == "written")["path"]
            written = written.filter(pl.col("path").is_in(ok.implode()))
        else:
            written = written.filter(pl.col("action") == "write")
        rows = []
        for level, column in (
            ("patients", "PatientID"),
            ("studies", "StudyInstanceUID"),
            ("series", "SeriesInstanceUID"),
            ("instances", "SOPInstanceUID"),
        ):
            rows.append(
                (level, written[column].n_unique(), new.instances[column].n_unique())
            )
        return pl.DataFrame(rows, schema=["level", "expected", "found"], orient="row")

    # -- showing ---------------------------------------------------------------------

    def _counts(self) -> str:
        f = self.frame
        return (
            f"{f.height} instances of {f['PatientID'].n_unique()} patient(s), "
            f"{f['StudyInstanceUID'].n_unique()} studies, "
            f"{f['SeriesInstanceUID'].n_unique()} series"
        )

    def __repr__(self) -> str:
        options = ", ".join(self.settings.options) or "none (Basic Profile only)"
        lines = [
            f"dicomkit.DeidentifyPlan: {self._counts()}",
            f"  options: {options}; key: {len(self.settings.key)} bytes (not shown)",
            "  per attribute class (PS3.15 Table E.1-1, 621 rows):",
        ]
        for row in self.classes().iter_rows(named=True):
            verb = VERBS.get(row["action"], row["action"])
            lines.append(
                f"    {row['action']:<2} {verb:<21} {row['n_rows']:>4} rows  e.g. {clip(row['examples'], 80)}"
            )
        lines.append("  beyond the table:")
        lines += [
            f"    {action:<2} {clip(name, 60)}: {why}"
            for name, action, why in BEYOND_TABLE
        ]
        refused = self.frame.filter(pl.col("action") == "refuse")
        lines.append(
            f"  per instance: {self.frame.height - refused.height} to write, "
            f"{refused.height} refused (plan.frame; plan.explain(SOPInstanceUID) for every element)"
        )
        for reason, n in refused.group_by("why", maintain_order=True).len().iter_rows():
            lines.append(f"    refused {n}: {clip(reason, 200)}")
        if left := self.left_out():
            lines.append(f"  not in the plan: {left}")
        return "\n".join(lines)

    def left_out(self) -> str:
        """What the scan found that the plan does not write: superseded copies
        (``col.resends``: their newer copy is written) and files that are not
        instances (``col.errors``); empty when there are none."""
        parts = []
        if self._source.resends.height:
            parts.append(
                f"{self._source.resends.height} superseded copies (col.resends)"
            )
        if self._source.errors.height:
            parts.append(
                f"{self._source.errors.height} files that are not instances (col.errors)"
            )
        return ", ".join(parts)

    def _repr_html_(self) -> str:
        esc = html.escape
        options = ", ".join(self.settings.options) or "none (Basic Profile only)"
        head = (
            f"<b>dicomkit.DeidentifyPlan</b>: {esc(self._counts())}<br>"
            f"options: {esc(options)}; key: {len(self.settings.key)} bytes (not shown)"
        )
        classes = "".join(
            f"<tr><td>{esc(r['action'])}</td><td>{esc(VERBS.get(r['action'], r['action']))}</td>"
            f"<td>{r['n_rows']}</td><td>{esc(clip(r['examples'], 120))}</td></tr>"
            for r in self.classes().iter_rows(named=True)
        )
        beyond = "".join(
            f"<tr><td>{esc(a)}</td><td>{esc(n)}</td><td></td><td>{esc(w)}</td></tr>"
            for n, a, w in BEYOND_TABLE
        )
        shown = self.frame.head(50)
        instances = "".join(
            f"<tr><td>{esc(clip(r['SOPInstanceUID'], 64))}</td><td>{esc(clip(r['new_SOPInstanceUID'], 64))}</td>"
            f"<td>{esc(r['action'])}</td><td>{esc(clip(r['why'], 200))}</td></tr>"
            for r in shown.iter_rows(named=True)
        )
        more = (
            f"<p>… and {self.frame.height - shown.height} more instances (plan.frame)</p>"
            if self.frame.height > shown.height
            else ""
        )
        return (
            f"<div>{head}<h4>per attribute class (PS3.15 Table E.1-1)</h4>"
            "<table><tr><th>code</th><th>action</th><th>rows</th><th>e.g. / why</th></tr>"
            f"{classes}{beyond}</table><h4>per instance</h4>"
            "<table><tr><th>SOPInstanceUID</th><th>new</th><th>action</th><th>why</th></tr>"
            f"{instances}</table>{more}</div>"
        )

    # -- doing it --------------------------------------------------------------------

    def targets(self, dest: str | os.PathLike[str]) -> pl.DataFrame:
        """``path`` → ``target`` for the instances to write: ``dest`` /
        new PatientID / new StudyInstanceUID / new SeriesInstanceUID /
        new SOPInstanceUID ``.dcm`` — new values only, never an original name."""
        top = os.path.abspath(os.fspath(dest))
        rows = self.frame.filter(pl.col("action") == "write")
        targets = [
            os.path.join(
                top,
                _component(r["new_PatientID"]),
                _component(r["new_StudyInstanceUID"]),
                _component(r["new_SeriesInstanceUID"]),
                _component(r["new_SOPInstanceUID"]) + ".dcm",
            )
            for r in rows.iter_rows(named=True)
        ]
        return rows.select("path", "new_SOPInstanceUID").with_columns(
            pl.Series("target", targets, dtype=pl.Utf8)
        )

    def write(
        self,
        dest: str | os.PathLike[str],
        *,
        workers: int | None = None,
        progress: bool | None = None,
    ) -> R:
        """Write the de-identified copies into ``dest``; return their rescan.

        Only new files, atomically (temporary files, one sync per batch, then
        the renames: :class:`dicomkit.io.atomic.AtomicBatch`); the sources
        are only read; an existing target, or a ``dest`` holding source files,
        is refused before anything is written. The mapping is never written
        here. A file that cannot be read, de-identified or encoded is not
        written, and neither is a refused one (burned-in text): the others are,
        and :attr:`report` lists every instance's ``status`` and ``message``
        (a :class:`dicomkit.DeidentificationWarning` says how many were not).

        Raises
        ------
        FileExistsError
            A target exists (nothing is written).
        ValueError
            ``dest`` holds source files, or a target would leave it.
        DicomkitError
            The rescan does not hold exactly the written instances.
        """
        from dicomkit.io.deid_write import Job, write_jobs
        from dicomkit.pipeline import scan_files
        from dicomkit.schema import validate_keywords

        top = os.path.abspath(os.fspath(dest))
        targets = self.targets(top)
        jobs = [
            Job(*row)
            for row in targets.select(
                "path", "target", "new_SOPInstanceUID"
            ).iter_rows()
        ]
        results = write_jobs(
            jobs,
            functools.partial(transform, self.settings),
            top,
            workers=workers,
            progress=progress,
        )
        for result in results:
            self._written_uids.update(result.uids)
        refused = self.frame.filter(pl.col("action") == "refuse")
        rows = [
            (
                r.source,
                r.target if r.status == "written" else None,
                r.status,
                r.message,
                [f"{s}: {m}" for s, _, m in r.findings],
            )
            for r in results
        ] + [
            (p, None, "refused", w, [])
            for p, w in refused.select("path", "why").iter_rows()
        ]
        self.report = pl.DataFrame(
            rows,
            schema={
                "path": pl.Utf8,
                "written_path": pl.Utf8,
                "status": pl.Utf8,
                "message": pl.Utf8,
                "findings": pl.List(pl.Utf8),
            },
            orient="row",
        )
        not_written = self.report.filter(pl.col("status") != "written")
        warned = self.report.filter(pl.col("findings").list.len() > 0)
        if not_written.height or warned.height:
            warn(
                f"dicomkit: {not_written.height} of {self.report.height} instances "
                f"not written, {warned.height} with findings (plan.report): "
                + "; ".join(clip(m, 200) for m in not_written["message"].head(3)),
                DeidentificationWarning,
            )
        written = [r.target for r in results if r.status == "written"]
        if written:
            # DICOM keywords are never lower case; dicomkit's own columns always are
            keywords = [c for c in self._source.instances.columns if not c.islower()]
            instances, resends, errors = scan_files(
                written,
                validate_keywords(keywords),
                progress=False,
                cache=False,
                workers=workers,
            ).output
        else:
            instances = self._source.instances.clear()
            resends = self._source.resends.clear()
            errors = self._source.errors.clear()
        n_files = instances.height + resends.height + errors.height
        if n_files != len(written) or instances.height != len(written):
            msg = (
                f"the rescan of {top} holds {instances.height} instances and "
                f"{errors.height} errors for {len(written)} files written"
            )
            raise DicomkitError(msg)
        return self._wrap(instances, resends, errors)
