"""NIfTI export: the pure rules, the files written, and what is refused.

The geometry of every written file is checked against the DICOM files themselves
(read with pydicom, not through dicomkit): each slice's four corners, from its
ImagePositionPatient, ImageOrientationPatient and PixelSpacing, must be where the
NIfTI affine puts them, within 1e-3 mm, and each voxel plane must hold that
file's pixels.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import numpy.typing as npt
import polars as pl
import pydicom
import pytest

import dicomkit as dk
from dicomkit import nifti
from dicomkit.exceptions import MissingExtraError, NiftiExportError
from dicomkit.volume import Volume
from tests.series_factory import SPECS, SeriesSpec, write_echoes, write_series

TOL_MM = 1e-3


# -- helpers: the truth from the DICOM files ------------------------------------------


def dicom_corners(ds: Any) -> dict[tuple[int, int], npt.NDArray[np.float64]]:
    """RAS position of the 4 corner pixels of one DICOM image, from its header."""
    ipp = np.asarray(ds.ImagePositionPatient, dtype=float)
    iop = np.asarray(ds.ImageOrientationPatient, dtype=float)
    dy, dx = (float(v) for v in ds.PixelSpacing)
    out = {}
    for i in (0, ds.Columns - 1):
        for j in (0, ds.Rows - 1):
            lps = ipp + i * dx * iop[:3] + j * dy * iop[3:]
            out[i, j] = lps * [-1, -1, 1]
    return out


def check_file_against_dicom(nii_path: Path, by_sop: dict[str, Path]) -> float:
    """Max corner error (mm) of a written file against its DICOM files; also checks
    that each voxel plane holds the pixels of the SOPInstanceUID the sidecar names."""
    image = load_nii(nii_path)
    car = json.loads(Path(str(nii_path).replace(".nii.gz", ".json")).read_text())
    data = np.asarray(image.dataobj)
    affine = image.affine
    worst = 0.0
    for k, sop in enumerate(car["SOPInstanceUIDs"]):
        if sop is None:  # an empty plane of a gap
            assert np.isnan(data[:, :, k]).all()
            continue
        ds = read(by_sop[sop])
        for (i, j), ras in dicom_corners(ds).items():
            worst = max(worst, float(np.linalg.norm(affine @ [i, j, k, 1] - [*ras, 1])))
        hu = ds.pixel_array * float(ds.get("RescaleSlope", 1)) + float(
            ds.get("RescaleIntercept", 0)
        )
        np.testing.assert_array_equal(data[:, :, k], hu.T)  # NIfTI is (x=column, y=row)
    return worst


def load_nii(path: Path | str) -> nib.Nifti1Image:
    return nib.Nifti1Image.from_filename(path)


def read(path: Path) -> Any:
    """pydicom's reading of a file, also of a bare data set without file meta."""
    ds = pydicom.dcmread(path, force=True)
    if "TransferSyntaxUID" not in ds.file_meta:
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    return ds


def sop_index(folder: Path) -> dict[str, Path]:
    return {
        pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID: p
        for p in folder.rglob("*.dcm")
    }


@pytest.fixture(scope="module")
def factory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    top = tmp_path_factory.mktemp("series")
    for n, (name, spec) in enumerate(SPECS.items()):
        write_series(top / name, spec, number=10 + n)
    return top


@pytest.fixture(scope="module")
def factory_col(factory: Path) -> dk.Collection:
    return dk.scan(factory, progress=False)


def uid_of(col: dk.Collection, name: str) -> str:
    return str(
        col.series.filter(pl.col("SeriesDescription") == name)["SeriesInstanceUID"][0]
    )


# -- pure ---------------------------------------------------------------------------


def test_ras_affine_negates_x_and_y_rows():
    lps = np.arange(16, dtype=float).reshape(4, 4)
    lps[3] = [0, 0, 0, 1]
    ras = nifti.ras_affine(lps)
    np.testing.assert_array_equal(ras[0], -lps[0])
    np.testing.assert_array_equal(ras[1], -lps[1])
    np.testing.assert_array_equal(ras[2:], lps[2:])
    with pytest.raises(ValueError, match="4×4"):
        nifti.ras_affine(np.eye(3))


def test_nifti_array_is_a_transposed_view_in_nifti_order():
    a = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)  # t, z, y, x
    view = nifti.nifti_array(a)
    assert view.shape == (5, 4, 3, 2)
    assert view[4, 3, 2, 1] == a[1, 2, 3, 4]
    assert view.flags.f_contiguous
    assert np.shares_memory(view, a)
    with pytest.raises(ValueError, match=r"\(z, y, x\)"):
        nifti.nifti_array(np.zeros((2, 2)))


