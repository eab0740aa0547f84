"""``dicomkit deidentify DIR -o OUT --key-file K [--option ...] [--mapping M]``."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import dicomkit as dk
from dicomkit.cli import main
from dicomkit.deid.engine import pseudonym
from tests.deid_data import ct_slice, delivery, files, write


def test_cli_writes_copies_and_a_mapping_apart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    delivery(tmp_path / "in", ("P1", "P2"), n=2)
    key = tmp_path / "key.txt"
    key.write_bytes(b"cli secret\n")
    status = main([
        "deidentify", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
        "--key-file", str(key), "--option", "retain_longitudinal_modified_dates",
        "--mapping", str(tmp_path / "mapping.parquet"), "--no-progress",
    ])  # fmt: skip
    out = capsys.readouterr().out
    assert status == 0, out
    assert "8 instances written" in out
    mapping = pl.read_parquet(tmp_path / "mapping.parquet")
    patients = dict(
        mapping.filter(pl.col("kind") == "PatientID").select("old", "new").iter_rows()
    )
    assert patients == {p: pseudonym(p, b"cli secret") for p in ("P1", "P2")}
    assert mapping.filter(pl.col("kind") == "date_offset_days").height == 2
    new = dk.scan(tmp_path / "out", progress=False, cache=False)
    assert len(new) == 8
    assert not [p for p in files(tmp_path / "out") if p.suffix != ".dcm"]


def test_cli_refuses_a_mapping_inside_the_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    delivery(tmp_path / "in", ("P1",), n=1)
    key = tmp_path / "key.txt"
    key.write_text("k")
    status = main([
        "deidentify", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--key-file",
        str(key), "--mapping", str(tmp_path / "out" / "m.parquet"),
    ])  # fmt: skip
    assert status == 2
    assert "re-identifies" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_reports_what_was_not_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    delivery(tmp_path / "in", ("P1",), n=1)
    us = ct_slice("P1", "1.2.3.4", "1.2.3.4.1", 0, frame="1.2.3.4.9")
    us.Modality = "US"
    write(us, tmp_path / "in" / "us.dcm")
    (tmp_path / "in" / "notes.txt").write_text("not DICOM")
    key = tmp_path / "key.txt"
    key.write_text("k")
    status = main(["deidentify", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                   "--key-file", str(key), "--no-progress"])  # fmt: skip
    out = capsys.readouterr().out
    assert status == 1
    assert "1 not written" in out
    assert "refused" in out
    assert "modality US" in out
    assert "1 files that are not instances" in out


def test_cli_missing_or_empty_key_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    delivery(tmp_path / "in", ("P1",), n=1)
    args = [
        "deidentify",
        str(tmp_path / "in"),
        "-o",
        str(tmp_path / "out"),
        "--key-file",
    ]
    assert main([*args, str(tmp_path / "nokey")]) == 2
    assert "nokey" in capsys.readouterr().err
    (tmp_path / "empty").write_bytes(b"\n")
    assert main([*args, str(tmp_path / "empty")]) == 2
    assert "key must not be empty" in capsys.readouterr().err


def test_benchmark_runs_on_a_tiny_corpus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("dicognito")
    from benchmarks import deidentify as bench

    assert (
        bench.main(["20", "--repeat", "1", "--corpus", str(tmp_path / "corpus")]) == 0
    )
    out = capsys.readouterr().out
    assert "dicognito (1 process)" in out
    assert "vs dicognito" in out
