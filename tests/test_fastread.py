"""The fast header reader gives exactly what the pydicom path gives."""

from __future__ import annotations

import struct
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from dicomkit.corpus import write_corpus
from dicomkit.io import fastread
from dicomkit.io.fastread import ReadPlan, read_fast
from dicomkit.io.header import read_batch
from dicomkit.io.scan import InProcessReader, read_entries
from dicomkit.io.source import split_walk
from dicomkit.io.walk import FileEntry, walk
from dicomkit.schema import validate_keywords
from tests.conftest import SAMPLE, MakeFile, pydicom_test_files

KEYWORDS = validate_keywords(
    ["SequenceName", "ReferringPhysicianName", "KVP", "HighBit"]
)


def both(source: Path | str) -> tuple[tuple[pl.DataFrame, pl.DataFrame], ...]:
    entries, _ = split_walk(walk(source))
    return tuple(
        read_entries(entries, KEYWORDS, reader=InProcessReader(reader), progress=False)
        for reader in ("fast", "pydicom")
    )


@pytest.mark.parametrize("source", ["sample", "pydicom", "corpus"])
def test_identical_to_the_pydicom_path(source: str, tmp_path: Path) -> None:
    folder = {"sample": SAMPLE, "pydicom": pydicom_test_files()}.get(source)
    if folder is None:
        write_corpus(tmp_path, 300)
        folder = tmp_path
    fast, slow = both(folder)
    assert_frame_equal(fast[0].sort("path"), slow[0].sort("path"))  # value and dtype
    assert_frame_equal(fast[1].sort("path"), slow[1].sort("path"))


def test_the_fast_path_is_taken(tmp_path: Path) -> None:
    write_corpus(tmp_path, 50)  # explicit and implicit VR, sequences, private groups
    entries, _ = split_walk(walk(tmp_path))
    plan = ReadPlan.build(KEYWORDS)
    assert all(read_fast(e, plan) is not None for e in entries)


def test_fallbacks_are_read_by_pydicom(make_file: MakeFile) -> None:
    bare = make_file("bare", preamble=False)
    entry = FileEntry(str(bare), bare.stat().st_size, bare.stat().st_mtime_ns)
    assert read_fast(entry, ReadPlan.build(KEYWORDS)) is None  # no preamble
    assert read_batch([entry], KEYWORDS)[0][0] == "instance"


def test_non_ascii_text_goes_through_pydicom_charsets(
    tmp_path: Path, make_file: MakeFile
) -> None:
    make_file("a.dcm", SpecificCharacterSet="ISO_IR 144", PatientName="Люкceмбypг")
    make_file(
        "b.dcm",
        SpecificCharacterSet="ISO_IR 192",
        PatientName="Wang^XiaoDong=王^小東",
        SOPInstanceUID="1.2.3.4",
    )
    fast, slow = both(tmp_path)
    assert_frame_equal(fast[0].sort("path"), slow[0].sort("path"))
    assert sorted(fast[0]["PatientName"]) == ["Wang^XiaoDong=王^小東", "Люкceмбypг"]


def test_the_same_bytes_in_two_character_sets_read_as_two_names(
    tmp_path: Path, make_file: MakeFile
) -> None:
    # b"M\xfcller" is Müller in Latin-1 and Mќller in Cyrillic: converted values
    # are remembered from file to file, never across character sets
    make_file("a.dcm", SpecificCharacterSet="ISO_IR 100", PatientName="Müller")
    make_file(
        "b.dcm",
        SpecificCharacterSet="ISO_IR 144",
        PatientName="Mќller",
        SOPInstanceUID="1.2.3.4",
    )
    assert "Mќller".encode("iso8859_5") == "Müller".encode("latin-1")
    fast, slow = both(tmp_path)
    assert_frame_equal(fast[0].sort("path"), slow[0].sort("path"))
    assert fast[0].sort("path")["PatientName"].to_list() == ["Müller", "Mќller"]


def test_remembered_values_are_bounded(tmp_path: Path) -> None:
    write_corpus(tmp_path, 40)
    entries, _ = split_walk(walk(tmp_path))
    plan = ReadPlan.build(KEYWORDS)
    for entry in entries:
        assert read_fast(entry, plan) is not None
    assert 0 < len(plan.memo) < 40 * len(KEYWORDS)  # most values repeat
    assert all(len(data) <= fastread.MEMO_VALUE_BYTES for _, (_, data), _ in plan.memo)


def _nested_file(path: Path, depth: int) -> Path:
    """A Part 10 file whose data set holds one undefined-length sequence nested
    ``depth`` deep, followed by a SOPInstanceUID and pixel data."""
    from pydicom.uid import ExplicitVRLittleEndian

    def element(group: int, elem: int, vr: bytes, value: bytes) -> bytes:
        if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT"):
            return struct.pack("<HH2sHI", group, elem, vr, 0, len(value)) + value
        return struct.pack("<HH2sH", group, elem, vr, len(value)) + value

    meta_body = element(
        0x0002, 0x0010, b"UI", str(ExplicitVRLittleEndian).encode() + b"\0"
    )
    meta = element(0x0002, 0x0000, b"UL", struct.pack("<I", len(meta_body))) + meta_body
    open_seq = struct.pack("<HH2sHI", 0x0008, 0x1140, b"SQ", 0, 0xFFFFFFFF)
    open_item = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
    close_item = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
    close_seq = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    nested = (open_seq + open_item) * depth + (close_item + close_seq) * depth
    body = element(0x0008, 0x0018, b"UI", b"1.2.5\0") + nested  # tags ascend
    path.write_bytes(
        b"\0" * 128 + b"DICM" + meta + body + element(0x7FE0, 0x0010, b"OW", b"\0\0")
    )
    return path


def test_deeply_nested_sequences_are_skipped_without_recursion(tmp_path: Path) -> None:
    path = _nested_file(tmp_path / "deep.dcm", 5000)
    entry = FileEntry(str(path), path.stat().st_size, path.stat().st_mtime_ns)
    row = read_fast(entry, ReadPlan.build(KEYWORDS))
    assert row is not None
    assert row[KEYWORDS.index("SOPInstanceUID")] == "1.2.5"


def test_bounds_make_an_error_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _nested_file(tmp_path / "deep.dcm", 200)
    entry = FileEntry(str(path), path.stat().st_size, path.stat().st_mtime_ns)
    monkeypatch.setattr(fastread, "MAX_ELEMENTS", 100)
    kind, row = read_batch([entry], KEYWORDS)[0]
    assert (kind, row["reason"]) == ("error", "header_too_large")


@settings(max_examples=60, deadline=None)
@given(
    cut=st.integers(min_value=0, max_value=2000),
    flip=st.integers(min_value=0, max_value=1999),
)
def test_damaged_files_read_the_same_either_way(
    tmp_path_factory: pytest.TempPathFactory, cut: int, flip: int
) -> None:
    folder = tmp_path_factory.mktemp("damaged")
    write_corpus(folder / "src", 1)
    original = next((folder / "src").rglob("IM*")).read_bytes()
    data = bytearray(original[: max(cut, 1) + len(original) // 2])
    data[flip % len(data)] ^= 0xFF
    (folder / "file").write_bytes(bytes(data))
    entries, _ = split_walk(walk(folder / "file"))
    fast = read_batch(entries, KEYWORDS, reader="fast")
    slow = read_batch(entries, KEYWORDS, reader="pydicom")
    assert fast[0][0] == slow[0][0]  # instance or error either way
    if fast[0][0] == "error":
        assert fast[0][1]["reason"] == slow[0][1]["reason"]
