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

import io
import multiprocessing
import os
import struct
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from pydicom import dcmread, dcmwrite
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, validate_file_meta
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import (
    write_data_element,
    write_dataset,
    write_file_meta_info,
    writers,
)
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

from dicomkit._warnings import warn
from dicomkit.io.atomic import AtomicBatch, file_mode, remove_dead_temporaries
from dicomkit.io.scan import _can_spawn, _ignore_sigint
from dicomkit.io.walk import os_path

__all__ = [
    "BATCH_FILES",
    "MIN_PARALLEL_FILES",
    "Job",
    "JobResult",
    "TransformResult",
    "check_jobs",
    "encode",
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


_ITEM = struct.pack("<HHL", 0xFFFE, 0xE000, 0xFFFFFFFF)
_ITEM_END = struct.pack("<HHL", 0xFFFE, 0xE00D, 0)
_SEQUENCE_END = struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)
_LONG_VRS = frozenset(str(vr) for vr in EXPLICIT_VR_LENGTH_32)
_WRITABLE_VRS = frozenset(str(vr) for vr in writers)
_STRING_VRS = frozenset({"AE", "AS", "CS", "UR"})  # pydicom's write_string
_TEXT_VRS = frozenset({"LO", "LT", "SH", "ST", "UC", "UT"})  # its write_text


def encode(ds: Dataset) -> bytes:
    """The Part 10 file of ``ds``: the bytes ``dcmwrite(fp, ds,
    enforce_file_format=True)`` writes, encoded about twice as fast.

    Elements still as read (pydicom's raw elements, at any sequence depth) are
    copied as they are, without pydicom's per-element buffers; every other
    element, and every data set whose encoding or character set differs from
    the one it was read with, goes through pydicom's own writers. Unusual files
    (no transfer syntax, a big-endian, deflated or private one, command or meta
    elements in the data set) are written by ``dcmwrite`` itself. Like
    ``dcmwrite``, it completes ``ds.file_meta`` (group length, version,
    implementation UID) and sets the pixel data's length encoding.

    >>> from pydicom import examples
    >>> ds = examples.ct
    >>> from io import BytesIO
    >>> fp = BytesIO(); dcmwrite(fp, ds, enforce_file_format=True)
    >>> encode(ds) == fp.getvalue()
    True
    """
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID", None) if meta is not None else None
    preamble = getattr(ds, "preamble", None) or b"\0" * 128
    if (
        syntax is None
        or syntax.is_private
        or not syntax.is_transfer_syntax
        or not syntax.is_little_endian
        or syntax == DeflatedExplicitVRLittleEndian
        or len(preamble) != 128
        or any(tag >> 16 in (0, 2) for tag in ds._dict)
    ):
        return _encode_slowly(ds)
    assert meta is not None
    ds_class = ds.get("SOPClassUID", None)
    meta_class = meta.get("MediaStorageSOPClassUID", None)
    if meta_class is None or (ds_class and ds_class != meta_class):
        meta.MediaStorageSOPClassUID = ds_class
    ds_instance = ds.get("SOPInstanceUID", None)
    meta_instance = meta.get("MediaStorageSOPInstanceUID", None)
    if meta_instance is None or (ds_instance and ds_instance != meta_instance):
        meta.MediaStorageSOPInstanceUID = ds_instance
    if "PixelData" in ds:
        ds["PixelData"].is_undefined_length = syntax.is_compressed
    fp = DicomBytesIO()
    fp.is_implicit_VR, fp.is_little_endian = syntax.is_implicit_VR, True
    fp.write(preamble)
    fp.write(b"DICM")
    _write_meta(fp, meta)
    _write_dataset(fp, ds, "iso8859")
    return bytes(fp.getvalue())


def _write_meta(fp: DicomBytesIO, meta: Any) -> None:
    """pydicom's ``write_file_meta_info(fp, meta, enforce_standard=True)``, the
    values encoded by :func:`_plain_value` when they all can be."""
    validate_file_meta(meta, enforce_standard=True)  # completes it, or raises
    values = []
    for tag in sorted(meta._dict):
        if tag == 0x00020000:
            continue
        elem = meta.get_item(tag)
        value = None if isinstance(elem, RawDataElement) else _plain_value(elem)
        if value is None:
            write_file_meta_info(fp, meta, enforce_standard=True)
            return
        values.append((tag, elem.VR, value))
    body = DicomBytesIO()
    body.is_implicit_VR, body.is_little_endian = False, True
    for tag, vr, value in values:
        if not _write_element(body, tag, vr, value, implicit=False):
            write_file_meta_info(fp, meta, enforce_standard=True)
            return
    encoded = body.getvalue()
    meta.FileMetaInformationGroupLength = len(encoded)
    fp.write(struct.pack("<HH2sHL", 2, 0, b"UL", 4, len(encoded)))
    fp.write(encoded)