def test_corners_and_tilt_degrees():
    a = np.diag([2.0, 3.0, 4.0, 1.0])
    c = nifti.corners(a, (2, 3, 4))
    assert c.shape == (8, 3)
    assert c.min(axis=0).tolist() == [0, 0, 0]
    assert c.max(axis=0).tolist() == [2, 6, 12]
    assert nifti.tilt_degrees(a) == 0
    sheared = a.copy()
    sheared[:3, 2] = [0, 4 * np.tan(np.radians(15)), 4]
    assert nifti.tilt_degrees(sheared) == pytest.approx(15)
    assert nifti.is_orthogonal(a)
    assert not nifti.is_orthogonal(sheared)


def test_fill_gaps_puts_slices_on_their_grid_and_never_interpolates():
    array = np.stack([np.full((2, 2), v, np.float32) for v in (1, 2, 4)])
    positions = [[0.0, 0.0, 10.0], [0.0, 0.0, 12.5], [0.0, 0.0, 17.5]]
    filled = nifti.fill_gaps(array, positions, np.eye(4))
    assert filled.slots == [0, 1, 3]
    assert filled.missing == [2]
    assert filled.array[:, 0, 0].tolist()[:2] == [1, 2]
    assert np.isnan(filled.array[2]).all()  # empty, not interpolated
    assert filled.array[3, 0, 0] == 4
    np.testing.assert_allclose(filled.affine[:3, 2], [0, 0, 2.5])
    np.testing.assert_allclose(filled.affine[:3, 3], [0, 0, 10])
    with pytest.raises(NiftiExportError, match="irregular"):
        nifti.fill_gaps(array, [[0, 0, 0], [0, 0, 2.5], [0, 0, 6.2]], np.eye(4))
    with pytest.raises(NiftiExportError, match="repeat"):
        nifti.fill_gaps(array, [[0, 0, 0], [0, 0, 0], [0, 0, 5]], np.eye(4))


def test_fill_gaps_on_4d_fills_every_repeat():
    array = np.ones((2, 3, 3, 3), np.float32)  # t, z, y, x
    filled = nifti.fill_gaps(array, [[0, 0, 0], [0, 0, 3], [0, 0, 9]], np.eye(4))
    assert filled.array.shape == (2, 4, 3, 3)
    assert np.isnan(filled.array[:, 2]).all()
    assert not np.isnan(filled.array[:, [0, 1, 3]]).any()


@pytest.mark.parametrize(
    ("values", "dtype"),
    [
        ([-1024.0, 3071.0], np.int16),
        ([0.0, 65535.0], np.uint16),
        ([-1024.0, 70000.0], np.int32),
        ([0.5, 1.0], np.float32),
        ([np.nan, 1.0], np.float32),
    ],
)
def test_storage_array_is_exact(values, dtype):
    array = np.asarray(values, dtype=np.float32).reshape(1, 1, 2)
    stored = nifti.storage_array(array)
    assert stored.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(stored, array)  # NaN == NaN here, too
    assert stored.shape == array.shape


def test_storage_array_keeps_floats_when_one_plane_has_a_fraction():
    array = np.zeros((3, 2, 2), np.float32)
    array[2, 1, 1] = 0.25  # only the last plane: the earlier ones were converted
    stored = nifti.storage_array(array)
    assert stored.dtype == np.float32
    np.testing.assert_array_equal(stored, array)


def test_sidecar_keys_units_constancy_and_no_identifying_values():
    rows = pl.DataFrame(
        {
            "Modality": ["MR", "MR"],
            "EchoTime": [12.0, 12.0],
            "RepetitionTime": [3000.0, 3000.0],
            "FlipAngle": [90.0, 90.0],
            "InversionTime": [100.0, 200.0],  # varies: not written
            "ImageType": [["ORIGINAL", "PRIMARY"]] * 2,
            "PatientName": ["DOE^JOHN"] * 2,
            "PatientID": ["PAT001"] * 2,
            "PatientBirthDate": [None, None],
        }
    )
    car = nifti.sidecar(rows, series_instance_uid="1.2", sop_instance_uids=["a", "b"])
    assert car["EchoTime"] == 0.012
    assert car["RepetitionTime"] == 3.0
    assert car["FlipAngle"] == 90.0
    assert car["ImageType"] == ["ORIGINAL", "PRIMARY"]
    assert "InversionTime" not in car
    assert not {"PatientName", "PatientID", "PatientBirthDate"} & set(car)
    assert "DOE" not in json.dumps(car)
    assert "PAT001" not in json.dumps(car)
    assert car["SOPInstanceUIDs"] == ["a", "b"]
    assert car["SeriesInstanceUID"] == "1.2"
    shown = nifti.sidecar(
        rows, series_instance_uid="1.2", sop_instance_uids=[], identifying=True
    )
    assert shown["PatientName"] == "DOE^JOHN"
    assert shown["PatientID"] == "PAT001"
    assert "PatientBirthDate" not in shown  # unknown: not invented


