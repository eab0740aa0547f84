"""dicomkit's NIfTI files against two independent converters: dcm2niix and SimpleITK.

Both run on the same DICOM files as dicomkit: the generated series of
:mod:`tests.series_factory` (axial, sagittal, coronal, oblique, tilted, reversed
file order, a gap), the generated multi-frame objects of
:mod:`tests.multiframe_factory` (enhanced CT, enhanced MR of 56 positions × 2
phases as 4-D, SEG, RT Dose; against dcm2niix) and ``data/sample/``. Wherever both make the same volume,
every voxel of dicomkit's file must map to a voxel of the other's by an exact
permutation/flip of axes (the tools store rows in different orders), the eight
corners must be at the same place within 1e-3 mm, and the voxel values equal.
Every case where they do not make the same volume is in an expected table below,
with the reason, and the test checks that the reason is what happens (so the
table cannot go stale): a new disagreement fails, and so does a listed one that
went away.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import numpy.typing as npt
import polars as pl
import pytest

import dicomkit as dk
from dicomkit import nifti
from tests import multiframe_factory as mf
from tests.conftest import SAMPLE
from tests.series_factory import SPECS, write_series

sitk = pytest.importorskip("SimpleITK")

TOL_MM = 1e-3
DCM2NIIX = shutil.which("dcm2niix") or str(Path(sys.executable).parent / "dcm2niix")

#: Why dicomkit and another converter do not make the same volume.
EXPLANATIONS = {
    "same": "the same voxels at the same places",
    "tilt_dcm2niix": (
        "gantry tilt: dcm2niix's slice axis follows the table, as the positions do, "
        "but is as long as the spacing along the normal (step × cos θ), so slice k "
        "is k × step × (1 − cos θ) short of its position (the sample's head CT: 4.9 "
        "mm at the last slice); for signed data it adds a resliced '_Tilt' copy. "
        "dicomkit keeps the true, sheared geometry (tilt='shear')"
    ),
    "tilt_simpleitk": (
        "gantry tilt: SimpleITK (an ITK image cannot be sheared) puts the slice axis "
        "along the normal with the full table step as spacing, so slice k is "
        "k × step × 2 sin(θ/2) from its position"
    ),
    "gap_dcm2niix": (
        "a missing slice: dcm2niix stacks the slices it has at the regular spacing, "
        "so every slice after the gap is one step off (it warns; for signed data it "
        "adds an interpolated '_Eq' copy). dicomkit refuses, or with "
        "allow_gaps=True leaves an empty NaN plane where the image is missing"
    ),
    "gap_simpleitk": (
        "a missing slice: SimpleITK spreads the slices it has evenly from the first "
        "to the last (it only warns), so the slices between are misplaced"
    ),
    "gap_interpolated": (
        "a missing slice, dcm2niix's '_Eq' copy: the same grid as dicomkit's "
        "allow_gaps=True file, but the missing plane is interpolated by dcm2niix and "
        "NaN (no image) in dicomkit's"
    ),
    "one_stack": (
        "SimpleITK stacks every file of a series in a folder as one image (a localizer "
        "with its axials, two echoes at the same positions) at one spacing; dicomkit "
        "and dcm2niix split them, dicomkit by the split plan of col.split_series()"
    ),
    "uid_conflict": (
        "two files of two patients carry one SOPInstanceUID: dicomkit keeps the "
        "newer copy (patient C's knee) as the instance, so patient B's SAG T1 has "
        "19 slices; dcm2niix stacks both files (20): dicomkit's 19 planes are 19 "
        "of dcm2niix's 20"
    ),
    "rtdose_dcm2niix": (
        "RT Dose: dcm2niix converts the grid but ignores GridFrameOffsetVector (its "
        "frames are 1 mm apart, not 3 mm: the last one 97 × 2 = 194 mm short) and "
        "writes the stored integers without DoseGridScaling (scl_slope 1: its voxels "
        "are dicomkit's Gy / DoseGridScaling). With its slice axis stretched to the "
        "offsets and its values scaled, it is dicomkit's file: same corners, same "
        "voxels"
    ),
    "truncated_drops_series": (
        "one file of the CT abdomen is truncated: dcm2niix writes nothing for the "
        "whole series; dicomkit lists the file in col.errors and exports the 20 good "
        "slices, which dcm2niix converts identically once given only those"
    ),
}

#: Generated series → (dcm2niix verdict, SimpleITK verdict).
GENERATED_EXPECTED = {
    "axial": ("same", "same"),
    "sagittal": ("same", "same"),
    "coronal": ("same", "same"),
    "oblique": ("same", "same"),
    "reversed": ("same", "same"),
    "tilted": ("tilt_dcm2niix", "tilt_simpleitk"),
    "gap": ("gap_dcm2niix", "gap_simpleitk"),
}

#: Sample series (SeriesDescription, dicomkit's split group) → (dcm2niix file
#: suffix after the SeriesInstanceUID, verdict).
SAMPLE_EXPECTED: dict[tuple[str, int | None], tuple[str | None, str]] = {
    ("Thorax 2.5 B31f", 0): ("_i00002", "same"),  # the 48 axials
    ("Thorax 2.5 B31f", 1): ("_i00001", "same"),  # the localizer, split off by both
    ("Head seq 5.0 H31s tilt", None): ("", "tilt_dcm2niix"),
    ("Thorax 3.0 B70f", None): ("", "gap_dcm2niix"),
    ("AX PD/T2 DUAL ECHO", 0): ("_e1", "same"),  # both split the echoes
    ("AX PD/T2 DUAL ECHO", 1): ("_e2", "same"),
    ("SAG T1 SE", None): ("", "uid_conflict"),
    ("AX T2 FLAIR", None): ("", "same"),  # series 5 and 6, each on its own
    ("Abdomen 5.0 B30f", None): (None, "truncated_drops_series"),
    ("SAG PD FSE", None): ("", "same"),
}


# -- comparing two NIfTI files voxel by voxel ------------------------------------------


@dataclass(frozen=True)
class Match:
    """How dicomkit's grid sits in another tool's grid."""

    same_shape: bool
    embedded: bool  # every voxel of ours is exactly a voxel of theirs
    corner_mm: float  # the largest distance between our 8 corners and their voxels
    values_equal: bool
    worst_mm: float  # the largest distance between a corner of ours and theirs


def load(path: Path | str) -> nib.Nifti1Image:
    return nib.Nifti1Image.from_filename(path)


def compare(ours: nib.Nifti1Image, theirs: nib.Nifti1Image) -> Match:
    a_ours, a_theirs = ours.affine, theirs.affine
    shape_o, shape_t = ours.shape[:3], theirs.shape[:3]
    corners_o = nifti.corners(a_ours, shape_o)
    corners_t = nifti.corners(a_theirs, shape_t)
    # each of our corners: where it falls in their voxel grid
    inv = np.linalg.inv(a_theirs)
    ijk = (inv @ np.c_[corners_o, np.ones(8)].T).T[:, :3]
    nearest = np.rint(ijk)
    back = (a_theirs @ np.c_[nearest, np.ones(8)].T).T[:, :3]
    corner_mm = float(np.linalg.norm(back - corners_o, axis=1).max())
    inside = bool(np.all(nearest >= 0) and np.all(nearest <= np.asarray(shape_t) - 1))
    m = inv @ a_ours  # our voxel → their voxel: a signed permutation + offset?
    permutation = bool(
        np.allclose(m[:3], np.rint(m[:3]), atol=1e-4)
        and abs(round(float(np.linalg.det(m[:3, :3])))) == 1
    )
    embedded = corner_mm < TOL_MM and inside and permutation
    values_equal = False
    if embedded:
        grid = np.indices(shape_o).reshape(3, -1)
        theirs_idx = np.rint(m[:3, :3] @ grid + m[:3, 3:4]).astype(int)
        ours_v = np.asarray(ours.get_fdata())[tuple(grid)]
        theirs_v = np.asarray(theirs.get_fdata())[tuple(theirs_idx)]
        both = ~np.isnan(ours_v)
        values_equal = bool(np.array_equal(ours_v[both], theirs_v[both]))
    distance = np.linalg.norm(corners_o[:, None, :] - corners_t[None, :, :], axis=2)
    worst = float(np.max(np.min(distance, axis=1)))
    return Match(shape_o == shape_t, embedded, corner_mm, values_equal, worst)


def slice_step(image: nib.Nifti1Image) -> npt.NDArray[np.float64]:
    step: npt.NDArray[np.float64] = image.affine[:3, 2]
    return step


def assert_verdict(
    verdict: str,
    match: Match,
    what: str,
    ours: nib.Nifti1Image,
    theirs: nib.Nifti1Image,
) -> None:
    """``match`` (of ``ours`` in ``theirs``) is what ``verdict`` explains."""
    assert verdict in EXPLANATIONS, what
    n_ours, n_theirs = ours.shape[2], theirs.shape[2]
    if verdict in ("same", "gap_interpolated"):
        assert match.same_shape, (what, match)
        assert match.embedded, (what, match)
        assert match.worst_mm < TOL_MM, (what, match)  # all eight corners
        assert match.values_equal, (what, match)  # where dicomkit has an image
    elif verdict in ("tilt_dcm2niix", "tilt_simpleitk"):
        assert not match.embedded, (what, match)
        step = slice_step(ours)  # the table step (LPS and RAS alike in length)
        theta = np.radians(nifti.tilt_degrees(ours.affine))
        length = float(np.linalg.norm(step)) * (n_ours - 1)
        if verdict == "tilt_dcm2niix":
            expected = length * (1 - np.cos(theta))
            cosine = np.dot(step, slice_step(theirs)) / (
                np.linalg.norm(step) * np.linalg.norm(slice_step(theirs))
            )
            assert cosine == pytest.approx(1, abs=1e-6), what  # along the table
        else:
            expected = length * 2 * np.sin(theta / 2)
            assert nifti.tilt_degrees(theirs.affine) < 0.01, what  # along the normal
        assert theta > np.radians(5), what
        assert match.worst_mm == pytest.approx(expected, abs=0.01), (what, match)
    elif verdict == "gap_dcm2niix":
        assert not match.embedded, (what, match)
        assert n_theirs < n_ours, (what, match)  # the slices it has
        spacing = np.linalg.norm(slice_step(ours))
        assert np.linalg.norm(slice_step(theirs)) == pytest.approx(spacing, abs=1e-3)
        assert match.worst_mm == pytest.approx(spacing * (n_ours - n_theirs), abs=1e-3)
    elif verdict == "gap_simpleitk":
        assert not match.embedded, (what, match)
        assert match.worst_mm < TOL_MM, (what, match)  # the ends agree, not between
        span = np.linalg.norm(slice_step(ours)) * (n_ours - 1)
        spread = span / (n_theirs - 1)
        assert np.linalg.norm(slice_step(theirs)) == pytest.approx(spread, abs=1e-3)
    elif verdict == "rtdose_dcm2niix":
        assert not match.embedded, (what, match)
        offset_mm = float(np.linalg.norm(slice_step(ours)))
        assert offset_mm == pytest.approx(3.0), what  # GridFrameOffsetVector
        assert np.linalg.norm(slice_step(theirs)) == pytest.approx(1.0), what
        assert match.worst_mm == pytest.approx((n_ours - 1) * (offset_mm - 1), abs=1e-3)
        fixed = theirs.affine.copy()
        fixed[:3, 2] *= offset_mm / np.linalg.norm(fixed[:3, 2])
        scaled = np.asarray(theirs.dataobj).astype(np.float64) * RTDOSE_SCALING
        repaired = nib.Nifti1Image(scaled.astype(np.float32), fixed)
        again = compare(ours, repaired)
        assert again.embedded, (what, again)
        assert again.worst_mm < TOL_MM, (what, again)  # all eight corners
        assert again.values_equal, (what, again)
    elif verdict == "uid_conflict":
        assert n_theirs == n_ours + 1, (what, match)
        assert match.embedded, (what, match)  # ours is a sub-block of theirs
        assert match.values_equal, (what, match)
    else:  # pragma: no cover - a verdict without a check
        pytest.fail(f"no check for verdict {verdict}")


# -- running the other tools ---------------------------------------------------------


def run_dcm2niix(source: Path, out: Path) -> dict[str, Path]:
    """dcm2niix on ``source``: its files by name (``<SeriesUID><suffix>``)."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [DCM2NIIX, "-z", "n", "-b", "y", "-ba", "y", "-f", "%j", "-o", str(out), str(source)],
        check=False,  # it exits 1 when a file of the folder is not converted
        capture_output=True,
        timeout=120,
    )  # fmt: skip
    return {p.name[: -len(".nii")]: p for p in out.glob("*.nii")}


