"""Write a plan (one row per instance) as NEW DICOM files in a destination folder.

This is the only dicomkit code that writes DICOM files; sources are only ever opened
for reading. A call makes two passes. The *check* pass reads each source header,
applies its row and builds every target path, and raises before anything is written.
The *write* pass then writes each file to a temporary file in its folder, fsyncs it
and renames it into place; pixel data is copied as stored, never decoded. A process
killed mid-write leaves complete files under their final names and at most one
temporary file (``.dicomkit-<host>-<pid>-….tmp``), which the next write into its
folder removes (that process being gone).

Layout inside the destination, every component sanitised (:mod:`dicomkit.io.layout`)::

    <PatientID>/<StudyDate>_<StudyDescription or StudyInstanceUID tail>/
        <SeriesNumber>_<SeriesDescription>/<InstanceNumber:05d>_<SOPInstanceUID>.dcm
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import warnings
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, NamedTuple

import polars as pl
from pydicom import dcmread, dcmwrite
from pydicom.charset import convert_encodings, default_encoding, encode_string
from pydicom.datadict import dictionary_has_tag, dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pydicom.valuerep import format_number_as_ds

from dicomkit.exceptions import NotDicomError
from dicomkit.io.atomic import file_mode, remove_dead_temporaries, write_file
from dicomkit.io.dicomweb import is_url, read_instance
from dicomkit.io.header import file_identity, read_header
from dicomkit.io.layout import check_inside as _check_inside
from dicomkit.io.layout import identity as _identity
from dicomkit.io.layout import layout, unique_target, value_text
from dicomkit.io.progress import progress_bar
from dicomkit.io.walk import PathLike, os_path
from dicomkit.schema import BINARY_VRS, INT_VRS

__all__ = ["write_instances"]

_INT_VRS = INT_VRS | {"AT"}  # an AT value is a tag number
_TEXT_VRS = frozenset({"SH", "LO", "ST", "LT", "UT", "UC", "PN"})
_SYNTAXES: dict[tuple[bool | None, bool | None], str] = {  # (implicit, little endian)
    (True, True): ImplicitVRLittleEndian,
    (False, True): ExplicitVRLittleEndian,
    (False, False): ExplicitVRBigEndian,
}
_RESULT = {"path": pl.Utf8, "written_path": pl.Utf8, "SOPInstanceUID": pl.Utf8}
_Change = tuple[str, str, Any]  # (keyword, VR, value as pydicom takes it)


class _Job(NamedTuple):
    source: str
    changes: list[_Change]
    target: str
    sop_uid: str


def write_instances(
    plan: pl.DataFrame,
    dest: PathLike,
    *,
    uid_map: Mapping[str, str] | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
) -> pl.DataFrame:
    """Write one new DICOM file per row of ``plan`` under ``dest``.

    Parameters
    ----------
    plan
        A ``path`` column (the source file) and columns named by DICOM keywords
        (``SeriesInstanceUID``, ``SeriesDescription`` …). Each non-null value is set
        on the written data set; null means "leave as is". Other columns
        (``reason``, ``group`` …) and file meta keywords (group 0002: the transfer
        syntax is always kept) are ignored.
    dest
        The destination folder, created if missing. Files go to
        ``<PatientID>/<StudyDate>_<StudyDescription>/<SeriesNumber>_<SeriesDescription>/
        <InstanceNumber:05d>_<SOPInstanceUID>.dcm``, each part sanitised (ASCII
        letters, digits and ``-_.+``; at most 64 characters); a name met twice in
        one call gets ``_2``, ``_3`` ….
    uid_map
        Old UID → new UID, applied after the columns to every UI element anywhere
        in the data set (inside sequences too; multi-valued ones value by value),
        so that references between the written instances stay consistent.
    overwrite
        Replace existing target files. Writing onto a source is refused even then.
    progress
        ``None`` shows a progress bar once a pass takes over a second, ``True``
        always, ``False`` never.

    Returns
    -------
    polars.DataFrame
        ``path`` (source), ``written_path`` (absolute) and ``SOPInstanceUID`` (as
        written), one row per plan row, in plan order.

    Raises
    ------
    ValueError
        A value that cannot be set (wrong type; text the data set's
        SpecificCharacterSet cannot encode; a sequence or binary column), a
        target outside ``dest``, or a target that is a source file.
    FileExistsError
        Some targets exist and ``overwrite`` is false.
    OSError
        A source cannot be read; the message names it. Raised by the check pass
        after the targets are checked, so like the errors above nothing is
        written. Should a source fail in the write pass (changed meanwhile), the
        files this call already wrote stay, each complete; no temporary file is
        ever left behind.
    NotDicomError
        A source is not a DICOM file.
    """
    if "path" not in plan.columns:
        msg = f"the plan has no 'path' column (columns: {plan.columns})"
        raise ValueError(msg)
    columns = [
        name
        for name in plan.columns
        if (tag := tag_for_keyword(name)) is not None and tag >> 16 != 0x0002
    ]
    uid_map = dict(uid_map or {})
    top = os.path.abspath(os.fspath(dest))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's value warnings: ours to report
        bar = progress_bar(progress=progress, total=plan.height, desc="dicomkit check")
        try:
            jobs, failure = _check_pass(plan, columns, uid_map, top, bar)
        finally:
            bar.close()
        _check_targets(jobs, overwrite=overwrite)
        if failure is not None:
            raise failure
        os.makedirs(top, exist_ok=True)
        _remove_dead_temporaries(jobs)
        mode = file_mode()
        bar = progress_bar(progress=progress, total=len(jobs), desc="dicomkit write")
        try:
            for job in jobs:
                ds = _read(job.source, header_only=False)
                _apply(ds, job.changes, uid_map)
                if value_text(ds, "SOPInstanceUID") != job.sop_uid:
                    msg = f"the source file {job.source} changed while being written"
                    raise OSError(errno.EIO, msg)
                _write(ds, job.target, top, mode, overwrite=overwrite)
                bar.update()
        finally:
            bar.close()
    rows = [(job.source, job.target, job.sop_uid) for job in jobs]
    return pl.DataFrame(rows, schema=_RESULT, orient="row")


def _check_pass(
    plan: pl.DataFrame,
    columns: Sequence[str],
    uid_map: Mapping[str, str],
    top: str,
    bar: Any,
) -> tuple[list[_Job], OSError | None]:
    """Read each source header, apply its row and choose its target.

    Returns the jobs and the first source read error (raised by the caller once
    the targets are checked).
    """
    jobs: list[_Job] = []
    taken: set[str] = set()
    failure: OSError | None = None
    for index, row in enumerate(plan.select(["path", *columns]).iter_rows(named=True)):
        bar.update()
        source = row["path"]
        if not isinstance(source, str) or not source:
            msg = f"plan row {index} has no source path"
            raise ValueError(msg)
        changes = [_change(kw, row[kw], index) for kw in columns if row[kw] is not None]
        try:
            ds = _read(source, header_only=True)
        except OSError as exc:
            failure = failure or exc
            continue
        _apply(ds, changes, uid_map)
        _check_encodable(ds, changes, index)
        folders, stem, sop_uid = layout(ds, source)
        target = unique_target(top, folders, stem, taken)
        _check_inside(top, target)
        origin = source if is_url(source) else os.path.abspath(source)
        jobs.append(_Job(origin, changes, target, sop_uid))
    return jobs, failure


def _change(keyword: str, value: Any, index: int) -> _Change:
    vr = str(dictionary_VR(keyword))
    try:
        return keyword, vr, _convert(value, vr)
    except (TypeError, ValueError) as exc:
        msg = f"plan row {index}: cannot set {keyword} (VR {vr}) to {value!r}: {exc}"
        raise ValueError(msg) from exc


def _convert(value: Any, vr: str) -> Any:
    if isinstance(value, (list, tuple)):
        if any(item is None for item in value):
            msg = "a list holding a null"
            raise ValueError(msg)
        return [_convert(item, vr) for item in value]
    kinds = set(vr.split(" or "))
    if kinds & BINARY_VRS:
        msg = "sequence and binary elements cannot be set from a plan"
        raise ValueError(msg)
    if kinds <= _INT_VRS:
        if isinstance(value, bool) or (isinstance(value, float) and value % 1):
            msg = "not an integer"
            raise ValueError(msg)
        return int(value.strip() if isinstance(value, str) else value)
    if vr == "DS":
        if isinstance(value, (str, int)):
            return str(value).strip()
        return format_number_as_ds(
            value if isinstance(value, Decimal) else float(value)
        )
    if vr in ("FL", "FD"):
        return float(value)
    if vr == "DT" and isinstance(value, dt.datetime):
        text = _fraction(value.strftime("%Y%m%d%H%M%S"), value.microsecond)
        return text + value.strftime("%z")
    if vr == "DA" and isinstance(value, dt.date):
        return value.strftime("%Y%m%d")
    if vr == "TM" and isinstance(value, dt.time):
        return _fraction(value.strftime("%H%M%S"), value.microsecond)
    return str(value)


def _fraction(text: str, microsecond: int) -> str:
    """``text`` plus the fraction of a second, trailing zeros trimmed."""
    return f"{text}.{microsecond:06d}".rstrip("0") if microsecond else text


def _read(source: str, *, header_only: bool) -> Dataset:
    """Read ``source``; the check pass first applies the scan's rules, so that junk
    or a truncated file is refused rather than forced through pydicom."""
    if is_url(source):  # a DICOMweb collection's instance: retrieved (OSError)
        return read_instance(source, stop_before_pixels=header_only)
    name = os_path(source)  # a frame's text path: undecodable bytes as \xNN
    try:
        kind, row = read_header(file_identity(name), ()) if header_only else ("", {})
        if kind == "error" and row["reason"] != "unreadable":
            msg = f"the source file {source} is not a DICOM instance: {row['message']}"
            raise NotDicomError(msg)
        with open(name, "rb") as fp:
            part10 = fp.read(132)[128:132] == b"DICM"
            fp.seek(0)
            return dcmread(fp, stop_before_pixels=header_only, force=not part10)
    except OSError as exc:
        msg = f"cannot read the source file {source}: {exc.strerror or exc}"
        raise OSError(exc.errno, msg) from exc
    except NotDicomError:
        raise
    except Exception as exc:
        msg = f"the source file {source} is not readable DICOM: {exc}"
        raise NotDicomError(msg) from exc


def _apply(ds: Dataset, changes: Sequence[_Change], uid_map: Mapping[str, str]) -> None:
    for keyword, _, value in changes:
        setattr(ds, keyword, value)
    if uid_map:
        _map_uids(ds, uid_map)


def _map_uids(ds: Dataset, uid_map: Mapping[str, str]) -> None:
    """Replace mapped UIDs in every UI element, recursing into sequences."""
    for tag in list(ds.keys()):
        # A raw element's VR is None in an implicit VR data set; only UI and SQ
        # elements are decoded, the others stay raw and are written unchanged.
        vr = ds.get_item(tag).VR or (
            dictionary_VR(tag) if dictionary_has_tag(tag) else ""
        )
        if vr not in ("UI", "SQ"):
            continue
        elem = ds[tag]
        if elem.VR == "SQ":
            for item in elem.value:
                _map_uids(item, uid_map)
        elif elem.VR == "UI" and isinstance(elem.value, str):
            elem.value = uid_map.get(elem.value.strip("\0 "), elem.value)
        elif elem.VR == "UI" and elem.value:
            elem.value = [uid_map.get(str(v).strip("\0 "), v) for v in elem.value]


def _check_encodable(ds: Dataset, changes: Sequence[_Change], index: int) -> None:
    """Refuse text that the data set's character set would write as ``?``."""
    charset = ds.get("SpecificCharacterSet")
    texts = [
        (keyword, text)
        for keyword, vr, value in changes
        if vr in _TEXT_VRS
        for text in (value if isinstance(value, list) else [value])
        if not text.isascii()
    ]
    for keyword, text in texts:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # pydicom warns, then writes "?"
                encode_string(text, convert_encodings(charset or default_encoding))
        except (Warning, UnicodeError, LookupError) as exc:
            msg = (
                f"plan row {index}: {keyword} {text!r} cannot be encoded in the "
                f"character set {charset or 'ISO_IR 6'} ({exc}); set "
                "SpecificCharacterSet too, e.g. to 'ISO_IR 192' (UTF-8)"
            )
            raise ValueError(msg) from None


