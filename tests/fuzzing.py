"""The fuzz corpus, its mutation generators and the harness that reads them.

Test infrastructure: :mod:`tests.test_fuzz` runs it, and ``python -m
benchmarks.fuzz`` (:mod:`benchmarks.fuzz`, from a checkout) is its command line.

    python -m benchmarks.fuzz /tmp/fuzz                 # build the corpus, scan, report
    python -m benchmarks.fuzz /tmp/fuzz --budget 60     # then 60 s of random mutants
    python -m benchmarks.fuzz /tmp/fuzz --seed 7 --report build/fuzz-report.json

The corpus is generated deterministically (same ``--seed``, same bytes) from a few
real files, the *seeds*: sample files from ``data/sample`` (CT, MR, the bare data
set without preamble, the truncated one), two files of :mod:`dicomkit.corpus`
(private groups, nested sequences, implicit and explicit VR) and pydicom's own
test files (CT_small, MR_small, implicit VR, big endian, deflated, multi-frame,
RT plan and structure set, private and UN sequences, JPEG 2000, and
``SC_rgb_jpeg.dcm``, 4.4 KB, whose file meta and data set disagree on the transfer
syntax). The seeds are read, never modified. Into ``DEST`` go:

* ``seeds/``: the seeds as they are;
* ``cut/``: every seed truncated at every structural boundary (each element,
  item and delimiter: at its start, mid-tag, mid-length field, at its value,
  mid-value) and inside the preamble;
* ``length/``: element length fields patched to 0xFFFFFFFE, 0xFFFFFFFF and
  other hostile values, ``vr/``: value representations replaced, ``flip/``:
  random bit flips in the header;
* ``random/``: random bytes, with and without a preamble and ``DICM`` marker,
  after a valid file meta group, after a plausible first element;
* ``made/``: sequences nested thousands deep (closed, unclosed, defined length,
  implicit VR), huge declared lengths, file meta and data set that disagree on
  the transfer syntax, a deflate bomb (64 KB inflating to 64 MB), gzip files,
  empty and tiny files;
* ``special/``: FIFOs, device files (links to ``/dev/zero`` and ``/dev/null``, a
  character device when ``mknod`` is permitted), a socket, unreadable files and
  folders (``chmod 000``: as root they stay readable, which the report notes),
  symbolic link loops, a broken link, a folder link back up the tree;
* ``names/``: file and folder names that are not UTF-8 (``b"\\xff\\xfe.dcm"``),
  with a newline, with a literal backslash.

Then ``dicomkit.scan(DEST, cache=False)`` must finish, never raise, and account
for every path of the corpus as an instance, a resend or an error row whose
``reason`` is one of the documented codes (:data:`REASONS`). Every file is also
read alone by the header reader (:func:`dicomkit.io.header.read_batch`, the fast
walker with its pydicom fallback), timed, under an alarm (:data:`HANG_SECONDS`),
and the rows are turned into typed frames. With ``--budget`` random mutants of
the seeds (truncations, bit flips, patched lengths and VRs, spliced bytes) are
read the same way until the time is up.

Every file and mutant is read by pydicom alone too: the README promises the
same rows either way (the one allowed difference: sequences nested deeper than
Python's recursion limit, which only the fast walker reads).

The report (printed, and written as JSON with ``--report``): corpus size (files,
bytes), files tried, the longest time one file took (and which), peak memory
(``ru_maxrss`` of this process and of the scan's worker processes), and every
crash: an exception escaping the reader or the scan, a file not accounted for,
an unknown reason, a file that took longer than :data:`HANG_SECONDS`; and every
file the fast reader and pydicom read differently. Mutants that crash or differ
are saved in ``DEST/_crashes`` and ``DEST/_mismatches`` to reproduce. The exit
status is 1 when anything crashed or differed.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import random
import resource
import shutil
import signal
import socket
import stat
import struct
import sys
import tempfile
import time
import warnings
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import NamedTuple

import dicomkit
from dicomkit.corpus import corpus_path, write_corpus
from dicomkit.io.header import Row, read_batch
from dicomkit.io.scan import rows_to_frames
from dicomkit.io.walk import FileEntry, WalkError, text_path, walk
from dicomkit.schema import DEFAULT_KEYWORDS, instance_schema

__all__ = [
    "HANG_SECONDS",
    "LONG_LENGTHS",
    "REASONS",
    "SHORT_LENGTHS",
    "Corpus",
    "Element",
    "Report",
    "Seed",
    "build_corpus",
    "check_row",
    "check_scan",
    "compare_rows",
    "elements",
    "flip_bits",
    "header_end",
    "hostile_lengths",
    "made_files",
    "mutate",
    "nested_defined",
    "nested_undefined",
    "part10",
    "patch_length",
    "random_files",
    "run_fuzz",
    "run_mutants",
    "seed_files",
    "shrink",
    "structural_cuts",
]

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"

#: Every ``reason`` an error row may carry (README, "What a scan promises").
REASONS = frozenset(
    {
        "not_dicom",
        "archive",
        "empty",
        "truncated",
        "missing_sop_instance_uid",
        "dicomdir",
        "invalid_dicom",
        "header_too_large",
        "unreadable",
        "unreadable_folder",
        "not_regular_file",
        "broken_link",
        "missing",
    }
)
#: One file read for longer than this is a hang: the alarm stops it, a crash.
HANG_SECONDS = 20.0
#: The marker file that makes a folder a fuzz corpus, which a rebuild may delete.
MARKER = ".dicomkit-fuzz"

_SAMPLE_SEEDS = (
    "PAT001_DOE_JOHN/20230314_CT_THORAX/SE000002/IM000001",
    "PAT002_ROE_JANE/MR_BRAIN_20230502/S4_SAG_T1/"
    "1.2.840.113619.2.410.4057621.1683036310.3.4001.dcm",
    "PAT003_MUELLER_JUERGEN/DICOM/ST000001/SE000001/IM000008",  # no preamble
    "PAT003_MUELLER_JUERGEN/DICOM/ST000001/SE000001/IM000021",  # truncated
)
_PYDICOM_SEEDS = (
    "CT_small.dcm",
    "MR_small.dcm",
    "MR_small_implicit.dcm",
    "MR_small_bigendian.dcm",
    "image_dfl.dcm",  # deflated
    "SC_rgb_rle_2frame.dcm",  # multi-frame, encapsulated
    "rtplan.dcm",  # sequences
    "rtstruct.dcm",
    "nested_priv_SQ.dcm",
    "UN_sequence.dcm",
    "JPEG2000.dcm",
    "SC_rgb_jpeg.dcm",  # 4.4 KB: meta says explicit VR, the data set is implicit
    "ExplVR_BigEndNoMeta.dcm",
    "DICOMDIR-empty.dcm",
)
#: Seeds truncated at every boundary of every element, one for each encoding and
#: structure; the others are truncated at each element's start only.
_EVERY_BOUNDARY = frozenset(
    {"sample-0", "sample-2", "corpus-0", "MR_small_implicit", "MR_small_bigendian"}
    | {"image_dfl", "SC_rgb_rle_2frame", "rtplan", "nested_priv_SQ", "UN_sequence"}
    | {"SC_rgb_jpeg", "ExplVR_BigEndNoMeta", "DICOMDIR-empty"}
)
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_PIXEL_DATA = 0x7FE00010
_LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR"}
    | {b"UT", b"UV"}
)
_VRS = _LONG_VRS | frozenset(
    {b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO"}
    | {b"LT", b"PN", b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US"}
)
_IMPLICIT_LE = "1.2.840.10008.1.2"
_EXPLICIT_LE = "1.2.840.10008.1.2.1"
_EXPLICIT_BE = "1.2.840.10008.1.2.2"
_DEFLATED = "1.2.840.10008.1.2.1.99"
_CT_CLASS = "1.2.840.10008.5.1.4.1.1.2"
_UID = "1.2.826.0.1.3680043.10.1234.99."
#: Length values a patched 4-byte / 2-byte length field takes (more are derived).
LONG_LENGTHS = (0, 1, 0xFFFFFFFE, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFF0)
SHORT_LENGTHS = (0, 1, 0xFFFE, 0xFFFF)


class Seed(NamedTuple):
    """A real file the corpus is derived from: a short name and its bytes."""

    name: str
    data: bytes


class Element(NamedTuple):
    """One element, item or delimiter header of a real file."""

    start: int  # offset of the tag
    header: int  # bytes of tag, VR and length
    length: int  # the declared value length (0xFFFFFFFF: undefined)
    length_at: int  # offset of the length field
    length_size: int  # 2 or 4 bytes
    little: bool
    tag: int
    vr: bytes  # b"" for items and delimiters, and implicit VR elements


# --------------------------------------------------------------------------- seeds


def seed_files() -> list[Seed]:
    """The real files the corpus is made from (any that are missing are skipped)."""
    seeds = [
        Seed(f"sample-{i}", (SAMPLE / rel).read_bytes())
        for i, rel in enumerate(_SAMPLE_SEEDS)
        if (SAMPLE / rel).is_file()
    ]
    with tempfile.TemporaryDirectory() as tmp:
        write_corpus(Path(tmp), 2)  # file 0 implicit VR, file 1 explicit
        for i in range(2):
            seeds.append(Seed(f"corpus-{i}", corpus_path(Path(tmp), i).read_bytes()))
    from pydicom.data import get_testdata_file

    for name in _PYDICOM_SEEDS:
        found = get_testdata_file(name, download=False)
        if isinstance(found, str) and os.path.isfile(found):
            seeds.append(Seed(name.removesuffix(".dcm"), Path(found).read_bytes()))
    return seeds


# ------------------------------------------------------------- structure of a file


def elements(data: bytes) -> list[Element]:
    """Every element, item and delimiter header of a real file, in file order.

    Follows the file meta (explicit VR little endian), then the data set in the
    encoding its bytes show (explicit or implicit VR, little or big endian),
    descending into sequences and encapsulated pixel data. A deflated data set is
    not walked (only its file meta is). Meant for well-formed seed files: it
    stops at the first thing it cannot follow.
    """
    out: list[Element] = []
    pos, syntax = 0, None
    if data[128:132] == b"DICM":
        pos = 132
        while pos + 8 <= len(data) and data[pos : pos + 2] == b"\x02\x00":
            element = _header(data, pos, explicit=True, little=True)
            if element is None:
                return out
            out.append(element)
            value = data[pos + element.header : pos + element.header + element.length]
            if element.tag == 0x00020010:
                syntax = value.decode("latin-1").strip("\0 ")
            pos += element.header + element.length
    if syntax == _DEFLATED:
        return out
    # no file meta: group 0008 reads 08 00 in little endian, 00 08 in big endian
    little = syntax != _EXPLICIT_BE if syntax else data[pos : pos + 1] != b"\0"
    explicit = _explicit_at(data, pos)
    _dataset(data, pos, len(data), explicit, little, out, 0, until_delimiter=False)
    return out


def _explicit_at(data: bytes, pos: int) -> bool:
    """Whether the element at ``pos`` has an explicit VR (whatever the meta says)."""
    return data[pos + 4 : pos + 6] in _VRS


def _header(data: bytes, pos: int, *, explicit: bool, little: bool) -> Element | None:
    order = "<" if little else ">"
    if pos + 8 > len(data):
        return None
    group, number = struct.unpack_from(order + "HH", data, pos)
    tag = group << 16 | number
    if group == 0xFFFE:  # items and delimiters: a tag and a 4-byte length
        (length,) = struct.unpack_from(order + "I", data, pos + 4)
        return Element(pos, 8, length, pos + 4, 4, little, tag, b"")
    if explicit:
        vr = data[pos + 4 : pos + 6]
        if vr not in _VRS:
            return None
        if vr in _LONG_VRS:
            if pos + 12 > len(data):
                return None
            (length,) = struct.unpack_from(order + "I", data, pos + 8)
            return Element(pos, 12, length, pos + 8, 4, little, tag, vr)
        (length,) = struct.unpack_from(order + "H", data, pos + 6)
        return Element(pos, 8, length, pos + 6, 2, little, tag, vr)
    (length,) = struct.unpack_from(order + "I", data, pos + 4)
    return Element(pos, 8, length, pos + 4, 4, little, tag, _implicit_vr(tag))


def _implicit_vr(tag: int) -> bytes:
    from pydicom.datadict import dictionary_VR

    try:
        return b"SQ" if dictionary_VR(tag) == "SQ" else b""
    except KeyError:
        return b""


def _dataset(
    data: bytes,
    pos: int,
    end: int,
    explicit: bool,
    little: bool,
    out: list[Element],
    depth: int,
    *,
    until_delimiter: bool,
) -> int:
    """Walk elements from ``pos`` to ``end`` (or an item delimiter); return the end."""
    while pos + 8 <= end and depth < 64:
        element = _header(data, pos, explicit=explicit, little=little)
        if element is None:
            return end
        out.append(element)
        pos += element.header
        if element.tag == _ITEM_END and until_delimiter:
            return pos
        if element.tag >> 16 == 0xFFFE:
            return end  # not expected here: stop following
        if element.vr == b"SQ" or (
            element.length == _UNDEFINED and element.tag != _PIXEL_DATA
        ):
            implicit_inside = not explicit or element.vr == b"UN"
            pos = _items(
                data, pos, element.length, not implicit_inside, little, out, depth
            )
        elif element.length == _UNDEFINED:  # encapsulated pixel data
            pos = _items(data, pos, _UNDEFINED, explicit, little, out, depth, True)
        else:
            pos += element.length
    return max(pos, end) if not until_delimiter else pos


def _items(
    data: bytes,
    pos: int,
    length: int,
    explicit: bool,
    little: bool,
    out: list[Element],
    depth: int,
    fragments: bool = False,
) -> int:
    """Walk a sequence's items (or pixel data fragments); return the end."""
    stop = len(data) if length == _UNDEFINED else min(pos + length, len(data))
    while pos + 8 <= stop:
        item = _header(data, pos, explicit=explicit, little=little)
        if item is None or item.tag >> 16 != 0xFFFE:
            return stop
        out.append(item)
        pos += 8
        if item.tag == _SEQUENCE_END:
            return pos
        if item.tag != _ITEM:
            return stop
        if fragments:
            pos += item.length
        elif item.length == _UNDEFINED:
            pos = _dataset(
                data, pos, stop, explicit, little, out, depth + 1, until_delimiter=True
            )
        else:
            item_end = min(pos + item.length, stop)
            _dataset(
                data, pos, item_end, explicit, little, out, depth + 1,
                until_delimiter=False,
            )  # fmt: skip
            pos = item_end
    return stop