def run_simpleitk(folder: Path) -> nib.Nifti1Image:
    """SimpleITK's (GDCM's) reading of the one series in ``folder``, as NIfTI."""
    return run_simpleitk_files(
        sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder))
    )


def run_simpleitk_files(files: list[str]) -> nib.Nifti1Image:
    """SimpleITK's reading of ``files`` (in GDCM's order) as one image, as NIfTI."""
    sitk.ProcessObject.SetGlobalWarningDisplay(False)  # its spacing warning
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    image = reader.Execute()
    lps = np.eye(4)
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    lps[:3, :3] = direction * np.asarray(image.GetSpacing())
    lps[:3, 3] = image.GetOrigin()
    array: npt.NDArray[np.float64] = sitk.GetArrayFromImage(image).astype(np.float64)
    return nib.Nifti1Image(nifti.nifti_array(array), nifti.ras_affine(lps))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    """The generated series, dcm2niix's conversion and dicomkit's (allow_gaps)."""
    top = tmp_path_factory.mktemp("oracles")
    for n, (name, spec) in enumerate(SPECS.items()):
        write_series(top / "src" / name, spec, number=10 + n)
    col = dk.scan(top / "src", progress=False)
    manifest = col.to_nifti(top / "dicomkit", allow_gaps=True, compress=False)
    ours = {
        Path(row["path"]).stem.split("_", 1)[1]: Path(row["path"])
        for row in manifest.iter_rows(named=True)
    }
    return top, ours


