"""Read one file's DICOM header into an index row, or say why it is not an instance.

Only this module (with :mod:`dicomkit.io.content`) opens DICOM files during a scan.
It reads the header and stops before the pixel data; it never raises for a bad file:
:func:`read_header` returns either an instance row or an error row.

How a file is told from junk:

1. **Part 10**: a 128-byte preamble followed by ``DICM``. The common case.
2. **No preamble**: a bare data set (old ACR-NEMA style, some exports). Accepted only
   when its first bytes are a DICOM element of group 0002 (file meta) or 0008
   (identifying), the groups every real data set starts with; anything else is
   ``not_dicom``. This is stricter than pydicom's ``force=True``, which "reads" any
   bytes into an empty or meaningless data set.
3. Then: a data set without SOPInstanceUID is ``missing_sop_instance_uid``; a
   DICOMDIR (a media index, not an image) is ``dicomdir``; a header cut short, or a
   PixelData element that declares more bytes than the file holds, is ``truncated``.
"""

from __future__ import annotations

import os
import struct
import warnings
from collections.abc import Sequence
from typing import Any, BinaryIO, Literal

from pydicom import dcmread
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from dicomkit.io.fastread import LONG_VRS, SHORT_VRS, ReadPlan, TooLarge, read_fast
from dicomkit.io.walk import FileEntry
from dicomkit.schema import Kind, convert_value, is_meta_keyword, kind_of

__all__ = ["Row", "read_batch", "read_header"]

#: ``("instance", {column: value})``, ``("instance", (value, …))`` in the column
#: order of :func:`dicomkit.schema.instance_schema`, or ``("error", {column: value})``.
Row = tuple[str, Any]

_PIXEL_TAGS = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})
_UNDEFINED = 0xFFFFFFFF
_DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
_IMPLICIT_LE = "1.2.840.10008.1.2"
_EXPLICIT_LE = "1.2.840.10008.1.2.1"
_EXPLICIT_BE = "1.2.840.10008.1.2.2"
_DEFLATED = "1.2.840.10008.1.2.1.99"
_VALID_VRS = LONG_VRS | SHORT_VRS
_ITEM = 0xFFFEE000
_SEQUENCE_END = 0xFFFEE0DD
_MAX_FRAGMENTS = 1_000_000


Reader = Literal["fast", "pydicom"]


def read_batch(
    entries: Sequence[FileEntry], keywords: Sequence[str], *, reader: Reader = "fast"
) -> list[Row]:
    """Read many files (one task of a parallel scan); see :func:`read_header`.

    ``reader="fast"`` (the default) tries :mod:`dicomkit.io.fastread` first and
    reads with pydicom only what it hands back; ``"pydicom"`` always uses pydicom
    (the reference the fast reader is tested against).
    """
    kinds = [(kw, kind_of(kw)) for kw in keywords]
    plan = ReadPlan.build(keywords) if reader == "fast" else None
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # see _read
        for entry in entries:
            row = _read_fast(entry, plan) if plan is not None else None
            rows.append(row if row is not None else _read_quietly(entry, kinds))
    return rows


def _read_fast(entry: FileEntry, plan: ReadPlan) -> Row | None:
    base = {
        "path": entry.path,
        "file_size": entry.file_size,
        "mtime_ns": entry.mtime_ns,
    }
    try:
        row = read_fast(entry, plan)
    except TooLarge as exc:
        return _error(
            base, "header_too_large", f"the header is too large to index: {exc}"
        )
    except OSError:
        return None  # the pydicom path reports the reason
    return None if row is None else ("instance", row)


def read_header(entry: FileEntry, keywords: Sequence[str]) -> Row:
    """Read ``entry``'s header and return an instance row or an error row.

    Instance rows hold one value per keyword (converted by
    :func:`dicomkit.schema.convert_value`) plus ``path``, ``file_size``,
    ``mtime_ns``, ``n_frames`` and ``bad_values``. Error rows hold ``path``,
    ``file_size``, ``mtime_ns``, ``reason`` (a stable code) and ``message``.
    """
    return _read(entry, [(kw, kind_of(kw)) for kw in keywords])


def _read(entry: FileEntry, kinds: Sequence[tuple[str, Kind]]) -> Row:
    # pydicom warns about values it finds invalid; dicomkit reports those itself
    # (bad_values, and later verify), so its warnings must not reach the user.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _read_quietly(entry, kinds)