def structural_cuts(data: bytes, found: Sequence[Element]) -> list[int]:
    """Offsets to truncate ``data`` at: every boundary of every element.

    At each element's start, mid-header (after the tag), mid-length field, at its
    value and mid-value; and inside and after the preamble. Sorted, without 0 and
    the full length (an empty file and the seed itself are elsewhere).
    """
    cuts = {1, 64, 127, 128, 130, 132, len(data) - 1}
    for element in found:
        value = element.start + element.header
        cuts.update(
            {
                element.start,
                element.start + 4,
                element.length_at + element.length_size // 2,
                value,
            }
        )
        if element.length != _UNDEFINED and element.length > 1:
            cuts.add(value + element.length // 2)
    return sorted(c for c in cuts if 0 < c < len(data))


# ----------------------------------------------------------------------- mutations


def patch_length(data: bytes, element: Element, value: int) -> bytes:
    """``data`` with ``element``'s length field set to ``value`` (clipped to fit)."""
    order = "<" if element.little else ">"
    fmt = order + ("I" if element.length_size == 4 else "H")
    value &= 0xFFFFFFFF if element.length_size == 4 else 0xFFFF
    out = bytearray(data)
    struct.pack_into(fmt, out, element.length_at, value)
    return bytes(out)


def hostile_lengths(data: bytes, element: Element) -> list[int]:
    """The length values to try on ``element``."""
    if element.length_size == 2:
        return [*SHORT_LENGTHS, element.length + 1, element.length + 2]
    derived = [len(data), len(data) - element.start, element.length + 1]
    if element.length != _UNDEFINED:
        derived.append(element.length * 2 + 2)
    return [*LONG_LENGTHS, *derived]


def flip_bits(rng: random.Random, data: bytes, n: int, end: int) -> bytes:
    """``data`` with ``n`` random bits flipped in its first ``end`` bytes."""
    out = bytearray(data)
    for _ in range(n if out else 0):
        at = rng.randrange(max(1, min(end, len(out))))
        out[at] ^= 1 << rng.randrange(8)
    return bytes(out)


def shrink(data: bytes, found: Sequence[Element], keep: int = 64) -> bytes:
    """``data`` with native pixel data cut to ``keep`` bytes, its length to match.

    The header (and anything after the pixel data, e.g. trailing padding) stays
    as it was: a small file to patch many times over.
    """
    for element in found:
        value = element.start + element.header
        if (
            element.tag == _PIXEL_DATA
            and element.length != _UNDEFINED
            and element.length > keep
            and value + element.length <= len(data)
        ):
            patched = patch_length(data, element, keep)
            return patched[: value + keep] + data[value + element.length :]
    return data


def header_end(data: bytes, found: Sequence[Element]) -> int:
    """Where the pixel data starts (or the file ends)."""
    for element in found:
        if element.tag == _PIXEL_DATA:
            return element.start + element.header
    return len(data)


def mutate(rng: random.Random, seed: Seed, found: Sequence[Element]) -> bytes:
    """One random mutant of ``seed``: one to three hostile edits, stacked."""
    data = seed.data
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        data = _one_mutation(rng, data, found, header_end(seed.data, found))
    return data


def _one_mutation(
    rng: random.Random, data: bytes, found: Sequence[Element], end: int
) -> bytes:
    if not data:
        return data
    inside = [e for e in found if e.length_at + e.length_size <= len(data)]
    op = rng.randrange(8)
    if op == 0:  # truncate anywhere
        return data[: rng.randrange(len(data))]
    if op == 1 and inside:  # truncate at a boundary
        return data[: rng.choice(structural_cuts(data, inside)[:4000] or [0])]
    if op == 2:
        return flip_bits(rng, data, rng.choice((1, 1, 2, 4, 16)), end)
    if op == 3 and inside:  # a hostile length
        element = rng.choice(inside)
        return patch_length(data, element, rng.choice(hostile_lengths(data, element)))
    if op == 4 and inside:  # another (or no) VR
        element = rng.choice([e for e in inside if e.vr] or inside)
        vr = rng.choice([*sorted(_VRS), rng.randbytes(2), b"\0\0"])
        out = bytearray(data)
        out[element.start + 4 : element.start + 6] = vr
        return bytes(out)
    if op == 5:  # random bytes spliced in, or replacing
        at = rng.randrange(min(end, len(data)) or 1)
        junk = rng.randbytes(rng.choice((1, 2, 4, 8, 64)))
        if rng.random() < 0.5:
            return data[:at] + junk + data[at:]
        return data[:at] + junk + data[at + len(junk) :]
    if op == 6 and inside:  # an element removed or repeated
        element = rng.choice(inside)
        stop = element.start + element.header
        if element.length != _UNDEFINED:
            stop += element.length
        piece = data[element.start : stop]
        if rng.random() < 0.5:
            return data[: element.start] + data[stop:]
        return data[:stop] + piece + data[stop:]
    if op == 7:  # a random 4-byte word: a tag, or a length
        at = rng.randrange(max(1, min(end, len(data)) - 4))
        word = rng.choice(
            (
                *(b"\xfe\xff\x00\xe0", b"\xfe\xff\xdd\xe0", b"\xfe\xff\xff\xff"),
                *(b"\xff\xff\xff\xff", b"\xe0\x7f\x10\x00", rng.randbytes(4)),
            )
        )
        return data[:at] + word + data[at + 4 :]
    return data[: rng.randrange(len(data))]


# --------------------------------------------------------------- made-up files


def _el(tag: int, vr: bytes, value: bytes, *, explicit: bool = True) -> bytes:
    """One little endian element, its value padded to an even length."""
    if len(value) % 2:
        value += b"\0" if vr in (b"UI", b"OB") else b" "
    group, number = tag >> 16, tag & 0xFFFF
    if not explicit:
        return struct.pack("<HHI", group, number, len(value)) + value
    if vr in _LONG_VRS:
        return struct.pack("<HH2sHI", group, number, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", group, number, vr, len(value)) + value


def _raw(tag: int, vr: bytes, length: int, *, explicit: bool = True) -> bytes:
    """An element header declaring ``length`` bytes (which need not follow)."""
    group, number = tag >> 16, tag & 0xFFFF
    if not explicit:
        return struct.pack("<HHI", group, number, length)
    if vr in _LONG_VRS:
        return struct.pack("<HH2sHI", group, number, vr, 0, length)
    return struct.pack("<HH2sH", group, number, vr, length & 0xFFFF)


def part10(body: bytes, syntax: str = _EXPLICIT_LE, sop: str = _UID + "1") -> bytes:
    """A preamble, ``DICM``, a file meta group and ``body`` (the data set bytes)."""
    meta = (
        _el(0x00020001, b"OB", b"\0\1")
        + _el(0x00020002, b"UI", _CT_CLASS.encode())
        + _el(0x00020003, b"UI", sop.encode())
        + _el(0x00020010, b"UI", syntax.encode())
    )
    group_length = _el(0x00020000, b"UL", struct.pack("<I", len(meta)))
    return b"\0" * 128 + b"DICM" + group_length + meta + body


def _identity(sop: str, *, explicit: bool = True) -> bytes:
    """The first elements of a data set: character set, class and instance UIDs."""
    return (
        _el(0x00080005, b"CS", b"ISO_IR 100", explicit=explicit)
        + _el(0x00080016, b"UI", _CT_CLASS.encode(), explicit=explicit)
        + _el(0x00080018, b"UI", sop.encode(), explicit=explicit)
    )


def _tail(*, explicit: bool = True) -> bytes:
    return _el(0x00100020, b"LO", b"FUZZ", explicit=explicit) + _el(
        _PIXEL_DATA, b"OW", b"\0" * 8, explicit=explicit
    )


def nested_undefined(depth: int, *, explicit: bool, close: bool) -> bytes:
    """Undefined-length sequences nested ``depth`` deep (optionally unclosed)."""
    seq = _raw(0x00081140, b"SQ", _UNDEFINED, explicit=explicit)
    item = struct.pack("<HHI", 0xFFFE, 0xE000, _UNDEFINED)
    item_end = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
    seq_end = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    opened = (seq + item) * depth
    return opened + ((item_end + seq_end) * depth if close else b"")


def nested_defined(depth: int) -> bytes:
    """Defined-length sequences nested ``depth`` deep, built inside out."""
    content = _el(0x00080100, b"SH", b"T-D1100")
    for _ in range(depth):
        item = struct.pack("<HHI", 0xFFFE, 0xE000, len(content)) + content
        content = _raw(0x00081140, b"SQ", len(item)) + item
    return content


def made_files(rng: random.Random, seeds: Sequence[Seed]) -> dict[str, bytes]:
    """Hand-made hostile files, by name."""
    files: dict[str, bytes] = {}
    for depth, explicit, close in (
        (5000, True, True),
        (5000, True, False),
        (3000, False, True),
        (3000, False, False),
    ):
        kind = f"{'explicit' if explicit else 'implicit'}-{depth}"
        kind += "" if close else "-unclosed"
        syntax = _EXPLICIT_LE if explicit else _IMPLICIT_LE
        sop = f"{_UID}2.{depth}.{int(explicit)}.{int(close)}"
        body = (
            _identity(sop, explicit=explicit)
            + nested_undefined(depth, explicit=explicit, close=close)
            + (_tail(explicit=explicit) if close else b"")
        )
        files[f"nested-{kind}"] = part10(body, syntax, sop)
    files["nested-defined-2000"] = part10(
        _identity(_UID + "3") + nested_defined(2000) + _tail(), sop=_UID + "3"
    )
    files["nested-items-in-pixel-data"] = part10(
        _identity(_UID + "4")
        + _raw(_PIXEL_DATA, b"OB", _UNDEFINED)
        + struct.pack("<HHI", 0xFFFE, 0xE000, _UNDEFINED) * 3000
    )
    # huge declared lengths, in a file of a few hundred bytes
    for name, element in (
        ("pixel-data-4gb", _raw(_PIXEL_DATA, b"OB", 0xFFFFFFF0)),
        ("pixel-data-fffffffe", _raw(_PIXEL_DATA, b"OW", 0xFFFFFFFE)),
        ("private-ob-fffffffe", _raw(0x00091010, b"OB", 0xFFFFFFFE)),
        ("private-un-2gb", _raw(0x00091010, b"UN", 0x7FFFFFFF)),
        ("text-ut-fffffffe", _raw(0x00081030, b"UT", 0xFFFFFFFE)),
    ):
        files[f"huge-{name}"] = part10(_identity(_UID + "5") + element + b"\0" * 64)
    files["huge-implicit-fffffffe"] = part10(
        _identity(_UID + "6", explicit=False)
        + _raw(0x00091010, b"", 0xFFFFFFFE, explicit=False)
        + b"\0" * 64,
        _IMPLICIT_LE,
    )
    meta_huge = bytearray(part10(_identity(_UID + "7") + _tail()))
    struct.pack_into("<I", meta_huge, 140, 0xFFFFFFFE)  # the meta group length
    files["huge-meta-group-length"] = bytes(meta_huge)
    files["huge-meta-element"] = (
        b"\0" * 128 + b"DICM" + _raw(0x00020001, b"OB", 0xFFFFFFFE) + b"\0" * 32
    )
    # file meta and data set that disagree on the transfer syntax
    for name, syntax, explicit in (
        ("meta-implicit-data-explicit", _IMPLICIT_LE, True),
        ("meta-explicit-data-implicit", _EXPLICIT_LE, False),
        ("meta-big-endian-data-little", _EXPLICIT_BE, True),
        ("meta-deflated-data-plain", _DEFLATED, True),
        ("meta-unknown-syntax", "1.2.3.4.5", True),
    ):
        sop = f"{_UID}8.{len(files)}"
        body = _identity(sop, explicit=explicit) + _tail(explicit=explicit)
        files[name] = part10(body, syntax, sop)
    inflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    bomb = inflater.compress(_identity(_UID + "9"))
    for _ in range(64):  # 64 MB of zeros: millions of empty elements
        bomb += inflater.compress(bytes(1 << 20))
    files["deflate-bomb"] = part10(bomb + inflater.flush(), _DEFLATED, _UID + "9")
    ct = next((s.data for s in seeds if s.name == "CT_small"), seeds[0].data)
    files["gzip-ct.dcm.gz"] = gzip.compress(ct, mtime=0)
    files["gzip-of-gzip.gz"] = gzip.compress(gzip.compress(ct, mtime=0), mtime=0)
    files["empty"] = b""
    files["empty.dcm"] = b""
    files["one-byte"] = b"\0"
    files["preamble-only"] = b"\0" * 128
    files["preamble-dicm"] = b"\0" * 128 + b"DICM"
    files["preamble-dicm-meta-only"] = part10(b"")
    files["dicm-at-0"] = b"DICM" + rng.randbytes(200)
    files["no-sop-instance-uid"] = part10(_el(0x00080060, b"CS", b"CT") + _tail())
    return files


def random_files(rng: random.Random) -> dict[str, bytes]:
    """Random bytes: bare, behind a ``DICM`` marker, a file meta, a first element."""
    files: dict[str, bytes] = {}
    for n in (1, 7, 8, 12, 100, 131, 132, 133, 500, 4096):
        files[f"bare-{n}"] = rng.randbytes(n)
    for i in range(24):
        n = rng.choice((0, 1, 4, 8, 12, 64, 256, 1024, 8192))
        preamble = rng.randbytes(128) if i % 2 else b"\0" * 128
        files[f"dicm-{i:02d}-{n}"] = preamble + b"DICM" + rng.randbytes(n)
    for i in range(24):
        n = rng.choice((4, 8, 12, 64, 256, 1024, 8192))
        syntax = (_EXPLICIT_LE, _IMPLICIT_LE, _EXPLICIT_BE)[i % 3]
        files[f"meta-{i:02d}-{n}"] = part10(rng.randbytes(n), syntax)
    for i in range(16):
        first = (
            b"\x08\x00\x05\x00CS\x0a\x00",  # explicit VR
            b"\x08\x00\x05\x00\x0a\x00\x00\x00",  # implicit VR
            b"\x02\x00\x00\x00UL\x04\x00",  # file meta, no preamble
            b"\x00\x08\x00\x05CS\x00\x0a",  # big endian
        )[i % 4]
        files[f"element-{i:02d}"] = first + rng.randbytes(rng.choice((2, 10, 300)))
    return files


# --------------------------------------------------------------------- the corpus


@dataclass
class Corpus:
    """A fuzz corpus on disk: what a scan of ``root`` must account for."""

    root: str
    expected: set[str] = field(default_factory=set)  # paths as the walk yields them
    n_bytes: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def n_files(self) -> int:
        """Paths the scan must account for (files, links, FIFOs, devices …)."""
        return len(self.expected)

    def path(self, *parts: str) -> str:
        """An absolute path under the corpus root (``parts`` may hold surrogates)."""
        return os.path.join(self.root, *parts)

    def write(self, data: bytes, *parts: str) -> str:
        """Write a file the scan must account for; return its path."""
        path = self.path(*parts)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fp:
            fp.write(data)
        self.expected.add(path)
        self.n_bytes += len(data)
        return path

    def link(self, target: str, *parts: str, counted: bool = True) -> None:
        """A symbolic link; ``counted`` unless it leads to a folder."""
        path = self.path(*parts)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.symlink(target, path)
        if counted:
            self.expected.add(path)


def build_corpus(dest: str | os.PathLike[str], seed: int = 0) -> Corpus:
    """Write the fuzz corpus into ``dest`` (created, or a previous corpus replaced).

    Deterministic: the same ``seed`` writes the same files with the same bytes.

    Raises
    ------
    FileExistsError
        If ``dest`` exists, is not empty and is not a fuzz corpus.
    """
    root = os.path.abspath(os.fspath(dest))
    _clear(root)
    os.makedirs(root, exist_ok=True)
    Path(root, MARKER).write_text("a dicomkit fuzz corpus: benchmarks/fuzz.py\n")
    corpus = Corpus(root)
    corpus.expected.add(os.path.join(root, MARKER))  # not DICOM: an error row
    seeds = seed_files()
    for s in seeds:
        _derive(corpus, s, random.Random(f"{seed}:{s.name}"))
    rng = random.Random(seed)
    for name, data in made_files(rng, seeds).items():
        corpus.write(data, "made", name)
    for name, data in random_files(rng).items():
        corpus.write(data, "random", name)
    _special(corpus, seeds[0].data)
    _names(corpus, seeds[0].data)
    return corpus


def _derive(corpus: Corpus, seed: Seed, rng: random.Random) -> None:
    """The seed itself, its truncations, patched lengths and VRs, bit flips."""
    data = seed.data
    corpus.write(data, "seeds", seed.name)
    found = elements(data)
    if seed.name in _EVERY_BOUNDARY:
        cuts = structural_cuts(data, found)
    else:
        cuts = sorted({e.start for e in found} - {0})
    for cut in cuts:
        corpus.write(data[:cut], "cut", seed.name, f"{cut:07d}")
    data = shrink(data, found)  # the rest patch the header: 64 pixel bytes do
    end = header_end(data, found)
    header = [e for e in found if e.start < end]
    for i, element in enumerate(header):  # 0xFFFFFFFE, 0xFFFFFFFF, others in turn
        if element.length_size == 2:
            value = (0xFFFE, 0xFFFF, rng.choice(SHORT_LENGTHS))[i % 3]
        else:
            value = (
                0xFFFFFFFE,
                0xFFFFFFFF,
                rng.choice(hostile_lengths(data, element)),
            )[i % 3]
        name = f"{element.start:07d}-{value:08x}"
        corpus.write(patch_length(data, element, value), "length", seed.name, name)
    for element in rng.sample(header, min(8, len(header))):
        if element.vr:
            vr = rng.choice((b"SQ", b"UN", b"OB", b"US", b"??", b"\0\0"))
            out = bytearray(data)
            out[element.start + 4 : element.start + 6] = vr
            name = f"{element.start:07d}-{vr.hex()}"
            corpus.write(bytes(out), "vr", seed.name, name)
    for i in range(8):
        flipped = flip_bits(rng, data, rng.choice((1, 2, 8, 32)), end)
        corpus.write(flipped, "flip", seed.name, f"{i:02d}")


def _special(corpus: Corpus, dicom: bytes) -> None:
    """FIFOs, devices, a socket, unreadable files and folders, link loops."""
    folder = corpus.path("special")
    os.makedirs(folder, exist_ok=True)
    for name in ("fifo", "fifo.dcm"):
        with _noted(corpus, f"cannot make a FIFO {name}"):
            os.mkfifo(corpus.path("special", name))
            corpus.expected.add(corpus.path("special", name))
    for name, target in (("dev-zero", "/dev/zero"), ("dev-null", "/dev/null")):
        if os.path.exists(target):
            corpus.link(target, "special", name)
    with _noted(corpus, "mknod is not permitted: no character device made"):
        os.mknod(
            corpus.path("special", "char-device"),
            0o600 | stat.S_IFCHR,
            os.makedev(1, 5),  # /dev/zero's numbers
        )
        corpus.expected.add(corpus.path("special", "char-device"))
    with _noted(corpus, "no socket file made"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(corpus.path("special", "socket"))
            corpus.expected.add(corpus.path("special", "socket"))
        finally:
            sock.close()
    locked = corpus.write(dicom, "special", "no-permission.dcm")
    os.chmod(locked, 0)
    hidden = corpus.path("special", "locked-folder")
    inner = corpus.write(dicom, "special", "locked-folder", "inside.dcm")
    os.chmod(hidden, 0)
    if _readable(locked):
        corpus.notes.append(
            "running as root: chmod 000 does not stop reading, so no permission "
            "error could be produced (the files read as instances)"
        )
    else:  # the folder cannot be listed: it is one error row, its file unseen
        corpus.expected.discard(inner)
        corpus.expected.add(hidden)
    corpus.link("loop-b", "special", "loop-a")
    corpus.link("loop-a", "special", "loop-b")
    corpus.link("self-loop", "special", "self-loop")
    corpus.link("no-such-target", "special", "broken-link")
    corpus.link("..", "special", "up", counted=False)  # a folder loop
    corpus.link(os.path.join("..", "seeds"), "special", "seeds-again", counted=False)
    corpus.link(os.path.join("..", "made", "empty"), "special", "link-to-empty")


def _names(corpus: Corpus, dicom: bytes) -> None:
    """File and folder names that are not UTF-8, or hold odd characters."""
    for raw in (b"\xff\xfe.dcm", b"caf\xe9.dcm", b"\x80", b"new\nline.dcm"):
        corpus.write(dicom, "names", os.fsdecode(raw))
    corpus.write(dicom, "names", os.fsdecode(b"dir-\xe9"), os.fsdecode(b"\xe9t\xe9"))
    corpus.write(dicom, "names", "literal-\\xff.dcm")  # looks like an escape
    corpus.write(dicom, "names", "valid-ü-名.dcm")
    corpus.write(b"junk", "names", os.fsdecode(b"junk-\xfe"))


def _readable(path: str) -> bool:
    try:
        with open(path, "rb"):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def _noted(corpus: Corpus, note: str) -> Iterator[None]:
    """Run a step that the system may refuse; a refusal becomes a note."""
    try:
        yield
    except (OSError, AttributeError) as exc:  # AttributeError: no mkfifo on Windows
        corpus.notes.append(f"{note} ({exc})")


def _clear(root: str) -> None:
    """Delete a previous corpus at ``root``; refuse any other non-empty folder."""
    if not os.path.lexists(root):
        return
    if os.path.isdir(root) and not os.listdir(root):
        return
    if not os.path.isfile(os.path.join(root, MARKER)):
        msg = f"{root} is not empty and not a fuzz corpus (no {MARKER}): not touched"
        raise FileExistsError(msg)
    for folder, names, _ in os.walk(root):  # chmod 000 folders first
        for name in names:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                os.chmod(path, 0o700)
    shutil.rmtree(root)


# ----------------------------------------------------------------------- checking


class _Hang(BaseException):
    """Raised by the alarm: not an ``Exception``, so no reader can swallow it."""


@contextlib.contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    """Raise :class:`_Hang` in this thread after ``seconds`` (Unix main thread)."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def ring(signum: int, frame: FrameType | None) -> None:
        raise _Hang

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_row(row: Row) -> str | None:
    """What is wrong with a header reader row, or ``None`` when it keeps the promise."""
    kind, values = row
    if kind == "instance":
        return None
    if kind != "error":
        return f"unknown row kind {kind!r}"
    reason = values.get("reason")
    if reason not in REASONS:
        return f"unknown reason {reason!r}"
    if not values.get("message"):
        return f"error row {reason!r} without a message"
    return None


def compare_rows(fast: Row, slow: Row, keywords: Sequence[str]) -> str | None:
    """How the fast reader's row differs from the pydicom reader's, or ``None``.

    The README promises identical rows: the same kind, the same reason, the same
    values (error messages may word things differently). One difference is
    allowed: sequences nested deeper than Python's recursion limit, which the
    fast walker reads and pydicom cannot.
    """
    (kind, values), (slow_kind, slow_values) = fast, slow
    if kind == "instance" and "maximum recursion depth" in _describe(slow):
        return None  # pydicom recurses into nested sequences; the fast walker need not
    if kind != slow_kind:
        return f"fast: {_describe(fast)}; pydicom: {_describe(slow)}"
    if kind == "error":
        if values["reason"] != slow_values["reason"]:
            return f"fast: {_describe(fast)}; pydicom: {_describe(slow)}"
        return None
    names = list(instance_schema(keywords))
    mine = (
        dict(zip(names, values, strict=True)) if isinstance(values, tuple) else values
    )
    theirs = (
        dict(zip(names, slow_values, strict=True))
        if isinstance(slow_values, tuple)
        else slow_values
    )
    differ = [n for n in names if repr(mine.get(n)) != repr(theirs.get(n))]
    if differ:
        shown = ", ".join(f"{n}: {mine.get(n)!r} ≠ {theirs.get(n)!r}" for n in differ)
        return f"values differ: {shown}"
    return None


def _describe(row: Row) -> str:
    kind, values = row
    if kind == "error":
        return f"error {values['reason']} ({str(values['message'])[:120]})"
    return "instance"


@dataclass
class Report:
    """What a fuzzing run found (see the module docstring)."""

    seed: int = 0
    corpus_files: int = 0
    corpus_bytes: int = 0
    corpus_seconds: float = 0.0
    scan_seconds: float = 0.0
    instances: int = 0
    resends: int = 0
    errors: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    files_tried: int = 0
    bytes_tried: int = 0
    mutants_tried: int = 0
    budget_seconds: float = 0.0
    longest_seconds: float = 0.0
    longest_file: str = ""
    peak_memory_mb: float = 0.0
    peak_worker_memory_mb: float = 0.0
    crashes: list[dict[str, str]] = field(default_factory=list)
    mismatches: list[dict[str, str]] = field(default_factory=list)
    n_mismatches: int = 0
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        """The report as indented JSON."""
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)

    def summary(self) -> str:
        """A few lines for a terminal."""
        lines = [
            f"corpus       {self.corpus_files:,} files, {self.corpus_bytes:,} bytes "
            f"(built in {self.corpus_seconds:.1f} s, seed {self.seed})",
            f"scan         {self.scan_seconds:.1f} s: {self.instances:,} instances, "
            f"{self.resends:,} resends, {self.errors:,} errors",
            "reasons      "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(self.reasons.items())),
            f"files tried  {self.files_tried:,} ({self.bytes_tried:,} bytes; "
            f"{self.mutants_tried:,} mutants in {self.budget_seconds:.0f} s)",
            f"longest file {self.longest_seconds * 1000:.1f} ms ({self.longest_file})",
            f"peak memory  {self.peak_memory_mb:.0f} MB (this process), "
            f"{self.peak_worker_memory_mb:.0f} MB (largest scan worker)",
            f"crashes      {len(self.crashes)}",
        ]
        lines += [f"  {c['file']}: {c['error']}" for c in self.crashes[:20]]
        lines.append(f"fast ≠ pydicom {self.n_mismatches}")
        lines += [f"  {c['file']}: {c['error']}" for c in self.mismatches[:20]]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


class _Tally:
    """Times single-file reads and collects their rows and crashes."""

    def __init__(
        self,
        report: Report,
        root: str,
        keywords: Sequence[str],
        *,
        compare: bool = True,
    ) -> None:
        self.report, self.root, self.keywords = report, root, tuple(keywords)
        self.compare = compare
        self.rows: list[Row] = []

    def read(self, entry: FileEntry, label: str | None = None) -> str | None:
        """Read one file alone: ``None``, or ``"crash"`` or ``"mismatch"``."""
        report = self.report
        label = label or text_path(os.path.relpath(entry.path, self.root))
        report.files_tried += 1
        report.bytes_tried += entry.file_size
        start = time.perf_counter()
        problem: str | None = None
        try:
            with _alarm(HANG_SECONDS):
                rows = read_batch([entry], self.keywords)
        except _Hang:
            problem = f"hang: still reading after {HANG_SECONDS:.0f} s"
        except Exception as exc:  # noqa: BLE001 - the crash being looked for
            problem = f"{type(exc).__name__} escaped the reader: {exc}"
        elapsed = time.perf_counter() - start
        if elapsed > report.longest_seconds:
            report.longest_seconds, report.longest_file = elapsed, label
        if problem is None:
            problem = check_row(rows[0]) if len(rows) == 1 else f"{len(rows)} rows"
        if problem is None:
            self.rows.append(rows[0])
            if len(self.rows) >= 256:
                self.flush()
            return self._compare(entry, rows[0], label) if self.compare else None
        report.crashes.append({"file": label, "error": problem[:500]})
        return "crash"

    def _compare(self, entry: FileEntry, fast: Row, label: str) -> str | None:
        """Read with pydicom alone too: ``None`` when the rows are the same."""
        try:
            with _alarm(HANG_SECONDS):
                slow = read_batch([entry], self.keywords, reader="pydicom")[0]
        except _Hang:
            crash = f"hang: the pydicom reader still reading after {HANG_SECONDS:.0f} s"
        except Exception as exc:  # noqa: BLE001 - the crash being looked for
            crash = f"{type(exc).__name__} escaped the pydicom reader: {exc}"
        else:
            difference = compare_rows(fast, slow, self.keywords)
            if difference is None:
                return None
            self.report.n_mismatches += 1
            if len(self.report.mismatches) < 200:
                self.report.mismatches.append(
                    {"file": label, "error": difference[:500]}
                )
            return "mismatch"
        self.report.crashes.append({"file": label, "error": crash[:500]})
        return "crash"

    def flush(self) -> None:
        """Build typed frames from the rows read so far (a conversion may crash)."""
        rows, self.rows = self.rows, []
        try:
            rows_to_frames(rows, self.keywords)
        except Exception as exc:  # noqa: BLE001 - the crash being looked for
            for _, values in rows:
                path = values[-7] if isinstance(values, tuple) else values["path"]
                label = text_path(os.path.relpath(path, self.root))
                self.report.crashes.append(
                    {"file": label, "error": f"rows_to_frames: {exc!r}"[:500]}
                )


def check_scan(
    corpus: Corpus,
    report: Report,
    workers: int | None = None,
    timeout: float | None = None,
) -> None:
    """Scan the corpus and check that every path is accounted for, once.

    A scan still running after ``timeout`` seconds (default: 10 minutes) is
    stopped and reported as a hang: a FIFO or device opened would block it.
    """
    start = time.perf_counter()
    try:
        with _alarm(timeout or max(600.0, corpus.n_files * 0.1)):
            col = dicomkit.scan(
                corpus.root, cache=False, progress=False, workers=workers
            )
    except _Hang:
        report.crashes.append({"file": ".", "error": "the scan hung"})
        return
    except Exception as exc:  # noqa: BLE001 - the crash being looked for
        report.crashes.append({"file": ".", "error": f"the scan raised {exc!r}"[:500]})
        return
    report.scan_seconds = time.perf_counter() - start
    report.instances = col.instances.height
    report.resends = col.resends.height
    report.errors = col.errors.height
    counts = col.errors["reason"].value_counts().iter_rows()
    report.reasons = {str(reason): int(n) for reason, n in counts}
    for reason in set(report.reasons) - REASONS:
        report.crashes.append({"file": ".", "error": f"unknown reason {reason!r}"})
    seen = [
        *col.instances["path"].to_list(),
        *col.resends["path"].to_list(),
        *col.errors["path"].to_list(),
    ]
    expected = {text_path(p) for p in corpus.expected}
    if len(seen) != len(set(seen)):
        report.crashes.append({"file": ".", "error": "a path is accounted twice"})
    for path in sorted(expected - set(seen))[:20]:
        label = os.path.relpath(path, text_path(corpus.root))
        report.crashes.append({"file": label, "error": "not accounted for"})
    for path in sorted(set(seen) - expected)[:20]:
        label = os.path.relpath(path, text_path(corpus.root))
        report.crashes.append({"file": label, "error": "accounted but not expected"})


def _fuzz_budget(
    tally: _Tally, dest: str, seeds: Sequence[Seed], seconds: float, seed: int
) -> None:
    """Read random mutants of ``seeds`` for ``seconds``; keep the ones that crash."""
    report = tally.report
    rng = random.Random(f"budget:{seed}")
    structure = [(s, elements(s.data)) for s in seeds]
    folder = os.path.join(dest, "_mutants")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "mutant.dcm")
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        s, found = rng.choice(structure)
        data = mutate(rng, s, found)
        with open(path, "wb") as fp:
            fp.write(data)
        n = report.mutants_tried
        report.mutants_tried += 1
        entry = FileEntry(path, len(data), time.time_ns())
        outcome = tally.read(entry, f"_mutants/{n}-{s.name}")
        if outcome is not None:  # kept to reproduce: _crashes/, _mismatches/
            keep = os.path.join(dest, f"_{outcome}es")
            os.makedirs(keep, exist_ok=True)
            Path(keep, f"{n}-{s.name}.dcm").write_bytes(data)
    tally.flush()
    report.budget_seconds = time.perf_counter() - start
    with contextlib.suppress(OSError):
        os.unlink(path)


def run_fuzz(
    dest: str | os.PathLike[str],
    *,
    budget: float = 0.0,
    seed: int = 0,
    workers: int | None = None,
    scan: bool = True,
    log: Callable[[str], None] | None = None,
) -> Report:
    """Build the corpus in ``dest``, scan it, read every file alone, then mutate.

    ``budget`` is the number of seconds spent reading random mutants after the
    corpus; ``scan=False`` skips the whole-folder scan.
    """
    report = Report(seed=seed)
    say = log or (lambda text: None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's warnings on broken files
        start = time.perf_counter()
        say("building the corpus")
        corpus = build_corpus(dest, seed)
        report.corpus_seconds = time.perf_counter() - start
        report.corpus_files, report.corpus_bytes = corpus.n_files, corpus.n_bytes
        report.notes += corpus.notes
        if scan:
            say(f"scanning {corpus.n_files:,} files")
            check_scan(corpus, report, workers)
        say("reading every file alone")
        tally = _Tally(report, corpus.root, DEFAULT_KEYWORDS)
        for item in walk(corpus.root):
            if not isinstance(item, WalkError):
                tally.read(item)
        tally.flush()
        if budget > 0:
            say(f"reading random mutants for {budget:.0f} s")
            _fuzz_budget(tally, corpus.root, seed_files(), budget, seed)
    _measure_memory(report)
    return report


def run_mutants(
    dest: str | os.PathLike[str], seconds: float, *, seed: int = 0
) -> Report:
    """Read random mutants of the seeds for ``seconds``: a short fuzzing session.

    Each mutant is read by the header reader (crashes, hangs, unknown reasons)
    and by pydicom alone (the rows must be the same); ``dest`` keeps the mutants
    that failed, in ``_crashes/`` and ``_mismatches/``.
    """
    report = Report(seed=seed)
    root = os.path.abspath(os.fspath(dest))
    os.makedirs(root, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's warnings on broken files
        tally = _Tally(report, root, DEFAULT_KEYWORDS)
        _fuzz_budget(tally, root, seed_files(), seconds, seed)
    _measure_memory(report)
    return report


def _measure_memory(report: Report) -> None:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    scale = 1 / 1024 if sys.platform != "darwin" else 1 / 1024**2  # KB, or bytes
    report.peak_memory_mb = own * scale
    report.peak_worker_memory_mb = children * scale
