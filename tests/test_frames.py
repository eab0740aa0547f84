"""Enhanced multi-frame objects: verify uses their per-frame positions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

import dicomkit as dk
from dicomkit.io.multiframe import multiframe_files, read_frame_geometry, untile_mosaic
from tests import multiframe_factory as mf
from tests.conftest import make_dataset, write_dataset


def enhanced_ct(path: Path, z: list[float]) -> Path:
    ds = make_dataset(
        SOPClassUID="1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT Image Storage
        ImagePositionPatient=None,
        ImageOrientationPatient=None,
        PixelSpacing=None,
        NumberOfFrames=len(z),
        PixelData=bytes(4 * 4 * 2 * len(z)),
    )
    orientation = Dataset()
    orientation.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    shared = Dataset()
    shared.PlaneOrientationSequence = Sequence([orientation])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    frames = []
    for value in z:
        position = Dataset()
        position.ImagePositionPatient = [0, 0, value]
        item = Dataset()
        item.PlanePositionSequence = Sequence([position])
        frames.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    return write_dataset(path, ds)


def test_per_frame_positions_are_read(tmp_path: Path) -> None:
    path = enhanced_ct(tmp_path / "mf.dcm", [0, 2, 4, 8, 10])
    got = read_frame_geometry([(str(path), "1.2.3")])
    assert got["frame"].to_list() == [1, 2, 3, 4, 5]
    assert got["ImagePositionPatient"][3].to_list() == [0, 0, 8]
    assert got["ImageOrientationPatient"][0].to_list() == [1, 0, 0, 0, 1, 0]
    assert read_frame_geometry([(str(tmp_path / "gone.dcm"), "1.2.4")]).is_empty()


def test_verify_finds_a_missing_frame(tmp_path: Path) -> None:
    enhanced_ct(tmp_path / "mf.dcm", [0, 2, 4, 8, 10])
    col = dk.scan(tmp_path, progress=False)
    assert col.instances["n_frames"].to_list() == [5]
    findings = col.verify()
    assert findings["check"].to_list() == ["missing_slices"]
    assert "frame 3" in findings["message"][0]
    regular = tmp_path / "ok"
    enhanced_ct(regular / "mf.dcm", [0, 2, 4, 6, 8])
    assert (
        dk.scan(regular, progress=False)
        .verify()
        .filter(pl.col("severity") != "info")
        .is_empty()
    )


def test_only_multiframe_files_and_mosaics_are_read(tmp_path: Path) -> None:
    enhanced_ct(tmp_path / "mf.dcm", [0, 2])
    mf.mosaic(tmp_path / "epi.dcm")
    write_dataset(tmp_path / "one.dcm", make_dataset(SOPInstanceUID="1.2.3.9"))
    col = dk.scan(tmp_path, progress=False)
    paths = sorted(Path(p).name for p, _ in multiframe_files(col.instances))
    assert paths == ["epi.dcm", "mf.dcm"]
    planes = read_frame_geometry(multiframe_files(col.instances))
    assert planes["geometry"].value_counts().sort("geometry").rows() == [
        ("functional groups", 2),
        ("mosaic", 14),
    ]
    tiles = planes.filter(pl.col("geometry") == "mosaic")
    assert tiles["tile"].to_list() == list(range(14))
    assert tiles["n_tiles"].unique().to_list() == [14]


def test_untile_mosaic_reads_the_tiles_row_by_row() -> None:
    image = np.arange(6 * 9).reshape(6, 9)  # 3 × 3 tiles of 2 × 3
    tiles = untile_mosaic(image, 7)
    assert tiles.shape == (7, 2, 3)
    assert tiles[4].tolist() == image[2:4, 3:6].tolist()
    assert tiles[6].tolist() == image[4:6, 0:3].tolist()
