"""Read one file's DICOM header into an index row, or say why it is not an instance.

Only this module (with :mod:`dicomkit.io.content`) opens DICOM files during a scan.
It reads the header and stops before the pixel data; it never raises for a bad file:
:func:`read_header` returns either an instance row or an error row.

How a file is told from junk:

1. **Part 10**: a 128-byte preamble followed by ``DICM``. The common case.
2. **No preamble**: a bare data set (old ACR-NEMA style, some exports). Accepted only
   when its first bytes are a DICOM element of group 0002 (file meta) or 0008
   (identifying), the groups every real data set starts with; anything else is
   ``not_dicom`` (``archive`` when it is a ZIP, gzip, tar … file, to unpack first).
   This is stricter than pydicom's ``force=True``, which "reads" any
   bytes into an empty or meaningless data set.
3. Then: a data set without SOPInstanceUID is ``missing_sop_instance_uid``; a
   DICOMDIR (a media index, not an image) is ``dicomdir``; a header cut short, or a
   PixelData element that declares more bytes than the file holds, is ``truncated``.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any, BinaryIO, Literal

from pydicom import dcmread
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.values import convert_value as pydicom_convert

from dicomkit.io import fastread
from dicomkit.io.dicom import (
    DEFLATED_VR_LE,
    EXPLICIT_VR_BE,
    EXPLICIT_VR_LE,
    IMPLICIT_VR_LE,
    ITEM,
    MEDIA_STORAGE_DIRECTORY,
    PIXEL_TAGS,
    SEQUENCE_END,
    UNDEFINED_LENGTH,
)
from dicomkit.io.fastread import LONG_VRS, SHORT_VRS, ReadPlan, TooLarge, read_fast
from dicomkit.io.walk import FileEntry, NotRegularFileError, open_regular
from dicomkit.schema import Kind, convert_value, is_meta_keyword, kind_of

__all__ = [
    "BoundedReader",
    "Parser",
    "Row",
    "Unreadable",
    "archive_kind",
    "decoded_syntax",
    "instance_row",
    "read_batch",
    "read_header",
    "sniff",
]

#: ``("instance", {column: value})``, ``("instance", (value, …))`` in the column
#: order of :func:`dicomkit.schema.instance_schema`, or ``("error", {column: value})``.
Row = tuple[str, Any]

_VALID_VRS = LONG_VRS | SHORT_VRS
_MAX_FRAGMENTS = 1_000_000
_META_PEEK = 8192  # bytes read first: the preamble and (nearly always) the file meta


#: Which header parser reads: the fast element walker (with pydicom for what it
#: hands back), or pydicom always (the reference the fast one is tested against).
Parser = Literal["fast", "pydicom"]


def read_batch(
    entries: Sequence[FileEntry], keywords: Sequence[str], *, reader: Parser = "fast"
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
    except Exception:  # noqa: BLE001 - a walker bug must not end a scan: use pydicom
        return None
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
        # pydicom keeps every element it reads: bounds on its reads (one to three
        # an element) and bytes bound its memory, as they bound the fast walker
        with BoundedReader(
            entry.path,
            max_reads=fastread.MAX_ELEMENTS,
            max_bytes=fastread.MAX_HEADER_BYTES,
        ) as fp:
            problem = sniff(fp, entry.file_size)
            if problem is not None:
                return _error(base, *problem)
            ds, problem, has_pixels = _parse(fp, entry.file_size)
    except NotRegularFileError as exc:
        return _error(base, "not_regular_file", f"{exc}: it is never opened")
    except OSError as exc:
        return _error(
            base, "unreadable", f"cannot read the file: {exc.strerror or exc}"
        )
    except Exception as exc:  # noqa: BLE001 - the last net: a row, never a crash
        return _error(base, "invalid_dicom", f"pydicom cannot read the header: {exc}")
    if problem is not None:
        return _error(base, *problem)
    assert ds is not None
    try:
        return _to_row(ds, {**base, "has_pixel_data": has_pixels}, kinds)
    except Exception as exc:  # noqa: BLE001 - the last net: a row, never a crash
        return _error(base, "invalid_dicom", f"pydicom cannot read the header: {exc}")


#: Reads larger than this check the file's size first (see BoundedReader).
_LARGE_READ = 1 << 20


class BoundedReader(io.BufferedReader):
    """A file opened for reading whose reads never ask for more than it holds.

    pydicom reads a value with one ``read(length)``, and Python allocates
    ``length`` bytes before it reads: a length of 0xFFFFFFFE declared in a file
    of a few hundred bytes would cost 4 GB of memory (or a ``MemoryError`` where
    memory is limited). Only reads of more than 1 MB pay for the check.

    With ``max_reads``, the read after that many raises :class:`TooLarge`: a
    bound on the work (and the memory) a header of millions of tiny elements
    can cost pydicom. With ``max_bytes``, so does a read of more than 1 MB that
    would end past that offset: a bound on the memory of one huge value.
    """

    def __init__(
        self,
        path: str,
        *,
        max_reads: int | None = None,
        max_bytes: int | None = None,
    ) -> None:
        raw = open_regular(path, buffering=0)
        super().__init__(raw)  # type: ignore[arg-type]
        # counts down to 0; from -1 (no bound) it never gets there
        self._reads_left = -1 if max_reads is None else max_reads + 1
        self._max_reads = max_reads
        self._max_bytes = max_bytes

    def read(self, size: int | None = -1, /) -> bytes:
        """Read up to ``size`` bytes (all that is left with -1 or None)."""
        self._reads_left -= 1
        if self._reads_left == 0:
            msg = f"more than {self._max_reads:,} reads"
            raise TooLarge(msg)
        if size is not None and size > _LARGE_READ:
            at = self.tell()
            size = min(size, max(os.fstat(self.fileno()).st_size - at, 0))
            if self._max_bytes is not None and at + size > self._max_bytes:
                msg = f"more than {self._max_bytes:,} header bytes"
                raise TooLarge(msg)
        return _BUFFERED_READ(self, size)  # faster than super().read


_BUFFERED_READ = io.BufferedReader.read


def _error(base: dict[str, Any], reason: str, message: str) -> Row:
    return "error", {**base, "reason": reason, "message": message}


def sniff(fp: BinaryIO, size: int) -> tuple[str, str] | None:
    """Return ``(reason, message)`` when the first bytes rule DICOM out.

    ``fp`` is left at offset 0; ``size`` is the file's size in bytes.
    """
    if size == 0:
        return "empty", "the file is empty (0 bytes)"
    head = fp.read(_TAR_MAGIC_END)
    fp.seek(0)
    if head[128:132] == b"DICM":
        return None
    if _starts_like_dataset(head):
        return None
    archive = archive_kind(head)
    if archive is not None:
        how = _UNPACK.get(archive, "the archiver that made it")
        return (
            "archive",
            f"a {archive} archive, not a DICOM file: unpack it first (with {how}) "
            "and scan the folder it unpacks into",
        )
    found = head[:8].hex(" ")
    return (
        "not_dicom",
        "not DICOM: no 'DICM' marker at byte 128 and the file does not start with a "
        f"DICOM element of group 0002 or 0008 (first bytes: {found})",
    )


_TAR_MAGIC_END = 262  # "ustar" at byte 257 of a tar file
_ARCHIVE_MAGIC = (
    (b"PK\x03\x04", "ZIP"),
    (b"PK\x05\x06", "ZIP"),  # an empty ZIP
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip"),
    (b"Rar!\x1a\x07", "RAR"),
)


_UNPACK = {
    "ZIP": "`unzip FILE -d FOLDER`",
    "gzip": "`tar -xzf FILE -C FOLDER` for a .tar.gz, else `gunzip -k FILE`",
    "tar": "`tar -xf FILE -C FOLDER`",
    "bzip2": "`tar -xjf FILE -C FOLDER`",
    "xz": "`tar -xJf FILE -C FOLDER`",
}


def archive_kind(head: bytes) -> str | None:
    """The kind of archive (``"ZIP"``, ``"gzip"``, ``"tar"`` …) ``head`` starts, or None.

    ``head`` is the first 262 bytes of a file (or all of a shorter one). Only
    called for files that are not DICOM: a Part 10 preamble may hold any bytes.
    """
    for magic, kind in _ARCHIVE_MAGIC:
        if head.startswith(magic):
            return kind
    if head[257:262] == b"ustar":
        return "tar"
    return None


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
    head = fp.read(_META_PEEK)
    fp.seek(0)
    part10 = head[128:132] == b"DICM"
    if part10 and DEFLATED_VR_LE.encode() in head:
        bomb = _inflates_too_far(fp, head)
        if bomb is not None:
            return None, bomb, None
    try:
        ds = dcmread(fp, stop_before_pixels=True, force=not part10)
    except TooLarge as exc:  # from BoundedReader
        return (
            None,
            ("header_too_large", f"the header is too large to index: {exc}"),
            None,
        )
    except EOFError as exc:
        return None, ("truncated", f"the header is cut short: {exc}"), None
    except Exception as exc:  # noqa: BLE001 - any parser failure is a row, not a crash
        return None, ("invalid_dicom", f"pydicom cannot parse the header: {exc}"), None
    if _get(ds.file_meta, "TransferSyntaxUID") == DEFLATED_VR_LE:
        return ds, None, None  # positions are in the compressed stream: unchecked
    problem, has_pixels = _check_complete(ds, fp, fp.tell(), size)
    if problem is not None:
        return None, problem, None
    return ds, None, has_pixels


def _inflates_too_far(fp: BinaryIO, head: bytes) -> tuple[str, str] | None:
    """Refuse a deflated data set that inflates past ``8 × MAX_ELEMENTS`` bytes.

    pydicom inflates the whole data set in memory, then reads its elements from
    there, where no read bound applies: a 16 KB "deflate bomb" of zeros inflates
    to 16 MB of empty elements. Inflated here in bounded steps (1 MB at most
    held), only to count.
    """
    at = _meta_end(head)
    if at is None:
        return None  # pydicom says what is wrong
    limit = 8 * fastread.MAX_ELEMENTS
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    total = 0
    try:
        fp.seek(at)
        data = fp.read(1 << 16)
        while data:
            total += len(inflater.decompress(data, 1 << 20))
            if total > limit:
                message = (
                    "the header is too large to index: the deflated data set "
                    f"inflates to more than {limit:,} bytes"
                )
                return "header_too_large", message
            data = inflater.unconsumed_tail or fp.read(1 << 16)
    except zlib.error:
        pass  # a damaged stream: pydicom says how
    finally:
        fp.seek(0)
    return None


def _meta_end(head: bytes) -> int | None:
    """Where the file meta group (explicit VR little endian) in ``head`` ends."""
    pos = 132
    while head[pos : pos + 2] == b"\x02\x00" and pos + 12 <= len(head):
        if head[pos + 4 : pos + 6] in LONG_VRS:
            (length,) = struct.unpack_from("<I", head, pos + 8)
            pos += 12 + length
        elif head[pos + 4 : pos + 6] in SHORT_VRS:
            (length,) = struct.unpack_from("<H", head, pos + 6)
            pos += 8 + length
        else:
            return None
    return pos if pos <= len(head) else None


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
        # typed as DataElement by pydicom, but raw until accessed; keep_deferred:
        # an element without a value is not converted (which may raise)
        last: object = ds.get_item(tags[-1], keep_deferred=True)
        if (
            isinstance(last, RawDataElement)
            and last.length != UNDEFINED_LENGTH
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
            and last.length != UNDEFINED_LENGTH
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
    if (group << 16 | element) not in PIXEL_TAGS:
        return None, False
    # Some writers store PixelData in implicit VR inside an explicit VR data set
    # (pydicom copes); trust the bytes, not the transfer syntax.
    if implicit is not False or head[4:6] not in _VALID_VRS:
        (length,) = struct.unpack(order + "I", head[4:8])
        start = at + 8
    elif head[4:6] in SHORT_VRS:  # a damaged VR: read the header as it is written
        (length,) = struct.unpack(order + "H", head[6:8])
        start = at + 8
    else:
        if len(head) < 12:
            return (
                "truncated",
                f"the file ends in the PixelData header at byte {at}",
            ), True
        (length,) = struct.unpack(order + "I", head[8:12])
        start = at + 12
    if length == UNDEFINED_LENGTH:
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
        if tag == SEQUENCE_END:
            return None
        if tag != ITEM or at + 8 + length > size:
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
    media_class = str(_get(meta, "MediaStorageSOPClassUID") or "") if meta else ""
    if media_class == MEDIA_STORAGE_DIRECTORY or "DirectoryRecordSequence" in ds:
        return _error(
            base,
            "dicomdir",
            "a DICOMDIR: an index of a DICOM medium, not an image; the files it lists "
            "are scanned as ordinary files",
        )
    sop_value = _get(ds, "SOPInstanceUID")
    if isinstance(sop_value, Unreadable):
        return _error(
            base,
            "invalid_dicom",
            f"the SOPInstanceUID (0008,0018) cannot be decoded: {sop_value.reason}",
        )
    sop_uid = str(sop_value or "").strip("\0 ")
    if not sop_uid:
        return _error(
            base,
            "missing_sop_instance_uid",
            "a DICOM data set without SOPInstanceUID (0008,0018): an instance cannot "
            "be identified without it",
        )
    return instance_row(dict(base), kinds, lambda keyword: _raw_value(ds, keyword))


def instance_row(
    row: dict[str, Any],
    kinds: Iterable[tuple[str, Kind]],
    raw_value: Callable[[str], Any],
) -> Row:
    """``row`` completed into an instance row: each keyword's value converted.

    ``raw_value(keyword)`` gives the value as pydicom would (from a file, or from
    DICOM JSON), or an :class:`Unreadable` whose reason goes into ``bad_values``
    (the value is then null). Both header readers and the DICOMweb decoder build
    their rows here, so a value converts the same wherever it comes from.
    """
    bad: list[str] = []
    for keyword, kind in kinds:
        raw = raw_value(keyword)
        problem: str | None
        if isinstance(raw, Unreadable):
            value, problem = None, raw.reason
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
    try:
        if is_meta_keyword(keyword):
            meta = getattr(ds, "file_meta", None)
            if meta is not None and keyword in meta:
                return meta[keyword].value
            return decoded_syntax(ds)
        tag = tag_for_keyword(keyword)
        if tag is None or tag not in ds:
            return None
        element = ds[tag]
        if element.VR == "UN" and isinstance(element.value, bytes):
            return _from_un(ds, tag, element.value)
        return element.value
    except Exception as exc:  # noqa: BLE001 - a value pydicom cannot decode
        return _undecodable(exc)


def _from_un(ds: Dataset, tag: int, value: bytes) -> Any:
    """A known attribute stored as UN, decoded by its dictionary VR.

    pydicom writes a value too long for its VR's 16-bit length (a text over
    64 KB) as UN, and reads it back as bytes (it restores the dictionary VR only
    when the length fits).
    """
    vr = dictionary_VR(tag)
    _, little = ds.original_encoding
    raw = RawDataElement(Tag(tag), vr, len(value), value, 0, False, little is not False)
    return pydicom_convert(vr, raw, ds._character_set)


def _get(ds: Dataset, keyword: str) -> Any:
    """``ds.get(keyword)``, or an :class:`Unreadable` when pydicom raises on it."""
    try:
        return ds.get(keyword)
    except Exception as exc:  # noqa: BLE001 - e.g. an unknown VR in the file meta
        return Unreadable(str(exc))


def decoded_syntax(ds: Dataset) -> str | None:
    """The transfer syntax a meta-less data set was decoded with."""
    implicit, little = ds.original_encoding
    if implicit is None or little is None:
        return None
    if implicit:
        return IMPLICIT_VR_LE
    return EXPLICIT_VR_LE if little else EXPLICIT_VR_BE


class Unreadable:
    """A value that cannot be had; converts to null with ``reason`` in bad_values."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __str__(self) -> str:
        return f"<unreadable: {self.reason}>"


def _undecodable(exc: Exception) -> Unreadable:
    """A value pydicom raised on."""
    return Unreadable(f"pydicom cannot decode it: {exc}")


def file_identity(path: str) -> FileEntry:
    """Stat ``path`` into a :class:`FileEntry` (for reading single files)."""
    st = os.stat(path)
    return FileEntry(os.path.abspath(path), st.st_size, st.st_mtime_ns)