# -- Volume.to_nifti ---------------------------------------------------------------


def _volume_4d() -> Volume:
    t, z, y, x = 3, 4, 5, 6
    array = np.arange(t * z * y * x, dtype=np.float32).reshape(t, z, y, x)
    affine = np.eye(4)
    affine[:3, :3] = np.diag([0.5, 0.6, 2.0])
    affine[:3, 3] = [10, 20, 30]
    return Volume(
        array=array,
        spacing=(2.0, 0.6, 0.5),
        affine=affine,
        sop_instance_uids=[f"1.2.3.{i}" for i in range(t * z)],
        positions=[[10, 20, 30 + 2 * k] for k in range(z)],
        series_instance_uid="1.2.3",
        repeat_key="EchoNumbers",
        repeat_values=[1, 2, 3],
    )


def test_volume_to_nifti_4d_layout_affine_and_sidecar(tmp_path):
    vol = _volume_4d()
    path = vol.to_nifti(tmp_path / "four.nii.gz")
    image = load_nii(path)
    assert image.shape == (6, 5, 4, 3)
    data = np.asarray(image.dataobj)
    assert data[5, 4, 3, 2] == vol.array[2, 3, 4, 5]
    np.testing.assert_allclose(image.affine, np.diag([-1, -1, 1, 1]) @ vol.affine)
    assert int(image.header["sform_code"]) == 1
    assert int(image.header["qform_code"]) == 1
    assert image.header.get_xyzt_units() == ("mm", "sec")
    car = json.loads((tmp_path / "four.json").read_text())
    assert car["RepeatKey"] == "EchoNumbers"
    assert car["RepeatValues"] == [1, 2, 3]
    assert car["SOPInstanceUIDs"] == vol.sop_instance_uids
    assert data.dtype == np.int16  # integer values: stored exactly, smaller
    with pytest.raises(FileExistsError):
        vol.to_nifti(tmp_path / "four.nii.gz")
    vol.to_nifti(tmp_path / "four.nii.gz", overwrite=True)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".dicomkit")]


def test_volume_to_nifti_refuses_a_volume_without_geometry(tmp_path):
    vol = Volume(np.zeros((1, 2, 2), np.float32), (1, 1, 1), None, ["1"], [[0, 0, 0]])
    with pytest.raises(NiftiExportError, match="no patient geometry"):
        vol.to_nifti(tmp_path / "x.nii")
    with pytest.raises(ValueError, match=r"\.nii or \.nii\.gz"):
        _volume_4d().to_nifti(tmp_path / "x.dcm")
    assert not list(tmp_path.iterdir())


def test_missing_nibabel_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "nibabel", None)  # import nibabel → ImportError
    with pytest.raises(
        MissingExtraError, match=r'pip install "dicomkit\[nifti\]"'
    ) as e:
        _volume_4d().to_nifti(tmp_path / "x.nii.gz")
    assert isinstance(e.value, ImportError)
    with pytest.raises(MissingExtraError, match="nibabel"):
        dk.Collection(pl.DataFrame()).to_nifti(tmp_path / "out")
    assert not list(tmp_path.iterdir())


# -- col.to_nifti on generated series --------------------------------------------------


@pytest.mark.parametrize("name", ["axial", "sagittal", "coronal", "oblique", "tilted", "reversed"])  # fmt: skip
def test_exported_geometry_and_pixels_match_the_dicom_files(
    factory, factory_col, tmp_path, name
):
    uid = uid_of(factory_col, name)
    manifest = factory_col.to_nifti(tmp_path, series=uid)
    assert manifest["status"].to_list() == ["written"]
    path = Path(manifest["path"][0])
    assert path.name == f"{factory_col[uid].instances['SeriesNumber'][0]}_{name}.nii.gz"
    assert check_file_against_dicom(path, sop_index(factory / name)) < TOL_MM
    spec = SPECS[name]
    assert manifest["shape"][0].to_list() == [spec.columns, spec.rows, spec.n_slices]
    car = json.loads(path.with_name(path.name.replace(".nii.gz", ".json")).read_text())
    assert car["SeriesInstanceUID"] == uid
    assert car["Modality"] == spec.modality
    if name == "sagittal":  # MR times in seconds, as BIDS and dcm2niix
        assert (car["EchoTime"], car["RepetitionTime"], car["FlipAngle"]) == (
            0.012,
            0.5,
            90.0,
        )
    image = load_nii(path)
    if name == "tilted":
        assert car["GantryTilt"]["measured_deg"] == pytest.approx(12, abs=1e-3)
        assert car["GantryTilt"]["handling"].startswith("shear")
        assert int(image.header["qform_code"]) == 0  # a qform cannot hold a shear
    else:
        assert car["GantryTilt"]["handling"] == "none"
        assert int(image.header["qform_code"]) == 1
        np.testing.assert_allclose(image.get_qform(), image.affine, atol=1e-4)
    assert int(image.header["sform_code"]) == 1


