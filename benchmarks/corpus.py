"""A deterministic corpus of synthetic CT/MR files for benchmarks.

``write_corpus(dest, n)`` writes ``n`` files (128×128, realistic headers with a
private group and a sequence, 10% implicit VR) under ``dest`` in a
patient/study/series layout, with no file extensions. Same ``n``, same bytes.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    MRImageStorage,
)

ROOT = "1.2.826.0.1.3680043.10.999."
SLICES_PER_SERIES = 100


def _dataset(i: int) -> Dataset:
    series, slice_ = divmod(i, SLICES_PER_SERIES)
    study, patient = series // 3, series // 6
    mr = series % 2 == 1
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = MRImageStorage if mr else CTImageStorage
    ds.SOPInstanceUID = f"{ROOT}3.{series}.{slice_ + 1}"
    ds.StudyDate, ds.SeriesDate, ds.AcquisitionDate = "20240102", "20240102", "20240102"
    ds.StudyTime, ds.SeriesTime = "101500", f"1016{series % 60:02d}"
    ds.AcquisitionTime = ds.ContentTime = f"1017{slice_ % 60:02d}.123"
    ds.AccessionNumber = f"ACC{study:06d}"
    ds.Modality = "MR" if mr else "CT"
    ds.Manufacturer = "SIEMENS"
    ds.InstitutionName = "General Hospital"
    ds.ReferringPhysicianName = "Referrer^Rita"
    ds.StationName = "CT01"
    ds.StudyDescription = "Chest" if not mr else "Brain"
    ds.SeriesDescription = f"Series {series}"
    ds.ManufacturerModelName = "Model X"
    ds.PatientName = f"Patient^{patient:05d}"
    ds.PatientID = f"P{patient:05d}"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "FM"[patient % 2]
    ds.BodyPartExamined = "CHEST"
    ds.SliceThickness = "2.5"
    ds.ProtocolName = "Routine"
    if mr:
        ds.EchoTime, ds.RepetitionTime, ds.FlipAngle = "12.5", "500", "90"
        ds.EchoNumbers = 1
    else:
        ds.KVP = "120"
        ds.GantryDetectorTilt = "0"
    ds.StudyInstanceUID = f"{ROOT}1.{study}"
    ds.SeriesInstanceUID = f"{ROOT}2.{series}"
    ds.StudyID = str(study)
    ds.SeriesNumber = series % 3 + 1
    ds.AcquisitionNumber = 1
    ds.InstanceNumber = slice_ + 1
    ds.ImagePositionPatient = [-125.0, -125.0, -2.5 * slice_]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.FrameOfReferenceUID = f"{ROOT}4.{study}"
    ds.SliceLocation = -2.5 * slice_
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = 128
    ds.PixelSpacing = [0.9765625, 0.9765625]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.WindowCenter, ds.WindowWidth = "40", "400"
    ds.RescaleIntercept, ds.RescaleSlope = "-1024", "1"
    ref = Dataset()
    ref.ReferencedSOPClassUID = ds.SOPClassUID
    ref.ReferencedSOPInstanceUID = f"{ROOT}3.{series}.0"
    ds.ReferencedImageSequence = Sequence([ref])
    block = ds.private_block(0x0029, "SIEMENS CSA HEADER", create=True)
    block.add_new(0x10, "OB", bytes(range(256)) * 8)
    ds.PixelData = (np.arange(128 * 128, dtype="<u2") * (i % 7 + 1) % 4096).tobytes()
    return ds


def write_corpus(dest: Path, n: int) -> list[Path]:
    """Write ``n`` files under ``dest``; return their paths."""
    paths = []
    for i in range(n):
        ds = _dataset(i)
        implicit = i % 10 == 0
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.TransferSyntaxUID = (
            ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
        )
        ds.file_meta = meta
        series = i // SLICES_PER_SERIES
        path = dest / f"P{series // 6:05d}" / f"S{series:05d}" / f"IM{i:06d}"
        path.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dcmwrite(path, ds, enforce_file_format=True)
        paths.append(path)
    return paths