@pytest.fixture(scope="module")
def generated_dcm2niix(generated: tuple[Path, dict[str, Path]]) -> dict[str, Path]:
    top, _ = generated
    col = dk.scan(top / "src", progress=False)
    files = run_dcm2niix(top / "src", top / "dcm2niix")
    by_name = {}
    for row in col.series.iter_rows(named=True):
        by_name[row["SeriesDescription"]] = files[row["SeriesInstanceUID"]]
    return by_name


# -- generated series ----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(GENERATED_EXPECTED))
def test_generated_series_against_dcm2niix(generated, generated_dcm2niix, name):
    _, ours = generated
    verdict = GENERATED_EXPECTED[name][0]
    mine, theirs = load(ours[name]), load(generated_dcm2niix[name])
    what = f"{name} vs dcm2niix: {EXPLANATIONS[verdict]}"
    assert_verdict(verdict, compare(mine, theirs), what, mine, theirs)


@pytest.mark.parametrize("name", sorted(GENERATED_EXPECTED))
def test_generated_series_against_simpleitk(generated, name):
    top, ours = generated
    verdict = GENERATED_EXPECTED[name][1]
    mine, theirs = load(ours[name]), run_simpleitk(top / "src" / name)
    what = f"{name} vs SimpleITK: {EXPLANATIONS[verdict]}"
    assert_verdict(verdict, compare(mine, theirs), what, mine, theirs)