def _read_quietly(entry: FileEntry, kinds: Sequence[tuple[str, Kind]]) -> Row:
    base = {
        "path": entry.path,
        "file_size": entry.file_size,
        "mtime_ns": entry.mtime_ns,
    }
    try:
        with open(entry.path, "rb") as fp:
            problem = _sniff(fp, entry.file_size)
            if problem is not None:
                return _error(base, *problem)
            ds, problem, has_pixels = _parse(fp, entry.file_size)
    except OSError as exc:
        return _error(
            base, "unreadable", f"cannot read the file: {exc.strerror or exc}"
        )
    if problem is not None:
        return _error(base, *problem)
    assert ds is not None
    return _to_row(ds, {**base, "has_pixel_data": has_pixels}, kinds)


def _error(base: dict[str, Any], reason: str, message: str) -> Row:
    return "error", {**base, "reason": reason, "message": message}


def _sniff(fp: BinaryIO, size: int) -> tuple[str, str] | None:
    """Return ``(reason, message)`` when the first bytes rule DICOM out."""
    if size == 0:
        return "empty", "the file is empty (0 bytes)"
    head = fp.read(132)
    fp.seek(0)
    if head[128:132] == b"DICM":
        return None
    if _starts_like_dataset(head):
        return None
    found = head[:8].hex(" ")
    return (
        "not_dicom",
        "not DICOM: no 'DICM' marker at byte 128 and the file does not start with a "
        f"DICOM element of group 0002 or 0008 (first bytes: {found})",
    )


def _starts_like_dataset(head: bytes) -> bool:
    if len(head) < 8:
        return False
    for order in ("<", ">"):
        group, element = struct.unpack(order + "HH", head[:4])
        if group not in (0x0002, 0x0008) or element > 0x1FFF:
            continue
        if head[4:6] in _VALID_VRS:  # explicit VR
            return True
        (length,) = struct.unpack(order + "I", head[4:8])
        if length < 1 << 16:  # implicit VR: a plausible first element length
            return True
    return False


def _parse(
    fp: BinaryIO, size: int
) -> tuple[Dataset | None, tuple[str, str] | None, bool | None]:
    """Read the header; return ``(data set, problem, whether PixelData follows)``."""
    part10 = fp.read(132)[128:132] == b"DICM"
    fp.seek(0)
    try:
        ds = dcmread(fp, stop_before_pixels=True, force=not part10)
    except EOFError as exc:
        return None, ("truncated", f"the header is cut short: {exc}"), None
    except Exception as exc:  # noqa: BLE001 - any parser failure is a row, not a crash
        return None, ("invalid_dicom", f"pydicom cannot parse the header: {exc}"), None
    if ds.file_meta.get("TransferSyntaxUID") == _DEFLATED:
        return ds, None, None  # positions are in the compressed stream: unchecked
    problem, has_pixels = _check_complete(ds, fp, fp.tell(), size)
    if problem is not None:
        return None, problem, None
    return ds, None, has_pixels


def _check_complete(
    ds: Dataset, fp: BinaryIO, at: int, size: int
) -> tuple[tuple[str, str] | None, bool]:
    """Detect a file cut short, which pydicom reads without complaint.

    Returns ``(problem, whether a pixel data element follows the header)``. A file
    cut exactly between two elements before the pixel data parses cleanly and
    cannot be told from a header-only file (pydicom ships such test files): it
    is an instance with ``has_pixel_data`` false.
    """
    tags = list(ds.keys())  # in file order; get_item keeps raw values raw
    if tags:
        # typed as DataElement by pydicom, but raw until accessed
        last: object = ds.get_item(tags[-1])
        if (
            isinstance(last, RawDataElement)
            and last.length != _UNDEFINED
            and last.value is not None
            and len(last.value) < last.length
        ):
            message = (
                f"the header is cut short: element {Tag(last.tag)} declares "
                f"{last.length} bytes but the file ends after {len(last.value)}"
            )
            return ("truncated", message), False
        if (
            at >= size
            and isinstance(last, RawDataElement)
            and last.length != _UNDEFINED
            and last.value_tell + last.length < size
        ):  # bytes after the last whole element: a next element cut in its header
            end = last.value_tell + last.length
            message = (
                f"the header is cut short: {size - end} stray bytes after element "
                f"{Tag(last.tag)}, where the next element header should be"
            )
            return ("truncated", message), False
    if at >= size:  # the data set ends with the file, without pixel data
        return None, False
    fp.seek(at)
    head = fp.read(12)
    if len(head) < 8:
        return (
            "truncated",
            f"the file ends inside an element header at byte {at}",
        ), False
    implicit, little = ds.original_encoding
    order = "<" if little is not False else ">"
    group, element = struct.unpack(order + "HH", head[:4])
    if (group << 16 | element) not in _PIXEL_TAGS:
        return None, False
    # Some writers store PixelData in implicit VR inside an explicit VR data set
    # (pydicom copes); trust the bytes, not the transfer syntax.
    if implicit is not False or head[4:6] not in _VALID_VRS:
        (length,) = struct.unpack(order + "I", head[4:8])
        start = at + 8
    else:
        if len(head) < 12:
            return (
                "truncated",
                f"the file ends in the PixelData header at byte {at}",
            ), True
        (length,) = struct.unpack(order + "I", head[8:12])
        start = at + 12
    if length == _UNDEFINED:
        return _check_fragments(fp, start, size, order), True
    if start + length > size:
        message = (
            f"PixelData declares {length} bytes but only {size - start} remain "
            f"in the file (cut short by {start + length - size} bytes)"
        )
        return ("truncated", message), True
    return None, True