def test_reversed_file_order_is_stacked_by_position(factory, factory_col, tmp_path):
    uid = uid_of(factory_col, "reversed")
    path = Path(factory_col.to_nifti(tmp_path, series=uid)["path"][0])
    car = json.loads(path.with_suffix("").with_suffix(".json").read_text())
    numbers = [
        pydicom.dcmread(sop_index(factory / "reversed")[s]).InstanceNumber
        for s in car["SOPInstanceUIDs"]
    ]
    assert numbers == sorted(numbers, reverse=True)  # position order, not file order


def test_tilt_refuse_is_a_manifest_row(factory_col, tmp_path):
    uid = uid_of(factory_col, "tilted")
    manifest = factory_col.to_nifti(tmp_path, series=uid, tilt="refuse")
    row = manifest.row(0, named=True)
    assert row["status"] == "refused"
    assert row["path"] is None
    assert "12.00°" in row["reason"]
    assert "tilt='shear'" in row["reason"]
    assert [p.name for p in tmp_path.iterdir()] == ["nifti_manifest.parquet"]
    with pytest.raises(ValueError, match="tilt must be"):
        factory_col.to_nifti(tmp_path / "x", series=uid, tilt="resample")


def test_missing_slices_refuse_unless_allowed_then_empty_planes(
    factory, factory_col, tmp_path
):
    uid = uid_of(factory_col, "gap")
    refused = factory_col.to_nifti(tmp_path / "a", series=uid)
    assert refused["status"].to_list() == ["refused"]
    assert "missing_slices" in refused["reason"][0]
    manifest = factory_col.to_nifti(tmp_path / "b", series=uid, allow_gaps=True)
    row = manifest.row(0, named=True)
    assert row["status"] == "written"
    assert row["shape"] == [20, 24, 12]
    assert "k = [5]" in row["reason"]
    path = Path(row["path"])
    assert check_file_against_dicom(path, sop_index(factory / "gap")) < TOL_MM
    car = json.loads(path.with_suffix("").with_suffix(".json").read_text())
    assert car["MissingSlices"] == [5]
    assert car["SOPInstanceUIDs"][5] is None
    assert np.asarray(load_nii(path).dataobj).dtype == np.float32  # NaN needs a float


def test_manifest_is_written_beside_the_files_and_round_trips(factory_col, tmp_path):
    manifest = factory_col.to_nifti(tmp_path)
    assert set(manifest.columns) >= {
        "SeriesInstanceUID", "group", "path", "shape", "spacing", "reason"
    }  # fmt: skip
    on_disk = pl.read_parquet(tmp_path / "nifti_manifest.parquet")
    assert on_disk.equals(manifest)
    assert manifest.height == len(SPECS)
    assert sorted(manifest["status"].to_list()).count("refused") == 1  # the gap
    for path in manifest["path"].drop_nulls():
        assert Path(path).parent == tmp_path
        assert Path(path).exists()


def test_existing_targets_are_refused_before_anything_is_written(factory_col, tmp_path):
    uid = uid_of(factory_col, "axial")
    factory_col.to_nifti(tmp_path, series=uid)
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    with pytest.raises(FileExistsError, match="overwrite=True"):
        factory_col.to_nifti(tmp_path, series=uid)
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before
    again = factory_col.to_nifti(tmp_path, series=uid, overwrite=True)
    assert again["status"].to_list() == ["written"]


def test_a_source_file_is_never_a_target(tmp_path):
    spec = SeriesSpec("axial", (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), n_slices=3)
    folder = tmp_path / "src"
    write_series(folder, spec, number=7)
    victim = folder / "7_axial.json"  # a source file where a sidecar would go
    victim.write_bytes((folder / "IM0001.dcm").read_bytes())
    col = dk.scan(folder, progress=False)
    assert col.n_files == 4  # the copy is a resend (or the instance): a source
    sources = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(ValueError, match="never modifies originals"):
        col.to_nifti(folder, overwrite=True)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == sources


def test_hostile_descriptions_stay_inside_dest(tmp_path):
    spec = SeriesSpec("../../evil/<x>", (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), n_slices=3)
    write_series(tmp_path / "src", spec, number=7)
    col = dk.scan(tmp_path / "src", progress=False)
    manifest = col.to_nifti(tmp_path / "out")
    path = Path(manifest["path"][0])
    assert path.parent == tmp_path / "out"
    assert path.name == "7_.._.._evil_x.nii.gz"  # one component: '/' and '<' gone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]


