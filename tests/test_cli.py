"""The dicomkit command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import dicomkit as dk
from dicomkit.cli import main
from tests.conftest import MakeFile

# every file make_file wrote is byte-identical at the end of each test
pytestmark = pytest.mark.usefixtures("sources_unchanged")


def test_tree_prints_hierarchy_and_problems(
    tmp_path: Path, make_file: MakeFile, capsys: pytest.CaptureFixture[str]
) -> None:
    make_file("a.dcm")
    make_file(
        "b.dcm",
        SOPInstanceUID="1.2.3.4",
        InstanceNumber=2,
        ImagePositionPatient=[0, 0, 1],
    )
    (tmp_path / "junk.txt").write_text("hello")
    assert main(["tree", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "dicomkit.Collection: 1 patient, 1 study, 1 series, 2 instances" in out
    assert "└─ Series 2  CT  Axial  2 instances" in out
    assert "What is wrong (1):" in out
    assert "warning  not_dicom:" in out  # as verify's unreadable_file says
    assert "junk.txt" in out


def test_scan_writes_an_index_and_tree_reads_it(
    tmp_path: Path, make_file: MakeFile, capsys: pytest.CaptureFixture[str]
) -> None:
    make_file("in/a.dcm")
    index = tmp_path / "index.parquet"
    assert main(["scan", str(tmp_path / "in"), "-o", str(index), "-k", "HighBit"]) == 0
    assert f"index written to {index}" in capsys.readouterr().out
    col = dk.read_parquet(index)
    assert col.instances["HighBit"].to_list() == [15]
    assert main(["tree", str(index)]) == 0
    assert "Nothing wrong found." in capsys.readouterr().out


def test_scan_parts_writes_a_partitioned_index_that_tree_and_verify_read(
    tmp_path: Path, make_file: MakeFile, capsys: pytest.CaptureFixture[str]
) -> None:
    make_file("in/a.dcm")
    make_file("in/b.dcm", SOPInstanceUID="1.2.826.0.1.3680043.10.1234.3.2")
    (tmp_path / "in" / "junk.txt").write_text("not DICOM")
    parts = tmp_path / "parts"
    argv = ["scan", str(tmp_path / "in"), "-o", str(parts), "--parts", "-k", "HighBit"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "3 files = 2 instances in 1 series + 0 resends + 1 error" in out
    assert dk.read_parquet(parts).instances["HighBit"].to_list() == [15, 15]
    assert main(["tree", str(parts)]) == 0
    assert "junk.txt" in capsys.readouterr().out  # read from the index
    assert main(["verify", str(parts)]) == 0
    assert "3 files, 2 instances" in capsys.readouterr().out
    assert main(["scan", str(tmp_path / "in"), "--parts"]) == 2  # no -o
    assert "--parts needs -o" in capsys.readouterr().err
    assert main(["scan", str(tmp_path / "in"), "-o", str(tmp_path), "--parts"]) == 2
    assert "not parts of a dicomkit index" in capsys.readouterr().err


def test_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tree", str(tmp_path / "missing")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["scan", str(tmp_path), "-k", "NotAKeyword"]) == 2


def test_module_entry_point(tmp_path: Path, make_file: MakeFile) -> None:
    make_file("a.dcm")
    done = subprocess.run(
        [sys.executable, "-m", "dicomkit", "tree", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "1 instance" in done.stdout


def test_verify_formats_and_strict_exit(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import SAMPLE

    assert main(["verify", str(SAMPLE), "--no-progress"]) == 0
    out = capsys.readouterr().out
    # the truncated file (error) and the two non-DICOM files (warning) are findings
    assert out.startswith("219 files, 213 instances: 2 errors, 6 warnings, 2 info")
    assert main(["verify", str(SAMPLE), "--strict"]) == 1
    capsys.readouterr()
    assert main(["verify", str(SAMPLE), "--format", "json"]) == 0
    import json

    rows = json.loads(capsys.readouterr().out)
    assert {r["check"] for r in rows} >= {"sop_uid_conflict", "gantry_tilt"}
    assert main(["verify", str(SAMPLE), "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        "severity,check,level,uid,message,sop_instance_uids,value,paths,"
        "PatientID,StudyDate,SeriesNumber,SeriesDescription,Modality"
    )
    assert len(lines) == 11


def test_verify_strict_passes_on_clean_data(
    tmp_path: Path, make_file: MakeFile
) -> None:
    make_file("a.dcm")
    assert main(["verify", str(tmp_path), "--strict"]) == 0
