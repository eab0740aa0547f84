"""Read headers: many files, in batches, in this process or in parallel.

The *read headers* stage of a scan (:func:`dicomkit.pipeline.run_scan`). A
:class:`Reader` takes the files to read and hands back one batch of typed
``(copies, errors)`` frames (:data:`~dicomkit.io.rows.Batch`) at a time, in
completion order; like an httpx transport it is passed in, so where the reading
happens is the caller's choice:

:class:`InProcessReader`
    Reads in this process, 256 files a batch.
:class:`ParallelReader`
    This process and ``workers - 1`` spawned ones; this process also takes the
    batches of workers that are still starting, so a small scan never waits ~0.3 s
    for them (``steal_from_cold_workers=False`` lets the workers read theirs).
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

import contextlib
import gc
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ProcessPoolExecutor,
    wait,
)
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Protocol

import polars as pl

from dicomkit._warnings import warn
from dicomkit.io.header import Parser, read_batch
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

    With ``steal_from_cold_workers`` (the default) this process also reads the
    batches handed to workers that have not returned any yet when it has read the
    rest, so a scan of a few thousand files never waits for them to start. If the
    workers cannot start (a script read from stdin), the rest is read here with a
    :class:`RuntimeWarning`. Ctrl-C stops them.
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
    from tqdm.auto import tqdm  # imported here: only scans need it

    reader = AutoReader() if reader is None else reader
    bar = tqdm(
        total=len(entries),
        unit="file",
        desc="dicomkit scan",
        delay=1.0 if progress is None else 0.0,
        disable=progress is False,
        leave=progress is True,
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
    if n_files < MIN_PARALLEL_FILES or not _can_spawn():
        return 1
    return os.cpu_count() or 1


def _can_spawn() -> bool:
    """Whether "spawn" workers can start: they re-import the main script by path."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    return main_file is None or os.path.exists(main_file)


#: A stopped scan's workers leave their batch within this many files …
STOP_CHECK_FILES = 32
#: … and are killed when they have not exited this many seconds after the stop.
STOP_GRACE_SECONDS = 3.0

_stop_event: Any = None  # in a worker process: the scan's "stop reading" event


def _ignore_sigint() -> None:  # pragma: no cover - runs in worker processes
    # Ctrl-C reaches the whole process group; the parent alone decides to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _init_worker(stop: Any) -> None:  # pragma: no cover - runs in worker processes
    global _stop_event
    _stop_event = stop
    # Ctrl-C reaches the whole process group; the parent alone decides to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _Stopped(Exception):
    """Raised in a worker when the scan has stopped: the batch is abandoned."""


class _StoppableBatch(Sequence[FileEntry]):
    """A batch whose iteration stops (:class:`_Stopped`) once the scan has stopped."""

    def __init__(self, entries: Sequence[FileEntry], stop: Any) -> None:
        self._entries = entries
        self._stop = stop

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, index: Any) -> Any:
        return self._entries[index]

    def __iter__(self) -> Iterator[FileEntry]:
        for index, entry in enumerate(self._entries):
            if index % STOP_CHECK_FILES == 0 and self._stop.is_set():
                raise _Stopped
            yield entry


def _read_batch_in_worker(
    entries: Sequence[FileEntry], keywords: Sequence[str], reader: Parser
) -> Batch | None:  # pragma: no cover - runs in worker processes
    """A worker's task: :func:`read_batch_frames`, or None once the scan has stopped."""
    if _stop_event is None:
        return read_batch_frames(entries, keywords, reader)
    try:
        return read_batch_frames(
            _StoppableBatch(entries, _stop_event), keywords, reader
        )
    except _Stopped:
        return None