def test_expected_tables_are_complete():
    assert set(GENERATED_EXPECTED) == set(SPECS)
    for verdicts in GENERATED_EXPECTED.values():
        assert set(verdicts) <= set(EXPLANATIONS)
    assert {v for _, v in SAMPLE_EXPECTED.values()} <= set(EXPLANATIONS)
    assert {v for _, _, v in MULTIFRAME_EXPECTED.values()} <= set(EXPLANATIONS)
    assert set(SITK_SAMPLE_EXPECTED.values()) <= set(EXPLANATIONS)


# -- generated multi-frame objects: enhanced CT/MR, SEG, RT Dose ----------------------

RTDOSE_SCALING = 0.0001

#: One file each (tests.multiframe_factory) → (its builder, the shape of dicomkit's
#: NIfTI, dcm2niix's verdict). Geometry only in functional groups (enhanced, SEG)
#: or in GridFrameOffsetVector (RT Dose).
MULTIFRAME_EXPECTED: dict[str, tuple[Any, tuple[int, ...], str]] = {
    # 2 frames of 512×512, PixelSpacing only in the shared PixelMeasuresSequence
    "enhanced_ct": (mf.enhanced_ct, (512, 512, 2), "same"),
    # HU per frame (PixelValueTransformationSequence), 3 frames
    "enhanced_ct_per_frame_hu": (
        lambda path: mf.enhanced_ct(
            path,
            z=(-120.0, -119.375, -118.75),
            shape=(64, 48),
            intercepts=(-1024, -1000, -1024),
        ),
        (48, 64, 3),
        "same",
    ),
    # 112 frames = 56 oblique positions × 2 phases, stored interleaved: 4-D for both
    "enhanced_mr_56x2": (mf.enhanced_mr, (20, 24, 56, 2), "same"),
    # 3 binary frames on an oblique plane, 0.81 mm
    "segmentation": (mf.segmentation, (40, 48, 3), "same"),
    # 98 frames 3 mm apart, DoseGridScaling to Gy
    "rtdose": (
        lambda path: mf.rtdose(path, scaling=RTDOSE_SCALING),
        (56, 40, 98),
        "rtdose_dcm2niix",
    ),
}


