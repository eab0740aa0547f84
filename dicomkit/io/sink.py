"""Sinks: where a scan's rows go (a collection in memory, a parquet index).

A :class:`Sink` is the last extension point of the scan pipeline
(:func:`dicomkit.pipeline.run_scan`): it receives every batch of rows as it is
read (``add``), hands back the copies the resend rule must see (``copies``: at
least every copy of a repeated SOPInstanceUID), and gets their resolution
(``finish``), which it turns into its output.

:class:`MemorySink`
    Keeps the batches; its output is the :class:`Frames` of a collection
    (``dk.scan``).
:class:`IndexSink`
    Writes the batches straight into a partitioned parquet index, in bounded
    memory (``dk.scan_to_parquet``); its output is the index folder.

New DICOM files are written from a plan, not from a scan: :mod:`dicomkit.io.write`
(``Plan.write``), which rescans what it wrote through the same pipeline.

The index folder
----------------
:class:`IndexSink` gathers batches into parts of about ``rows_per_part`` rows
(``1`` writes one part per batch), so memory does not grow with the number of
files. When every file is read, the few rows whose SOPInstanceUID repeats are
resolved and only the parts that hold them are rewritten. The index is built in
a hidden sibling folder (``.dicomkit-<host>-<pid>-<name>-…``) and renamed into
place at the end: an interrupted scan leaves the destination as it was, and the
next scan beside it removes the folder a killed one left. An existing destination
is replaced only if it is empty or an index of dicomkit's own; anything else
there is refused, never deleted.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import shutil
import tempfile
from collections.abc import Sequence
from types import TracebackType
from typing import Any, NamedTuple, Protocol, TypeVar

import polars as pl

from dicomkit.exceptions import IndexFormatError
from dicomkit.io.atomic import remove_dead_temporaries, temp_prefix
from dicomkit.io.parquet import (
    PART_GLOB,
    dicomkit_version,
    index_columns,
    index_schema,
    scan_index,
    write_part,
)
from dicomkit.io.rows import empty_frames

__all__ = [
    "DEFAULT_ROWS_PER_PART",
    "WALK_CHUNK",
    "Frames",
    "IndexSink",
    "MemorySink",
    "Sink",
]

#: Rows per part: big enough for efficient parquet, small enough to stream.
DEFAULT_ROWS_PER_PART = 100_000
#: Files walked, then read, at a time: what the walk holds in memory (~200 bytes a
#: file). Each chunk starts the reading processes anew (~0.3 s, next to ~20 s of
#: reading).
WALK_CHUNK = 500_000

T_co = TypeVar("T_co", covariant=True)


class Frames(NamedTuple):
    """The three frames of a collection: ``(instances, resends, errors)``."""

    instances: pl.DataFrame
    resends: pl.DataFrame
    errors: pl.DataFrame


class Sink(Protocol[T_co]):
    """Where a scan's rows go; its output is ``T_co`` (module docstring)."""

    def add(self, copies: pl.DataFrame, errors: pl.DataFrame) -> None:
        """Take one batch: instance rows (unresolved copies) and error rows."""
        ...

    def copies(self) -> pl.DataFrame:
        """Every copy added so far whose SOPInstanceUID repeats (or all copies)."""
        ...

    def finish(self, instances: pl.DataFrame, resends: pl.DataFrame) -> T_co:
        """The output, given the resolution of :meth:`copies`."""
        ...


class MemorySink:
    """Keep every batch in memory; the output is the collection's :class:`Frames`."""

    def __init__(self, keywords: Sequence[str]) -> None:
        self.keywords = tuple(keywords)
        self.copy_batches: list[pl.DataFrame] = []
        self.error_batches: list[pl.DataFrame] = []

    def add(self, copies: pl.DataFrame, errors: pl.DataFrame) -> None:
        """Keep one batch."""
        if copies.height:
            self.copy_batches.append(copies)
        if errors.height:
            self.error_batches.append(errors)

    def copies(self) -> pl.DataFrame:
        """Every copy: the resend rule sees them all, unique ones too."""
        if not self.copy_batches:
            return empty_frames(self.keywords)[0]
        return pl.concat(self.copy_batches, how="vertical")

    def finish(self, instances: pl.DataFrame, resends: pl.DataFrame) -> Frames:
        """The resolved frames, and every error row sorted by path."""
        if not self.error_batches:
            return Frames(instances, resends, empty_frames(self.keywords)[1])
        errors = pl.concat(self.error_batches, how="vertical")
        return Frames(instances, resends, errors.sort("path"))


