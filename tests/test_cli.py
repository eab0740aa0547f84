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


# -- issue 11, item 9: errors a user reads, --version, archives, ~ ---------------


def run(argv: list[str]) -> int:
    """``main(argv)``, with argparse's exits returned as a status too."""
    try:
        return main(argv)
    except SystemExit as done:
        return int(done.code or 0)


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert ".dicomkit-" not in err  # never a temporary file's name
    assert err.startswith("dicomkit")
    return err


def test_tree_into_a_closed_pipe_ends_quietly(
    tmp_path: Path, make_file: MakeFile
) -> None:
    make_file("a.dcm")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dicomkit", "tree", str(tmp_path), "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.close()  # as `| head` does once it has its lines
    _, err = proc.communicate(timeout=120)
    assert err == ""
    assert proc.returncode == 141


@pytest.mark.parametrize(
    ("output", "says"),
    [
        ("missing/index.parquet", "does not exist; create it first (mkdir -p "),
        ("newdir/", "add --parts to write a partitioned index into it"),
        (".", "that is a folder; add --parts"),
    ],
    ids=["missing-folder", "new-folder", "existing-folder"],
)
def test_an_output_that_cannot_be_written_is_one_line_before_the_scan(
    tmp_path: Path,
    make_file: MakeFile,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    output: str,
    says: str,
) -> None:
    make_file("in/a.dcm")
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert run(["scan", "in", "-o", output, "--no-progress"]) == 2
    assert says in one_line_error(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["tree", "nowhere"], "no such file or folder"),
        (["tree"], "the following arguments are required: source"),
        (["tree", ".", "--bogus"], "unrecognized arguments: --bogus"),
        (["scan", ".", "-k", "NotAKeyword"], "NotAKeyword"),
        (["frobnicate"], "invalid choice"),
    ],
    ids=["missing-source", "no-source", "unknown-option", "bad-keyword", "no-command"],
)
def test_every_error_is_one_line_with_status_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    says: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(argv) == 2
    assert says in one_line_error(capsys)


def test_ctrl_c_is_one_line_with_status_130(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import dicomkit.cli

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(dicomkit.cli, "scan", interrupted)
    assert run(["tree", str(tmp_path)]) == 130
    assert one_line_error(capsys) == "dicomkit: interrupted\n"


def test_version_comes_from_the_package_metadata(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from importlib.metadata import version

    assert run(["--version"]) == 0
    assert capsys.readouterr().out == f"dicomkit {version('dicomkit')}\n"
    assert dk.__version__ == version("dicomkit")


def test_scan_prints_the_tree_as_tree_does(
    tmp_path: Path, make_file: MakeFile, capsys: pytest.CaptureFixture[str]
) -> None:
    make_file("in/a.dcm")
    (tmp_path / "in" / "junk.txt").write_text("hello")
    assert run(["tree", str(tmp_path / "in"), "--no-progress"]) == 0
    tree = capsys.readouterr().out
    assert "└─ Series" in tree
    assert "What is wrong (1):" in tree
    index = tmp_path / "index.parquet"
    assert run(["scan", str(tmp_path / "in"), "-o", str(index), "--no-progress"]) == 0
    assert capsys.readouterr().out == tree + f"index written to {index}\n"


def test_an_archive_says_to_unpack_it_first(
    tmp_path: Path, make_file: MakeFile, capsys: pytest.CaptureFixture[str]
) -> None:
    import gzip
    import tarfile
    import zipfile

    image = make_file("a.dcm")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with zipfile.ZipFile(inbox / "delivery.zip", "w") as zf:
        zf.write(image, "a.dcm")
    with tarfile.open(inbox / "delivery.tar", "w") as tf:
        tf.add(image, "a.dcm")
    (inbox / "a.dcm.gz").write_bytes(gzip.compress(image.read_bytes()))
    col = dk.scan(inbox, progress=False)
    assert col.errors["reason"].to_list() == ["archive"] * 3
    assert run(["tree", str(inbox), "--no-progress"]) == 0
    out = capsys.readouterr().out
    for name, kind in (
        ("a.dcm.gz", "gzip"),
        ("delivery.tar", "tar"),
        ("delivery.zip", "ZIP"),
    ):
        [line] = [line for line in out.splitlines() if name in line]
        # paths relative to the scanned folder
        assert f"archive: {name}: a {kind} archive, not a DICOM file" in line
        assert "unpack it first" in line


def test_a_tilde_is_the_home_folder(
    tmp_path: Path,
    make_file: MakeFile,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_file("in/a.dcm")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert run(["scan", "~/in", "-o", "~/index.parquet", "--no-progress"]) == 0
    assert (tmp_path / "index.parquet").is_file()
    assert run(["tree", "~/index.parquet"]) == 0
    assert "1 instance" in capsys.readouterr().out