@pytest.fixture(scope="module")
def multiframe(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[Path, Path]]:
    """Each object in its folder: dicomkit's file and dcm2niix's."""
    top = tmp_path_factory.mktemp("multiframe_oracles")
    out = {}
    for name, (build, _, _) in MULTIFRAME_EXPECTED.items():
        build(top / "src" / name / "object.dcm")
        col = dk.scan(top / "src" / name, progress=False)
        manifest = col.to_nifti(top / "dicomkit" / name, compress=False)
        assert manifest["status"].to_list() == ["written"], manifest["reason"]
        theirs = run_dcm2niix(top / "src" / name, top / "dcm2niix" / name)
        assert len(theirs) == 1, (name, sorted(theirs))  # one file each, no split
        out[name] = (Path(manifest["path"][0]), next(iter(theirs.values())))
    return out


@pytest.mark.parametrize("name", sorted(MULTIFRAME_EXPECTED))
def test_multiframe_objects_against_dcm2niix(multiframe, name):
    _, shape, verdict = MULTIFRAME_EXPECTED[name]
    ours_path, theirs_path = multiframe[name]
    mine, theirs = load(ours_path), load(theirs_path)
    assert mine.shape == shape
    assert theirs.shape == shape  # dcm2niix makes the same grid (the 4-D MR too)
    what = f"{name} vs dcm2niix: {EXPLANATIONS[verdict]}"
    assert_verdict(verdict, compare(mine, theirs), what, mine, theirs)


def test_the_4d_enhanced_mr_has_the_phases_along_t(multiframe):
    """Both put phase 1 then phase 2 along t (the factory's voxels say 100 × t + p)."""
    import json

    ours_path, theirs_path = multiframe["enhanced_mr_56x2"]
    for path in (ours_path, theirs_path):
        data = np.asarray(load(path).dataobj)
        assert data[0, 0, 0, 1] - data[0, 0, 0, 0] == 100
    car = json.loads(ours_path.with_suffix(".json").read_text())
    assert car["RepeatKey"] == "TemporalPositionIndex"
    assert car["RepeatValues"] == [1, 2]


# -- the sample ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory):
    top = tmp_path_factory.mktemp("sample_oracles")
    col = dk.scan(SAMPLE, progress=False)
    manifest = col.to_nifti(top / "dicomkit", compress=False)
    gaps = col.to_nifti(top / "gaps", allow_gaps=True, compress=False)
    theirs = run_dcm2niix(SAMPLE, top / "dcm2niix")
    return top, col, manifest, gaps, theirs


def _description(col: dk.Collection, uid: str) -> str:
    return str(
        col.series.filter(pl.col("SeriesInstanceUID") == uid)["SeriesDescription"][0]
    )


def test_sample_against_dcm2niix(sample):
    top, col, manifest, gaps, theirs = sample
    seen = set()
    for row in gaps.filter(pl.col("status") == "written").iter_rows(named=True):
        uid, group = row["SeriesInstanceUID"], row["group"]
        key = (_description(col, uid), group)
        assert key in SAMPLE_EXPECTED, f"not in the expected table: {key}"
        seen.add(key)
        suffix, verdict = SAMPLE_EXPECTED[key]
        what = f"{key}: {EXPLANATIONS[verdict]}"
        if verdict == "truncated_drops_series":
            assert not [name for name in theirs if name.startswith(uid)], what
            good = top / "abdomen_good"
            good.mkdir()
            for path in col[uid].instances["path"]:
                shutil.copy(path, good / Path(path).name)
            again = run_dcm2niix(good, top / "abdomen_dcm2niix")
            mine, other = load(row["path"]), load(again[uid])
            assert_verdict("same", compare(mine, other), what, mine, other)
            continue
        assert suffix is not None
        mine = load(row["path"])
        if verdict == "gap_dcm2niix":  # ours with allow_gaps vs dcm2niix's two files
            other = load(theirs[uid])
            assert_verdict(verdict, compare(mine, other), what, mine, other)
            other = load(theirs[uid + "_Eq_1"])
            assert_verdict("gap_interpolated", compare(mine, other), what, mine, other)
            refused = manifest.filter(pl.col("SeriesInstanceUID") == uid)
            assert refused["status"].to_list() == ["refused"]  # the default
            continue
        other = load(theirs[uid + suffix])
        assert_verdict(verdict, compare(mine, other), what, mine, other)
    assert seen == set(SAMPLE_EXPECTED)


