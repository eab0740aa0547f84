"""Read many files' headers, in parallel, with a progress bar, into frames.

:func:`read_files` returns every file's row: one instance row per DICOM file (copies
of one SOPInstanceUID included; :mod:`dicomkit.hierarchy` decides which is current)
and one error row per file that is not an instance. :func:`fill_content_hashes`
hashes the copies whose SOPInstanceUID repeats, so resends can be classified.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import select
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ProcessPoolExecutor,
    wait,
)
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import polars as pl

from dicomkit.io.content import content_hash
from dicomkit.io.header import Reader, Row, read_batch
from dicomkit.io.walk import FileEntry, PathLike, WalkError, text_path, walk
from dicomkit.schema import ERROR_SCHEMA, instance_schema

__all__ = [
    "MIN_PARALLEL_FILES",
    "fill_content_hashes",
    "read_batch_frames",
    "read_entries",
    "read_files",
    "rows_to_frames",
    "split_walk",
]

#: Below this many files a scan runs in-process: it takes less than a worker
#: process needs to start (~0.3 s, importing polars and pydicom).
MIN_PARALLEL_FILES = 1000

#: Whether this process reads the batches handed to workers that have not yet
#: returned any when it runs out of its own (tests turn it off to exercise the
#: workers on small folders).
STEAL_FROM_COLD_WORKERS = True


Frames = tuple[pl.DataFrame, pl.DataFrame]


def read_files(
    source: PathLike | Iterable[PathLike],
    keywords: Sequence[str],
    *,
    recursive: bool = True,
    workers: int | None = None,
    progress: bool | None = None,
) -> Frames:
    """Walk ``source`` and read every file's header.

    Returns ``(copies, errors)``: one instance row per DICOM file (duplicates
    included) and one error row per path that is not an instance. Together they
    account for every path the walk met.

    ``workers=None`` uses every core once there are at least
    :data:`MIN_PARALLEL_FILES` files (this process reads too, beside
    ``workers - 1`` spawned ones); ``workers=1`` reads in this process only.
    ``progress=None`` shows a bar only when the scan lasts more than a second.
    Ctrl-C stops the workers and raises :class:`KeyboardInterrupt`.
    """
    entries, walk_errors = split_walk(walk(source, recursive=recursive))
    copies, errors = read_entries(entries, keywords, workers=workers, progress=progress)
    return copies, pl.concat([walk_errors, errors]).sort("path")


def split_walk(
    items: Iterable[FileEntry | WalkError],
) -> tuple[list[FileEntry], pl.DataFrame]:
    """The files to read, and an errors frame of the paths that are not files."""
    entries: list[FileEntry] = []
    errors: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, WalkError):
            errors.append(_walk_error_row(item))
        else:
            entries.append(item)
    return entries, rows_to_frames([("error", e) for e in errors], ())[1]


def _walk_error_row(error: WalkError) -> dict[str, Any]:
    return {
        "path": error.path,
        "file_size": error.file_size,
        "mtime_ns": error.mtime_ns,
        "reason": error.reason,
        "message": error.message,
    }


def read_entries(
    entries: Sequence[FileEntry],
    keywords: Sequence[str],
    *,
    workers: int | None = None,
    progress: bool | None = None,
    on_batch: Callable[[pl.DataFrame, pl.DataFrame], None] | None = None,
    reader: Reader = "fast",
    executor: Executor | None = None,
    keep: bool = True,
) -> Frames:
    """Read the headers of ``entries`` (in parallel); return ``(copies, errors)``.

    Batches are read and turned into typed frames in the workers (columnar, no
    per-row work here). ``on_batch(copies, errors)`` is called with each batch as
    it completes, in completion order (the incremental cache checkpoints there).
    ``keep=False`` keeps nothing once ``on_batch`` has seen a batch (memory stays
    bounded, whatever the number of files) and returns empty frames.
    """
    from tqdm.auto import tqdm  # imported here: only scans need it

    keywords = tuple(keywords)
    n_workers = _worker_count(workers, len(entries))
    bar = tqdm(
        total=len(entries),
        unit="file",
        desc="dicomkit scan",
        delay=1.0 if progress is None else 0.0,
        disable=progress is False,
        leave=progress is True,
    )
    results: list[Frames] = []

    def done(frames: Frames, n: int) -> None:
        if keep:
            results.append(frames)
        bar.update(n)
        if on_batch is not None:
            on_batch(*frames)

    try:
        if executor is not None:
            _read_with(executor, list(entries), keywords, done, reader)
        elif n_workers == 1:
            for start in range(0, len(entries), 256):
                batch = entries[start : start + 256]
                done(read_batch_frames(batch, keywords, reader), len(batch))
        else:
            # this process reads too: n readers are n - 1 worker processes and it
            _read_parallel(list(entries), keywords, n_workers - 1, done, reader)
    finally:
        bar.close()
    if not results:
        return rows_to_frames([], keywords)
    copies = pl.concat([c for c, _ in results], how="vertical")
    errors = pl.concat([e for _, e in results], how="vertical")
    return copies, errors.sort("path")


def read_batch_frames(
    entries: Sequence[FileEntry], keywords: Sequence[str], reader: Reader = "fast"
) -> Frames:
    """Read a batch of files into typed ``(copies, errors)`` frames (a worker task).

    The garbage collector is paused meanwhile: the batch makes many small objects
    and no reference cycles, and its collections cost ~10% of a scan.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return rows_to_frames(read_batch(entries, keywords, reader=reader), keywords)
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
    entries: Sequence[FileEntry], keywords: Sequence[str], reader: Reader
) -> Frames | None:  # pragma: no cover - runs in worker processes
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
    done: Callable[[Frames, int], None],
    reader: Reader,
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
    pending: dict[Future[Frames | None], int] = {}
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
            if not ready and not warm and STEAL_FROM_COLD_WORKERS:
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
        warnings.warn(
            f"dicomkit: worker processes failed ({exc}); reading the remaining "
            "files in this process. Pass workers=1 to skip the attempt.",
            RuntimeWarning,
            stacklevel=5,
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
    done: Callable[[Frames, int], None],
    reader: Reader,
) -> None:
    """Read on a caller's executor (e.g. Dask's ``client.get_executor()``).

    Files go in batches of up to 2,000, never one task per file; every worker
    must see the files at the same paths (shared storage).
    """
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
    then this process empties the task pipe, so no write waits on it.

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
            _drain_task_pipe(tasks)
        del stop


