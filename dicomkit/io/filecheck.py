"""What pydicom does not catch: junk, archives, deflate bombs, files cut short.

How a file is told from junk (:func:`sniff`, before any parsing):

1. **Part 10**: a 128-byte preamble followed by ``DICM``. The common case.
2. **No preamble**: a bare data set (old ACR-NEMA style, some exports). Accepted only
   when its first bytes are a DICOM element of group 0002 (file meta) or 0008
   (identifying), the groups every real data set starts with; anything else is
   ``not_dicom`` (``archive`` when it is a ZIP, gzip, tar … file, to unpack first).
   This is stricter than pydicom's ``force=True``, which "reads" any
   bytes into an empty or meaningless data set.

Around pydicom's parse: :func:`inflates_too_far` refuses a deflated data set that
would inflate without bound, and :func:`check_complete` finds a header or a
PixelData element cut short, which pydicom reads without complaint. Each answers
``(reason, message)`` for an error row, or None.
"""

from __future__ import annotations

import struct
import zlib
from typing import TYPE_CHECKING, BinaryIO

from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

from dicomkit.io.dicom import (
    ITEM,
    LONG_VRS,
    PIXEL_TAGS,
    SEQUENCE_END,
    SHORT_VRS,
    UNDEFINED_LENGTH,
)
from dicomkit.io.fastread import MAX_ELEMENTS

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["archive_kind", "check_complete", "inflates_too_far", "sniff"]

_VALID_VRS = LONG_VRS | SHORT_VRS
_MAX_FRAGMENTS = 1_000_000


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


def inflates_too_far(fp: BinaryIO, head: bytes) -> tuple[str, str] | None:
    """Refuse a deflated data set that inflates past ``8 × MAX_ELEMENTS`` bytes.

    pydicom inflates the whole data set in memory, then reads its elements from
    there, where no read bound applies: a 16 KB "deflate bomb" of zeros inflates
    to 16 MB of empty elements. Inflated here in bounded steps (1 MB at most
    held), only to count.
    """
    at = _meta_end(head)
    if at is None:
        return None  # pydicom says what is wrong
    limit = 8 * MAX_ELEMENTS
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


def check_complete(
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
