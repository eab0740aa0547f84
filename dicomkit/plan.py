"""A Plan: a split or merge, inspected first, then applied in memory or written.

A plan never touches the source files. ``plan.apply()`` returns a new collection
with the new UIDs and provenance columns (``source_series_uid``,
``source_sop_uid``); ``plan.write(dest)`` writes new DICOM files into ``dest``
only, atomically, then rescans them and checks they hold exactly the plan.

A plan needs only the frames of its source (:class:`PlanSource`: ``instances``,
``resends``, ``errors``) and a ``wrap`` callable that turns result frames into the
caller's type (``Collection`` passes itself); without one, results are
:class:`PlanFrames`. This module does not import :mod:`dicomkit.collection`.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable
from typing import Any, Generic, NamedTuple, Protocol, TypeVar, overload

import polars as pl

from dicomkit.exceptions import DicomkitError
from dicomkit.io.write import write_instances
from dicomkit.pipeline import scan_files
from dicomkit.render import MAX_MESSAGE, clip
from dicomkit.schema import validate_keywords
from dicomkit.text import plural

__all__ = ["Plan", "PlanFrames", "PlanSource"]

#: Plan columns that are dicomkit's, not DICOM attributes to write.
_PLAN_OWN = frozenset(
    {
        "SOPInstanceUID",
        "path",
        "source_series_uid",
        "group",
        "group_key",
        "reason",
        "new_series_uid",
        "new_sop_uid",
        "volume",
    }
)


class PlanSource(Protocol):
    """What a plan reads from its source: the three frames of a collection."""

    @property
    def instances(self) -> pl.DataFrame: ...

    @property
    def resends(self) -> pl.DataFrame: ...

    @property
    def errors(self) -> pl.DataFrame: ...


class PlanFrames(NamedTuple):
    """The frames of a plan's result, for a plan made without ``wrap``."""

    instances: pl.DataFrame
    resends: pl.DataFrame
    errors: pl.DataFrame


R = TypeVar("R")