def test_unknown_series_is_a_clear_error(factory_col, tmp_path):
    with pytest.raises(dk.UnknownUIDError, match="SeriesInstanceUID"):
        factory_col.to_nifti(tmp_path, series="1.2.3.4")
    assert not list(tmp_path.iterdir())


# -- the sample ----------------------------------------------------------------------


def test_sample_export_splits_refuses_and_traces_every_plane(tmp_path):
    from tests.conftest import SAMPLE

    col = dk.scan(SAMPLE, progress=False)
    manifest = col.to_nifti(tmp_path)
    written = manifest.filter(pl.col("status") == "written")
    refused = manifest.filter(pl.col("status") == "refused")
    # the localizer series → 2 files, the dual echo → 2 files, the gap is refused
    assert written.height == 10
    assert refused.height == 1
    assert "missing_slices" in refused["reason"][0]
    split = written.filter(pl.col("group").is_not_null())
    assert split.height == 4
    assert any("localizer" in r for r in split["reason"])
    assert any("EchoNumbers" in r for r in split["reason"])
    by_sop = {
        pydicom.dcmread(p, stop_before_pixels=True, force=True).get("SOPInstanceUID"): p
        for p in col.instances["path"].map_elements(Path, return_dtype=pl.Object)
    }
    for path in written["path"]:
        assert check_file_against_dicom(Path(path), by_sop) < TOL_MM
    # identifying values stay out of every sidecar unless asked
    text = " ".join(p.read_text() for p in tmp_path.glob("*.json"))
    for name in ("DOE", "ROE", "PAT001", "PAT002", "1958", "EXAMPLE GENERAL"):
        assert name not in text


@pytest.mark.parametrize("dtype", [np.int16, np.int32])
def test_storage_array_reuse_writes_the_integers_into_the_same_buffer(dtype):
    rng = np.random.default_rng(3)
    high = 3000 if dtype == np.int16 else 100_000
    values = rng.integers(-1000, high, size=(7, 5, 6)).astype(np.float32)
    values[0, 0, 0] = high  # the range decides the type
    array = values.copy()
    stored = nifti.storage_array(array, reuse=True)
    assert stored.dtype == np.dtype(dtype)
    assert np.shares_memory(stored, array)
    np.testing.assert_array_equal(stored, values)
    kept = values.copy()
    assert not np.shares_memory(nifti.storage_array(kept), kept)  # not asked: a copy
    np.testing.assert_array_equal(kept, values)


ECHOES = SeriesSpec(
    "dual echo",
    (1.0, 0.0, 0.0),
    (0.0, 1.0, 0.0),
    n_slices=5,
    modality="MR",
    extra={"RepetitionTime": 2500.0, "FlipAngle": 90.0},
)


def test_two_echoes_are_two_files_by_the_split_plan(tmp_path):
    write_echoes(tmp_path / "src", ECHOES)
    col = dk.scan(tmp_path / "src", progress=False)
    manifest = col.to_nifti(tmp_path / "out")
    assert manifest["status"].to_list() == ["written", "written"]
    assert manifest["group"].to_list() == [0, 1]
    assert all("EchoNumbers" in r for r in manifest["reason"])
    by_sop = sop_index(tmp_path / "src")
    times = []
    for row in manifest.iter_rows(named=True):
        assert check_file_against_dicom(Path(row["path"]), by_sop) < TOL_MM
        car = json.loads(Path(row["sidecar"]).read_text())
        times.append(car["EchoTime"])
        assert car["SeriesDescription"] == "dual echo"  # the source's, not the plan's
        assert car["SplitGroup"]["group"] == row["group"]
    assert times == [0.012, 0.096]


