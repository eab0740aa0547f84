"""The scan benchmark and its corpus keep working (a tiny run, not a measurement)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import dcmread

import dicomkit as dk
from benchmarks import scan as bench
from dicomkit.corpus import (
    corpus_path,
    header_bytes,
    is_implicit,
    write_corpus,
    write_files,
)


def test_corpus_is_deterministic_in_any_chunking(tmp_path: Path) -> None:
    whole = write_corpus(tmp_path / "whole", 120)
    write_files(tmp_path / "chunks", range(57, 120))
    write_files(tmp_path / "chunks", range(57))
    for i, path in enumerate(whole):
        assert corpus_path(tmp_path / "chunks", i).read_bytes() == path.read_bytes()


def test_corpus_headers_look_like_the_issue_says(tmp_path: Path) -> None:
    paths = write_corpus(tmp_path, 100)
    sizes = [header_bytes(p.read_bytes()) for p in paths]
    assert min(sizes) >= 3600
    assert max(sizes) <= 5200
    assert sum(is_implicit(i) for i in range(100)) == 10
    ds = dcmread(paths[1], stop_before_pixels=True)
    assert ds["RequestAttributesSequence"].is_undefined_length
    item = ds.RequestAttributesSequence[0]
    assert item.ScheduledProtocolCodeSequence[0].CodeValue
    assert len(ds.SourceImageSequence) == 2
    assert ds.private_block(0x0043, "GEMS_PARM_01")[0x08].value == "PARM_VERSION_17"
    assert dcmread(paths[0]).file_meta.TransferSyntaxUID == "1.2.840.10008.1.2"


def test_corpus_is_reused(tmp_path: Path) -> None:
    first = bench.ensure_corpus(tmp_path, 30, jobs=1)
    assert not first.reused
    again = bench.ensure_corpus(tmp_path, 30, jobs=1)
    assert again.reused
    assert again.paths == first.paths
    other = bench.ensure_corpus(tmp_path, 40, jobs=1)  # another size: regenerated
    assert not other.reused
    assert len(list(other.files.rglob("IM*"))) == 40


def test_corpus_never_deletes_a_folder_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "mine.dcm").write_bytes(b"x")
    with pytest.raises(SystemExit, match="not a benchmark corpus"):
        bench.ensure_corpus(tmp_path, 10, jobs=1)
    assert (tmp_path / "files" / "mine.dcm").exists()


def test_benchmark_runs_on_a_tiny_corpus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # with python-gdcm if installed (the bench extra), without it otherwise
    bench.main(["60", "--repeat", "1", "--corpus", str(tmp_path / "corpus")])
    out = capsys.readouterr().out
    assert "60 files" in out
    assert "header bytes before PixelData" in out
    for name in (bench.PYDICOM, bench.FIRST, bench.RESCAN, bench.STAT, bench.PROGRESS):
        assert name in out
    if bench.gdcm_available():
        assert "speed: first scan / gdcm" in out
    else:
        assert "gdcm: not installed (pip install python-gdcm)" in out
    assert "table build, all rows at once" in out
    assert "time to first progress update" in out
    assert "files read" not in out  # every file read, none an error


def test_large_index_benchmark_runs_on_a_small_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks import large_index

    results = large_index.main(["20000", "--dir", str(tmp_path / "index")])
    out = capsys.readouterr().out
    assert "20,000 rows" in out
    assert "target (series view < 30 s and < 4 GB)" in out
    # 100 instances per series; 0.1% resends and 0.5% errors are not instances
    assert results["series"]["rows"] == 200
    assert results["floor"]["rows"] == 20000 - 20 - 100
    series = dk.scan_parquet(tmp_path / "index").series.collect()
    assert series["n_instances"].sum() == results["floor"]["rows"]
    assert series["varying"].list.len().max() == 0  # the generator is consistent
