"""Siemens MOSAIC images (issue 18 part 2): un-tiled into slices at the positions of
their CSA header, as nibabel's MosaicWrapper places them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dicomkit as dk
from tests import multiframe_factory as mf
from tests.oracles import (
    affine_of,
    corner_error,
    corners,
    nibabel_corners,
    nibabel_wrapper,
    unordered_corner_error,
)

TOL = 1e-3  # mm, at every corner
GEOMETRY: dict[str, Any] = {
    "n_slices": 14,
    "tile": (24, 20),
    "spacing": (2.0, 2.5),
    "step": 3.3,
    "iop": mf.OBLIQUE,
    "first": (-30.0, -80.0, -22.0),
}


def scan(folder: Path) -> tuple[dk.Collection, str]:
    col = dk.scan(folder, progress=False)
    return col, col.series["SeriesInstanceUID"][0]


def test_a_mosaic_is_untiled_at_the_true_positions(tmp_path: Path) -> None:
    path = mf.mosaic(tmp_path / "epi.dcm")
    col, uid = scan(tmp_path)
    vol = col.volume(uid)
    assert vol.shape == (14, 24, 20)  # was one 96 × 80 slice
    assert vol.spacing == pytest.approx((3.3, 2.0, 2.5))
    # tile k holds the value 1000 + k and lies at the k-th known position
    assert vol.array[:, 0, 0].tolist() == [1000.0 + k for k in range(14)]
    known = mf.mosaic_geometry(**GEOMETRY)["positions"]
    assert np.allclose(vol.positions, known, atol=1e-6)
    for k in range(14):
        assert affine_of(vol) @ [0, 0, k, 1] == pytest.approx([*known[k], 1], abs=1e-6)
    assert vol.metadata["mosaic_tiles"] == list(range(14))
    assert vol.sop_instance_uids == [col.instances["SOPInstanceUID"][0]] * 14
    # the oracle: nibabel's MosaicWrapper, corner by corner, and the same voxels
    wrapper = nibabel_wrapper(path)
    assert type(wrapper).__name__ == "MosaicWrapper"
    assert corner_error(corners(vol.affine, vol.shape), nibabel_corners(wrapper)) < TOL
    data = np.asarray(wrapper.get_data())  # (row, column, slice)
    assert np.array_equal(np.moveaxis(vol.array, 0, 2), data)


def test_a_descending_mosaic_is_stacked_along_the_normal(tmp_path: Path) -> None:
    path = mf.mosaic(tmp_path / "epi.dcm", descending=True)
    col, uid = scan(tmp_path)
    vol = col.volume(uid)
    # slices ascend along r × c: the last tile comes first
    assert vol.array[:, 0, 0].tolist() == [1000.0 + k for k in reversed(range(14))]
    known = mf.mosaic_geometry(**GEOMETRY, descending=True)["positions"]
    assert np.allclose(vol.positions, known[::-1], atol=1e-6)
    wrapper = nibabel_wrapper(path)
    mine = corners(vol.affine, vol.shape)
    assert unordered_corner_error(mine, nibabel_corners(wrapper)) < TOL


def test_a_series_of_mosaics_over_time_is_4d(tmp_path: Path) -> None:
    for t in (1, 2, 3):
        mf.mosaic(tmp_path / f"epi{t}.dcm", acquisition=t)
    col, uid = scan(tmp_path)
    vol = col.volume(uid)
    assert vol.shape == (3, 14, 24, 20)
    assert vol.repeat_key == "AcquisitionNumber"
    assert vol.repeat_values == [1, 2, 3]
    expected = 1000 * np.arange(1, 4)[:, None] + np.arange(14)[None, :]
    assert np.array_equal(vol.array[:, :, 5, 5], expected)


def test_verify_reports_the_mosaic_with_its_tile_count(tmp_path: Path) -> None:
    mf.mosaic(tmp_path / "epi.dcm")
    findings = dk.scan(tmp_path, progress=False).verify()
    assert findings["check"].to_list() == ["mosaic"]
    row = findings.row(0, named=True)
    assert row["severity"] == "info"
    assert row["value"] == 14
    assert "14 tiles" in row["message"]
    assert "mosaic" in set(dk.describe_checks()["check"])


def test_a_mosaic_without_its_csa_header_is_refused(tmp_path: Path) -> None:
    mf.mosaic(tmp_path / "epi.dcm", with_csa=False)
    col, uid = scan(tmp_path)
    with pytest.raises(dk.NotAVolumeError, match="no Siemens CSA image header"):
        col.volume(uid)
    findings = col.verify()
    assert findings["check"].to_list() == ["mosaic"]
    assert findings["severity"][0] == "warning"
    assert "cannot be un-tiled" in findings["message"][0]


def test_a_csa_header_without_the_mosaic_fields_is_refused(tmp_path: Path) -> None:
    path = mf.mosaic(tmp_path / "epi.dcm")
    from pydicom import dcmread

    ds = dcmread(path)
    block = ds.private_block(0x0029, "SIEMENS CSA HEADER")
    block[0x10].value = mf.csa_header({"NumberOfImagesInMosaic": ("US", [14])})
    ds.save_as(path)
    col, uid = scan(tmp_path)
    with pytest.raises(dk.NotAVolumeError, match="lacks SliceNormalVector"):
        col.volume(uid)


def test_a_tile_count_that_does_not_fit_the_image_is_refused(tmp_path: Path) -> None:
    path = mf.mosaic(tmp_path / "epi.dcm")
    from pydicom import dcmread

    ds = dcmread(path)
    block = ds.private_block(0x0029, "SIEMENS CSA HEADER")
    block[0x10].value = mf.csa_header(
        {
            "NumberOfImagesInMosaic": ("US", [10**9]),
            "SliceNormalVector": ("FD", ["0", "0", "1"]),
        }
    )
    ds.save_as(path)
    col, uid = scan(tmp_path)
    with pytest.raises(dk.NotAVolumeError, match="does not divide"):
        col.volume(uid)


def test_without_nibabel_the_error_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mf.mosaic(tmp_path / "epi.dcm")
    col, uid = scan(tmp_path)
    monkeypatch.setitem(sys.modules, "nibabel.nicom.csareader", None)
    with pytest.raises(dk.MissingExtraError, match=r"dicomkit\[nifti\]"):
        col.volume(uid)
    with pytest.raises(ImportError):
        col.volume(uid)


def test_the_explorer_shows_the_untiled_slices(tmp_path: Path) -> None:
    mf.mosaic(tmp_path / "epi.dcm")
    viewer = dk.widgets.SeriesViewer(dk.scan(tmp_path, progress=False))
    # slices numbered from 1, as people count them: 14 tiles, 1 … 14
    assert (viewer.slider.min, viewer.slider.max) == (1, 14)
    assert viewer.current is not None
    assert viewer.current["tile"] == 7
    assert "tile 8 of 14" in viewer.info.value
    import io

    from PIL import Image

    assert Image.open(io.BytesIO(viewer.image.value)).size == (20, 24)
    seen = viewer.image.value
    viewer.preset.value = "auto"
    viewer.slider.value = 1
    assert viewer.image.value != seen
    explorer = dk.scan(tmp_path, progress=False).explore()  # the explorer's viewer
    assert explorer.viewer.slider.max == 14
