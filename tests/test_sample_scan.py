"""Integration: dk.scan on data/sample reports exactly what data/sample/README.md lists."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import dicomkit as dk
from dicomkit.io import scan as scan_module
from dicomkit.io.scan import ParallelReader
from dicomkit.pipeline import scan_files
from dicomkit.schema import DEFAULT_KEYWORDS
from tests.conftest import SAMPLE


@pytest.fixture(scope="module")
def col() -> dk.Collection:
    return dk.scan(SAMPLE, progress=False)


def rel(paths: pl.Series) -> list[str]:
    return sorted(os.path.relpath(p, SAMPLE) for p in paths)


def test_totals(col: dk.Collection) -> None:
    files = [p for p in SAMPLE.rglob("*") if p.is_file()]
    assert col.n_files == len(files) == 219
    assert (len(col), col.resends.height, col.errors.height) == (213, 3, 3)
    assert (col.patients.height, col.studies.height, col.series.height) == (3, 5, 9)


def test_errors(col: dk.Collection) -> None:
    got = dict(
        zip(rel(col.errors["path"]), col.errors.sort("path")["reason"], strict=True)
    )
    assert got == {
        "PAT003_MUELLER_JUERGEN/DICOM/ST000001/SE000001/IM000021": "truncated",
        "README.md": "not_dicom",
        "notes.txt": "not_dicom",
    }
    truncated = col.errors.filter(pl.col("reason") == "truncated")["message"].item()
    assert "declares 32768 bytes but only 16384 remain" in truncated


def test_resends(col: dk.Collection) -> None:
    rows = {
        os.path.relpath(r["path"], SAMPLE): (
            r["resend"],
            os.path.relpath(r["replaced_by"], SAMPLE),
        )
        for r in col.resends.iter_rows(named=True)
    }
    assert rows == {
        "PAT001_DOE_JOHN/20230314_CT_THORAX/SE000002/IM000021": (
            "identical",
            "resent/20230315/IM000021",
        ),
        "PAT001_DOE_JOHN/20230314_CT_THORAX/SE000002/IM000031": (
            "modified",
            "resent/20230315/IM000031",
        ),
        "PAT002_ROE_JANE/MR_BRAIN_20230502/S4_SAG_T1/"
        "1.2.840.113619.2.410.4057621.1683036310.3.4020.dcm": (
            "conflict",
            "PAT003_MUELLER_JUERGEN/DICOM/ST000002/SE000003/IM000006",
        ),
    }
    modified = col.resends.filter(pl.col("resend") == "modified").row(0, named=True)
    assert modified["differs"] == ["PatientName"]
    assert modified["PatientName"] == "DOE^JON"
    # after de-duplication patient A has one name
    assert col.patient("PAT001").patients["PatientName"].to_list() == ["DOE^JOHN"]


def test_series_by_description(col: dk.Collection) -> None:
    got = dict(col.series.select("SeriesDescription", "n_instances").iter_rows())
    assert got["Thorax 2.5 B31f"] == 49
    assert got["Head seq 5.0 H31s tilt"] == 30
    assert got["Thorax 3.0 B70f"] == 23
    assert got["AX PD/T2 DUAL ECHO"] == 40
    assert got["SAG T1 SE"] == 19
    assert got["Abdomen 5.0 B30f"] == 20
    assert got["SAG PD FSE"] == 12
    flair = col.series.filter(pl.col("SeriesDescription") == "AX T2 FLAIR")
    assert flair["n_instances"].to_list() == [10, 10]
    assert col.series["varying"].to_list() == [[]] * 9


def test_folders_play_no_part(col: dk.Collection) -> None:
    misfiled = col.filter(
        pl.col("path").str.contains("20230314_CT_THORAX/1.2.840.113619")
    ).instances
    assert misfiled.height == 3
    assert misfiled["PatientID"].unique().to_list() == ["PAT002"]
    assert misfiled["SeriesDescription"].unique().to_list() == ["AX PD/T2 DUAL ECHO"]


def test_preamble_less_file_and_charset(col: dk.Collection) -> None:
    bare = col.filter(pl.col("path").str.ends_with("SE000001/IM000008")).instances.row(
        0, named=True
    )
    assert bare["TransferSyntaxUID"] == "1.2.840.10008.1.2"
    assert bare["PatientName"] == "Müller^Jürgen"
    assert col.patients["PatientName"].to_list() == [
        "DOE^JOHN",
        "ROE^JANE",
        "Müller^Jürgen",
    ]


def test_studies_sorted_with_follow_up(col: dk.Collection) -> None:
    a = col.patient("PAT001").studies
    assert [str(d) for d in a["StudyDate"]] == ["2023-03-14", "2023-09-19"]


def test_text_tree_on_the_sample(col: dk.Collection) -> None:
    text = repr(col)
    assert "dicomkit.Collection: 3 patients, 5 studies, 9 series, 213 instances" in text
    assert "219 files = 213 instances + 3 resends + 3 errors" in text
    assert "Patient PAT003  Müller^Jürgen  (M, 1962-11-30)" in text


def test_a_small_parallel_scan_never_waits_for_starting_workers(
    col: dk.Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_here: list[int] = []  # rows this process built (workers count elsewhere)
    real = scan_module.rows_to_frames

    def counting(rows: Any, *args: Any) -> Any:
        rows = list(rows)
        read_here.append(len(rows))
        return real(rows, *args)

    # (what is sent to the workers stays as it is: they import their own)
    monkeypatch.setattr(scan_module, "rows_to_frames", counting)
    # a worker needs ~0.3 s to start; this process reads 219 files in ~20 ms
    assert dk.scan(SAMPLE, workers=2, progress=False) == col
    assert sum(read_here) == 219  # every file read here, none by a worker


def test_parallel_equals_serial_and_survives_a_stdin_script(
    col: dk.Collection,
) -> None:
    # the workers read their batches even when this process could read them all
    reader = ParallelReader(workers=2, steal_from_cold_workers=False)
    result = scan_files(SAMPLE, DEFAULT_KEYWORDS, reader=reader, progress=False)
    assert dk.Collection(*result.output) == col
    script = textwrap.dedent(
        f"""
        import warnings, dicomkit as dk
        from dicomkit.io.scan import ParallelReader
        from dicomkit.pipeline import scan_files
        from dicomkit.schema import DEFAULT_KEYWORDS
        reader = ParallelReader(workers=2, steal_from_cold_workers=False)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = scan_files(
                {str(SAMPLE)!r}, DEFAULT_KEYWORDS, reader=reader, progress=False
            )
        col = dk.Collection(*result.output)
        print(len(col), col.n_files, [str(w.message)[:40] for w in caught],
              caught[0].filename)
        """
    )
    done = subprocess.run(
        [sys.executable, "-"], input=script, capture_output=True, text=True, check=True
    )
    assert done.stdout.startswith("213 219 ['dicomkit: worker processes failed")
    # the warning points at the caller's line, not inside dicomkit
    assert done.stdout.rstrip().endswith("<stdin>")


def test_demo_command_output() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dicomkit", "tree", str(SAMPLE)],
        capture_output=True,
        text=True,
        check=True,
    )
    out = done.stdout
    assert "What is wrong (" in out
    assert "error    sop_uid_conflict:" in out
    assert "error    truncated:" in out
    # relative, and as grave as verify says
    assert "warning  not_dicom: README.md: " in out
    assert "identical" not in out.split("What is wrong")[1]  # harmless: not listed
    assert Path(SAMPLE / "README.md").exists()


def test_verify_reports_exactly_what_the_readme_lists(col: dk.Collection) -> None:
    findings = col.verify()
    # each finding names its series itself (issue 11, item 10): no join needed
    got = sorted(
        (
            r["severity"],
            r["check"],
            r["SeriesDescription"] or rel(pl.Series(r["paths"])),
        )
        for r in findings.iter_rows(named=True)
    )
    got.sort(key=str)
    assert got == sorted(
        [
            ("error", "sop_uid_conflict", "SAG PD FSE"),  # the copy kept
            (
                "error",
                "unreadable_file",
                ["PAT003_MUELLER_JUERGEN/DICOM/ST000001/SE000001/IM000021"],
            ),
            ("warning", "unreadable_file", ["README.md", "notes.txt"]),
            ("warning", "duplicate_position", "AX PD/T2 DUAL ECHO"),
            ("warning", "gantry_tilt", "Head seq 5.0 H31s tilt"),
            ("warning", "missing_slices", "Thorax 3.0 B70f"),
            ("warning", "mixed_orientation", "Thorax 2.5 B31f"),
            ("warning", "modified_resend", "Thorax 2.5 B31f"),
            ("info", "slice_thickness_vs_spacing", "AX T2 FLAIR"),
            ("info", "slice_thickness_vs_spacing", "AX T2 FLAIR"),
        ],
        key=str,
    )
    tilt = findings.filter(pl.col("check") == "gantry_tilt")["value"].item()
    assert tilt == pytest.approx(15.0, abs=0.01)
    assert col.suggest_merges()["series_numbers"].to_list() == [[5, 6]]
    after = col.split_series(key="k").apply().verify()
    # the split solves what it separates; every resend is kept (the modified one
    # moves into its instance's new series), so its finding stays
    solved = ("mixed_orientation", "duplicate_position")
    assert sorted(after["check"]) == sorted(
        c for c in findings["check"] if c not in solved
    )