def _read_parallel(
    entries: list[FileEntry],
    keywords: tuple[str, ...],
    n_workers: int,
    done: Callable[[Batch, int], None],
    reader: Parser,
    *,
    steal: bool = True,
) -> None:
    # Enough batches to balance the load and move the bar, few enough that the
    # per-batch cost (a task, a frame of typed columns: a few ms) stays small.
    size = max(128, min(512, len(entries) // ((n_workers + 1) * 8) or 1))
    batches = [entries[i : i + size] for i in range(0, len(entries), size)]
    # Workers take batches from the front, a few at a time; this process takes
    # them from the back whenever no result is waiting, so no time is lost while
    # the workers start up (~0.3 s: they import polars and pydicom). If this
    # process has read every other batch before any worker has returned one, it
    # reads the ones handed out too and stops the workers: a scan of a few
    # thousand files never waits for them.
    front, back = 0, len(batches)
    warm = False
    # "spawn": forking a process that already runs polars' thread pool can
    # deadlock, and a notebook kernel always has threads.
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    # the pool starts its processes as tasks come: each is kept here too, as
    # shutdown() forgets them and a stop must still end every one
    workers: dict[int, Any] = {}
    executor = _TrackedPool(
        workers,
        n_workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(stop,),
    )
    pending: dict[Future[Batch | None], int] = {}
    stopping: threading.Thread | None = None
    try:
        while front < back and len(pending) < 2 * n_workers:
            pending[
                executor.submit(_read_batch_in_worker, batches[front], keywords, reader)
            ] = front
            front += 1
        while pending or front < back:
            ready, _ = wait(pending, timeout=0, return_when=FIRST_COMPLETED)
            if not ready and front < back:
                back -= 1
                done(
                    read_batch_frames(batches[back], keywords, reader),
                    len(batches[back]),
                )
                continue
            if not ready and not warm and steal:
                # they end as soon as they start, while this process reads on
                stopping = _stop(executor, stop, workers, wait=False)
                for index in sorted(pending.values()):
                    done(
                        read_batch_frames(batches[index], keywords, reader),
                        len(batches[index]),
                    )
                return
            if not ready:
                ready, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in ready:
                index = pending[future]
                frames = future.result()  # a broken pool raises here: keep the index
                assert frames is not None  # None only after _stop
                del pending[future]
                warm = True
                done(frames, len(batches[index]))
                if front < back:
                    pending[
                        executor.submit(
                            _read_batch_in_worker, batches[front], keywords, reader
                        )
                    ] = front
                    front += 1
    except BrokenProcessPool as exc:
        # Workers could not start or died (e.g. the main script came from stdin,
        # which "spawn" cannot re-import): finish in this process, losing nothing.
        _stop(executor, stop, workers)
        warn(
            f"dicomkit: worker processes failed ({exc}); reading the remaining "
            "files in this process. Pass workers=1 to skip the attempt."
        )
        for index in sorted([*pending.values(), *range(front, back)]):
            done(
                read_batch_frames(batches[index], keywords, reader), len(batches[index])
            )
        return
    except BaseException:
        if stopping is None:
            _stop(executor, stop, workers)
        else:  # already stopping them: wait for that
            stopping.join()
        raise
    executor.shutdown(wait=True)


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


class _TrackedPool(ProcessPoolExecutor):
    """A process pool that also records each process it starts in ``workers``."""

    def __init__(self, workers: dict[int, Any], *args: Any, **kwargs: Any) -> None:
        self._dicomkit_workers = workers
        super().__init__(*args, **kwargs)

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        """Submit a task (:meth:`ProcessPoolExecutor.submit`), then record workers."""
        future = super().submit(*args, **kwargs)
        self._dicomkit_workers.update(getattr(self, "_processes", None) or {})
        return future


def _stop(
    executor: ProcessPoolExecutor,
    stop: Any,
    workers: dict[int, Any],
    *,
    wait: bool = True,
) -> threading.Thread | None:
    """Stop the workers so that none is left running and the interpreter can exit.

    Killing a worker while the pool's feeder thread writes a task to it leaves
    that thread blocked on a pipe no process reads; on Python 3.10 and 3.11 the
    pool's manager thread then waits for it forever, and so does the interpreter
    at exit (``concurrent.futures.process._python_exit``; CPython 3.12 closes the
    pipe instead, gh-94777). So workers are first asked to stop: they leave their
    batch within :data:`STOP_CHECK_FILES` files, return None for every task
    still queued, and exit when the pool tells them to. Only workers that have
    not exited after :data:`STOP_GRACE_SECONDS` are killed (or that died), and
    then this process closes its end of the task pipe, so no write waits on it
    (the feeder thread may then print the BrokenPipeError it meets).

    With ``wait=False`` (the workers were not needed after all) this runs in a
    background thread, returned, and the scan goes on at once. ``workers`` holds
    every process the pool started (see :class:`_TrackedPool`).
    """
    stop.set()
    workers.update(getattr(executor, "_processes", None) or {})
    processes = list(workers.values())
    tasks = getattr(executor, "_call_queue", None)  # shutdown() forgets it
    executor.shutdown(wait=False, cancel_futures=True)
    if wait:
        _end_workers(processes, tasks, stop)
        return None
    thread = threading.Thread(
        target=_end_workers,
        args=(processes, tasks, stop),
        name="dicomkit-stop-workers",
        daemon=False,  # the interpreter waits for it: no worker outlives it
    )
    thread.start()
    return thread


def _end_workers(processes: list[Any], tasks: Any, stop: Any) -> None:
    # ``stop`` is held until the workers have ended: a worker still starting
    # opens its semaphore by name, which is gone once the Event is collected.
    try:
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in processes:
            process.join(max(deadline - time.monotonic(), 0.0))
    finally:  # a second Ctrl-C while waiting still ends them
        alive = [p for p in processes if p.is_alive()]
        for process in alive:
            process.terminate()
        for process in alive:
            process.join(1.0)
            if process.is_alive():
                process.kill()
                process.join()
        if alive or any(p.exitcode not in (0, None) for p in processes):
            _release_task_pipe(tasks)
        del stop


def _release_task_pipe(tasks: Any) -> None:
    """Close this process's read end of the pool's task pipe once its workers are
    dead, so the feeder thread's writes fail at once instead of blocking for ever
    (CPython 3.12 does it itself, gh-94777; 3.10 and 3.11 do not)."""
    reader = getattr(tasks, "_reader", None)
    if reader is not None and sys.version_info < (3, 12):
        with contextlib.suppress(OSError):
            reader.close()
