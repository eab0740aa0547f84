"""Pixels, windows and volumes."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest
from pydicom.uid import ImplicitVRLittleEndian

import dicomkit as dk
from dicomkit.window import PRESETS, Window, apply_window, auto_window, dicom_window
from tests.conftest import SAMPLE, MakeFile, pydicom_test_files

TILTED = "1.3.12.2.1107.5.1.4.83504.3230919104230200002"
LOCALIZED = "1.3.12.2.1107.5.1.4.83504.3230314081502200002"
MISSING = "1.3.12.2.1107.5.1.4.83504.3230919104230200003"


@pytest.fixture(scope="module")
def col() -> dk.Collection:
    return dk.scan(SAMPLE, progress=False)


def test_load_pixels_applies_the_modality_lut(col: dk.Collection) -> None:
    row = col.filter(pl.col("RescaleIntercept") == -1024).instances.row(0, named=True)
    hu = dk.load_pixels(row["path"])
    raw = dk.load_pixels(row["path"], rescale=False)
    assert hu.shape == (1, 128, 128)
    assert hu.dtype == np.float32
    assert np.allclose(hu, raw.astype(np.float32) - 1024)
    assert hu.min() >= -1024


def test_preamble_less_file_decodes_with_the_recorded_syntax(
    col: dk.Collection,
) -> None:
    row = col.filter(pl.col("path").str.ends_with("SE000001/IM000008")).instances.row(
        0, named=True
    )
    assert dk.load_pixels(
        row["path"], transfer_syntax=row["TransferSyntaxUID"]
    ).shape == (1, 128, 128)


PREAMBLE_LESS = SAMPLE / "PAT003_MUELLER_JUERGEN/DICOM/ST000001/SE000001/IM000008"
TRUNCATED = SAMPLE / "PAT003_MUELLER_JUERGEN/DICOM/ST000001/SE000001/IM000021"


def test_load_pixels_reads_a_preamble_less_file_on_its_own(col: dk.Collection) -> None:
    # no file meta, no transfer syntax given: the syntax it was read with is used
    pixels = dk.load_pixels(PREAMBLE_LESS)
    assert pixels.shape == (1, 128, 128)
    implicit = dk.load_pixels(PREAMBLE_LESS, transfer_syntax=ImplicitVRLittleEndian)
    assert np.array_equal(pixels, implicit)
    # the same values as the volume, which opens files the same way
    series = col.filter(pl.col("path").str.ends_with("SE000001/IM000008"))
    uid = series.instances["SeriesInstanceUID"][0]
    z = series.instances["ImagePositionPatient"][0][2]
    vol = col.volume(uid)
    index = [round(p[2], 3) for p in vol.positions].index(round(z, 3))
    assert np.array_equal(vol.array[index], pixels[0])


def test_a_truncated_file_says_it_is_truncated() -> None:
    with pytest.raises(dk.TruncatedFileError, match="truncated") as caught:
        dk.load_pixels(TRUNCATED)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, dk.DicomkitError)
    message = str(caught.value)
    assert "IM000021" in message
    assert "16,384 of the 32,768 bytes" in message
    assert "copy the file again" in message


def test_a_file_cut_in_its_header_says_it_is_truncated(tmp_path: Path) -> None:
    whole = (
        SAMPLE / "PAT003_MUELLER_JUERGEN/DICOM/ST000002/SE000003/IM000001"
    ).read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(whole[:1000])
    with pytest.raises(
        dk.TruncatedFileError, match=r"\(truncated\): the header is cut"
    ):
        dk.load_pixels(cut)


def test_a_file_that_is_not_dicom_says_what_it_is(tmp_path: Path) -> None:
    with pytest.raises(dk.NotDicomError, match=r"\(not_dicom\): not DICOM: no 'DICM'"):
        dk.load_pixels(SAMPLE / "notes.txt")
    archive = tmp_path / "delivery.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(PREAMBLE_LESS, "IM000008")
    with pytest.raises(dk.NotDicomError, match=r"a ZIP archive.*unpack it first"):
        dk.load_pixels(archive)
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    with pytest.raises(dk.NotDicomError, match=r"\(empty\)"):
        dk.load_pixels(empty)


@pytest.mark.parametrize(
    "name", ["MR_small_RLE.dcm", "JPEG2000.dcm", "SC_rgb_jpeg_dcmtk.dcm"]
)
def test_compressed_files_decode_through_pydicom(name: str) -> None:
    pixels = dk.load_pixels(pydicom_test_files() / name)
    assert pixels.ndim in (3, 4)
    assert pixels.shape[0] == 1


def test_missing_decoder_names_what_to_install() -> None:
    import importlib.util

    if any(importlib.util.find_spec(m) for m in ("jpeg_ls", "libjpeg", "gdcm")):
        pytest.skip("a JPEG-LS decoder is installed")
    with pytest.raises(
        dk.MissingDecoderError, match=r'pip install "dicomkit\[codecs\]"'
    ):
        dk.load_pixels(pydicom_test_files() / "JPEGLSNearLossless_08.dcm")


def test_no_pixel_data(make_file: MakeFile) -> None:
    path = make_file("nopix.dcm")
    from pydicom import dcmread

    ds = dcmread(path)
    del ds.PixelData
    ds.save_as(path)
    with pytest.raises(dk.NotDicomError, match="has no pixel data"):
        dk.load_pixels(path)


def test_windows() -> None:
    assert apply_window(
        np.array([-2000.0, 40.0, 3000.0]), Window(400, 40)
    ).tolist() == [0, 128, 255]
    assert PRESETS["lung"] == Window(1500, -600)
    auto = auto_window(np.arange(1000, dtype=float))
    assert auto.width == pytest.approx(979.02)  # the 1st to 99th percentile
    assert dicom_window(
        {"WindowCenter": [40.0, 300.0], "WindowWidth": [400.0, 1500.0]}
    ) == Window(400, 40)
    assert dicom_window({"WindowCenter": None, "WindowWidth": None}) is None
    assert str(Window(400, 40)) == "WW 400 WL 40"


def test_volume_of_a_tilted_series(col: dk.Collection) -> None:
    vol = col.volume(TILTED)
    assert vol.shape == (30, 128, 128)
    assert vol.spacing[0] == pytest.approx(5 * np.cos(np.radians(15)))
    # the affine's slice axis is the true step between positions (sheared), so
    # voxel (0, 0, k) lands exactly on slice k's ImagePositionPatient
    for k in (0, 17, 29):
        assert vol.affine @ np.array([0, 0, k, 1.0]) == pytest.approx(
            [*vol.positions[k], 1.0]
        )
    assert np.min(vol.array) >= -1024


def test_volume_refuses_irregular_series_with_the_finding(col: dk.Collection) -> None:
    with pytest.raises(dk.NotAVolumeError, match=r"mixed_orientation: .*localizer"):
        col.volume(LOCALIZED)
    with pytest.raises(dk.NotAVolumeError, match="missing_slices"):
        col.volume(MISSING)
    vol = col.volume(MISSING, allow_irregular=True)
    assert vol.shape[0] == 23
    with pytest.raises(dk.UnknownUIDError):
        col.volume("1.2.3")


def test_volume_is_in_geometric_order(col: dk.Collection) -> None:
    series = col.filter(pl.col("SeriesInstanceUID") == TILTED)
    shuffled = dk.Collection(
        series.instances.sample(fraction=1.0, shuffle=True, seed=3)
    )
    assert (
        shuffled.volume(TILTED).sop_instance_uids
        == col.volume(TILTED).sop_instance_uids
    )


# -- the native fast path: the bytes of the file, the values of pydicom -------------


def _pydicom_stored(path: Path) -> npt.NDArray[Any]:
    """What pydicom's own decode gives (the reference of the native path)."""
    import warnings

    from pydicom import dcmread
    from pydicom.dataset import FileMetaDataset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = dcmread(path, force=True)
        meta = getattr(ds, "file_meta", None)
        if meta is None or "TransferSyntaxUID" not in meta:  # an ACR-NEMA file
            ds.file_meta = meta if meta is not None else FileMetaDataset()
            ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        array = ds.pixel_array
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    return array[np.newaxis] if frames == 1 else array


