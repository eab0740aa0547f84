"""Multi-frame volumes (issue 13's four real-file cases, rebuilt as generated files),
checked against SimpleITK and nibabel at all eight corners within 1e-3 mm."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

import dicomkit as dk
from tests import multiframe_factory as mf
from tests.conftest import UID_ROOT, make_dataset, write_dataset
from tests.oracles import (
    affine_of,
    corner_error,
    corners,
    nibabel_corners,
    nibabel_wrapper,
    sitk_corners,
    unordered_corner_error,
)

TOL = 1e-3  # mm, at every corner


def volume_of(folder: Path, **kwargs: bool) -> dk.Volume:
    col = dk.scan(folder, progress=False)
    return col.volume(col.series["SeriesInstanceUID"][0], **kwargs)


def test_enhanced_ct_takes_pixel_spacing_from_the_functional_groups(
    tmp_path: Path,
) -> None:
    path = mf.enhanced_ct(tmp_path / "ct.dcm")  # 2 frames, 512 × 512, 0.389 mm
    vol = volume_of(tmp_path)
    assert vol.shape == (2, 512, 512)
    assert vol.spacing == pytest.approx((0.625, 0.389, 0.389))  # was 1 × 1
    theirs, size = sitk_corners(path)
    assert size == (512, 512, 2)
    assert corner_error(corners(vol.affine, vol.shape), theirs) < TOL
    assert vol.metadata["geometry"] == "functional groups"
    assert vol.frame_numbers == [1, 2]


def test_enhanced_ct_is_in_hounsfield_units(tmp_path: Path) -> None:
    stored = np.full((2, 4, 6), 1064, dtype=np.int16)
    stored[1] = 24
    mf.enhanced_ct(tmp_path / "ct.dcm", shape=(4, 6), stored=stored)
    vol = volume_of(tmp_path)
    assert vol.metadata["units"] == "HU"
    assert np.all(vol.array[0] == 40)
    assert np.all(vol.array[1] == -1000)


def test_per_frame_rescale_is_applied_frame_by_frame(tmp_path: Path) -> None:
    stored = np.full((2, 4, 6), 1000, dtype=np.int16)
    mf.enhanced_ct(
        tmp_path / "ct.dcm", shape=(4, 6), stored=stored, intercepts=[-1024, -1000]
    )
    vol = volume_of(tmp_path)
    assert vol.array[:, 0, 0].tolist() == [-24.0, 0.0]


def test_rtdose_grid_frame_offsets(tmp_path: Path) -> None:
    path = mf.rtdose(tmp_path / "dose.dcm")  # 98 frames, 3 mm apart
    vol = volume_of(tmp_path)
    assert vol.shape == (98, 40, 56)
    assert vol.spacing == pytest.approx((3.0, 2.5, 2.0))  # was 1 mm between frames
    theirs, size = sitk_corners(path)
    assert size == (56, 40, 98)
    assert corner_error(corners(vol.affine, vol.shape), theirs) < TOL
    assert vol.positions[-1] == pytest.approx([-140.0, -95.5, -150.0 + 97 * 3])
    # DoseGridScaling applied: stored values × 0.0001 Gy
    stored = (np.arange(98 * 40 * 56) % 60000).reshape(98, 40, 56)
    assert np.allclose(vol.array, stored * 0.0001, atol=1e-6)
    assert vol.metadata["units"] == "GY"


def test_rtdose_with_absolute_offsets(tmp_path: Path) -> None:
    """Offsets not starting at 0 are coordinates along the normal (PS3.3 C.8.8.3.2)."""
    path = mf.rtdose(tmp_path / "dose.dcm", frames=4, step=2.0)
    from pydicom import dcmread

    ds = dcmread(path)
    ds.GridFrameOffsetVector = [-150.0, -148.0, -146.0, -144.0]
    ds.save_as(path)
    vol = volume_of(tmp_path)
    assert [p[2] for p in vol.positions] == pytest.approx([-150, -148, -146, -144])


def test_segmentation_spacing(tmp_path: Path) -> None:
    path = mf.segmentation(tmp_path / "seg.dcm")  # 3 frames, oblique, 0.81 mm
    vol = volume_of(tmp_path)
    assert vol.shape == (3, 48, 40)
    assert vol.spacing == pytest.approx((0.81, 0.81, 0.81))  # was 1 × 1 × 1
    theirs, _ = sitk_corners(path)
    assert corner_error(corners(vol.affine, vol.shape), theirs) < TOL
    assert set(np.unique(vol.array)) == {0.0, 1.0}


def test_enhanced_mr_in_two_phases_is_4d(tmp_path: Path) -> None:
    """112 frames stored position by position: 56 positions × 2 phases."""
    mf.enhanced_mr(tmp_path / "mr.dcm")
    vol = volume_of(tmp_path)
    assert vol.shape == (2, 56, 24, 20)  # was refused
    assert vol.repeat_key == "TemporalPositionIndex"
    assert vol.repeat_values == [1, 2]
    # every frame landed in its place: its stored value is 100 × phase + position
    expected = 100 * np.arange(2)[:, None] + np.arange(56)[None, :]
    assert np.array_equal(vol.array[:, :, 0, 0], expected)
    assert len(vol.sop_instance_uids) == len(vol.frame_numbers) == 112
    assert vol.frame_numbers[:3] == [1, 3, 5]  # t-major: phase 1 is every other frame
    # the affine's slice k is the known position k (origin + k · 2.2 mm · normal)
    n = mf.normal(mf.OBLIQUE)
    for k in (0, 29, 55):
        assert affine_of(vol) @ [0, 0, k, 1] == pytest.approx(
            [*(np.array([-90.0, -110.0, 40.0]) + k * 2.2 * n), 1], abs=1e-6
        )


def test_a_dimension_index_alone_is_a_repeat_axis(tmp_path: Path) -> None:
    """No TemporalPositionIndex, no trigger time: the third DimensionIndexValues,
    named by its DimensionIndexPointer, tells the phases apart."""
    mf.enhanced_mr(tmp_path / "mr.dcm", positions=5, dimension_only=True)
    vol = volume_of(tmp_path)
    assert vol.shape == (2, 5, 24, 20)
    assert vol.repeat_key == "TemporalPositionIndex"  # the pointer's keyword
    expected = 100 * np.arange(2)[:, None] + np.arange(5)[None, :]
    assert np.array_equal(vol.array[:, :, 0, 0], expected)
    findings = dk.scan(tmp_path, progress=False).verify()  # verify agrees
    assert findings["severity"].to_list() == ["warning"]
    assert "told apart by TemporalPositionIndex" in findings["message"][0]


def test_enhanced_mr_matches_nibabel(tmp_path: Path) -> None:
    """nibabel's MultiframeWrapper (its frame sort needs phase-major storage; it
    stacks the slices in reverse): the same box, the same data per phase."""
    path = mf.enhanced_mr(tmp_path / "mr.dcm", interleaved=False)
    vol = volume_of(tmp_path)
    wrapper = nibabel_wrapper(path)
    assert wrapper.image_shape == (24, 20, 56, 2)
    error = unordered_corner_error(
        corners(vol.affine, vol.shape), nibabel_corners(wrapper)
    )
    assert error < TOL
    theirs = np.asarray(wrapper.get_data())  # (row, column, slice, phase)
    ours = np.moveaxis(vol.array, (0, 1, 2, 3), (3, 2, 0, 1))
    assert np.array_equal(ours, theirs[:, :, ::-1, :])


def test_real_world_value_mapping_only_is_noted_not_applied(tmp_path: Path) -> None:
    mf.enhanced_mr(tmp_path / "mr.dcm", positions=3, real_world_only=True)
    vol = volume_of(tmp_path)
    note = vol.metadata["real_world_value_mapping"]
    assert "RealWorldValueMapping" in note
    assert "not applied" in note
    assert "stored values" in note
    assert vol.array[1, 2, 0, 0] == 102  # the stored value, not 0.5 × 102


def test_classic_multiframe_with_spacing_between_slices(tmp_path: Path) -> None:
    """An NM reconstruction: one position in the DetectorInformationSequence,
    frames along the normal at SpacingBetweenSlices."""
    detector = Dataset()
    detector.ImagePositionPatient = [-100.0, -100.0, 50.0]
    detector.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]  # coronal
    ds = make_dataset(
        SOPClassUID="1.2.840.10008.5.1.4.1.1.20",
        Modality="NM",
        ImageType=["ORIGINAL", "PRIMARY", "RECON TOMO", "EMISSION"],
        ImagePositionPatient=None,
        ImageOrientationPatient=None,
        DetectorInformationSequence=Sequence([detector]),
        PixelSpacing=[4.0, 4.0],
        SpacingBetweenSlices=4.0,
        RescaleSlope=None,
        RescaleIntercept=None,
        NumberOfFrames=5,
        PixelData=np.zeros((5, 4, 4), "<i2").tobytes(),
    )
    path = write_dataset(tmp_path / "nm.dcm", ds)
    vol = volume_of(tmp_path)
    assert vol.spacing == pytest.approx((4.0, 4.0, 4.0))
    assert [p[1] for p in vol.positions] == pytest.approx([-100, -96, -92, -88, -84])
    theirs, _ = sitk_corners(path)
    assert corner_error(corners(vol.affine, vol.shape), theirs) < TOL


def test_no_patient_geometry_gives_no_affine(tmp_path: Path) -> None:
    """A multi-frame ultrasound cine: frames, but no place in the patient."""
    write_dataset(
        tmp_path / "us.dcm",
        make_dataset(
            SOPClassUID="1.2.840.10008.5.1.4.1.1.3.1",
            Modality="US",
            ImagePositionPatient=None,
            ImageOrientationPatient=None,
            PixelSpacing=None,
            NumberOfFrames=3,
            PixelData=np.zeros((3, 4, 4), "<i2").tobytes(),
        ),
    )
    vol = volume_of(tmp_path)
    assert vol.shape == (3, 4, 4)
    assert vol.affine is None
    assert "no affine" in vol.metadata["no_geometry"]


def test_a_secondary_capture_has_no_affine(tmp_path: Path) -> None:
    write_dataset(
        tmp_path / "sc.dcm",
        make_dataset(
            SOPClassUID="1.2.840.10008.5.1.4.1.1.7",
            Modality="OT",
            ImagePositionPatient=None,
            ImageOrientationPatient=None,
            PixelSpacing=None,
        ),
    )
    vol = volume_of(tmp_path)
    assert vol.shape == (1, 4, 4)
    assert vol.affine is None
    assert "no_geometry" in vol.metadata


def test_enhanced_ct_without_positions_is_refused(tmp_path: Path) -> None:
    path = mf.enhanced_ct(tmp_path / "ct.dcm", shape=(4, 6))
    from pydicom import dcmread

    ds = dcmread(path)
    for item in ds.PerFrameFunctionalGroupsSequence:
        del item.PlanePositionSequence
    ds.save_as(path)
    with pytest.raises(dk.NotAVolumeError, match="missing_geometry"):
        volume_of(tmp_path)


def test_frames_of_different_pixel_spacing_are_refused(tmp_path: Path) -> None:
    path = mf.enhanced_ct(tmp_path / "ct.dcm", shape=(4, 6))
    from pydicom import dcmread

    ds = dcmread(path)
    measures = Dataset()
    measures.PixelSpacing = [0.5, 0.5]
    ds.PerFrameFunctionalGroupsSequence[1].PixelMeasuresSequence = Sequence([measures])
    ds.save_as(path)
    with pytest.raises(dk.NotAVolumeError, match="different PixelSpacing"):
        volume_of(tmp_path)
    assert volume_of(tmp_path, allow_irregular=True).spacing[1:] == (0.389, 0.389)


def test_verify_reads_enhanced_phases_as_a_clean_repeat(tmp_path: Path) -> None:
    mf.enhanced_mr(tmp_path / "mr.dcm", positions=4)
    findings = dk.scan(tmp_path, progress=False).verify()
    assert findings["check"].to_list() == ["duplicate_position"]
    assert findings["severity"][0] == "warning"
    assert "TemporalPositionIndex" in findings["message"][0]


def test_uids_in_the_factory_are_valid() -> None:
    assert dk.uid.is_valid(UID_ROOT + "54.1")
