"""Scan straight into a partitioned parquet index, in bounded memory.

:func:`scan_to_index` is what :func:`dicomkit.scan_to_parquet` runs: the files are
read in batches (in parallel, or on any executor) and every batch goes to disk as
it completes, gathered into parts of about ``rows_per_part`` rows (``1`` writes one
part per batch), so memory does not grow with the number of files: the walk too is
taken :data:`WALK_CHUNK` files at a time. When every file is read, the few rows whose
SOPInstanceUID repeats are resolved (hashed, classified, marked ``resend``) and only
the parts that hold them are rewritten.

The index is built in a hidden sibling folder (``.dicomkit-<host>-<pid>-<name>-…``)
and renamed into place at the end: an interrupted scan leaves the destination as it
was, and the next scan beside it removes the folder a killed one left. An existing destination is
replaced only if it is empty or an index of dicomkit's own; anything else there is
refused, never deleted.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Executor
from typing import Any

import polars as pl

from dicomkit.exceptions import IndexFormatError
from dicomkit.hierarchy import OnDuplicate, resolve_resends
from dicomkit.io.atomic import remove_dead_temporaries, temp_prefix
from dicomkit.io.parquet import (
    PART_GLOB,
    dicomkit_version,
    index_columns,
    index_schema,
    scan_index,
    write_part,
)
from dicomkit.io.scan import fill_content_hashes, read_entries, split_walk
from dicomkit.io.walk import FileEntry, PathLike, WalkError, walk

__all__ = ["DEFAULT_ROWS_PER_PART", "WALK_CHUNK", "scan_to_index"]

#: Rows per part: big enough for efficient parquet, small enough to stream.
DEFAULT_ROWS_PER_PART = 100_000
#: Files walked, then read, at a time: what the walk holds in memory (~200 bytes a
#: file). Each chunk starts the reading processes anew (~0.3 s, next to ~20 s of
#: reading).
WALK_CHUNK = 500_000


def scan_to_index(
    source: PathLike | Iterable[PathLike],
    dest: PathLike,
    keywords: Sequence[str],
    *,
    recursive: bool = True,
    workers: int | None = None,
    progress: bool | None = None,
    on_duplicate: OnDuplicate = "newest",
    executor: Executor | None = None,
    rows_per_part: int = DEFAULT_ROWS_PER_PART,
) -> str:
    """Scan ``source`` into the partitioned index folder ``dest``; return its path.

    ``keywords`` are validated keywords; the other parameters are those of
    :func:`dicomkit.scan_to_parquet`.
    """
    if rows_per_part < 1:
        msg = f"rows_per_part must be at least 1, not {rows_per_part}"
        raise ValueError(msg)
    if on_duplicate not in ("newest", "first", "error"):
        msg = f"on_duplicate must be 'newest', 'first' or 'error', not {on_duplicate!r}"
        raise ValueError(msg)
    target = os.path.abspath(os.fspath(dest))
    _check_destination(target)
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    keywords = tuple(keywords)
    if isinstance(source, (str, os.PathLike)):
        walked: PathLike | list[str] = source
        sources = [os.path.abspath(os.fspath(source))]
    else:
        walked = [os.fspath(item) for item in source]
        sources = [os.path.abspath(item) for item in walked]
    remove_dead_temporaries(parent)  # what killed scans left beside the index
    tmp = tempfile.mkdtemp(
        prefix=f"{temp_prefix()}{os.path.basename(target)}-", dir=parent
    )
    try:
        items = _outside(walk(walked, recursive=recursive), [tmp, target])
        meta: dict[str, Any] = {
            "columns": index_columns(keywords),
            "dicomkit": dicomkit_version(),
            "keywords": list(keywords),
            "source": sources,
            "recursive": recursive,
            "on_duplicate": on_duplicate,
        }
        parts = _Parts(tmp, index_schema(keywords), meta, rows_per_part)
        for chunk in _chunks(items, WALK_CHUNK):  # the walk's memory stays bounded
            entries, walk_errors = split_walk(chunk)
            parts.add(pl.DataFrame(), walk_errors)
            read_entries(
                entries,
                keywords,
                workers=workers,
                progress=progress,
                on_batch=parts.add,
                executor=executor,
                keep=False,
            )
        parts.close()
        _resolve_resends(tmp, meta, on_duplicate)
        _install(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


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


def _resolve_resends(
    folder: str, meta: dict[str, Any], on_duplicate: OnDuplicate
) -> None:
    """Mark the superseded copies ``resend``, rewriting only the parts that hold them."""
    parts = sorted(glob.glob(os.path.join(glob.escape(folder), PART_GLOB)))
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
    if repeated.is_empty():
        return
    copies = dicom.join(repeated.lazy(), on="SOPInstanceUID", how="semi").collect(
        engine="streaming"
    )
    if copies.is_empty():
        return
    where = copies.select("path", "_part")
    columns = meta["columns"]
    kept, resends = resolve_resends(
        fill_content_hashes(copies.select(columns["instance"])),
        on_duplicate=on_duplicate,
    )
    fixed = pl.concat(
        [
            kept.with_columns(pl.lit("instance").alias("record")),
            resends.with_columns(pl.lit("resend").alias("record")),
        ],
        how="diagonal",
    ).join(where, on="path")
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
        write_part(folder, number, table, meta)


def _chunks(
    items: Iterable[FileEntry | WalkError], size: int
) -> Iterator[list[FileEntry | WalkError]]:
    """``items`` in lists of ``size``; one empty list if there are none."""
    chunk: list[FileEntry | WalkError] = []
    yielded = False
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk, yielded = [], True
    if chunk or not yielded:
        yield chunk


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


def _outside(
    items: Iterable[FileEntry | WalkError], folders: list[str]
) -> Iterator[FileEntry | WalkError]:
    """Leave the index being written (and the one it replaces) out of the walk."""
    tops = tuple(folder.rstrip(os.sep) + os.sep for folder in folders)
    for item in items:
        if not item.path.startswith(tops):  # the walk yields absolute paths
            yield item
