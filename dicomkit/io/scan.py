"""Read many files' headers, in parallel, with a progress bar, into frames.

:func:`read_files` returns every file's row: one instance row per DICOM file (copies
of one SOPInstanceUID included; :mod:`dicomkit.hierarchy` decides which is current)
and one error row per file that is not an instance. :func:`fill_content_hashes`
hashes the copies whose SOPInstanceUID repeats, so resends can be classified.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import polars as pl

from dicomkit.io.content import content_hash
from dicomkit.io.header import Row, read_batch
from dicomkit.io.walk import FileEntry, PathLike, WalkError, walk
from dicomkit.schema import ERROR_SCHEMA, instance_schema

__all__ = ["MIN_PARALLEL_FILES", "fill_content_hashes", "read_files", "rows_to_frames"]

#: Below this many files a scan runs in-process: starting worker processes costs
#: more than it saves.
MIN_PARALLEL_FILES = 200


def read_files(
    source: PathLike | Iterable[PathLike],
    keywords: Sequence[str],
    *,
    recursive: bool = True,
    workers: int | None = None,
    progress: bool | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Walk ``source`` and read every file's header.

    Returns ``(copies, errors)``: one instance row per DICOM file (duplicates
    included) and one error row per path that is not an instance. Together they
    account for every path the walk met.

    ``workers=None`` uses every core once there are at least
    :data:`MIN_PARALLEL_FILES` files; ``workers=1`` reads in this process.
    ``progress=None`` shows a bar only when the scan lasts more than a second.
    Ctrl-C stops the workers and raises :class:`KeyboardInterrupt`.
    """
    entries: list[FileEntry] = []
    rows: list[Row] = []
    for item in walk(source, recursive=recursive):
        if isinstance(item, WalkError):
            rows.append(("error", _walk_error_row(item)))
        else:
            entries.append(item)
    rows.extend(_read_all(entries, keywords, workers=workers, progress=progress))
    return rows_to_frames(rows, keywords)


def _walk_error_row(error: WalkError) -> dict[str, Any]:
    return {
        "path": error.path,
        "file_size": error.file_size,
        "mtime_ns": error.mtime_ns,
        "reason": error.reason,
        "message": error.message,
    }


def _read_all(
    entries: list[FileEntry],
    keywords: Sequence[str],
    *,
    workers: int | None,
    progress: bool | None,
) -> list[Row]:
    from tqdm.auto import tqdm  # imported here: only scans need it

    n_workers = _worker_count(workers, len(entries))
    bar = tqdm(
        total=len(entries),
        unit="file",
        desc="dicomkit scan",
        delay=1.0 if progress is None else 0.0,
        disable=progress is False,
        leave=progress is True,
    )
    try:
        if n_workers == 1:
            rows: list[Row] = []
            for start in range(0, len(entries), 64):
                batch = entries[start : start + 64]
                rows.extend(read_batch(batch, keywords))
                bar.update(len(batch))
            return rows
        return _read_parallel(entries, keywords, n_workers, bar)
    finally:
        bar.close()


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


def _ignore_sigint() -> None:  # pragma: no cover - runs in worker processes
    # Ctrl-C reaches the whole process group; the parent alone decides to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _read_parallel(
    entries: list[FileEntry], keywords: Sequence[str], n_workers: int, bar: Any
) -> list[Row]:
    # Enough batches to balance the load and move the bar, few enough that the
    # per-task overhead stays small.
    size = max(16, min(512, len(entries) // (n_workers * 8) or 1))
    batches = [entries[i : i + size] for i in range(0, len(entries), size)]
    results: list[list[Row] | None] = [None] * len(batches)
    # "spawn": forking a process that already runs polars' thread pool can
    # deadlock, and a notebook kernel always has threads.
    context = multiprocessing.get_context("spawn")
    executor = ProcessPoolExecutor(
        n_workers, mp_context=context, initializer=_ignore_sigint
    )
    try:
        pending: dict[Future[list[Row]], int] = {
            executor.submit(read_batch, batch, tuple(keywords)): i
            for i, batch in enumerate(batches)
        }
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                index = pending.pop(future)
                results[index] = future.result()
                bar.update(len(batches[index]))
    except BrokenProcessPool as exc:
        # Workers could not start or died (e.g. the main script came from stdin,
        # which "spawn" cannot re-import): finish in this process, losing nothing.
        _stop(executor)
        warnings.warn(
            f"dicomkit: worker processes failed ({exc}); reading the remaining "
            "files in this process. Pass workers=1 to skip the attempt.",
            RuntimeWarning,
            stacklevel=5,
        )
    except BaseException:
        _stop(executor)
        raise
    executor.shutdown(wait=True)
    for index, batch in enumerate(batches):
        if results[index] is None:
            results[index] = read_batch(batch, keywords)
            bar.update(len(batch))
    return [row for batch_rows in results if batch_rows for row in batch_rows]


def _stop(executor: ProcessPoolExecutor) -> None:
    """Cancel what is queued and end the workers without waiting for them."""
    executor.shutdown(wait=False, cancel_futures=True)
    processes = getattr(executor, "_processes", None) or {}
    for process in list(processes.values()):
        process.terminate()


def rows_to_frames(
    rows: Iterable[Row], keywords: Sequence[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Build the typed ``(copies, errors)`` frames from header rows."""
    instance_rows: list[dict[str, Any]] = []
    error_rows: list[dict[str, Any]] = []
    for kind, row in rows:
        row["path"] = _text_path(row["path"])
        (instance_rows if kind == "instance" else error_rows).append(row)
    schema = instance_schema(keywords)
    copies = pl.DataFrame(instance_rows, schema=schema)
    errors = pl.DataFrame(error_rows, schema=ERROR_SCHEMA)
    return copies, errors.sort("path")


def _text_path(path: str) -> str:
    """A path as valid UTF-8 text (undecodable bytes shown as ``\\xNN``)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(path).decode("utf-8", "backslashreplace")
    return path


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
