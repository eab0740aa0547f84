"""Write de-identified copies: read each source, transform it in memory, write the
result as a NEW file, atomically; in parallel for large deliveries.

The transformation is a caller's picklable function (``transform(ds) ->
TransformResult``, :func:`dicomkit.deid.plan.transform` for
``col.deidentify``), so this module knows nothing of the rules. Every source
ends up in the report: ``written``, ``refused`` (the transform said why) or
``failed`` (unreadable, not re-encodable, changed since the scan): one bad file
never stops the others.

Targets are chosen by the caller from new values only; this module checks them
(inside ``dest``, not existing, not a source) before anything is written, and
writes them a batch at a time through :class:`dicomkit.io.atomic.AtomicBatch`
(temporary files beside the targets, one sync for the batch, then the renames,
never over an existing file): nothing appears under a final name before its
bytes are on disk, and every file is durable when :func:`write_jobs` returns.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, BinaryIO

from pydicom import dcmread
from pydicom.dataset import Dataset

from dicomkit.io.atomic import AtomicBatch, file_mode, remove_dead_temporaries
from dicomkit.io.encode import encode
from dicomkit.io.pool import can_spawn, check_stop, run_batches
from dicomkit.io.progress import progress_bar
from dicomkit.io.walk import os_path

__all__ = [
    "BATCH_FILES",
    "MIN_PARALLEL_FILES",
    "Job",
    "JobResult",
    "TransformResult",
    "check_jobs",
    "read_dataset",
    "write_jobs",
]

#: Below this many files everything runs in this process (starting workers costs
#: more than it saves).
MIN_PARALLEL_FILES = 200
#: Files written with one sync (:class:`~dicomkit.io.atomic.AtomicBatch`); the
#: largest batch handed to a worker.
BATCH_FILES = 128


@dataclass(frozen=True)
class Job:
    """One source file, where its copy goes and the SOPInstanceUID it must get."""

    source: str
    target: str
    new_sop_uid: str


@dataclass
class TransformResult:
    """What a transform did to one data set (see :mod:`dicomkit.deid.engine`)."""

    refused: str | None = None
    findings: list[tuple[str, str, str]] = field(default_factory=list)
    uids: dict[str, str] = field(default_factory=dict)


@dataclass
class JobResult:
    """``status`` is ``written``, ``refused`` or ``failed``; ``message`` says why."""

    source: str
    target: str
    status: str
    message: str = ""
    findings: list[tuple[str, str, str]] = field(default_factory=list)
    uids: dict[str, str] = field(default_factory=dict)


Transform = Callable[[Dataset], TransformResult]


def read_dataset(source: str, *, header_only: bool = False) -> Dataset:
    """Read ``source`` (a Part 10 file, or a bare data set) with pydicom.

    Raises OSError (unreadable) or ValueError (not DICOM), naming the file.
    """
    name = os_path(source)
    try:
        with open(name, "rb") as fp:
            part10 = fp.read(132)[128:132] == b"DICM"
            fp.seek(0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pydicom's value warnings: reported
                return dcmread(fp, stop_before_pixels=header_only, force=not part10)
    except OSError as exc:
        msg = f"cannot read {source}: {exc.strerror or exc}"
        raise OSError(exc.errno, msg) from exc
    except Exception as exc:
        msg = f"{source} is not readable DICOM: {exc}"
        raise ValueError(msg) from exc


def check_jobs(jobs: Sequence[Job], dest: str) -> None:
    """Refuse before writing: a target outside ``dest``, one that exists, or a
    ``dest`` that holds source files (the copy would mix with the originals).

    Raises ValueError or FileExistsError; nothing is written.
    """
    top = os.path.realpath(dest)
    for job in jobs:
        real = os.path.realpath(job.target)
        if os.path.commonpath([top, real]) != top or real == top:
            msg = f"refusing to write {job.target}: it resolves outside {top}"
            raise ValueError(msg)
        source = os.path.realpath(os_path(job.source))
        if os.path.commonpath([top, source]) == top:
            msg = (
                f"refusing to write into {dest}: it holds the source file "
                f"{job.source}; de-identified copies go to a separate, new folder"
            )
            raise ValueError(msg)
    existing = [job.target for job in jobs if os.path.lexists(job.target)]
    if existing:
        shown = ", ".join(existing[:3]) + (", …" if len(existing) > 3 else "")
        msg = (
            f"{len(existing)} target file(s) already exist ({shown}); nothing was "
            "written. De-identified copies never overwrite: choose a new destination"
        )
        raise FileExistsError(msg)


def write_jobs(
    jobs: Sequence[Job],
    transform: Transform,
    dest: str,
    *,
    workers: int | None = None,
    progress: bool | None = None,
) -> list[JobResult]:
    """Run every job (:func:`check_jobs` first); results in job order.

    ``workers``: processes, this one included; ``None`` uses every core from
    :data:`MIN_PARALLEL_FILES` files on (batches over :mod:`dicomkit.io.pool`,
    "spawn" context, like the scan).
    """

    check_jobs(jobs, dest)
    os.makedirs(dest, exist_ok=True)
    for folder in sorted({os.path.dirname(job.target) for job in jobs}):
        remove_dead_temporaries(folder)
    n = _worker_count(workers, len(jobs))
    bar = progress_bar(progress=progress, total=len(jobs), desc="dicomkit deidentify")
    mode = file_mode()
    results: list[JobResult] = []
    try:
        if n <= 1:
            for i in range(0, len(jobs), BATCH_FILES):
                batch = jobs[i : i + BATCH_FILES]
                results.extend(run_batch(batch, transform, mode))
                bar.update(len(batch))
            return results
        size = max(16, min(BATCH_FILES, len(jobs) // (n * 8) or 1))
        batches = [list(jobs[i : i + size]) for i in range(0, len(jobs), size)]
        done: dict[int, list[JobResult]] = {}
        _run_parallel(batches, transform, mode, n - 1, done, bar)
        return [result for index in sorted(done) for result in done[index]]
    finally:
        bar.close()


def _run_parallel(
    batches: list[list[Job]],
    transform: Transform,
    mode: int,
    n_workers: int,
    done: dict[int, list[JobResult]],
    bar: Any,
) -> None:
    """Run ``batches`` on ``n_workers`` workers and this process
    (:func:`dicomkit.io.pool.run_batches`), results into ``done``.

    A batch handed to a worker is never run twice (its files would be written
    twice). If the workers cannot start or die (e.g. a main script without an
    ``if __name__ == "__main__":`` guard), this process finishes, with a
    :class:`RuntimeWarning`: a target that exists now was written, whole, by a
    worker of this call (none existed when it began). On Ctrl-C each worker ends
    after the file it is writing (one killed after the grace period may leave a
    temporary file, removed here): no partial file is ever visible.
    """

    def finished(index: int, results: list[JobResult]) -> None:
        done[index] = results
        bar.update(len(batches[index]))

    try:
        run_batches(
            batches,
            partial(_run_batch_in_worker, transform=transform, mode=mode),
            n_workers,
            finished,
            here=partial(run_batch, transform=transform, mode=mode),
            recover=partial(_resume_batch, transform=transform, mode=mode),
            verb="writing",
        )
    finally:  # the workers are gone: what a killed one was writing is dead
        for folder in sorted({os.path.dirname(j.target) for b in batches for j in b}):
            remove_dead_temporaries(folder)


def _run_batch_in_worker(
    jobs: Sequence[Job], transform: Transform, mode: int
) -> list[JobResult]:  # pragma: no cover - runs in worker processes
    """A worker's task: :func:`run_batch`, stopped between two files once a stop
    is requested (its batch is then discarded whole: nothing was renamed)."""
    return run_batch(jobs, transform, mode, between=check_stop)


def _resume_batch(
    jobs: Sequence[Job], transform: Transform, mode: int
) -> list[JobResult]:
    """A batch a dead worker had taken: the targets it wrote are kept."""
    return run_batch(jobs, transform, mode, resume=True)


def _worker_count(workers: int | None, n_jobs: int) -> int:
    if workers is not None:
        if workers < 1:
            msg = f"workers must be None or at least 1, not {workers}"
            raise ValueError(msg)
        return min(workers, max(n_jobs, 1))
    if n_jobs < MIN_PARALLEL_FILES or not can_spawn():
        return 1
    return os.cpu_count() or 1


def run_batch(
    jobs: Sequence[Job],
    transform: Transform,
    mode: int,
    *,
    resume: bool = False,
    between: Callable[[], None] | None = None,
) -> list[JobResult]:
    """Run ``jobs`` in this process (a worker's task); results in job order.

    Each file is read, transformed and encoded (:func:`dicomkit.io.encode.encode`) in memory and
    written to a temporary name; then one :class:`~dicomkit.io.atomic.AtomicBatch`
    commit makes them all durable and renames them into place. ``resume``: a
    target that exists already was written by this call before (it reports
    ``written``, untouched). ``between`` is called before each file (a worker's
    stop check: if it raises, the batch is discarded, nothing renamed).
    """
    results: list[JobResult] = []
    staged: list[int] = []  # the results whose file waits in the batch
    with AtomicBatch(mode=mode, overwrite=False) as batch:
        for job in jobs:
            if between is not None:
                between()
            result, data = _prepare(job, transform, resume=resume)
            if data is not None:
                try:
                    os.makedirs(os.path.dirname(job.target), exist_ok=True)
                    batch.add(job.target, _writer(data))
                    staged.append(len(results))
                except OSError as exc:
                    _fail(result, f"{job.source}: cannot be written ({exc})")
            results.append(result)
        try:
            errors: dict[str, OSError] = batch.commit()
        except OSError as exc:  # the sync failed: nothing was put in place
            errors = {results[index].target: exc for index in staged}
    for index in staged:
        error = errors.get(results[index].target)
        if error is not None:
            _fail(
                results[index],
                f"{results[index].source}: cannot be written ({error})",
            )
    return results


def _writer(data: bytes) -> Callable[[BinaryIO], object]:
    return lambda fp: fp.write(data)


def _fail(result: JobResult, message: str) -> None:
    result.status, result.message, result.uids = "failed", message, {}


def _prepare(
    job: Job, transform: Transform, *, resume: bool = False
) -> tuple[JobResult, bytes | None]:
    """Read, transform and encode ``job``'s file: its result (``written`` if the
    bytes come with it, they are not on disk yet) and the bytes to write."""
    if resume and os.path.lexists(job.target):
        return JobResult(job.source, job.target, "written", ""), None
    try:
        ds = read_dataset(job.source)
    except (OSError, ValueError) as exc:
        return JobResult(job.source, job.target, "failed", str(exc)), None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = transform(ds)
    except Exception as exc:  # noqa: BLE001 - one bad file never stops the others
        msg = f"{job.source}: cannot de-identify ({type(exc).__name__}: {exc})"
        return JobResult(job.source, job.target, "failed", msg), None
    if result.refused:
        refused = JobResult(
            job.source,
            job.target,
            "refused",
            f"{job.source}: {result.refused}",
            result.findings,
        )
        return refused, None
    found = str(ds.get("SOPInstanceUID", "") or "").strip("\0 ")
    if found != job.new_sop_uid:
        msg = (
            f"{job.source}: its SOPInstanceUID is not the scanned one (the file "
            "changed since the scan?); rescan and plan again"
        )
        return JobResult(job.source, job.target, "failed", msg, result.findings), None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = encode(ds)
    except Exception as exc:  # noqa: BLE001 - e.g. a value of the wrong VR
        msg = f"{job.source}: cannot be written ({type(exc).__name__}: {exc})"
        return JobResult(job.source, job.target, "failed", msg, result.findings), None
    written = JobResult(
        job.source, job.target, "written", "", result.findings, result.uids
    )
    return written, data
