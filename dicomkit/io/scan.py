"""Read headers: many files, in batches, in this process or in parallel.

The *read headers* stage of a scan (:func:`dicomkit.pipeline.run_scan`). A
:class:`Reader` takes the files to read and hands back one batch of typed
``(copies, errors)`` frames (:data:`~dicomkit.io.rows.Batch`) at a time, in
completion order; like an httpx transport it is passed in, so where the reading
happens is the caller's choice:

:class:`InProcessReader`
    Reads in this process, 256 files a batch.
:class:`ParallelReader`
    This process and ``workers - 1`` spawned ones (:mod:`dicomkit.io.pool`); a
    worker gets batches once it has started, so a small scan never waits ~0.3 s
    for them (``steal_from_cold_workers=False`` hands them batches at once).
:class:`ExecutorReader`
    Any :class:`concurrent.futures.Executor` (threads, processes, Dask).
:class:`AutoReader`
    What ``dk.scan(workers=...)`` means: in-process below
    :data:`MIN_PARALLEL_FILES` files (or with ``workers=1``), parallel above.

A source that is not a folder of files (a DICOMweb server) is a reader of its own
entries: see :class:`dicomkit.io.source.Source`. :func:`read_entries` runs a
reader with a progress bar.

Examples
--------
>>> from pathlib import Path
>>> import dicomkit
>>> from dicomkit.io.scan import InProcessReader, read_entries
>>> from dicomkit.io.source import FileSource
>>> from dicomkit.schema import DEFAULT_KEYWORDS
>>> sample = Path(dicomkit.__file__).resolve().parents[1] / "data" / "sample"
>>> [(entries, walk_errors)] = FileSource(sample).walk()
>>> copies, errors = read_entries(
...     entries, DEFAULT_KEYWORDS, reader=InProcessReader(), progress=False
... )
>>> copies.height + errors.height == len(entries) == 219
True
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, wait
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import polars as pl

from dicomkit.io.header import Parser, read_batch
from dicomkit.io.pool import can_spawn, check_stop, run_batches
from dicomkit.io.progress import progress_bar
from dicomkit.io.rows import Batch, empty_frames, rows_to_frames
from dicomkit.io.walk import FileEntry

__all__ = [
    "MIN_PARALLEL_FILES",
    "AutoReader",
    "ExecutorReader",
    "InProcessReader",
    "OnBatch",
    "ParallelReader",
    "Reader",
    "read_batch_frames",
    "read_entries",
    "rows_to_frames",
]

#: Below this many files a scan runs in-process: it takes less than a worker
#: process needs to start (~0.3 s, importing polars and pydicom).
MIN_PARALLEL_FILES = 1000

#: What a reader calls with each batch: ``on_batch(copies, errors)``.
OnBatch = Callable[[pl.DataFrame, pl.DataFrame], None]


class Reader(Protocol):
    """Reads the headers of files, one row per file, in batches.

    ``read`` calls ``on_batch(copies, errors)`` once per batch as it completes
    (any order, any batch size); together the batches hold exactly one row per
    entry: an instance row in ``copies`` or an error row in ``errors``. It never
    raises for a bad file (that is an error row), only for the reading itself
    (Ctrl-C, a broken executor).
    """

    def read(
        self,
        entries: Sequence[FileEntry],
        keywords: tuple[str, ...],
        on_batch: OnBatch,
    ) -> None:
        """Read ``entries``' headers, calling ``on_batch`` with each batch."""
        ...


@dataclass(frozen=True)
class InProcessReader:
    """Read in this process, ``batch_size`` files at a time."""

    parser: Parser = "fast"
    batch_size: int = 256

    def read(
        self, entries: Sequence[FileEntry], keywords: tuple[str, ...], on_batch: OnBatch
    ) -> None:
        """Read ``entries`` here, batch after batch."""
        for start in range(0, len(entries), self.batch_size):
            batch = entries[start : start + self.batch_size]
            on_batch(*read_batch_frames(batch, keywords, self.parser))