def test_sample_tilt_dcm2niix_reslices_a_copy(sample):
    """dcm2niix's '_Tilt' copy is resampled (more rows, another grid): not a file
    dicomkit makes; dicomkit never resamples."""
    _top, col, manifest, _gaps, theirs = sample
    uid = str(
        col.series.filter(pl.col("SeriesDescription") == "Head seq 5.0 H31s tilt")[
            "SeriesInstanceUID"
        ][0]
    )
    resliced = load(theirs[uid + "_Tilt_1"])
    ours = load(manifest.filter(pl.col("SeriesInstanceUID") == uid)["path"][0])
    assert resliced.shape[1] > ours.shape[1]
    assert not compare(ours, resliced).embedded


def test_sample_sidecar_keys_and_values_agree_with_dcm2niix(sample):
    """The keys both write have the same values (Manufacturer aside: dcm2niix
    renames vendors, 'SIEMENS' → 'Siemens'; dicomkit writes the DICOM value)."""
    import json

    _top, col, manifest, _gaps, theirs = sample
    compared = 0
    for row in manifest.filter(pl.col("status") == "written").iter_rows(named=True):
        suffix, _ = SAMPLE_EXPECTED[
            (_description(col, row["SeriesInstanceUID"]), row["group"])
        ]
        if suffix is None:
            continue
        theirs_json = theirs[row["SeriesInstanceUID"] + suffix].with_suffix(".json")
        mine = json.loads(Path(row["sidecar"]).read_text())
        other = json.loads(theirs_json.read_text())
        for key in set(mine) & set(other) - {
            "Manufacturer",
            "ConversionSoftware",
            "ConversionSoftwareVersion",
        }:
            a, b = mine[key], other[key]
            numbers = (int, float)
            if isinstance(a, numbers) or (
                isinstance(a, list) and a and isinstance(a[0], numbers)
            ):
                assert a == pytest.approx(b, abs=1e-6), (key, a, b)
            else:
                assert a == b, (key, a, b)
            compared += 1
        assert (
            mine["Manufacturer"]
            .casefold()
            .startswith(other["Manufacturer"].casefold()[:2])
        )
    assert compared > 50


#: Sample folder → SimpleITK's verdict (GDCM reads one series of one folder).
SITK_SAMPLE_EXPECTED = {
    "SE000002": "one_stack",  # the 48 axials and the localizer
    "20230315": "one_stack",  # the two resent files of that series
    "20230314_CT_THORAX": "one_stack",  # three MR files in a CT folder (case 8)
    "S3_AX_PD_T2": "one_stack",  # both echoes
    "2_HEAD_5.0_H31s": "tilt_simpleitk",
    "3_THORAX_3.0_B70f": "gap_simpleitk",
    "S4_SAG_T1": "uid_conflict",
    "S5_AX_T2_FLAIR": "same",
    "S6_AX_T2_FLAIR": "same",
    "SE000001": "same",  # GDCM leaves the truncated file out, as dicomkit does
    "SE000003": "same",
}


def test_sample_against_simpleitk(sample):
    _top, col, _manifest, gaps, _theirs = sample
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    reader = sitk.ImageSeriesReader()
    folders = sorted({Path(p).parent for p in col.instances["path"]})
    seen = set()
    for folder in folders:
        for uid in reader.GetGDCMSeriesIDs(str(folder)):
            files = reader.GetGDCMSeriesFileNames(str(folder), uid)
            verdict = SITK_SAMPLE_EXPECTED[folder.name]
            seen.add(folder.name)
            what = f"{folder.name} vs SimpleITK: {EXPLANATIONS[verdict]}"
            mine_rows = gaps.filter(pl.col("SeriesInstanceUID") == uid)
            reader.SetFileNames(files)
            image = reader.Execute()
            if verdict == "one_stack":
                assert image.GetSize()[2] == len(files), what
                assert mine_rows.height > 1, what  # dicomkit split it
                assert mine_rows["group"].is_not_null().all(), what
                continue
            assert mine_rows.height == 1, what
            mine = load(mine_rows["path"][0])
            theirs = run_simpleitk_files(files)
            assert_verdict(verdict, compare(mine, theirs), what, mine, theirs)
    assert seen == set(SITK_SAMPLE_EXPECTED)