def _check_targets(jobs: Sequence[_Job], *, overwrite: bool) -> None:
    """Refuse a target that is a source (by any name or link), or that exists."""
    existing = [job.target for job in jobs if os.path.lexists(job.target)]
    if existing:
        sources = {_identity(job.source) for job in jobs}
        for target in existing:
            if _identity(target) in sources:
                msg = (
                    f"refusing to write {target}: it is a source file of the plan, "
                    "and dicomkit never modifies originals; choose another destination"
                )
                raise ValueError(msg)
    if existing and not overwrite:
        shown = ", ".join(existing[:3]) + (", …" if len(existing) > 3 else "")
        msg = (
            f"{len(existing)} target file(s) already exist ({shown}); nothing was "
            "written. Pass overwrite=True to replace them, or choose an empty destination"
        )
        raise FileExistsError(msg)


def _remove_dead_temporaries(jobs: Sequence[_Job]) -> None:
    """Remove the temporary files that killed writers on this host left in the
    target folders (a writer that is still running keeps its own)."""
    sources = {job.source for job in jobs}
    for folder in sorted({os.path.dirname(job.target) for job in jobs}):
        remove_dead_temporaries(folder, keep=sources)


def _write(ds: Dataset, target: str, top: str, mode: int, *, overwrite: bool) -> None:
    """Write ``ds`` atomically: a temporary file beside ``target``, then a rename."""
    meta = getattr(ds, "file_meta", None) or FileMetaDataset()
    if "TransferSyntaxUID" not in meta:  # a bare data set: keep how it was encoded
        meta.TransferSyntaxUID = _SYNTAXES.get(
            ds.original_encoding, _SYNTAXES[True, True]
        )
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if "SOPClassUID" in ds:
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
    for keyword in ("ImplementationClassUID", "ImplementationVersionName"):
        if keyword in meta:  # they name the writer: pydicom fills in its own
            delattr(meta, keyword)
    ds.file_meta = meta
    folder = os.path.dirname(target)
    os.makedirs(folder, exist_ok=True)
    _check_inside(top, target)  # again, now that the folders exist
    write_file(
        target,
        lambda fp: dcmwrite(fp, ds, enforce_file_format=True),
        mode=mode,
        overwrite=overwrite,
    )