def _encode_slowly(ds: Dataset) -> bytes:
    fp = io.BytesIO()
    dcmwrite(fp, ds, enforce_file_format=True)
    return fp.getvalue()


def _write_dataset(fp: DicomBytesIO, ds: Dataset, parent: str | list[str]) -> None:
    """pydicom's ``write_dataset`` (little endian), raw elements copied directly."""
    implicit = fp.is_implicit_VR
    if (implicit, True) != ds.original_encoding or (
        ds.original_character_set != ds._character_set
    ):
        write_dataset(fp, ds, parent)  # pydicom converts and corrects VRs
        return
    encodings: Any = ds.get("SpecificCharacterSet", parent)
    get_item = ds.get_item
    for tag in sorted(ds._dict):
        group, element = tag >> 16, tag & 0xFFFF
        if element == 0 and group > 6:  # retired group length: never written
            continue
        elem: Any = get_item(tag)  # raw elements too
        vr = elem.VR
        if isinstance(elem, RawDataElement):
            value: bytes | None = elem.value or b""
            if elem.length == 0xFFFFFFFF or tag == 0x7FE00010 or (vr and len(vr) != 2):
                value = None  # pydicom's checks
        elif vr == "SQ":
            _write_sequence(
                fp, tag, elem.value, encodings, undefined=elem.is_undefined_length
            )
            continue
        else:
            value = _plain_value(elem)
        if value is None or not _write_element(fp, tag, vr, value, implicit=implicit):
            write_data_element(fp, elem, encodings)


def _write_element(
    fp: DicomBytesIO, tag: int, vr: str | None, value: bytes, *, implicit: bool
) -> bool:
    """Write one element of defined length; False (nothing written) if its value
    is too long for its VR's 16-bit length (pydicom then writes it as UN)."""
    group, element = tag >> 16, tag & 0xFFFF
    if implicit:
        fp.write(struct.pack("<HHL", group, element, len(value)))
    elif vr in _LONG_VRS:
        fp.write(
            struct.pack("<HH2sHL", group, element, str(vr).encode(), 0, len(value))
        )
    elif len(value) > 0xFFFF:
        return False
    else:
        fp.write(struct.pack("<HH2sH", group, element, str(vr).encode(), len(value)))
    fp.write(value)
    return True


def _plain_value(elem: Any) -> bytes | None:
    """The encoded value of a converted element that pydicom's writers would
    encode in the obvious way (empty, a single ASCII or ISO 8859 string, bytes);
    None for anything else (pydicom's writers encode it)."""
    vr = elem.VR
    if elem.is_undefined_length or elem.is_buffered or len(vr) != 2:
        return None
    if vr not in _WRITABLE_VRS:
        return None  # pydicom raises NotImplementedError
    if elem.is_empty:
        return b""
    value = elem.value
    if type(value) is str or type(value) is UID:
        if vr == "UI":
            return (value + "\0" if len(value) % 2 else value).encode("iso8859")
        if vr in _STRING_VRS:
            return (value + " " if len(value) % 2 else value).encode("iso8859")
        if vr in _TEXT_VRS and value.isascii():
            return (value + " " if len(value) % 2 else value).encode("ascii")
        return None
    if type(value) is bytes and vr in ("OB", "OW"):
        return value + b"\0" if len(value) % 2 else value
    return None