def test_a_4d_volume_is_one_file_t_major(tmp_path, monkeypatch):
    """repeats='4d': the export of a (t, z, y, x) volume (built here from the two
    time points' volumes, as col.volume builds a clean repeat) is one 4-D file whose
    t-th volume holds time point t, planes traced to their instances, pixdim[4] = TR.

    (Time points, not echoes: ``split_series(repeats="4d")`` fails on the list-typed
    EchoNumbers column, a bug of dicomkit.ops reported to the coordinator.)"""
    write_echoes(tmp_path / "src", ECHOES, echoes=(0.0, 1000.0), dynamic=True)
    col = dk.scan(tmp_path / "src", progress=False)
    real = dk.Collection.volume

    def volume(self, uid, *, allow_irregular=False, stored=False):
        rows = self.instances.filter(pl.col("SeriesInstanceUID") == uid)
        parts = [
            real(
                dk.Collection(rows.filter(pl.col("TemporalPositionIdentifier") == e)),
                uid,
            )
            for e in (1, 2)
        ]
        return Volume(
            array=np.stack([p.array for p in parts]),
            spacing=parts[0].spacing,
            affine=parts[0].affine,
            sop_instance_uids=parts[0].sop_instance_uids + parts[1].sop_instance_uids,
            positions=parts[0].positions,
            series_instance_uid=uid,
            repeat_key="TemporalPositionIdentifier",
            repeat_values=[1, 2],
            frame_numbers=[1] * 10,
        )

    monkeypatch.setattr(dk.Collection, "volume", volume)
    manifest = col.to_nifti(tmp_path / "out", repeats="4d")
    row = manifest.row(0, named=True)
    assert manifest.height == 1
    assert row["reason"] is None, row["reason"]
    assert row["status"] == "written"
    assert row["shape"] == [20, 24, 5, 2]
    image = load_nii(row["path"])
    assert image.header.get_zooms()[3] == pytest.approx(2.5)  # TR in s
    car = json.loads(Path(row["sidecar"]).read_text())
    assert car["RepeatKey"] == "TemporalPositionIdentifier"
    assert car["RepeatValues"] == [1, 2]
    assert "TriggerTime" not in car  # it varies along t
    assert car["EchoTime"] == 0.012
    assert "FrameNumbers" not in car  # single-frame files
    data = np.asarray(image.dataobj)
    by_sop = sop_index(tmp_path / "src")
    for index, sop in enumerate(car["SOPInstanceUIDs"]):
        t, k = divmod(index, 5)
        ds = pydicom.dcmread(by_sop[sop])
        assert int(ds.TemporalPositionIdentifier) == t + 1
        np.testing.assert_array_equal(data[:, :, k, t], ds.pixel_array.T)
        ipp = np.asarray(ds.ImagePositionPatient, float) * [-1, -1, 1]
        np.testing.assert_allclose((image.affine @ [0, 0, k, 1])[:3], ipp, atol=TOL_MM)


# -- the fast export: stored integers with scl_slope/scl_inter, the writer ----------


def test_export_keeps_the_stored_integers_with_the_rescale_in_the_header(tmp_path):
    """A CT of uint16 stored values, intercept −1024: the file holds the stored
    values and scl_inter = −1024 (as dcm2niix), and reads back as col.volume()'s
    HU; col.volume() itself is unchanged (float32 HU)."""
    write_series(tmp_path / "src", SPECS["axial"])
    col = dk.scan(tmp_path / "src", progress=False)
    uid = str(col.series["SeriesInstanceUID"][0])
    manifest = col.to_nifti(tmp_path / "out", compress=False)
    image = load_nii(manifest["path"][0])
    assert image.get_data_dtype() == np.uint16
    proxy: Any = image.dataobj  # nibabel keeps the file's scaling here
    assert (proxy.slope, proxy.inter) == (1.0, -1024.0)
    raw = np.asanyarray(proxy.get_unscaled())
    assert raw[3, 2, 1] == SPECS["axial"].stored(1)[2, 3]  # (x, y, z) = column, row
    vol = col.volume(uid)
    assert vol.array.dtype == np.float32
    assert "stored_rescale" not in vol.metadata
    np.testing.assert_array_equal(image.get_fdata(), nifti.nifti_array(vol.array))
    stored = col.volume(uid, stored=True)
    assert stored.array.dtype == np.uint16
    assert stored.metadata["stored_rescale"] == (1.0, -1024.0)
    np.testing.assert_array_equal(stored.array.astype(np.float32) - 1024, vol.array)


def test_a_rescale_that_varies_per_slice_is_written_as_float(tmp_path):
    paths = write_series(tmp_path / "src", SPECS["axial"])
    for k, path in enumerate(paths):  # slope 1 for half the slices, 0.5 for the rest
        ds = pydicom.dcmread(path)
        ds.RescaleSlope = 1 if k % 2 else 0.5
        ds.save_as(path)
    col = dk.scan(tmp_path / "src", progress=False)
    vol = col.volume(str(col.series["SeriesInstanceUID"][0]), stored=True)
    assert vol.array.dtype == np.float32
    assert "stored_rescale" not in vol.metadata
    manifest = col.to_nifti(tmp_path / "out", compress=False)
    image = load_nii(manifest["path"][0])
    proxy: Any = image.dataobj
    assert (proxy.slope, proxy.inter) == (1.0, 0.0)
    np.testing.assert_array_equal(image.get_fdata(), nifti.nifti_array(vol.array))