@dataclass(frozen=True)
class ParallelReader:
    """Read with ``workers`` processes: this one and ``workers - 1`` spawned.

    With ``steal_from_cold_workers`` (the default) a worker gets batches only once
    it has started, and this process reads the others meanwhile, so a scan of a
    few thousand files never waits for the workers; ``False`` hands the first
    batches out at once, and the workers read them even when this process could
    have. If the workers cannot start (a script read from stdin), the rest is read
    here with a :class:`RuntimeWarning`. Ctrl-C stops them, leaving none behind
    (:mod:`dicomkit.io.pool`).
    """

    workers: int
    parser: Parser = "fast"
    steal_from_cold_workers: bool = True

    def read(
        self, entries: Sequence[FileEntry], keywords: tuple[str, ...], on_batch: OnBatch
    ) -> None:
        """Read ``entries`` on this process and the spawned workers."""
        n_workers = _worker_count(self.workers, len(entries))
        if n_workers == 1:
            InProcessReader(self.parser).read(entries, keywords, on_batch)
            return
        _read_parallel(
            list(entries),
            keywords,
            n_workers - 1,
            lambda frames, _: on_batch(*frames),
            self.parser,
            steal=self.steal_from_cold_workers,
        )


@dataclass(frozen=True)
class ExecutorReader:
    """Read on a caller's executor (e.g. Dask's ``client.get_executor()``).

    Files go in batches of up to 2,000, never one task per file; every worker must
    see the files at the same paths (shared storage).
    """

    executor: Executor
    parser: Parser = "fast"

    def read(
        self, entries: Sequence[FileEntry], keywords: tuple[str, ...], on_batch: OnBatch
    ) -> None:
        """Read ``entries`` on the executor."""
        _read_with(
            self.executor,
            list(entries),
            keywords,
            lambda frames, _: on_batch(*frames),
            self.parser,
        )


@dataclass(frozen=True)
class AutoReader:
    """``dk.scan(workers=...)``: in this process or in parallel, by the file count.

    ``workers=None`` uses every core once there are at least
    :data:`MIN_PARALLEL_FILES` files (and workers can be spawned); ``workers=N``
    reads with N processes (this one included); ``1`` reads in this process only.
    """

    workers: int | None = None
    parser: Parser = "fast"
    steal_from_cold_workers: bool = True

    def __post_init__(self) -> None:
        _worker_count(self.workers, 1)  # a bad value fails before the walk

    def read(
        self, entries: Sequence[FileEntry], keywords: tuple[str, ...], on_batch: OnBatch
    ) -> None:
        """Read ``entries`` in-process or in parallel, whichever suits their count."""
        n_workers = _worker_count(self.workers, len(entries))
        reader: Reader = (
            InProcessReader(self.parser)
            if n_workers == 1
            else ParallelReader(n_workers, self.parser, self.steal_from_cold_workers)
        )
        reader.read(entries, keywords, on_batch)


def read_entries(
    entries: Sequence[FileEntry],
    keywords: Sequence[str],
    *,
    reader: Reader | None = None,
    progress: bool | None = None,
    on_batch: OnBatch | None = None,
    keep: bool = True,
) -> Batch:
    """Read ``entries`` with ``reader`` (default :class:`AutoReader`) and a progress bar.

    Returns ``(copies, errors)``, errors sorted by path. ``on_batch(copies,
    errors)`` is called with each batch as it completes; ``keep=False`` keeps
    nothing once it has (memory stays bounded, whatever the number of files) and
    returns empty frames. ``progress=None`` shows a bar only once reading has
    lasted a second; ``True`` always (when there is anything to read), ``False``
    never.
    """
    keywords = tuple(keywords)
    if not entries:  # nothing to read (an unchanged rescan): no bar either
        return empty_frames(keywords)
    reader = AutoReader() if reader is None else reader
    bar = progress_bar(
        progress=progress, total=len(entries), unit="file", desc="dicomkit scan"
    )
    results: list[Batch] = []

    def done(copies: pl.DataFrame, errors: pl.DataFrame) -> None:
        if keep:
            results.append((copies, errors))
        bar.update(copies.height + errors.height)  # one row per file
        if on_batch is not None:
            on_batch(copies, errors)

    try:
        reader.read(entries, keywords, done)
    finally:
        bar.close()
    if not results:
        return empty_frames(keywords)
    copies = pl.concat([c for c, _ in results], how="vertical")
    errors = pl.concat([e for _, e in results], how="vertical")
    return copies, errors.sort("path")


