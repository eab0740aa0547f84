"""4-D volumes from clean repeats, and what the affine is for irregular series, on
the shipped sample (checked against SimpleITK)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import dicomkit as dk
from dicomkit import geometry
from tests.conftest import SAMPLE, make_dataset, write_dataset
from tests.oracles import (
    affine_of,
    corner_error,
    corners,
    sitk_corners,
    sitk_sorted_series,
)

DUAL_ECHO = "1.2.840.113619.2.410.4057621.1683036310.2.3"
TILTED = "1.3.12.2.1107.5.1.4.83504.3230919104230200002"
MISSING = "1.3.12.2.1107.5.1.4.83504.3230919104230200003"
ABDOMEN = "1.3.12.2.1107.5.1.4.83504.3231107093000200002"
SAG_T1 = "1.2.840.113619.2.410.4057621.1683036310.2.4"
KNEE = "1.2.840.113619.2.410.4057621.1700583600.2.3"


@pytest.fixture(scope="module")
def col() -> dk.Collection:
    return dk.scan(SAMPLE, progress=False)


def test_the_dual_echo_series_is_4d(col: dk.Collection) -> None:
    vol = col.volume(DUAL_ECHO)  # was refused, or 40 interleaved slices
    assert vol.shape == (2, 20, 64, 64)
    assert vol.repeat_key == "EchoNumbers"
    assert vol.repeat_values == [1, 2]
    assert vol.spacing == pytest.approx((6.0, *vol.spacing[1:]))
    rows = col.instances.filter(pl.col("SeriesInstanceUID") == DUAL_ECHO)
    echo = dict(
        zip(rows["SOPInstanceUID"], rows["EchoNumbers"].list.first(), strict=True)
    )
    assert [echo[s] for s in vol.sop_instance_uids] == [1] * 20 + [2] * 20
    z = [p[2] for p in vol.positions]
    assert z[:20] == z[20:] == sorted(z[:20]) == [-40.0 + 6 * k for k in range(20)]
    assert vol.array[1].mean() < vol.array[0].mean()  # echo 2 is darker


def copied(rows: pl.DataFrame, folder: Path) -> Path:
    """The files of ``rows`` copied to ``folder``, named by InstanceNumber, so
    that SimpleITK (GDCM) sorts them itself."""
    folder.mkdir()
    for row in rows.iter_rows(named=True):
        shutil.copy(row["path"], folder / f"{row['InstanceNumber']:03d}.dcm")
    return folder


def test_each_echo_matches_simpleitk(col: dk.Collection, tmp_path: Path) -> None:
    vol = col.volume(DUAL_ECHO)
    rows = col.instances.filter(pl.col("SeriesInstanceUID") == DUAL_ECHO)
    by_number = dict(zip(rows["InstanceNumber"], rows["SOPInstanceUID"], strict=True))
    for t, number in enumerate(vol.repeat_values):
        echo = rows.filter(pl.col("EchoNumbers").list.first() == number)
        files = sitk_sorted_series(copied(echo, tmp_path / f"echo{number}"))
        theirs, size = sitk_corners(files)
        assert size == (64, 64, 20)
        assert corner_error(corners(vol.affine, vol.shape), theirs) < 1e-3, number
        # the same slice order: SimpleITK's k-th file is our slice k of echo t
        assert [by_number[int(f.stem)] for f in files] == vol.sop_instance_uids[
            t * 20 : (t + 1) * 20
        ]


@pytest.mark.parametrize("uid", [ABDOMEN, SAG_T1, KNEE])
def test_single_frame_series_match_simpleitk(
    col: dk.Collection, uid: str, tmp_path: Path
) -> None:
    vol = col.volume(uid)
    rows = col.instances.filter(pl.col("SeriesInstanceUID") == uid)
    theirs, _ = sitk_corners(sitk_sorted_series(copied(rows, tmp_path / "s")))
    assert corner_error(corners(vol.affine, vol.shape), theirs) < 1e-3


def test_a_repeat_that_is_not_clean_is_refused(tmp_path: Path) -> None:
    for k, z in enumerate([0.0, 0.0, 2.0, 4.0]):
        write_dataset(
            tmp_path / f"{k}.dcm",
            make_dataset(
                SOPInstanceUID=f"1.2.3.{k}",
                InstanceNumber=k + 1,
                ImagePositionPatient=[0.0, 0.0, z],
            ),
        )
    col = dk.scan(tmp_path, progress=False)
    uid = col.series["SeriesInstanceUID"][0]
    with pytest.raises(dk.NotAVolumeError, match="duplicate_position"):
        col.volume(uid)
    vol = col.volume(uid, allow_irregular=True)
    assert vol.shape == (4, 4, 4)
    assert vol.repeat_key is None
    assert vol.metadata["irregular"] == ["duplicate_position"]


@pytest.mark.parametrize(
    ("key", "values"),
    [
        ("TriggerTime", [0.0, 350.0]),
        ("DiffusionBValue", [0.0, 1000.0]),
        ("TemporalPositionIdentifier", [1, 2]),
        ("AcquisitionNumber", [3, 4]),
    ],
)
def test_clean_repeats_of_single_frame_files_are_4d(
    tmp_path: Path, key: str, values: list[float]
) -> None:
    """3 positions × 2 values of ``key``, files written in shuffled order."""
    cases = [(z, t) for t in range(2) for z in range(3)]
    for k, (z, t) in enumerate(reversed(cases)):
        write_dataset(
            tmp_path / f"{k}.dcm",
            make_dataset(
                SOPInstanceUID=f"1.2.3.{z}.{t}",
                InstanceNumber=k + 1,
                Modality="MR",
                ImagePositionPatient=[0.0, 0.0, 2.0 * z],
                AcquisitionNumber=1 if key != "AcquisitionNumber" else values[t],
                PixelData=np.full(16, 10 * t + z, "<i2").tobytes(),
                **{key: values[t]} if key != "AcquisitionNumber" else {},
            ),
        )
    col = dk.scan(tmp_path, progress=False)
    vol = col.volume(col.series["SeriesInstanceUID"][0])
    assert vol.shape == (2, 3, 4, 4)
    assert vol.repeat_key == key
    assert vol.repeat_values == values
    assert vol.array[:, :, 0, 0].tolist() == [
        [-1024, -1023, -1022],
        [-1014, -1013, -1012],
    ]
    assert vol.spacing[0] == pytest.approx(2.0)


def agree(vol: dk.Volume) -> None:
    """spacing and affine tell the same story (issue 18 part 3)."""
    assert vol.affine is not None
    dz, dy, dx = vol.spacing
    assert np.linalg.norm(vol.affine[:3, 0]) == pytest.approx(dx)
    assert np.linalg.norm(vol.affine[:3, 1]) == pytest.approx(dy)
    n = np.cross(vol.affine[:3, 0] / dx, vol.affine[:3, 1] / dy)
    assert float(vol.affine[:3, 2] @ n) == pytest.approx(dz)


def test_allow_irregular_spacing_and_affine_agree(col: dk.Collection) -> None:
    vol = col.volume(MISSING, allow_irregular=True)  # 23 slices, one gap
    agree(vol)
    assert vol.spacing[0] == pytest.approx(3.0)  # the median step, not 69/22
    assert vol.metadata["irregular"] == ["missing_slices"]
    # the regular grid anchored at the first slice: true before the gap, and the
    # true positions (after it, one step further) stay in vol.positions
    for k in range(12):
        assert affine_of(vol) @ [0, 0, k, 1] == pytest.approx([*vol.positions[k], 1])
    assert vol.positions[12][2] - (affine_of(vol) @ [0, 0, 12, 1])[2] == pytest.approx(
        3.0
    )


@pytest.mark.parametrize("uid", [TILTED, ABDOMEN, SAG_T1, KNEE, DUAL_ECHO])
def test_spacing_and_affine_agree_for_regular_series(
    col: dk.Collection, uid: str
) -> None:
    agree(col.volume(uid))


def test_tilted_series_keeps_the_shear(col: dk.Collection) -> None:
    vol = col.volume(TILTED)
    for k in range(30):
        assert affine_of(vol) @ [0, 0, k, 1] == pytest.approx([*vol.positions[k], 1])
    n = geometry.normal(
        col.instances.filter(pl.col("SeriesInstanceUID") == TILTED)[
            "ImageOrientationPatient"
        ][0].to_list()
    )
    assert np.linalg.norm(affine_of(vol)[:3, 2]) == pytest.approx(5.0)
    assert float(affine_of(vol)[:3, 2] @ n) == pytest.approx(vol.spacing[0])


def test_volume_viewer_and_verify_share_one_order(col: dk.Collection) -> None:
    from dicomkit.volume import viewing_order

    rows = col.instances.filter(pl.col("SeriesInstanceUID") == DUAL_ECHO)
    shuffled = rows.sample(fraction=1.0, shuffle=True, seed=7)
    order = [r["SOPInstanceUID"] for r in viewing_order(shuffled)]
    assert order == [r["SOPInstanceUID"] for r in viewing_order(rows)]
    # along the normal, ties (the two echoes) by InstanceNumber
    numbers = dict(zip(rows["SOPInstanceUID"], rows["InstanceNumber"], strict=True))
    assert [numbers[s] for s in order] == list(range(1, 41))
    viewer = dk.widgets.SeriesViewer(col, DUAL_ECHO)
    shown = []
    for k in range(viewer.slider.min, viewer.slider.max + 1):  # numbered from 1
        viewer.slider.value = k
        assert viewer.current is not None
        shown.append(viewer.current["SOPInstanceUID"])
    assert shown == order