@pytest.mark.parametrize("isal", [True, False])
@pytest.mark.parametrize("name", ["axial", "tilted"])
def test_the_writer_writes_the_bytes_nibabel_writes(tmp_path, monkeypatch, name, isal):
    """Header and voxels written straight from memory: byte for byte
    nibabel's own ``to_stream`` (qform and sform, a sheared one too), and the
    parallel gzip members are one gzip stream of the same bytes."""
    import gzip
    import io

    from dicomkit.export import nifti_image
    from dicomkit.io import nifti as nifti_io

    if isal:
        pytest.importorskip("isal")
    else:  # without ISA-L: the standard library's zlib
        monkeypatch.setitem(sys.modules, "isal", None)
    assert nifti_io.deflater()[2].startswith("isal" if isal else "zlib")
    write_series(tmp_path / "src", SPECS[name])
    col = dk.scan(tmp_path / "src", progress=False)
    vol = col.volume(str(col.series["SeriesInstanceUID"][0]), stored=True)
    assert vol.affine is not None
    image = nifti_image(vol.array, vol.affine, rescale=vol.metadata["stored_rescale"])
    reference = io.BytesIO()
    image.to_stream(reference)
    ours = io.BytesIO()
    nifti_io.nifti_writer(image, compress=False)(ours)
    assert ours.getvalue() == reference.getvalue()
    for threads in (1, 3):
        packed = io.BytesIO()
        old = nifti_io.CHUNK
        nifti_io.CHUNK = 1000  # many members even for a small volume
        try:
            nifti_io.nifti_writer(image, compress=True, threads=threads)(packed)
        finally:
            nifti_io.CHUNK = old
        assert packed.getvalue().count(b"\x1f\x8b\x08") >= 9  # gzip members
        assert gzip.decompress(packed.getvalue()) == reference.getvalue()
        path = tmp_path / f"{name}{threads}.nii.gz"
        path.write_bytes(packed.getvalue())
        plain = tmp_path / f"{name}{threads}.nii"
        plain.write_bytes(reference.getvalue())
        np.testing.assert_array_equal(
            load_nii(path).get_fdata(), load_nii(plain).get_fdata()
        )


def test_slice_corner_error_measures_the_worst_corner():
    """0 for the true affine; a shift of the slice axis shows at the last slice,
    counted at its slot (after a gap), and a slice without position is skipped."""
    iop = [0.0, 1.0, 0.0, 0.0, 0.0, -1.0]  # sagittal
    lps = np.eye(4)
    lps[:3, 0] = np.asarray(iop[:3]) * 0.7
    lps[:3, 1] = np.asarray(iop[3:]) * 0.8
    lps[:3, 2] = [2.5, 0.0, 0.0]
    lps[:3, 3] = [10.0, -5.0, 30.0]
    positions = [list(lps[:3, 3] + k * lps[:3, 2]) for k in (0, 1, 3)]
    kwargs: dict[str, Any] = {
        "rows": 6,
        "columns": 5,
        "orientation": iop,
        "pixel_spacing": [0.8, 0.7],
    }
    ras = nifti.ras_affine(lps)
    assert nifti.slice_corner_error(
        ras, positions, slots=[0, 1, 3], **kwargs
    ) == pytest.approx(0, abs=1e-9)
    assert nifti.slice_corner_error(ras, positions, **kwargs) == pytest.approx(2.5)
    shifted = ras.copy()
    shifted[:3, 2] += [0.0, 0.1, 0.0]
    assert nifti.slice_corner_error(
        shifted, [*positions, None], slots=[0, 1, 3, 4], **kwargs
    ) == pytest.approx(0.3)


# -- the streamed .nii ---------------------------------------------------------------


def _both_paths(col: dk.Collection, out: Path) -> dict[str, tuple[bytes, bytes]]:
    """Every file the export writes, streamed (default) and through the volume
    array (``stream=False``): ``{name: (streamed bytes, array bytes)}``."""
    from dicomkit.export import export_collection

    export_collection(col, out / "s", compress=False, stream=True)
    export_collection(col, out / "a", compress=False, stream=False)
    names = sorted(p.name for p in (out / "a").iterdir())
    assert names == sorted(p.name for p in (out / "s").iterdir())
    return {
        n: ((out / "s" / n).read_bytes(), (out / "a" / n).read_bytes())
        for n in names
        if n.endswith((".nii", ".json"))
    }


def test_streamed_nii_is_byte_identical_to_the_array_path(factory_col, tmp_path):
    from dicomkit.nifti_stream import stream_plan

    streamed = {
        name
        for name in SPECS
        if stream_plan(factory_col.instances, uid_of(factory_col, name)) is not None
    }
    # the tilted and gapped series keep the array path; the others stream
    assert streamed == set(SPECS) - {"tilted", "gap"}
    files = _both_paths(factory_col, tmp_path)
    assert len(files) == 2 * (len(SPECS) - 1)  # the gap is refused: no file
    for name, (mine, theirs) in files.items():
        assert mine == theirs, name


