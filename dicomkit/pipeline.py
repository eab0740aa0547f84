"""The scan pipeline: one function, read top to bottom.

::

    source.walk()  →  store.lookup()  →  source.read()  →  content hashes  →  resend rule  →  ScanResult
      (walk)          (cache diff)       (read headers)    (io.content)       (hierarchy)     sink.finish() + stats

:func:`run_scan` is the whole of it. Every scan runs it: :func:`dicomkit.scan`
(:func:`scan_files`: files, the cache store, a :class:`~dicomkit.io.sink.MemorySink`),
:func:`dicomkit.scan_to_parquet` (:func:`scan_to_index`: files walked in chunks, no
cache, an :class:`~dicomkit.io.sink.IndexSink`) and ``Plan.write``'s rescan of the
files it wrote. A change to how resends are handled is made here, once.

The stages are :mod:`dicomkit.io` modules and know nothing of each other or of the
hierarchy; this module, above ``io`` and :mod:`dicomkit.hierarchy`, joins them.
The extension points are protocols, passed in:

* a :class:`~dicomkit.io.source.Source` (files today, a DICOMweb server next) lists
  entries and reads their header rows and error rows, batch by batch; a
  :class:`~dicomkit.io.source.FileSource` reads with a
  :class:`~dicomkit.io.scan.Reader` (in-process, parallel processes, an executor);
* a :class:`~dicomkit.io.store.Store` says what must be read and keeps the result
  (:class:`~dicomkit.io.cache.CacheStore`; :class:`~dicomkit.io.store.NoCache`
  keeps nothing);
* a :class:`~dicomkit.io.sink.Sink` receives the rows and makes the output.

Examples
--------
>>> from pathlib import Path
>>> import dicomkit
>>> from dicomkit.pipeline import scan_files
>>> from dicomkit.schema import DEFAULT_KEYWORDS
>>> sample = Path(dicomkit.__file__).resolve().parents[1] / "data" / "sample"
>>> result = scan_files(sample, DEFAULT_KEYWORDS, progress=False, cache=False)
>>> [frame.height for frame in result.output]  # instances, resends, errors
[213, 3, 3]
>>> result.stats.n_files, result.stats.n_read, result.stats.path
(219, 219, None)
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Generic, TypeVar

import polars as pl

from dicomkit.exceptions import DuplicateInstanceError
from dicomkit.hierarchy import OnDuplicate, resolve_resends
from dicomkit.io.cache import CacheOption, open_store
from dicomkit.io.content import fill_content_hashes
from dicomkit.io.scan import AutoReader, ExecutorReader, Reader, read_entries
from dicomkit.io.sink import (
    DEFAULT_ROWS_PER_PART,
    WALK_CHUNK,
    Frames,
    IndexSink,
    MemorySink,
    Sink,
)
from dicomkit.io.source import FileSource, Source
from dicomkit.io.store import CacheStats, NoCache, Store
from dicomkit.io.walk import PathLike

__all__ = ["ScanResult", "run_scan", "scan_files", "scan_to_index"]

T = TypeVar("T")


@dataclass(frozen=True)
class ScanResult(Generic[T]):
    """What a scan made (the sink's output) and what it did (its stats)."""

    #: The sink's output: the :class:`~dicomkit.io.sink.Frames` of a collection,
    #: or the folder of a parquet index.
    output: T
    #: Files found, read, taken from the cache; whether the cache was written.
    stats: CacheStats


def run_scan(
    source: Source,
    keywords: Sequence[str],
    *,
    sink: Sink[T],
    store: Store | None = None,
    on_duplicate: OnDuplicate = "newest",
    progress: bool | None = None,
) -> ScanResult[T]:
    """Walk → cache diff → read headers → content hashes → resolve resends → result.

    ``keywords`` are validated keywords (:func:`dicomkit.schema.validate_keywords`);
    ``store`` defaults to :class:`~dicomkit.io.store.NoCache`. Every entry the
    source lists ends up as one instance, resend or error row of the output.
    """
    _check_on_duplicate(on_duplicate)
    keywords = tuple(keywords)
    store = NoCache(keywords) if store is None else store
    for entries, walk_errors in source.walk():  # walk
        cached = store.lookup(entries)  # cache diff
        sink.add(cached.copies, pl.concat([walk_errors, cached.errors]))

        def on_batch(copies: pl.DataFrame, errors: pl.DataFrame) -> None:
            store.checkpoint(copies, errors)
            sink.add(copies, errors)

        try:  # read headers
            read_entries(
                cached.to_read,
                keywords,
                reader=source,
                progress=progress,
                on_batch=on_batch,
                keep=False,
            )
        except BaseException:
            store.interrupted()  # keep what was read: the next scan resumes from it
            raise
    split = store.stored_split(on_duplicate)  # unchanged since the last scan?
    if split is None:
        copies = fill_content_hashes(sink.copies(), source.content_hash)  # hashes
        try:  # resolve resends: the hierarchy's rule
            split = resolve_resends(copies, on_duplicate=on_duplicate)
        except DuplicateInstanceError:
            store.save_unresolved(copies)
            raise
    stats = store.save(*split, on_duplicate=on_duplicate)
    return ScanResult(sink.finish(*split), stats)


def scan_files(
    source: PathLike | Iterable[PathLike],
    keywords: Sequence[str],
    *,
    recursive: bool = True,
    workers: int | None = None,
    progress: bool | None = None,
    on_duplicate: OnDuplicate = "newest",
    cache: CacheOption = None,
    executor: Executor | None = None,
    reader: Reader | None = None,
) -> ScanResult[Frames]:
    """Scan files into the frames of a collection: :func:`dicomkit.scan`'s pipeline.

    The parameters are those of :func:`dicomkit.scan`, plus ``reader``: how the
    headers are read (a :class:`~dicomkit.io.scan.Reader`; by default
    :class:`~dicomkit.io.scan.ExecutorReader` when ``executor`` is given, else
    :class:`~dicomkit.io.scan.AutoReader` with ``workers``).
    """
    _check_on_duplicate(on_duplicate)
    started_ns = time.time_ns()
    keywords = tuple(keywords)
    if reader is None:
        reader = (
            ExecutorReader(executor) if executor is not None else AutoReader(workers)
        )
    files = FileSource(source, recursive=recursive, reader=reader)
    store = open_store(
        cache,
        keywords,
        sources=files.sources,
        is_folder=files.is_folder,
        recursive=recursive,
        started_ns=started_ns,
    )
    files.skip = store.skip
    return run_scan(
        files,
        keywords,
        sink=MemorySink(keywords),
        store=store,
        on_duplicate=on_duplicate,
        progress=progress,
    )


def scan_to_index(
    source: PathLike | Iterable[PathLike],
    dest: str | os.PathLike[str],
    keywords: Sequence[str],
    *,
    recursive: bool = True,
    workers: int | None = None,
    progress: bool | None = None,
    on_duplicate: OnDuplicate = "newest",
    executor: Executor | None = None,
    rows_per_part: int = DEFAULT_ROWS_PER_PART,
    walk_chunk: int = WALK_CHUNK,
) -> ScanResult[str]:
    """Scan files into a partitioned parquet index: :func:`dicomkit.scan_to_parquet`.

    The output is the index folder. ``walk_chunk`` files are walked, then read,
    at a time (memory stays bounded; see :data:`dicomkit.io.sink.WALK_CHUNK`).
    """
    _check_on_duplicate(on_duplicate)
    keywords = tuple(keywords)
    reader = ExecutorReader(executor) if executor is not None else AutoReader(workers)
    files = FileSource(source, recursive=recursive, reader=reader, chunk=walk_chunk)
    meta = {"source": files.sources, "recursive": recursive}
    with IndexSink(
        dest,
        keywords,
        meta={**meta, "on_duplicate": on_duplicate},
        rows_per_part=rows_per_part,
    ) as sink:
        files.skip = sink.skip
        return run_scan(
            files, keywords, sink=sink, on_duplicate=on_duplicate, progress=progress
        )


def _check_on_duplicate(on_duplicate: str) -> None:
    if on_duplicate not in ("newest", "first", "error"):
        msg = f"on_duplicate must be 'newest', 'first' or 'error', not {on_duplicate!r}"
        raise ValueError(msg)
