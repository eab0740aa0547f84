"""Telling DICOM from junk, one file at a time."""

from __future__ import annotations

import gc
import os
import threading
import warnings
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.fileset import FileSet

from dicomkit.io.header import Parser, Row, file_identity, read_batch, read_header
from dicomkit.io.walk import FileEntry
from dicomkit.schema import DEFAULT_KEYWORDS
from tests.conftest import MakeFile, pydicom_test_files


def read(path: Path) -> tuple[str, dict[str, object]]:
    return read_header(file_identity(str(path)), DEFAULT_KEYWORDS)


def test_part10_file_reads_typed_values(make_file: MakeFile) -> None:
    kind, row = read(make_file("a.dcm"))
    assert kind == "instance"
    assert row["SOPInstanceUID"] == "1.2.826.0.1.3680043.10.1234.3.1"
    assert str(row["StudyDate"]) == "2024-01-02"
    assert row["ImageType"] == ["ORIGINAL", "PRIMARY", "AXIAL"]
    assert row["PixelSpacing"] == [0.5, 0.5]
    assert row["TransferSyntaxUID"] == "1.2.840.10008.1.2.1"
    assert row["n_frames"] == 1
    assert row["bad_values"] == []
    assert row["has_pixel_data"] is True


def test_file_without_preamble_is_an_instance(make_file: MakeFile) -> None:
    path = make_file("bare", preamble=False)
    assert path.read_bytes()[128:132] != b"DICM"
    kind, row = read(path)
    assert kind == "instance"
    assert row["TransferSyntaxUID"] == "1.2.840.10008.1.2"  # decoded as implicit VR LE


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"hello, this is a text file\n" * 20, "not_dicom"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 300, "not_dicom"),
        (b"\0" * 128 + b"DIC", "not_dicom"),
    ],
)
def test_junk_is_an_error_row(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "junk"
    path.write_bytes(content)
    kind, row = read(path)
    assert (kind, row["reason"]) == ("error", reason)
    assert row["path"] == str(path)


def test_force_would_read_junk_but_we_do_not(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"(0008,0018) UI 1.2.3  # a DICOM dump is not DICOM\n")
    dcmread(path, force=True)  # pydicom "reads" it ...
    kind, row = read(path)  # ... into nothing meaningful: an error for us
    assert (kind, row["reason"]) == ("error", "not_dicom")
    assert "first bytes" in str(row["message"])


def test_missing_sop_instance_uid(make_file: MakeFile) -> None:
    kind, row = read(make_file("x.dcm", SOPInstanceUID=None))
    assert (kind, row["reason"]) == ("error", "missing_sop_instance_uid")
    assert "(0008,0018)" in str(row["message"])


def test_truncated_pixel_data(make_file: MakeFile) -> None:
    path = make_file("t.dcm", Rows=64, Columns=64, PixelData=bytes(64 * 64 * 2))
    data = path.read_bytes()
    path.write_bytes(data[:-1000])
    kind, row = read(path)
    assert (kind, row["reason"]) == ("error", "truncated")
    assert "PixelData declares 8192 bytes but only 7192 remain" in str(row["message"])


@pytest.mark.parametrize("cut", [200, 400, 600])
def test_truncated_header(make_file: MakeFile, cut: int) -> None:
    path = make_file("t.dcm")
    path.write_bytes(path.read_bytes()[:cut])
    kind, row = read(path)
    assert kind == "error"
    assert row["reason"] in ("truncated", "missing_sop_instance_uid")


def test_every_cut_of_a_file_is_an_error_row(make_file: MakeFile) -> None:
    path = make_file("t.dcm")
    data = path.read_bytes()
    full = dcmread(path)
    # where each element of the data set ends: a cut there parses cleanly
    raw: list[Any] = [full.get_item(tag) for tag in full.keys()]  # noqa: SIM118 - iterating a Dataset yields elements
    boundaries = {e.value_tell + e.length for e in raw if hasattr(e, "value_tell")}
    parsed_cleanly = set()
    for cut in range(len(data)):
        path.write_bytes(data[:cut])
        kind, row = read(path)
        if kind == "instance":
            assert row["has_pixel_data"] is False, cut
            parsed_cleanly.add(cut)
    # every other cut is an error row, truncated or without SOPInstanceUID
    assert parsed_cleanly <= boundaries
    assert len(parsed_cleanly) < len(full) < len(data) / 20


def test_dicomdir_is_recognised(tmp_path: Path, make_file: MakeFile) -> None:
    fs = FileSet()
    fs.add(dcmread(make_file("src/a.dcm")))
    fs.write(tmp_path / "media")
    with warnings.catch_warnings():  # FileSet leaves its staging folder to the GC
        warnings.simplefilter("ignore", ResourceWarning)
        del fs
        gc.collect()
    kind, row = read(tmp_path / "media" / "DICOMDIR")
    assert (kind, row["reason"]) == ("error", "dicomdir")


def test_bad_value_is_null_and_reported(make_file: MakeFile) -> None:
    kind, row = read(make_file("bad.dcm", StudyDate="20241399"))
    assert kind == "instance"
    assert row["StudyDate"] is None
    assert row["bad_values"] == ["StudyDate: not a DICOM date (DA): '20241399'"]


def test_text_is_decoded_with_the_character_set(
    tmp_path: Path, make_file: MakeFile
) -> None:
    path = make_file("latin1.dcm", PatientName="Müller^Jürgen")
    assert "Müller".encode("latin-1") in path.read_bytes()
    assert read(path)[1]["PatientName"] == "Müller^Jürgen"
    # a Japanese name in ISO 2022 IR 87, decoded by pydicom's charset handling
    shipped = pydicom_test_files() / "charset_files" / "chrH31.dcm"
    if shipped.exists():
        assert "山田" in str(read(shipped)[1]["PatientName"])


def test_unreadable_file(make_file: MakeFile) -> None:
    path = make_file("locked.dcm")
    os.chmod(path, 0)
    try:
        if os.access(path, os.R_OK):  # root reads anything
            pytest.skip("running as root: permissions do not stop reads")
        kind, row = read(path)
        assert (kind, row["reason"]) == ("error", "unreadable")
    finally:
        os.chmod(path, 0o644)


def test_big_endian_and_implicit_files_read() -> None:
    folder = pydicom_test_files()
    for name in ("MR_small_bigendian.dcm", "MR_small_implicit.dcm"):
        kind, row = read(folder / name)
        assert kind == "instance", row
        assert row["Rows"] == 64
        assert row["Modality"] == "MR"
    kind, row = read(folder / "ExplVR_BigEndNoMeta.dcm")  # no meta, big endian
    assert (kind, row["Modality"]) == ("instance", "RTPLAN")
    assert row["TransferSyntaxUID"] == "1.2.840.10008.1.2.2"


def test_number_of_frames(make_file: MakeFile, tmp_path: Path) -> None:
    path = make_file("mf.dcm", NumberOfFrames=3, PixelData=bytes(4 * 4 * 2 * 3))
    assert read(path)[1]["n_frames"] == 3
    good = make_file("mf2.dcm", NumberOfFrames="97", PixelData=bytes(32))
    data = good.read_bytes()
    assert data.count(b"IS\x02\x0097") == 1
    good.write_bytes(data.replace(b"IS\x02\x0097", b"IS\x02\x00x7"))
    kind, row = read(good)
    assert (kind, row["n_frames"], row["NumberOfFrames"]) == ("instance", 1, None)
    assert row["bad_values"] == ["NumberOfFrames: not an integer (IS): 'x7'"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("reader", ["fast", "pydicom"])
def test_a_file_replaced_by_a_fifo_after_the_walk_never_blocks(
    tmp_path: Path, reader: Parser
) -> None:
    # the walk saw a regular file; a FIFO took its place before it was read
    entry = FileEntry(str(tmp_path / "was-a-file.dcm"), 1234, 1)
    os.mkfifo(entry.path)
    done: list[list[Row]] = []
    thread = threading.Thread(
        target=lambda: done.append(read_batch([entry], ["PatientID"], reader=reader)),
        daemon=True,
    )
    thread.start()
    thread.join(timeout=10)
    assert done, "reading blocked on the FIFO"
    [(kind, row)] = done[0]
    assert kind == "error"
    assert isinstance(row, dict)
    assert row["reason"] == "not_regular_file"
    assert "FIFO" in row["message"] or "fifo" in row["message"]