def _drain_task_pipe(tasks: Any, *, idle: float = 0.2, limit: float = 5.0) -> None:
    """Read and drop what the pool's feeder thread still writes into the task pipe
    (its workers are dead), until it has written nothing for ``idle`` seconds."""
    reader = getattr(tasks, "_reader", None)
    if reader is None or sys.platform == "win32":
        return
    with contextlib.suppress(OSError, ValueError):  # closed by the pool meanwhile
        fd = reader.fileno()
        os.set_blocking(fd, False)
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            readable, _, _ = select.select([fd], [], [], idle)
            if not readable or not os.read(fd, 1 << 20):
                return


def rows_to_frames(
    rows: Iterable[Row], keywords: Sequence[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Build the typed ``(copies, errors)`` frames from header rows, column by column.

    Instance rows are stacked into one Python list per column, and each column
    becomes a typed polars Series in one call. List columns, which polars builds
    slowly from nested Python lists, are shaped in Rust: numbers from one flat
    list (PixelSpacing …), text by numbering the distinct lists (ImageType …).
    """
    schema = instance_schema(keywords)
    names = list(schema)
    rows = rows if isinstance(rows, list) else list(rows)
    stacked = [row for kind, row in rows if kind == "instance"]
    error_rows = [row for kind, row in rows if kind != "instance"]
    if not all(type(row) is tuple for row in stacked):  # rows of the pydicom path
        stacked = [
            row if type(row) is tuple else tuple(row[n] for n in names)
            for row in stacked
        ]
    for row in error_rows:
        row["path"] = text_path(row["path"])
    columns: list[tuple[Any, ...]] = (
        list(zip(*stacked, strict=True)) if stacked else [()] * len(names)
    )
    path_index = names.index("path")
    if not all(map(str.isascii, columns[path_index])):
        columns[path_index] = tuple(map(text_path, columns[path_index]))
    copies = pl.DataFrame(
        [
            _column(name, schema[name], values)
            for name, values in zip(names, columns, strict=True)
        ]
    )
    errors = pl.DataFrame(error_rows, schema=ERROR_SCHEMA)
    return copies, errors


def _numeric_lists(name: str, dtype: pl.List, values: Sequence[Any]) -> pl.Series:
    """Lists of numbers: one flat Series, shaped into rows in Rust.

    Lists of one length (ImagePositionPatient, PixelSpacing …) are reshaped;
    others are grouped by row.
    """
    same = _same_length_lists(name, dtype, values)
    if same is not None:
        return same
    flat: list[Any] = []
    rows: list[int] = []
    for index, value in enumerate(values):
        if value:
            flat.extend(value)
            rows.extend([index] * len(value))
    items = pl.DataFrame(
        [
            pl.Series("row", rows, dtype=pl.Int64),
            pl.Series("v", flat, dtype=dtype.inner),
        ]
    )
    grouped = items.group_by("row", maintain_order=True).agg("v")
    every = pl.DataFrame(pl.Series("row", range(len(values)), dtype=pl.Int64))
    column: pl.Series = every.join(
        grouped, on="row", how="left", maintain_order="left"
    )["v"]
    typed: pl.Series = column.cast(dtype).alias(name)
    return typed


def _same_length_lists(
    name: str, dtype: pl.List, values: Sequence[Any]
) -> pl.Series | None:
    flat: list[Any] = []
    present: list[int] = []
    width = -1
    for index, value in enumerate(values):
        if value is None:
            continue
        if len(value) != width:
            if width != -1 or not value:
                return None  # lists of several lengths (or empty): group instead
            width = len(value)
        flat.extend(value)
        present.append(index)
    if width < 1:
        return None
    shaped: pl.Series = (
        pl.Series(name, flat, dtype=dtype.inner)
        .reshape((len(present), width))
        .cast(dtype)
    )
    if len(present) == len(values):
        return shaped
    rows = pl.DataFrame([pl.Series("row", present, dtype=pl.Int64), shaped.alias("v")])
    every = pl.DataFrame(pl.Series("row", range(len(values)), dtype=pl.Int64))
    column: pl.Series = every.join(rows, on="row", how="left", maintain_order="left")[
        "v"
    ]
    return column.alias(name)


def _column(name: str, dtype: pl.DataType, values: Sequence[Any]) -> pl.Series:
    if dtype in (pl.Date, pl.Time):  # few distinct values, slow to convert one by one
        return _factorized(name, dtype, values)
    if not isinstance(dtype, pl.List):
        return pl.Series(name, values, dtype=dtype)
    if dtype.inner != pl.Utf8:
        return _numeric_lists(name, dtype, values)
    return _factorized(name, dtype, values)


def _factorized(name: str, dtype: pl.DataType, values: Sequence[Any]) -> pl.Series:
    """Each distinct value built once, then gathered in Rust.

    A batch holds few distinct ImageType or SpecificCharacterSet lists (which
    polars builds from Python slowly, ~0.5 µs each) and few distinct dates and
    times, so numbering the distinct values is faster.
    """
    codes: dict[Any, int] = {}
    numbers: list[int] = []
    lists = isinstance(dtype, pl.List)
    for value in values:
        key = tuple(value) if lists and value is not None else value
        number = codes.get(key)
        if number is None:
            number = codes[key] = len(codes)
        numbers.append(number)
    distinct = [list(key) if lists and key is not None else key for key in codes]
    column: pl.Series = pl.Series(name, distinct, dtype=dtype).gather(
        pl.Series(numbers, dtype=pl.UInt32)
    )
    return column


def fill_content_hashes(copies: pl.DataFrame) -> pl.DataFrame:
    """Hash the files whose SOPInstanceUID is carried by more than one row.

    Rows that already have a ``content_hash`` keep it; unique instances stay null.
    """
    repeated = (
        pl.col("SOPInstanceUID").is_duplicated() & pl.col("content_hash").is_null()
    )
    todo = copies.filter(repeated)["path"].to_list()
    if not todo:
        return copies
    hashes = pl.DataFrame(
        {"path": todo, "_hash": [content_hash(p) for p in todo]},
        schema={"path": pl.Utf8(), "_hash": pl.Utf8()},
    )
    return (
        copies.join(hashes, on="path", how="left")
        .with_columns(pl.coalesce("content_hash", "_hash").alias("content_hash"))
        .drop("_hash")
    )
