"""A deterministic corpus of synthetic CT/MR files, for benchmarks and tests.

``write_corpus(dest, n)`` writes ``n`` files (128×128, 10% implicit VR) under
``dest`` in a patient/study/series layout (100 slices per series, 3 series per
study, 2 studies per patient), with no file extensions. Same ``n``, same bytes.

The headers are what a scanner meets in practice: 3.6–5.2 KB before PixelData,
with private groups of varying size (a Siemens CSA-like block with two OB
elements, GE groups of LO/DS/SL/SS elements) and standard sequences
(ReferencedImageSequence, SourceImageSequence, ProcedureCodeSequence and a nested
RequestAttributesSequence of undefined length whose item holds another sequence).

:data:`VERSION` changes whenever the bytes written for a given ``n`` change, so
benchmark caches keyed by it never reuse a stale corpus.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Iterable
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

__all__ = [
    "PIXEL_BYTES",
    "SLICES_PER_SERIES",
    "VERSION",
    "corpus_path",
    "header_bytes",
    "is_implicit",
    "write_corpus",
    "write_files",
]

#: Bumped whenever the files written for a given ``n`` change.
VERSION = 2
ROOT = "1.2.826.0.1.3680043.10.999."
SLICES_PER_SERIES = 100
#: Bytes of pixel data in every file (128 × 128, 16 bits).
PIXEL_BYTES = 128 * 128 * 2

_CSA_NAMES = (
    "EchoLinePosition", "EchoColumnPosition", "EchoPartitionPosition",
    "UsedChannelMask", "Actual3DImaPartNumber", "ICE_Dims", "B_value",
    "Filter1", "Filter2", "ProtocolSliceNumber", "RealDwellTime", "PixelFile",
    "PixelFileName", "SliceMeasurementDuration", "SequenceMask",
    "AcquisitionMatrixText", "MeasuredFourierLines", "FlowEncodingDirection",
    "FlowVenc", "PhaseEncodingDirectionPositive", "NumberOfImagesInMosaic",
    "DiffusionGradientDirection", "ImaCoilString", "CsiGridshiftVector",
    "SliceNormalVector", "ImaAbsTablePosition", "NonPlanarImage",
    "MoCoQMeasure", "ImaRelTablePosition", "SlicePosition_PCS", "TimeAfterStart",
)  # fmt: skip


def _mix(i: int, salt: int = 0) -> int:
    """A deterministic pseudo-random 32-bit number for file ``i`` (no global state)."""
    x = (i * 0x9E3779B1 + salt * 0x85EBCA77 + 0x165667B1) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x2C1B3C6D) & 0xFFFFFFFF
    x ^= x >> 12
    return x


def _csa(n_bytes: int, seed: int) -> bytes:
    """A Siemens CSA2-like blob ("SV10" + named entries) of exactly ``n_bytes``."""
    out = bytearray(b"SV10\x04\x03\x02\x01")
    out += struct.pack("<II", len(_CSA_NAMES), 77)
    k = 0
    while len(out) < n_bytes:
        name = _CSA_NAMES[k % len(_CSA_NAMES)].encode().ljust(64, b"\0")
        value = f"{(seed + k * 37) % 10007 / 7:.6f}".encode().ljust(8, b"\0")
        out += name + struct.pack("<i4sIII", 1, b"FD\0\0", 1, 1, 77)
        out += struct.pack("<4I", len(value), len(value), 77, len(value)) + value
        k += 1
    return bytes(out[:n_bytes])


def _code(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "L"
    item.CodeMeaning = meaning
    return item


def _dataset(i: int) -> Dataset:
    """File ``i``'s data set (without file meta)."""
    ds = _series_dataset(i // SLICES_PER_SERIES)
    _set_slice(ds, i)
    return ds


def _series_dataset(series: int) -> Dataset:
    """What the files of one series share; :func:`_set_slice` adds the rest."""
    study, patient = series // 3, series // 6
    mr = series % 2 == 1
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = MRImageStorage if mr else CTImageStorage
    ds.StudyDate, ds.SeriesDate, ds.AcquisitionDate = "20240102", "20240102", "20240102"
    ds.StudyTime, ds.SeriesTime = "101500", f"1016{series % 60:02d}"
    ds.AccessionNumber = f"ACC{study:06d}"
    ds.Modality = "MR" if mr else "CT"
    ds.Manufacturer = "SIEMENS"
    ds.InstitutionName = "General Hospital"
    ds.ReferringPhysicianName = "Referrer^Rita"
    ds.StationName = "CT01"
    ds.StudyDescription = "Chest" if not mr else "Brain"
    ds.ProcedureCodeSequence = Sequence(
        [_code("BRAIN" if mr else "CHEST", f"{ds.Modality} {ds.StudyDescription}")]
    )
    ds.SeriesDescription = f"Series {series}"
    ds.ManufacturerModelName = "Model X"
    ref = Dataset()
    ref.ReferencedSOPClassUID = ds.SOPClassUID
    ref.ReferencedSOPInstanceUID = f"{ROOT}3.{series}.0"
    ds.ReferencedImageSequence = Sequence([ref])
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
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.FrameOfReferenceUID = f"{ROOT}4.{study}"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = 128
    ds.PixelSpacing = [0.9765625, 0.9765625]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.WindowCenter, ds.WindowWidth = "40", "400"
    ds.RescaleIntercept, ds.RescaleSlope = "-1024", "1"
    # A nested sequence, written with undefined lengths (sequence and item).
    request = Dataset()
    request.RequestedProcedureID = f"RP{study:06d}"
    request.ScheduledProcedureStepID = f"SPS{series:06d}"
    request.ScheduledProcedureStepDescription = ds.StudyDescription
    request.ScheduledProtocolCodeSequence = Sequence(
        [_code(f"P{series % 3 + 1}", f"{ds.ProtocolName} protocol {series % 3 + 1}")]
    )
    request.is_undefined_length_sequence_item = True
    ds.RequestAttributesSequence = Sequence([request])
    ds["RequestAttributesSequence"].is_undefined_length = True
    _add_private_groups(ds, series, mr=mr)
    return ds


def _private(group: int, offset: int) -> int:
    """The tag of element ``offset`` of the one private block of ``group``."""
    return group << 16 | 0x1000 | offset


def _add_private_groups(ds: Dataset, series: int, *, mr: bool) -> None:
    """GE-like and Siemens-like private groups (one block per group, at 0x10)."""
    ident = ds.private_block(0x0009, "GEMS_IDEN_01", create=True)
    ident.add_new(0x01, "LO", "CT_LIGHTSPEED" if not mr else "MR_SIGNA")
    ident.add_new(0x02, "SH", f"SUITE{series % 4}")
    ident.add_new(0x04, "SH", "HOST01")
    acqu = ds.private_block(0x0019, "GEMS_ACQU_01", create=True)
    for offset, value in enumerate(
        ("0.5", "100.0", "-125.0", "125.0", "0.0", "2.5", "512", "1.375")
    ):
        acqu.add_new(0x10 + offset, "DS", value)
    acqu.add_new(0x1B, "SS", [1, -1, 0, 3])
    parm = ds.private_block(0x0043, "GEMS_PARM_01", create=True)
    parm.add_new(0x01, "SS", 2)
    parm.add_new(0x02, "SS", 0)
    parm.add_new(0x04, "DS", ["7", "0", "100", "0", "0"])
    parm.add_new(0x06, "SL", [0, 1, 2, 3, 4, 5])
    parm.add_new(0x08, "LO", "PARM_VERSION_17")
    parm.add_new(0x0E, "LO", ["NONE", "NONE", "FILT_STD"])
    csa = ds.private_block(0x0029, "SIEMENS CSA HEADER", create=True)
    csa.add_new(0x08, "CS", "IMAGE NUM 4")
    csa.add_new(0x09, "LO", "20240102")
    csa.add_new(0x18, "CS", "MR" if mr else "CT")
    csa.add_new(0x19, "LO", "20240102")
    csa.add_new(0x20, "OB", _csa(480, series))
    assert acqu.block_start == parm.block_start == csa.block_start == 0x1000


def _set_slice(ds: Dataset, i: int) -> None:
    """Set (or replace) every element of file ``i`` that varies within its series.

    Always the same elements, so a series data set can be reused from file to
    file and the bytes stay those of a fresh one.
    """
    series, slice_ = divmod(i, SLICES_PER_SERIES)
    ds.SOPInstanceUID = f"{ROOT}3.{series}.{slice_ + 1}"
    ds.AcquisitionTime = ds.ContentTime = f"1017{slice_ % 60:02d}.123"
    sources = []
    for k in (1, 2):
        source = Dataset()
        source.ReferencedSOPClassUID = ds.SOPClassUID
        source.ReferencedSOPInstanceUID = f"{ROOT}5.{series}.{slice_ + 1}.{k}"
        source.SpatialLocationsPreserved = "YES"
        sources.append(source)
    ds.SourceImageSequence = Sequence(sources)
    ds.InstanceNumber = slice_ + 1
    ds.ImagePositionPatient = [-125.0, -125.0, -2.5 * slice_]
    ds.SliceLocation = -2.5 * slice_
    ds.add_new(_private(0x0019, 0x1A), "SL", [series, slice_, 1, 0])
    ds.add_new(_private(0x0019, 0x1C), "LO", f"acquisition {series:05d} table {i % 13}")
    ds.add_new(_private(0x0043, 0x0A), "SL", _mix(i, 5) % 1000)
    ds.add_new(_private(0x0043, 0x0C), "DS", [f"{_mix(i, 6) % 997 / 10:.1f}", "1", "0"])
    # 870–2370 bytes: with everything else, 3.6–5.2 KB before PixelData
    ds.add_new(_private(0x0029, 0x10), "OB", _csa(870 + _mix(i) % 1500, i))
    ds.PixelData = (np.arange(128 * 128, dtype="<u2") * (i % 7 + 1) % 4096).tobytes()


def corpus_path(dest: Path, i: int) -> Path:
    """Where file ``i`` of a corpus under ``dest`` goes."""
    series = i // SLICES_PER_SERIES
    return dest / f"P{series // 6:05d}" / f"S{series:05d}" / f"IM{i:06d}"


def is_implicit(i: int) -> bool:
    """Whether file ``i`` is written in implicit VR little endian (1 in 10)."""
    return i % 10 == 0


def write_files(dest: Path, indices: Iterable[int]) -> list[Path]:
    """Write the corpus files with the given indices under ``dest``.

    Each file depends only on its index, so a corpus can be written in parallel
    chunks: ``write_files(dest, range(n))`` writes what ``write_corpus(dest, n)``
    writes.
    """
    paths = []
    template: tuple[int, Dataset] | None = None
    for i in indices:
        series = i // SLICES_PER_SERIES
        if template is None or template[0] != series:
            template = (series, _series_dataset(series))
        ds = template[1]
        _set_slice(ds, i)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.TransferSyntaxUID = (
            ImplicitVRLittleEndian if is_implicit(i) else ExplicitVRLittleEndian
        )
        ds.file_meta = meta
        path = corpus_path(dest, i)
        path.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dcmwrite(path, ds, enforce_file_format=True)
        paths.append(path)
    return paths


def write_corpus(dest: Path, n: int) -> list[Path]:
    """Write ``n`` files under ``dest``; return their paths."""
    return write_files(dest, range(n))


def header_bytes(data: bytes) -> int:
    """How many bytes of a corpus file (its ``data``) come before PixelData."""
    # PixelData is the last element. Explicit VR: tag, "OW", 2 reserved bytes,
    # 4-byte length; implicit VR: tag, 4-byte length.
    end = len(data) - PIXEL_BYTES
    if data[end - 12 : end - 6] == b"\xe0\x7f\x10\x00OW":
        return end - 12
    if data[end - 8 : end - 4] == b"\xe0\x7f\x10\x00":
        return end - 8
    msg = "PixelData is not the last element of this file"
    raise ValueError(msg)
