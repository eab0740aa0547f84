"""The fast header reader: walk a file's elements with minimal work.

pydicom builds a full data set and converts every value it is asked for through
several layers. A scan wants ~60 values from each file, so this reader:

* reads the file in large chunks (one ``read`` covers most headers);
* walks the elements with precompiled ``struct`` unpacking, seeking over values it
  does not need, including defined- and undefined-length sequences (walked item by
  item, iteratively: no recursion, so deep nesting cannot overflow the stack);
* decodes only the wanted values, with fast paths for ASCII text and numbers that
  reproduce pydicom's own converters (multi-value splitting, padding), and hands
  anything else (non-ASCII text, unusual VRs) to pydicom's converters, with the
  file's character set (:mod:`dicomkit.io.fastvalue`; this module walks);
* checks, as the pydicom path does, that nothing is cut short.

It handles Part 10 files in little endian (explicit or implicit VR, any
compressed syntax). For anything else — no preamble, big endian, deflated, a
DICOMDIR, an element it cannot walk, a value it cannot decode, a truncated file —
it returns ``None`` and :mod:`dicomkit.io.header` reads the file with pydicom,
so both paths give identical rows (a test enforces it).

Guards: at most :data:`MAX_ELEMENTS` elements are walked and
:data:`MAX_HEADER_BYTES` header bytes passed per file; beyond that the file is an
error row (``header_too_large``), so no file can make a scan hang.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from pydicom.datadict import dictionary_VR, tag_for_keyword

from dicomkit.io.dicom import (
    DEFLATED_VR_LE,
    EXPLICIT_VR_BE,
    IMPLICIT_VR_LE,
    ITEM,
    ITEM_END,
    LONG_VRS,
    MEDIA_STORAGE_DIRECTORY,
    PIXEL_TAGS,
    SEQUENCE_END,
    SHORT_VRS,
    UNDEFINED_LENGTH,
)
from dicomkit.io.fastvalue import Fallback, decode, encodings_of
from dicomkit.io.fastvalue import typed as _typed
from dicomkit.io.walk import FileEntry, open_regular
from dicomkit.schema import Kind, convert_value, is_meta_keyword, kind_of

__all__ = [
    "LONG_VRS",
    "MAX_ELEMENTS",
    "MAX_HEADER_BYTES",
    "SHORT_VRS",
    "PixelLocation",
    "ReadPlan",
    "TooLarge",
    "locate_pixel_data",
    "read_fast",
]

MAX_ELEMENTS = 2_000_000
MAX_HEADER_BYTES = 1 << 30
#: Converted values a plan remembers (see :attr:`ReadPlan.memo`) before forgetting.
MEMO_SIZE = 20_000
#: Longer values are converted each time, never remembered.
MEMO_VALUE_BYTES = 256
CHUNK = 16384

_TAG = struct.Struct("<HH")
_IMPLICIT = struct.Struct("<HHI")  # group, element, length
_EXPLICIT = struct.Struct("<HH2sH")  # group, element, VR, short length
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_FIRST_PIXEL_TAG = min(PIXEL_TAGS)  # (7FE0,0008): the first of the pixel elements
#: The file meta group length element's header: (0002,0000) UL, 4 bytes.
_GROUP_LENGTH = b"\x02\x00\x00\x00UL\x04\x00"
#: Each VR's text, one object per VR (faster than decoding the two bytes).
_VR_TEXT = {code: sys.intern(code.decode("ascii")) for code in LONG_VRS | SHORT_VRS}
_SLOW_SYNTAXES = frozenset({EXPLICIT_VR_BE, DEFLATED_VR_LE})
_CHARSET_TAG = 0x00080005
_FRAMES_TAG = 0x00280008


class TooLarge(Exception):
    """The header exceeds the per-file bounds."""


@dataclass(frozen=True)
class ReadPlan:
    """What to read from every file: precomputed once per scan."""

    keywords: tuple[str, ...]
    kinds: tuple[Kind, ...]
    tags: tuple[int | None, ...]  # per keyword; None for file meta keywords
    wanted: frozenset[int]
    dictionary_vrs: dict[int, str]
    sop_index: int | None
    frames_index: int | None
    vrs: tuple[str, ...] = ()  # per keyword: its dictionary VR ("" for file meta)
    #: Converted values by (tag, (VR, bytes), character set element): most values
    #: repeat from file to file (a series shares its study, geometry, pixel
    #: format), and a lookup costs a fraction of a conversion. Bounded by
    #: :data:`MEMO_SIZE` entries of at most :data:`MEMO_VALUE_BYTES` bytes; the
    #: values are never changed, so rows may share them.
    memo: dict[Any, tuple[Any, str | None]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @property
    def columns(self) -> zip[tuple[str, Kind, int | None, str]]:
        """``(keyword, kind, tag, dictionary VR)`` for each keyword, in column order."""
        return zip(self.keywords, self.kinds, self.tags, self.vrs, strict=True)

    @classmethod
    def build(cls, keywords: Sequence[str]) -> ReadPlan:
        """The plan for ``keywords`` (exact pydicom keywords)."""
        tags = tuple(
            None if is_meta_keyword(k) else tag_for_keyword(k) for k in keywords
        )
        wanted = frozenset(t for t in tags if t is not None)
        vrs = {t: dictionary_VR(t) for t in wanted}
        return cls(
            tuple(keywords),
            tuple(kind_of(k) for k in keywords),
            tags,
            wanted,
            vrs,
            _index(keywords, "SOPInstanceUID"),
            _index(keywords, "NumberOfFrames"),
            tuple("" if t is None else vrs[t] for t in tags),
        )


def _index(keywords: Sequence[str], keyword: str) -> int | None:
    return list(keywords).index(keyword) if keyword in keywords else None


class _Reader:
    """Bytes of one file, read in chunks on demand; positions are file offsets."""

    __slots__ = ("base", "buf", "fp", "size")

    def __init__(self, fp: BinaryIO, size: int) -> None:
        self.fp, self.size = fp, size
        self.buf = fp.read(CHUNK)
        self.base = 0

    def need(self, pos: int, n: int) -> int:
        """Make ``[pos, pos + n)`` available; return its offset in ``buf``."""
        start = pos - self.base
        if start < 0 or start + n > len(self.buf):
            if pos + n > self.size:
                raise Fallback  # the file ends inside: pydicom's path says how
            self.fp.seek(pos)
            self.buf = self.fp.read(max(CHUNK, n))
            self.base = pos
            start = 0
        return start


def read_fast(entry: FileEntry, plan: ReadPlan) -> tuple[Any, ...] | None:
    """Read ``entry``'s values, or ``None`` to let pydicom read it.

    The values come in the column order of
    :func:`dicomkit.schema.instance_schema` (the keywords, then dicomkit's own
    columns), ready to be stacked into columns.

    Raises
    ------
    TooLarge
        When the header passes the per-file bounds.
    """
    with open_regular(entry.path) as fp:
        reader = _Reader(fp, entry.file_size)
        try:
            return _read(reader, entry, plan)
        except Fallback:
            return None


def _read(reader: _Reader, entry: FileEntry, plan: ReadPlan) -> tuple[Any, ...] | None:
    if reader.buf[128:132] != b"DICM":
        return None
    pos, syntax, media_class = _meta(reader)
    if (
        syntax is None
        or syntax in _SLOW_SYNTAXES
        or media_class == MEDIA_STORAGE_DIRECTORY
    ):
        return None
    implicit = syntax == IMPLICIT_VR_LE
    raw: dict[int, tuple[str, bytes]] = {}
    pos, has_pixels = _walk(reader, pos, implicit, plan, raw)
    charset = raw.get(_CHARSET_TAG)
    if charset is not None and charset[0] != "CS":
        raise Fallback  # e.g. a damaged VR: pydicom reads (or refuses) it its way
    encodings = encodings_of(decode(charset, "CS", None) if charset else None)
    row: list[Any] = []  # in the order of instance_schema(keywords)
    bad: list[str] = []
    memo = plan.memo
    if len(memo) > MEMO_SIZE:
        memo.clear()
    get, append, typed, remember = (
        raw.get,
        row.append,
        _typed,
        memo.get,
    )  # locals: this loop runs 60× a file
    for keyword, kind, tag, expected in plan.columns:
        if tag is None:  # from the file meta
            converted, problem = convert_value(syntax, kind)
        else:
            element = get(tag)
            if element is None:
                append(None)
                continue
            if element[0] != expected and element[0] not in expected.split(" or "):
                raise Fallback  # another VR than the standard's: pydicom converts
            if len(element[1]) > MEMO_VALUE_BYTES:  # long text: rarely repeated
                converted, problem = typed(element, kind, encodings)
            else:
                key = (tag, element, charset)
                known = remember(key)
                if known is None:
                    known = memo[key] = typed(element, kind, encodings)
                converted, problem = known
        append(converted)
        if problem is not None:
            bad.append(f"{keyword}: {problem}")
    if plan.sop_index is None or not row[plan.sop_index]:
        return None  # the pydicom path makes the error row
    frames = row[plan.frames_index] if plan.frames_index is not None else None
    n_frames = frames if isinstance(frames, int) and frames > 0 else 1
    row += [
        entry.path,
        entry.file_size,
        entry.mtime_ns,
        n_frames,
        has_pixels,
        bad,
        None,
    ]
    return tuple(row)


def _meta(reader: _Reader) -> tuple[int, str | None, str | None]:
    """Walk the file meta group (explicit VR little endian) after ``DICM``."""
    if reader.buf[132:140] != _GROUP_LENGTH:
        raise Fallback  # pydicom converts the first meta element, which may fail
    pos, syntax, media_class = 132, None, None
    while True:
        start = reader.need(pos, 8)
        buf = reader.buf
        group, element = _TAG.unpack_from(buf, start)
        if group != 0x0002:
            return pos, syntax, media_class
        vr = buf[start + 4 : start + 6]
        length, header = _explicit_length(reader, pos, start, vr)
        if length == UNDEFINED_LENGTH:
            raise Fallback
        if element in (0x0010, 0x0002):
            if vr != b"UI":
                raise Fallback  # a damaged VR: pydicom decodes it its way
            at = reader.need(pos + header, length)
            text = reader.buf[at : at + length].decode("latin-1").rstrip("\0 ")
            text = text.strip()  # as pydicom's UID does
            if "\\" in text:
                raise Fallback  # several values: pydicom's path reports them
            if element == 0x0010:
                syntax = text
            else:
                media_class = text
        pos += header + length


def _walk(
    reader: _Reader,
    pos: int,
    implicit: bool,
    plan: ReadPlan,
    raw: dict[int, tuple[str, bytes]],
) -> tuple[int, bool]:
    """Walk the top-level elements up to the pixel data; collect wanted raw values.

    The hot loop of a scan: one ``unpack_from`` per element header, the buffer
    refilled only when an element lies beyond it.
    """
    wanted, vrs = plan.wanted, plan.dictionary_vrs
    size = reader.size
    buf, base = reader.buf, reader.base
    end = len(buf)
    limit = min(size, MAX_HEADER_BYTES)
    for _ in range(MAX_ELEMENTS):
        if pos >= limit:
            if pos >= size:
                return pos, False
            raise TooLarge(f"more than {MAX_HEADER_BYTES:,} header bytes")  # noqa: EM102
        start = pos - base
        if start < 0 or start + 12 > end:
            if pos + 8 > size:
                raise Fallback  # stray bytes at the end: pydicom's path reports them
            reader.need(pos, min(12, size - pos))
            buf, base = reader.buf, reader.base
            end, start = len(buf), pos - base
        if implicit:
            group, element, length = _IMPLICIT.unpack_from(buf, start)
            header = 8
            tag = group << 16 | element
            vr = vrs.get(tag, "")
        else:
            group, element, code, length = _EXPLICIT.unpack_from(buf, start)
            tag = group << 16 | element
            if code in LONG_VRS:
                if start + 12 > end:
                    raise Fallback
                (length,) = _U32.unpack_from(buf, start + 8)
                header = 12
            elif code in SHORT_VRS:
                header = 8
            else:
                raise Fallback  # e.g. implicit VR inside an explicit data set
            vr = ""
            if tag in wanted or length == UNDEFINED_LENGTH:
                vr = _VR_TEXT[code]  # interned: the VR checks below compare fast
        if group == 0x0004:
            raise Fallback  # directory records: a DICOMDIR, whatever its class says
        if tag >= _FIRST_PIXEL_TAG:
            if tag in PIXEL_TAGS:
                _check_pixels(reader, pos + header, length)
                return pos, True
            raise Fallback  # an element after the pixel data's group: unusual
        if length == UNDEFINED_LENGTH:
            if tag in wanted or not (implicit or vr == "SQ" or vr == "UN"):
                raise Fallback  # e.g. an OB of undefined length: pydicom's way
            pos = _skip_undefined(reader, pos + header, implicit or vr == "UN")
            buf, base = reader.buf, reader.base
            end = len(buf)
            continue
        if tag in wanted or tag == _CHARSET_TAG:
            if tag in wanted and (vr == "UN" or " or " in vr or not vr):
                raise Fallback
            at = pos + header - base
            if at < 0 or at + length > end:  # beyond the buffer: read on
                at = reader.need(pos + header, length)
                buf, base = reader.buf, reader.base
                end = len(buf)
            raw[tag] = (vr if tag in wanted else "CS", buf[at : at + length])
        pos += header + length
        if pos > size:
            raise Fallback  # cut short inside a value
    raise TooLarge(f"more than {MAX_ELEMENTS:,} elements")  # noqa: EM102


def _explicit_length(
    reader: _Reader, pos: int, start: int, vr: bytes
) -> tuple[int, int]:
    """``(value length, header size)`` of the explicit VR element at file offset
    ``pos`` (``start`` in the reader's buffer, which holds its first 8 bytes)."""
    if vr in LONG_VRS:
        at = reader.need(pos, 12)
        (length,) = _U32.unpack_from(reader.buf, at + 8)
        return length, 12
    if vr in SHORT_VRS:
        (length,) = _U16.unpack_from(reader.buf, start + 6)
        return length, 8
    raise Fallback


def _check_pixels(reader: _Reader, start: int, length: int) -> None:
    if length == UNDEFINED_LENGTH:
        _skip_undefined(reader, start, False, fragments=True)
    elif start + length > reader.size:
        raise Fallback


def _skip_undefined(
    reader: _Reader, pos: int, implicit: bool, *, fragments: bool = False
) -> int:
    """Skip an undefined-length value (a sequence, or encapsulated pixel data).

    Walks item and element headers iteratively and seeks over defined lengths;
    returns the position after the closing sequence delimiter.
    """
    depth = 1  # open sequences (an undefined item adds one level too)
    modes = [implicit]
    size = reader.size
    count = 0
    while True:
        count += 1
        if pos + 8 > size:  # first: a length past the end is a damaged file
            raise Fallback
        if count > MAX_ELEMENTS or pos > MAX_HEADER_BYTES:
            raise TooLarge(f"a sequence of more than {MAX_ELEMENTS:,} elements")  # noqa: EM102
        start = reader.need(pos, 8)
        buf = reader.buf
        group, element = _TAG.unpack_from(buf, start)
        tag = group << 16 | element
        if group == 0xFFFE:
            (length,) = _U32.unpack_from(buf, start + 4)
            pos += 8
            if tag in (SEQUENCE_END, ITEM_END):
                depth -= 1
                modes.pop()
                if depth == 0:
                    return pos
            elif tag == ITEM:
                if length == UNDEFINED_LENGTH:
                    depth += 1
                    modes.append(modes[-1])
                else:
                    pos += length
            else:
                raise Fallback
            continue
        if fragments:
            raise Fallback
        mode = modes[-1]
        if mode:
            (length,) = _U32.unpack_from(buf, start + 4)
            header, un = 8, False
        else:
            code = buf[start + 4 : start + 6]
            length, header = _explicit_length(reader, pos, start, code)
            un = code == b"UN"
        pos += header
        if length == UNDEFINED_LENGTH:  # a nested sequence
            if not (mode or un or code == b"SQ"):
                raise Fallback  # e.g. an OB of undefined length: pydicom's way
            depth += 1
            modes.append(mode or un)
        else:
            pos += length


@dataclass(frozen=True)
class PixelLocation:
    """Where the PixelData value of a native little-endian Part 10 file lies."""

    #: The file's transfer syntax UID.
    syntax: str
    #: The raw ``(VR, bytes)`` of the plan's elements found before PixelData.
    raw: dict[int, tuple[str, bytes]]
    #: File offset of the first pixel byte, and the value's length.
    start: int
    length: int


def locate_pixel_data(
    fp: BinaryIO, size: int, plan: ReadPlan, syntaxes: Mapping[str, bool]
) -> PixelLocation | None:
    """Walk a Part 10 file's header (as a scan does) to its (7FE0,0010) element.

    ``syntaxes`` maps the transfer syntaxes to accept to whether they are
    implicit VR. None for anything else: no ``DICM``, another syntax, no
    PixelData, an OB/OW header that is not where it should be, or a header the
    fast walker leaves to pydicom.
    """
    reader = _Reader(fp, size)
    try:
        if reader.buf[128:132] != b"DICM":
            return None
        pos, syntax, _ = _meta(reader)
        implicit = syntaxes.get(syntax or "")
        if syntax is None or implicit is None:
            return None
        raw: dict[int, tuple[str, bytes]] = {}
        pos, has_pixels = _walk(reader, pos, implicit, plan, raw)
        if not has_pixels:
            return None
        n = 8 if implicit else 12
        at = reader.need(pos, n)
        head = reader.buf[at : at + n]
    except Fallback:
        return None
    if _TAG.unpack_from(head) != (0x7FE0, 0x0010):
        return None
    if implicit:
        return PixelLocation(syntax, raw, pos + 8, int.from_bytes(head[4:8], "little"))
    if head[4:6] not in (b"OB", b"OW"):
        return None
    return PixelLocation(syntax, raw, pos + 12, int.from_bytes(head[8:12], "little"))