class IndexSink:
    """Write the batches into a partitioned parquet index at ``dest``.

    Use it as a context manager: the hidden folder the index is built in is
    removed if the scan fails; :meth:`finish` puts the index in place.

    Raises
    ------
    FileExistsError
        If ``dest`` is a file, or a folder holding files other than index parts.
    """

    def __init__(
        self,
        dest: str | os.PathLike[str],
        keywords: Sequence[str],
        *,
        meta: dict[str, Any],
        rows_per_part: int = DEFAULT_ROWS_PER_PART,
    ) -> None:
        if rows_per_part < 1:
            msg = f"rows_per_part must be at least 1, not {rows_per_part}"
            raise ValueError(msg)
        self.target = os.path.abspath(os.fspath(dest))
        _check_destination(self.target)
        parent = os.path.dirname(self.target)
        os.makedirs(parent, exist_ok=True)
        keywords = tuple(keywords)
        self.meta: dict[str, Any] = {
            "columns": index_columns(keywords),
            "dicomkit": dicomkit_version(),
            "keywords": list(keywords),
            **meta,
        }
        remove_dead_temporaries(parent)  # what killed scans left beside the index
        self.folder = tempfile.mkdtemp(
            prefix=f"{temp_prefix()}{os.path.basename(self.target)}-", dir=parent
        )
        self.parts = _Parts(
            self.folder, index_schema(keywords), self.meta, rows_per_part
        )
        self.where = pl.DataFrame(schema={"path": pl.Utf8(), "_part": pl.Utf8()})
        self.tops = tuple(
            folder.rstrip(os.sep) + os.sep for folder in (self.folder, self.target)
        )

    def __enter__(self) -> IndexSink:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is not None:
            shutil.rmtree(self.folder, ignore_errors=True)

    def skip(self, path: str) -> bool:
        """Whether ``path`` lies in the index being written or the one it replaces."""
        return path.startswith(self.tops)  # the walk yields absolute paths

    def add(self, copies: pl.DataFrame, errors: pl.DataFrame) -> None:
        """Gather one batch; write a part once ``rows_per_part`` rows wait."""
        self.parts.add(copies, errors)

    def copies(self) -> pl.DataFrame:
        """The copies whose SOPInstanceUID repeats, read back from the parts."""
        self.parts.close()
        parts = sorted(glob.glob(os.path.join(glob.escape(self.folder), PART_GLOB)))
        dicom = pl.scan_parquet(parts, include_file_paths="_part").filter(
            pl.col("record") == "instance"
        )
        # two queries, not one: a plan that scans the parts twice would cache the
        # whole scan in memory
        repeated = (
            dicom.group_by("SOPInstanceUID")
            .agg(pl.len().alias("_n"))
            .filter(pl.col("_n") > 1)
            .select("SOPInstanceUID")
            .collect(engine="streaming")
        )
        instance = self.meta["columns"]["instance"]
        if repeated.is_empty():
            return self.parts.empty.select(instance).clear()
        copies = dicom.join(repeated.lazy(), on="SOPInstanceUID", how="semi").collect(
            engine="streaming"
        )
        self.where = copies.select("path", "_part")
        return copies.select(instance)

    def finish(self, instances: pl.DataFrame, resends: pl.DataFrame) -> str:
        """Mark the resends in the parts that hold them; put the index in place."""
        fixed = pl.concat(
            [
                instances.with_columns(pl.lit("instance").alias("record")),
                resends.with_columns(pl.lit("resend").alias("record")),
            ],
            how="diagonal",
        ).join(self.where, on="path")
        for (part,), rows in fixed.group_by("_part"):
            table = pl.read_parquet(str(part))
            table = pl.concat(
                [
                    table.join(rows.select("path"), on="path", how="anti"),
                    rows.drop("_part"),
                ],
                how="diagonal",
            ).select(table.columns)
            number = int(os.path.basename(str(part))[len("part-") : -len(".parquet")])
            write_part(self.folder, number, table, self.meta)
        _install(self.folder, self.target)
        return self.target


class _Parts:
    """Gathers batches and writes a part whenever ``rows_per_part`` rows wait."""

    def __init__(
        self,
        folder: str,
        schema: dict[str, pl.DataType],
        meta: dict[str, Any],
        rows_per_part: int,
    ) -> None:
        self.folder = folder
        self.empty = pl.DataFrame(schema=schema)
        self.meta = meta
        self.rows_per_part = rows_per_part
        self.waiting: list[pl.DataFrame] = []
        self.n_waiting = 0
        self.n_parts = 0

    def add(self, copies: pl.DataFrame, errors: pl.DataFrame) -> None:
        for record, frame in (("instance", copies), ("error", errors)):
            if frame.height:
                self.waiting.append(frame.with_columns(pl.lit(record).alias("record")))
                self.n_waiting += frame.height
        if self.n_waiting >= self.rows_per_part:
            self.flush()

    def flush(self) -> None:
        table = pl.concat([self.empty, *self.waiting], how="diagonal").select(
            self.empty.columns
        )
        write_part(self.folder, self.n_parts, table, self.meta)
        self.n_parts += 1
        self.waiting, self.n_waiting = [], 0

    def close(self) -> None:
        if self.waiting or self.n_parts == 0:  # an empty scan still has its columns
            self.flush()


def _check_destination(target: str) -> None:
    """Refuse a destination that holds anything but an index of dicomkit's own."""
    if not os.path.lexists(target):
        return
    if not os.path.isdir(target) or os.path.islink(target):
        msg = (
            f"{target!r} exists and is not a folder; dk.scan_to_parquet writes a "
            "folder of parts: give a new folder, an empty one, or an index folder it "
            "wrote before (which is then replaced)"
        )
        raise FileExistsError(msg)
    names = os.listdir(target)
    if not names:
        return
    others = [n for n in names if not fnmatch.fnmatch(n, PART_GLOB)]
    if not others:
        try:
            scan_index(target)
        except IndexFormatError:
            others = names
    if others:
        msg = (
            f"{target!r} holds files that are not parts of a dicomkit index "
            f"(e.g. {sorted(others)[0]!r}); nothing there is replaced. Give a new or "
            "empty folder, or an index folder dk.scan_to_parquet wrote before"
        )
        raise FileExistsError(msg)


def _install(tmp: str, target: str) -> None:
    """Put the finished index in place; an old index is removed only afterwards."""
    if not os.path.exists(target) or not os.listdir(target):
        os.replace(tmp, target)  # POSIX replaces an empty folder atomically
        return
    old = tempfile.mkdtemp(
        prefix=f"{temp_prefix()}old-{os.path.basename(target)}-",
        dir=os.path.dirname(target),
    )
    os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)