def _readable_images() -> list[Path]:
    from pydicom import dcmread

    found = []
    for folder in (SAMPLE, pydicom_test_files()):
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            try:
                ds = dcmread(path, stop_before_pixels=True)
            except Exception:  # noqa: BLE001 - not DICOM: not this test's subject
                continue
            if "Rows" in ds and "BitsAllocated" in ds:
                found.append(path)
    return found


def test_native_reading_gives_pydicoms_values_on_every_shipped_file() -> None:
    """Every image of the sample and of pydicom's test files that pydicom decodes:
    dicomkit's values (native path or pydicom's) are pydicom's, in dtype and shape."""
    from dicomkit.io import native as native_module
    from dicomkit.io import pixels

    native = compared = 0
    calls: list[bool] = []
    fast, slow = native_module.read_native, native_module.native_frames

    def spy(real):  # which files took a native path
        def spied(*args, **kwargs):
            out = real(*args, **kwargs)
            calls.append(out is not None)
            return out

        return spied

    native_module.read_native = spy(fast)
    native_module.native_frames = spy(slow)
    try:
        for path in _readable_images():
            try:
                expected = _pydicom_stored(path)
            except Exception:  # noqa: BLE001 - pydicom cannot decode it either
                continue
            calls.clear()
            try:
                ours, _ = pixels.read_stored(path)
            except (dk.TruncatedFileError, dk.MissingDecoderError):
                continue
            assert ours.dtype == expected.dtype, path
            assert ours.shape == expected.shape, path
            assert np.array_equal(ours, expected), path
            compared += 1
            native += any(calls)
    finally:
        native_module.read_native, native_module.native_frames = fast, slow
    assert compared > 100
    assert native > 60  # most shipped files are native little endian


def test_native_reading_corrects_unused_high_bits_as_pydicom(
    tmp_path: Path, make_file: MakeFile
) -> None:
    """Garbage above BitsStored: cleared (unsigned) or the sign (signed)."""
    from pydicom import dcmread

    from dicomkit.io import pixels

    for signed in (0, 1):
        ds = dcmread(make_file(f"bits{signed}.dcm"))
        path = tmp_path / f"garbage{signed}.dcm"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
        ds.PixelRepresentation = signed
        n = int(ds.Rows) * int(ds.Columns)
        values = (np.arange(n, dtype=np.uint16) * 37) | 0xA000  # high bits set
        ds.PixelData = values.tobytes()
        ds.save_as(path)
        ours, _ = pixels.read_stored(path)
        assert np.array_equal(ours, _pydicom_stored(path))
        assert int(ours.max()) < 2**12


def test_native_reading_of_a_short_pixel_element_says_truncated(
    tmp_path: Path, make_file: MakeFile
) -> None:
    path = make_file("short.dcm")
    data = path.read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[:-4])  # the last 4 pixel bytes are missing
    with pytest.raises(dk.TruncatedFileError, match="truncated DICOM file"):
        dk.load_pixels(cut)