class Plan(Generic[R]):
    """Which instances go where, and why; nothing is changed until applied.

    Attributes
    ----------
    frame
        One row per instance that changes: its source UIDs, its group, the reason,
        its new UIDs and the attributes it gets.
    kind
        ``"split"`` or ``"merge"``.

    ``source`` is any :class:`PlanSource` (a ``Collection``); ``wrap(instances,
    resends, errors)`` makes the results of :meth:`apply` and :meth:`write`
    (``Collection`` passes itself; the default gives :class:`PlanFrames`).
    """

    @overload
    def __init__(
        self: Plan[PlanFrames], frame: pl.DataFrame, source: PlanSource, *, kind: str
    ) -> None: ...

    @overload
    def __init__(
        self,
        frame: pl.DataFrame,
        source: PlanSource,
        *,
        kind: str,
        wrap: Callable[[pl.DataFrame, pl.DataFrame, pl.DataFrame], R],
    ) -> None: ...

    def __init__(
        self,
        frame: pl.DataFrame,
        source: PlanSource,
        *,
        kind: str,
        wrap: Callable[[pl.DataFrame, pl.DataFrame, pl.DataFrame], Any] = PlanFrames,
    ) -> None:
        self.frame = frame
        self.kind = kind
        self._source = source
        self._wrap: Callable[[pl.DataFrame, pl.DataFrame, pl.DataFrame], R] = wrap

    def __len__(self) -> int:
        return self.frame.height

    def summary(self) -> pl.DataFrame:
        """One row per new series: its number, description, size and reason."""
        if self.frame.is_empty():
            return pl.DataFrame(
                schema={
                    "source_series_uid": pl.Utf8(),
                    "new_series_uid": pl.Utf8(),
                    "SeriesNumber": pl.Int64(),
                    "SeriesDescription": pl.Utf8(),
                    "n_instances": pl.UInt32(),
                    "reason": pl.Utf8(),
                }
            )
        return (
            self.frame.group_by("new_series_uid", maintain_order=True)
            .agg(
                pl.col("source_series_uid").unique().sort().str.join(", "),
                pl.col("SeriesNumber").first(),
                pl.col("SeriesDescription").first(),
                pl.len().alias("n_instances"),
                pl.col("reason").first(),
            )
            .select(
                "source_series_uid",
                "new_series_uid",
                "SeriesNumber",
                "SeriesDescription",
                "n_instances",
                "reason",
            )
            .sort("source_series_uid", "SeriesNumber", maintain_order=True)
        )

    def __repr__(self) -> str:
        groups = self.summary()
        if groups.is_empty():
            return f"dicomkit.Plan ({self.kind}): nothing to do"
        lines = [
            f"dicomkit.Plan ({self.kind}): {plural(self.frame.height, 'instance')} → {plural(groups.height, 'series')}"
        ]
        for row in groups.iter_rows(named=True):
            lines.append(
                f"  series {row['SeriesNumber']}  {clip(row['SeriesDescription'])}  "
                f"{plural(row['n_instances'], 'instance')}  (from {clip(row['source_series_uid'], 80)})"
            )
        for reason in dict.fromkeys(groups["reason"].to_list()):
            lines.append(f"  why: {clip(reason, MAX_MESSAGE)}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        esc = html.escape
        groups = self.summary()
        head = f"<b>dicomkit.Plan</b> ({esc(self.kind)}): {plural(self.frame.height, 'instance')}"
        cells = "".join(
            "<tr>"
            + "".join(
                f"<td>{esc(clip(row[c], 120))}</td>"
                for c in (
                    "SeriesNumber",
                    "SeriesDescription",
                    "n_instances",
                    "reason",
                    "new_series_uid",
                )
            )
            + "</tr>"
            for row in groups.iter_rows(named=True)
        )
        header = "<tr><th>SeriesNumber</th><th>description</th><th>instances</th><th>why</th><th>new SeriesInstanceUID</th></tr>"
        return f"<div>{head}<table>{header}{cells}</table></div>"

    # -- doing it ---------------------------------------------------------------------

    def _changes(self) -> pl.DataFrame:
        """``SOPInstanceUID`` → the DICOM attributes each instance gets."""
        extra = [c for c in self.frame.columns if c not in _PLAN_OWN]
        return self.frame.select(
            pl.col("SOPInstanceUID").alias("source_sop_uid"),
            pl.col("source_series_uid"),
            pl.col("new_series_uid").alias("SeriesInstanceUID"),
            pl.col("new_sop_uid").alias("SOPInstanceUID"),
            *extra,
        )

    def apply(self) -> R:
        """A new collection with the plan applied in memory (no file is written).

        Instances that change get their new UIDs and attributes; every instance
        has ``source_series_uid`` and ``source_sop_uid`` saying where it came from.
        Every resend and error row is kept (files seen never changes): a
        superseded copy of a moved instance moves with it.
        """
        changes = self._changes().drop("source_series_uid")
        instances = _changed(self._source.instances, changes, "SeriesInstanceUID")
        resends = _changed(
            self._source.resends,
            changes,
            "SeriesInstanceUID",
            chain=self.frame.select(
                pl.col("SOPInstanceUID").alias("_current_sop"),
                pl.col("source_series_uid").alias("_current_series"),
            ),
        )
        return self._wrap(
            instances.sort("path"), resends.sort("path"), self._source.errors
        )

    def write(
        self,
        dest: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        progress: bool | None = None,
    ) -> R:
        """Write the changed instances as new DICOM files into ``dest``; rescan them.

        Only ``dest`` is written, atomically (temporary file, then rename); source
        files are only read. References inside the written files (e.g.
        ReferencedSOPInstanceUID) to instances of the plan are updated. Existing
        files in ``dest`` are refused unless ``overwrite=True``.

        Returns
        -------
        Collection
            The scan of the written files (made by ``wrap``).

        Raises
        ------
        FileExistsError
            A target file exists and ``overwrite`` is False (nothing is written).
        DicomkitError
            The written files do not rescan to the plan (should never happen).
        """
        changes = self._changes().rename({"source_sop_uid": "_source_sop"})
        paths = self.frame.select(pl.col("SOPInstanceUID").alias("_source_sop"), "path")
        to_write = changes.join(paths, on="_source_sop", how="left")
        uid_map: dict[str, str] = {}
        for row in self.frame.iter_rows(named=True):
            uid_map[row["SOPInstanceUID"]] = row["new_sop_uid"]
            uid_map[row["source_series_uid"]] = row["new_series_uid"]
        written = write_instances(
            to_write.drop("_source_sop", "source_series_uid"),
            dest,
            uid_map=uid_map,
            overwrite=overwrite,
            progress=progress,
        )
        # DICOM keywords are never lower case; dicomkit's own columns always are
        keywords = [c for c in self._source.instances.columns if not c.islower()]
        instances, resends, errors = scan_files(
            written["written_path"].to_list(),
            validate_keywords(keywords),
            progress=False,
            cache=False,
        ).output
        _check_rescan(self.frame, instances, errors)
        return self._wrap(instances, resends, errors)


def _changed(
    frame: pl.DataFrame,
    changes: pl.DataFrame,
    series: str,
    *,
    chain: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """``frame`` with the plan's ``changes`` applied to the rows they name, and
    provenance columns on every row; no row is added or dropped.

    With ``chain`` (plan SOPInstanceUID → its source series), only rows in that
    series change: a conflict copy filed under another series keeps its UIDs.
    """
    if "source_sop_uid" not in frame.columns:  # provenance survives chained plans
        frame = frame.with_columns(
            pl.col(series).alias("source_series_uid"),
            pl.col("SOPInstanceUID").alias("source_sop_uid"),
        )
    changes = changes.rename({"source_sop_uid": "_current_sop"})
    keyed = frame.with_row_index("_row")
    if chain is not None:
        changes = changes.join(chain, on="_current_sop", how="inner")
        joined = keyed.join(
            changes,
            left_on=["SOPInstanceUID", series],
            right_on=["_current_sop", "_current_series"],
            how="inner",
            suffix="_new",
        )
    else:
        joined = keyed.join(
            changes,
            left_on="SOPInstanceUID",
            right_on="_current_sop",
            how="inner",
            suffix="_new",
        )
    changed = joined.with_columns(
        [
            pl.col(f"{c}_new").alias(c)
            for c in changes.columns
            if f"{c}_new" in joined.columns
        ]
    ).select(keyed.columns)
    untouched = keyed.filter(~pl.col("_row").is_in(changed["_row"].implode()))
    return (
        pl.concat([untouched, changed], how="vertical_relaxed")
        .sort("_row")
        .drop("_row")
    )


def _check_rescan(
    plan: pl.DataFrame, instances: pl.DataFrame, errors: pl.DataFrame
) -> None:
    expected = dict(zip(plan["new_sop_uid"], plan["new_series_uid"], strict=True))
    found = dict(
        zip(instances["SOPInstanceUID"], instances["SeriesInstanceUID"], strict=True)
    )
    if errors.height or expected != found:
        detail: Any = (
            errors["message"].to_list()[:3]
            if errors.height
            else sorted(set(expected.items()) ^ set(found.items()))[:3]
        )
        msg = f"the written files do not rescan to the plan: {detail}"
        raise DicomkitError(msg)