def _write_sequence(
    fp: DicomBytesIO,
    tag: int,
    items: Any,
    encodings: str | list[str],
    *,
    undefined: bool,
) -> None:
    """pydicom's ``write_data_element`` for a sequence, the items through
    :func:`_write_dataset`."""
    from pydicom.charset import convert_encodings

    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, fp.is_implicit_VR
    item_encodings = convert_encodings(encodings or ["iso8859"])
    for item in items or ():
        start = buffer.tell()
        buffer.write(_ITEM)
        _write_dataset(buffer, item, item_encodings)
        if getattr(item, "is_undefined_length_sequence_item", False):
            buffer.write(_ITEM_END)
        else:
            end = buffer.tell()
            buffer.seek(start + 4)
            buffer.write(struct.pack("<L", end - start - 8))
            buffer.seek(end)
    length = 0xFFFFFFFF if undefined else buffer.tell()
    if fp.is_implicit_VR:
        fp.write(struct.pack("<HHL", tag >> 16, tag & 0xFFFF, length))
    else:
        fp.write(struct.pack("<HH2sHL", tag >> 16, tag & 0xFFFF, b"SQ", 0, length))
    fp.write(buffer.getvalue())
    if undefined:
        fp.write(_SEQUENCE_END)


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
    :data:`MIN_PARALLEL_FILES` files on (batches over a ``ProcessPoolExecutor``,
    "spawn" context, like the scan).
    """
    from tqdm.auto import tqdm  # imported here: only writes need it

    check_jobs(jobs, dest)
    os.makedirs(dest, exist_ok=True)
    for folder in sorted({os.path.dirname(job.target) for job in jobs}):
        remove_dead_temporaries(folder)
    n = _worker_count(workers, len(jobs))
    bar = tqdm(
        total=len(jobs),
        desc="dicomkit deidentify",
        delay=1.0 if progress is None else 0.0,
        disable=progress is False,
        leave=progress is True,
    )
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
        try:
            _run_parallel(batches, transform, mode, n - 1, done, bar)
        except BrokenProcessPool as exc:
            # Workers could not start or died (e.g. a main script without an
            # ``if __name__ == "__main__":`` guard): finish here. A target that
            # exists now was written, whole, by a worker of this call (none
            # existed when it began).
            warn(
                f"dicomkit: worker processes failed ({exc}); writing the remaining "
                "files in this process. Pass workers=1 to skip the attempt.",
                RuntimeWarning,
            )
            for index, rest in enumerate(batches):
                if index not in done:
                    done[index] = run_batch(rest, transform, mode, resume=True)
                    bar.update(len(rest))
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
    """Workers take batches from the front; this process runs batches from the
    back whenever no result is waiting (the workers need a moment to start).
    A batch handed to a worker is never run twice (its files would be written
    twice), so this process waits for the workers' last ones."""
    context = multiprocessing.get_context("spawn")
    front, back = 0, len(batches)
    pending: dict[Future[list[JobResult]], int] = {}
    with ProcessPoolExecutor(
        n_workers, mp_context=context, initializer=_ignore_sigint
    ) as executor:
        while front < back and len(pending) < 2 * n_workers:
            pending[executor.submit(run_batch, batches[front], transform, mode)] = front
            front += 1
        while pending or front < back:
            ready = [future for future in pending if future.done()]
            if not ready and front < back:
                back -= 1
                done[back] = run_batch(batches[back], transform, mode)
                bar.update(len(batches[back]))
                continue
            if not ready:
                ready = list(wait(pending, return_when=FIRST_COMPLETED).done)
            for future in ready:
                index = pending.pop(future)
                done[index] = future.result()
                bar.update(len(batches[index]))
                if front < back:
                    pending[
                        executor.submit(run_batch, batches[front], transform, mode)
                    ] = front
                    front += 1


def _worker_count(workers: int | None, n_jobs: int) -> int:
    if workers is not None:
        if workers < 1:
            msg = f"workers must be None or at least 1, not {workers}"
            raise ValueError(msg)
        return min(workers, max(n_jobs, 1))
    if n_jobs < MIN_PARALLEL_FILES or not _can_spawn():
        return 1
    return os.cpu_count() or 1


def run_batch(
    jobs: Sequence[Job], transform: Transform, mode: int, *, resume: bool = False
) -> list[JobResult]:
    """Run ``jobs`` in this process (a worker's task); results in job order.

    Each file is read, transformed and encoded (:func:`encode`) in memory and
    written to a temporary name; then one :class:`~dicomkit.io.atomic.AtomicBatch`
    commit makes them all durable and renames them into place. ``resume``: a
    target that exists already was written by this call before (it reports
    ``written``, untouched).
    """
    results: list[JobResult] = []
    staged: list[int] = []  # the results whose file waits in the batch
    with AtomicBatch(mode=mode, overwrite=False) as batch:
        for job in jobs:
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


def _run(
    job: Job, transform: Transform, mode: int, *, resume: bool = False
) -> JobResult:
    """One job, written on its own (:func:`run_batch` of one)."""
    return run_batch([job], transform, mode, resume=resume)[0]


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
