"""Shared fixtures: small DICOM files built in code, and the shipped sample."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"

UID_ROOT = "1.2.826.0.1.3680043.10.1234."  # an illustrative root for test UIDs


def make_dataset(**attributes: Any) -> Dataset:
    """A small, valid CT image data set; keyword arguments override attributes."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = UID_ROOT + "3.1"
    ds.PatientID = "P1"
    ds.PatientName = "Test^Patient"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyInstanceUID = UID_ROOT + "1"
    ds.StudyDate = "20240102"
    ds.StudyTime = "101500"
    ds.StudyDescription = "CT HEAD"
    ds.AccessionNumber = "A1"
    ds.StudyID = "1"
    ds.SeriesInstanceUID = UID_ROOT + "2"
    ds.SeriesNumber = 2
    ds.SeriesDescription = "Axial"
    ds.Modality = "CT"
    ds.FrameOfReferenceUID = UID_ROOT + "4"
    ds.InstanceNumber = 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.ImagePositionPatient = [0.0, 0.0, 0.0]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [0.5, 0.5]
    ds.SliceThickness = 1.0
    ds.Rows = 4
    ds.Columns = 4
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleSlope = 1
    ds.RescaleIntercept = -1024
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tests write invalid values on purpose
        for key, value in attributes.items():
            if value is None:
                if key in ds:
                    delattr(ds, key)
            else:
                setattr(ds, key, value)
    if "PixelData" not in attributes:
        ds.PixelData = np.arange(ds.Rows * ds.Columns, dtype="<i2").tobytes()
    return ds


def write_dataset(
    path: Path, ds: Dataset, *, preamble: bool = True, mtime_ns: int | None = None
) -> Path:
    """Write ``ds`` to ``path`` as Part 10 (or a bare data set without preamble)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if preamble:
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", "1.2.3")
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dcmwrite(path, ds, enforce_file_format=True)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dcmwrite(path, ds, implicit_vr=True, little_endian=True)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


MakeFile = Callable[..., Path]


@pytest.fixture(autouse=True)
def _isolated_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scans in tests (and the notebooks and subprocesses they start) never write
    to the user's cache folder."""
    monkeypatch.setenv(
        "DICOMKIT_CACHE_DIR", str(tmp_path_factory.mktemp("dicomkit-cache"))
    )


@pytest.fixture
def make_file(tmp_path: Path) -> MakeFile:
    """Write a DICOM file under ``tmp_path``: ``make_file("a/b.dcm", **attrs)``."""

    def make(
        name: str,
        *,
        preamble: bool = True,
        mtime_ns: int | None = None,
        **attributes: Any,
    ) -> Path:
        return write_dataset(
            tmp_path / name,
            make_dataset(**attributes),
            preamble=preamble,
            mtime_ns=mtime_ns,
        )

    return make


def pydicom_test_files() -> Path:
    """The folder of test files shipped inside the pydicom wheel."""
    from pydicom.data import get_testdata_file

    found = get_testdata_file("CT_small.dcm")
    assert found is not None
    return Path(str(found)).parent