def read_batch_frames(
    entries: Sequence[FileEntry], keywords: Sequence[str], parser: Parser = "fast"
) -> Batch:
    """Read a batch of files into typed ``(copies, errors)`` frames (a worker task).

    The garbage collector is paused meanwhile: the batch makes many small objects
    and no reference cycles, and its collections cost ~10% of a scan.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return rows_to_frames(read_batch(entries, keywords, reader=parser), keywords)
    finally:
        if was_enabled:
            gc.enable()


def _worker_count(workers: int | None, n_files: int) -> int:
    if workers is not None:
        if workers < 1:
            msg = f"workers must be None or at least 1, not {workers}"
            raise ValueError(msg)
        return min(workers, max(n_files, 1))
    if n_files < MIN_PARALLEL_FILES or not can_spawn():
        return 1
    return os.cpu_count() or 1


#: A stopped scan's workers leave their batch within this many files.
STOP_CHECK_FILES = 32


class _StoppableBatch(Sequence[FileEntry]):
    """A batch whose iteration ends (:class:`~dicomkit.io.pool.Stopped`) once the
    worker's pool has stopped (:func:`~dicomkit.io.pool.check_stop`)."""

    def __init__(self, entries: Sequence[FileEntry]) -> None:
        self._entries = entries

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, index: Any) -> Any:
        return self._entries[index]

    def __iter__(self) -> Iterator[FileEntry]:
        for index, entry in enumerate(self._entries):
            if index % STOP_CHECK_FILES == 0:
                check_stop()
            yield entry


def _read_batch_in_worker(
    entries: Sequence[FileEntry], keywords: Sequence[str], parser: Parser
) -> Batch:  # pragma: no cover - runs in worker processes
    """A worker's task: :func:`read_batch_frames`, left early once stopped."""
    return read_batch_frames(_StoppableBatch(entries), keywords, parser)


def _read_parallel(
    entries: list[FileEntry],
    keywords: tuple[str, ...],
    n_workers: int,
    done: Callable[[Batch, int], None],
    parser: Parser,
    *,
    steal: bool = True,
) -> None:
    """Read on ``n_workers`` spawned processes and this one
    (:func:`dicomkit.io.pool.run_batches`: Ctrl-C stops them, workers that cannot
    start leave the reading to this process)."""
    # Enough batches to balance the load and move the bar, few enough that the
    # per-batch cost (a task, a frame of typed columns: a few ms) stays small.
    size = max(128, min(512, len(entries) // ((n_workers + 1) * 8) or 1))
    batches = [entries[i : i + size] for i in range(0, len(entries), size)]
    run_batches(
        batches,
        partial(_read_batch_in_worker, keywords=keywords, parser=parser),
        n_workers,
        lambda index, frames: done(frames, len(batches[index])),
        here=partial(read_batch_frames, keywords=keywords, parser=parser),
        eager=not steal,
        verb="reading",
    )


def _read_with(
    executor: Executor,
    entries: list[FileEntry],
    keywords: tuple[str, ...],
    done: Callable[[Batch, int], None],
    reader: Parser,
) -> None:
    """Read on ``executor`` in batches of up to 2,000 (see :class:`ExecutorReader`)."""
    size = max(64, min(2000, len(entries) // 64 or 1))
    batches = [entries[i : i + size] for i in range(0, len(entries), size)]
    pending = {
        executor.submit(read_batch_frames, batch, keywords, reader): len(batch)
        for batch in batches
    }
    try:
        while pending:
            ready, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in ready:
                done(future.result(), pending.pop(future))
    except BaseException:
        for future in pending:
            future.cancel()
        raise