def _check_fragments(
    fp: BinaryIO, at: int, size: int, order: str
) -> tuple[str, str] | None:
    """Walk encapsulated pixel data item headers (seeking over their values)."""
    for _ in range(_MAX_FRAGMENTS):
        fp.seek(at)
        head = fp.read(8)
        if len(head) < 8:
            break
        group, element, length = struct.unpack(order + "HHI", head)
        tag = group << 16 | element
        if tag == _SEQUENCE_END:
            return None
        if tag != _ITEM or at + 8 + length > size:
            break
        at += 8 + length
    else:
        return None  # too many fragments to check: accept rather than spend more
    return (
        "truncated",
        "the encapsulated PixelData is cut short: the file ends before its "
        "sequence delimiter",
    )


def _to_row(
    ds: Dataset, base: dict[str, Any], kinds: Sequence[tuple[str, Kind]]
) -> Row:
    meta = getattr(ds, "file_meta", None)
    media_class = str(meta.get("MediaStorageSOPClassUID", "")) if meta else ""
    if media_class == _DICOMDIR_CLASS or "DirectoryRecordSequence" in ds:
        return _error(
            base,
            "dicomdir",
            "a DICOMDIR: an index of a DICOM medium, not an image; the files it lists "
            "are scanned as ordinary files",
        )
    sop_uid = str(ds.get("SOPInstanceUID", "") or "").strip("\0 ")
    if not sop_uid:
        return _error(
            base,
            "missing_sop_instance_uid",
            "a DICOM data set without SOPInstanceUID (0008,0018): an instance cannot "
            "be identified without it",
        )
    row = dict(base)
    bad: list[str] = []
    for keyword, kind in kinds:
        raw = _raw_value(ds, keyword)
        problem: str | None
        if isinstance(raw, _Undecodable):
            value, problem = None, f"pydicom cannot decode it: {raw.reason}"
        else:
            value, problem = convert_value(raw, kind)
        row[keyword] = value
        if problem is not None:
            bad.append(f"{keyword}: {problem}")
    frames = row.get("NumberOfFrames")
    row["n_frames"] = frames if isinstance(frames, int) and frames > 0 else 1
    row["bad_values"] = bad
    row["content_hash"] = None
    return "instance", row


def _raw_value(ds: Dataset, keyword: str) -> Any:
    if is_meta_keyword(keyword):
        meta = getattr(ds, "file_meta", None)
        if meta is not None and keyword in meta:
            return meta[keyword].value
        return _decoded_syntax(ds)
    tag = tag_for_keyword(keyword)
    if tag is None or tag not in ds:
        return None
    try:
        return ds[tag].value
    except Exception as exc:  # noqa: BLE001 - a value pydicom cannot decode
        return _Undecodable(str(exc))


def _decoded_syntax(ds: Dataset) -> str | None:
    """The transfer syntax a meta-less data set was decoded with."""
    implicit, little = ds.original_encoding
    if implicit is None or little is None:
        return None
    if implicit:
        return _IMPLICIT_LE
    return _EXPLICIT_LE if little else _EXPLICIT_BE


class _Undecodable:
    """A value pydicom raised on; converts to null with the reason recorded."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __str__(self) -> str:
        return f"<undecodable: {self.reason}>"


def file_identity(path: str) -> FileEntry:
    """Stat ``path`` into a :class:`FileEntry` (for reading single files)."""
    st = os.stat(path)
    return FileEntry(os.path.abspath(path), st.st_size, st.st_mtime_ns)
