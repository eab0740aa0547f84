"""The NIfTI benchmark keeps working (a tiny run, not a measurement)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from benchmarks import nifti as bench


def test_benchmark_runs_on_a_tiny_series(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert bench.main(["--slices", "3", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "3-slice 512×512 CT" in out
    assert ".nii.gz" in out
    assert "col.volume()" in out
    assert "dcm2niix -z y -1" in out  # dcm2niix at its fastest gzip level
    assert "write v.nii.gz" in out  # the stages
    assert "-z y compresses with" in out
    assert (tmp_path / f"dicomkit-nifti-bench-3-v{bench.VERSION}" / "complete").exists()
    assert (
        len(
            list(
                (
                    tmp_path / f"dicomkit-nifti-bench-3-v{bench.VERSION}" / "files"
                ).iterdir()
            )
        )
        == 3
    )


def test_generated_series_is_a_regular_ct(tmp_path: Path) -> None:
    import dicomkit as dk

    bench.write_series(tmp_path / "files", 4)
    col = dk.scan(tmp_path / "files", progress=False)
    assert (
        col.verify()
        .filter(pytest.importorskip("polars").col("severity") != "info")
        .is_empty()
    )
    vol = col.volume(str(col.series["SeriesInstanceUID"][0]))
    assert vol.shape == (4, 512, 512)
    assert vol.spacing[0] == pytest.approx(1.25)