def test_streamed_sample_ct_is_byte_identical_and_masks_like_the_array(tmp_path):
    """The sample's CT series (BitsStored 12 of 16) streams where it is a plain
    stack (its split groups), not where it is tilted, gapped or has a file
    without a Part 10 header; every file is the array path's byte for byte. High
    bits set above BitsStored are corrected as the array path corrects them."""
    import shutil

    from dicomkit.export import _plan_jobs
    from dicomkit.nifti_stream import stream_plan
    from tests.conftest import SAMPLE

    col = dk.scan(SAMPLE, progress=False)
    uids = [str(u) for u in col.series["SeriesInstanceUID"]]
    streams = {
        job.stem: stream_plan(job.col.instances, job.uid) is not None
        for job in _plan_jobs(col, uids, "split")
    }
    ct = {
        stem: on for stem, on in streams.items() if "Thorax" in stem or "Head" in stem
    }
    assert ct == {
        "201_Thorax_2.5_B31f_image_axial_spacing_2.734x2.734": True,
        "202_Thorax_2.5_B31f_localizer_coronal_90_spacing_3.0x3.0": True,
        "2_Head_seq_5.0_H31s_tilt": False,  # tilted
        "3_Thorax_3.0_B70f": False,  # a missing slice
    }
    assert not streams["2_Abdomen_5.0_B30f"]  # a file without a Part 10 header
    files = _both_paths(col, tmp_path / "sample")
    assert files
    for name, (mine, theirs) in files.items():
        assert mine == theirs, name
    # a series whose stored values carry garbage above BitsStored
    paths = write_series(tmp_path / "src", SPECS["axial"])
    for path in paths:
        ds = pydicom.dcmread(path)
        ds.BitsStored, ds.HighBit = 12, 11
        pixels = ds.pixel_array.astype(np.uint16) | 0xF000  # junk high bits
        ds.PixelData = pixels.tobytes()
        ds.save_as(path)
    col = dk.scan(tmp_path / "src", progress=False)
    plan = stream_plan(col.instances, str(col.series["SeriesInstanceUID"][0]))
    assert plan is not None
    assert plan[1][0].shift == 4
    files = _both_paths(col, tmp_path / "masked")
    image_bytes = [v for k, v in files.items() if k.endswith(".nii")]
    assert len(image_bytes) == 1
    assert image_bytes[0][0] == image_bytes[0][1]
    shutil.rmtree(tmp_path / "src")


def test_what_must_not_stream_does_not(tmp_path):
    """Compressed pixels, a rescale that varies, multi-frame files and gzip keep
    the volume array (tilt and gaps: the test above)."""
    from dicomkit.nifti_stream import stream_plan

    varying = write_series(tmp_path / "varying", SPECS["axial"])
    for k, path in enumerate(varying):
        ds = pydicom.dcmread(path)
        ds.RescaleSlope = 1 if k % 2 else 0.5
        ds.save_as(path)
    compressed = write_series(tmp_path / "rle", SPECS["axial"], number=8)
    for path in compressed:
        ds = pydicom.dcmread(path)
        ds.compress(pydicom.uid.RLELossless)
        ds.save_as(path)
    for folder in ("varying", "rle"):
        col = dk.scan(tmp_path / folder, progress=False)
        uid = str(col.series["SeriesInstanceUID"][0])
        assert stream_plan(col.instances, uid) is None, folder
        files = _both_paths(col, tmp_path / f"out-{folder}")
        assert all(mine == theirs for mine, theirs in files.values())
    from tests.conftest import SAMPLE

    col = dk.scan(SAMPLE, progress=False)
    multi = col.instances.filter(pl.col("n_frames").fill_null(1) > 1)
    for uid in multi["SeriesInstanceUID"].unique().to_list():
        assert stream_plan(col.instances, uid) is None


@pytest.mark.parametrize("how", ["copy_file_range", "sendfile", "read"])
def test_stream_writer_copies_the_same_bytes_every_way(tmp_path, monkeypatch, how):
    """The kernel copy, its sendfile fallback and plain reads write the header
    and then each file's pixel bytes, in order."""
    from dicomkit.io.native import pixel_range
    from dicomkit.io.nifti import stream_writer

    paths = write_series(tmp_path / "src", SPECS["axial"])
    sources = [pixel_range(str(p)) for p in paths]
    assert all(s is not None for s in sources)
    ranges = [s for s in sources if s is not None]
    expected = b"HEAD" + b"".join(
        pydicom.dcmread(p).PixelData[: r.length]
        for p, r in zip(paths, ranges, strict=True)
    )
    if how == "sendfile":
        monkeypatch.delattr(os, "copy_file_range", raising=False)
    target = tmp_path / "out.nii"
    with open(target, "wb") as fp:
        stream_writer(b"HEAD", ranges, copy=how != "read")(fp)
    assert target.read_bytes() == expected
