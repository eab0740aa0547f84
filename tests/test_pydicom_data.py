"""Integration: every test file shipped inside pydicom is accounted for, nothing crashes."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest

import dicomkit as dk
from tests.conftest import MakeFile, pydicom_test_files


@pytest.fixture(scope="module")
def col() -> dk.Collection:
    return dk.scan(pydicom_test_files(), progress=False)


def all_files() -> list[Path]:
    return sorted(p for p in pydicom_test_files().rglob("*") if p.is_file())


def test_every_file_is_accounted_for(col: dk.Collection) -> None:
    seen = (
        set(col.instances["path"]) | set(col.resends["path"]) | set(col.errors["path"])
    )
    assert col.n_files == len(seen) == len(all_files())
    assert seen == {str(p) for p in all_files()}


def test_known_outcomes(col: dk.Collection) -> None:
    reason = dict(
        col.errors.select(
            pl.col("path").str.split(os.sep).list.last(), "reason"
        ).iter_rows()
    )
    assert reason["DICOMDIR"] == "dicomdir"
    assert reason["MR_truncated.dcm"] == "truncated"
    assert reason["rtplan_truncated.dcm"] == "truncated"
    assert reason["README.txt"] == "not_dicom"
    assert reason["zipMR.gz"] == "archive"  # gzip is not DICOM, even if it holds some
    instances = {os.path.basename(p) for p in col.instances["path"]} | {
        os.path.basename(p) for p in col.resends["path"]
    }
    for name in (
        "CT_small.dcm",
        "MR_small_bigendian.dcm",
        "JPEG2000.dcm",
        "rtplan.dcm",
    ):
        assert name in instances


def test_the_dicomdir_tree_is_rebuilt_from_uids(col: dk.Collection) -> None:
    # pydicom ships 31 images of 2 patients, 6 studies and 13 series (with DICOMDIRs);
    # dicomkit finds the same hierarchy from the files alone
    folder = str(pydicom_test_files() / "dicomdirtests")
    sub = col.filter(
        pl.col("path").str.starts_with(folder)
        & ~pl.col("path").str.contains("TINY_ALPHA")
    )
    assert (len(sub), sub.patients.height, sub.studies.height, sub.series.height) == (
        31,
        2,
        6,
        13,
    )


def test_character_sets_are_decoded(tmp_path: Path, make_file: MakeFile) -> None:
    # pydicom's wheel does not ship its charset files: write our own with pydicom
    cases = {
        "ISO_IR 100": "Buc^Jérôme",
        "ISO_IR 144": "Люкceмбypг",
        "ISO_IR 192": "Wang^XiaoDong=王^小東",
    }
    for i, (charset, name) in enumerate(cases.items()):
        make_file(
            f"{i}.dcm",
            SpecificCharacterSet=charset,
            PatientName=name,
            SOPInstanceUID=f"1.2.3.{i}",
        )
    got = dk.scan(tmp_path, progress=False).instances
    assert sorted(got["PatientName"]) == sorted(cases.values())
    assert "Люк".encode("iso8859_5") in (tmp_path / "1.dcm").read_bytes()  # as declared


def test_frames_are_typed(col: dk.Collection) -> None:
    df = col.instances
    assert df.schema["StudyDate"] == pl.Date()
    assert df.schema["ImagePositionPatient"] == pl.List(pl.Float64())
    ct = df.filter(pl.col("path").str.ends_with("CT_small.dcm")).row(0, named=True)
    assert ct["Rows"] == 128
    assert ct["PixelSpacing"] == pytest.approx([0.661468, 0.661468])
    assert ct["ImageType"] == ["ORIGINAL", "PRIMARY", "AXIAL"]
