"""Write the deterministic, synthetic DICOM sample that ships in ``data/sample``.

Run ``python -m dicomkit.sample DEST [--force]``. Every byte and every file
modification time depends only on this module (and on the numpy and pydicom
encoders), so two runs give byte-identical trees. ``data/sample/README.md``
describes the patients, studies, series and the deliberate defects (resends,
a UID conflict, a localizer inside an axial series, a gantry tilt, a missing
slice, a vendor-split series, misfiled files, a file without preamble, a
truncated file and a non-DICOM file).

This module imports only the standard library, numpy and pydicom.
"""

from __future__ import annotations

import argparse
import calendar
import io
import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian

__all__ = ["main", "write_sample"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Vec = tuple[float, float, float]
Phantom = Callable[[FloatArray, FloatArray, FloatArray], FloatArray]

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
SIEMENS_ROOT = "1.3.12.2.1107.5.1.4.83504"  # Siemens CT root + device serial
GE_ROOT = "1.2.840.113619.2.410.4057621"  # GE root + fictitious site/device
IMPLEMENTATION_UID = "2.25.229341558130658346036457312476387815716"
IMPLEMENTATION_VERSION = "DICOMKIT_SAMPLE"
BASE_MTIME_NS = 1_704_067_200 * 10**9  # 2024-01-01T00:00:00Z
AXIAL: tuple[Vec, Vec] = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0))
SAGITTAL: tuple[Vec, Vec] = ((0.0, 1.0, 0.0), (0.0, 0.0, -1.0))
CORONAL: tuple[Vec, Vec] = ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0))
TILT_DEG = 15.0


# --------------------------------------------------------------------------- model
@dataclass(frozen=True)
class _Patient:
    name: str
    pid: str
    birth: str
    sex: str
    referring: str


@dataclass(frozen=True)
class _Device:
    manufacturer: str
    model: str
    station: str
    serial: str
    modality: str
    sop_class: str


@dataclass(frozen=True)
class _Study:
    patient: _Patient
    device: _Device
    date: str
    time: str
    description: str
    study_id: str

    def uid(self, kind: int, n: int) -> str:
        """Return a UID of ``kind`` (1 study, 2 series, 3 image, 4 FoR) number ``n``."""
        if self.device.manufacturer == "SIEMENS":
            return f"{SIEMENS_ROOT}.3{self.date[2:]}{self.time}{kind}{n:05d}"
        stamp = time.strptime(self.date + self.time, "%Y%m%d%H%M%S")
        return f"{GE_ROOT}.{calendar.timegm(stamp)}.{kind}.{n}"

    @property
    def ms(self) -> int:
        """Study time in milliseconds after midnight."""
        h, m, s = int(self.time[:2]), int(self.time[2:4]), int(self.time[4:])
        return ((h * 60 + m) * 60 + s) * 1000


@dataclass(frozen=True)
class _Series:
    study: _Study
    number: int
    description: str
    body_part: str
    offset_s: int
    extra: Mapping[str, object] = field(default_factory=dict)

    @property
    def uid(self) -> str:
        return self.study.uid(2, self.number)

    def sop_uid(self, number: int) -> str:
        """SOPInstanceUID of image ``number`` of this series."""
        return self.study.uid(3, self.number * 1000 + number)


@dataclass(frozen=True)
class _Plane:
    origin: Vec  # ImagePositionPatient: centre of the first transmitted pixel
    row: Vec  # direction of increasing column index
    col: Vec  # direction of increasing row index
    size: int
    spacing: float

    @property
    def normal(self) -> Vec:
        (a, b, c), (d, e, f) = self.row, self.col
        return (b * f - c * e, c * d - a * f, a * e - b * d)

    def coords(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Patient coordinates (mm) of every pixel centre."""
        r, c = np.indices((self.size, self.size), dtype=np.float64)
        r, c = r * self.spacing, c * self.spacing
        x, y, z = (self.origin[i] + c * self.row[i] + r * self.col[i] for i in range(3))
        return x, y, z


def _plane(center: Vec, axes: tuple[Vec, Vec], size: int, fov: float) -> _Plane:
    spacing = fov / size
    half = spacing * size / 2
    row, col = axes
    origin = tuple(center[i] - half * row[i] - half * col[i] for i in range(3))
    return _Plane((origin[0], origin[1], origin[2]), row, col, size, spacing)


class _Writer:
    """Write files below ``dest``; each file gets an mtime one second later."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.written: list[Path] = []

    def raw(self, rel: str, data: bytes) -> Path:
        path = self.dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        stamp = BASE_MTIME_NS + len(self.written) * 1_000_000_000
        os.utime(path, ns=(stamp, stamp))
        self.written.append(path)
        return path

    def dicom(self, rel: str, ds: Dataset) -> Path:
        return self.raw(rel, _encode(ds))


# ------------------------------------------------------------------- formatting
def _ds(value: float) -> str:
    """Format a decimal string value deterministically (at most 16 characters)."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _tm(ms: int) -> str:
    s, frac = divmod(ms, 1000)
    return f"{s // 3600:02d}{s // 60 % 60:02d}{s % 60:02d}.{frac:03d}"


def _encode(ds: Dataset) -> bytes:
    """Encode ``ds`` as a Part 10 file, explicit VR little endian."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = UID(IMPLEMENTATION_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION
    ds.file_meta = meta
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def _encode_bare(ds: Dataset) -> bytes:
    """Encode ``ds`` as a bare implicit VR data set: no preamble, no file meta."""
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, implicit_vr=True, little_endian=True)
    return buffer.getvalue()


# --------------------------------------------------------------------- phantoms
def _noise(shape: tuple[int, int], seed: int, amplitude: float) -> FloatArray:
    """Deterministic pseudo-noise in [-amplitude, amplitude] (integer hashing)."""
    r, c = np.indices(shape, dtype=np.uint64)
    h = (r * np.uint64(73856093)) ^ (c * np.uint64(19349663))
    h = (h ^ np.uint64(seed * 83492791)) * np.uint64(2654435761)
    h = h ^ (h >> np.uint64(15))
    unit: FloatArray = (h % np.uint64(2001)).astype(np.float64) / 1000.0 - 1.0
    return unit * amplitude


def _ellipsoid(
    x: FloatArray, y: FloatArray, z: FloatArray, center: Vec, semi: Vec
) -> npt.NDArray[np.bool_]:
    d = ((x - center[0]) / semi[0]) ** 2 + ((y - center[1]) / semi[1]) ** 2
    return (d + ((z - center[2]) / semi[2]) ** 2) <= 1.0


def _tube(
    x: FloatArray,
    y: FloatArray,
    z: FloatArray,
    center: tuple[float, float],
    semi: tuple[float, float],
    zrange: tuple[float, float],
) -> npt.NDArray[np.bool_]:
    """Elliptic cylinder along the z axis."""
    d = ((x - center[0]) / semi[0]) ** 2 + ((y - center[1]) / semi[1]) ** 2
    return (d <= 1.0) & (z >= zrange[0]) & (z <= zrange[1])


def _torso_hu(x: FloatArray, y: FloatArray, z: FloatArray, width: float) -> FloatArray:
    """Neck, chest and abdomen in Hounsfield units (LPS coordinates, mm)."""
    hu = np.full(x.shape, -1000.0)
    hu[_tube(x, y, z, (0, 0), (160 * width, 110), (-700, -160))] = -100.0  # fat
    hu[_tube(x, y, z, (0, 0), (148 * width, 98), (-700, -160))] = 40.0
    hu[_tube(x, y, z, (0, 0), (55, 50), (-160, 25))] = 40.0  # neck
    hu[_ellipsoid(x, y, z, (-55, 5, -345), (80, 75, 70))] = 60.0  # liver
    for side in (-1.0, 1.0):
        hu[_ellipsoid(x, y, z, (75 * side, -5, -255), (50, 70, 90))] = -850.0
        hu[_ellipsoid(x, y, z, (70 * side, 55, -400), (28, 25, 50))] = 150.0
    hu[_ellipsoid(x, y, z, (15, -35, -270), (55, 45, 50))] = 45.0  # heart
    hu[_tube(x, y, z, (20, 35), (12, 12), (-600, -190))] = 160.0  # aorta (contrast)
    hu[_tube(x, y, z, (0, 65), (16, 16), (-700, 25))] = 700.0  # vertebrae
    hu[_tube(x, y, z, (0, 90), (8, 8), (-700, 25))] = 10.0  # spinal canal
    return hu


def _head_labels(x: FloatArray, y: FloatArray, z: FloatArray, center: Vec) -> IntArray:
    """0 air, 1 scalp, 2 skull, 3 CSF (incl. ventricles), 4 grey, 5 white matter."""
    labels = np.zeros(x.shape, dtype=np.int64)
    semi = (72.0, 92.0, 88.0)
    for label, inset in ((1, 0.0), (2, 4.0), (3, 10.0), (4, 13.0), (5, 24.0)):
        inner = (semi[0] - inset, semi[1] - inset, semi[2] - inset)
        labels[_ellipsoid(x, y, z, center, inner)] = label
    for side in (-1.0, 1.0):  # lateral ventricles
        vent = (center[0] + 11 * side, center[1] - 5, center[2] + 12)
        labels[_ellipsoid(x, y, z, vent, (6, 22, 14))] = 3
    return labels


def _knee_labels(x: FloatArray, y: FloatArray, z: FloatArray) -> IntArray:
    """0 air, 1 fat, 2 muscle, 3 cortical bone, 4 marrow, 5 cartilage, 6 fluid."""
    labels = np.zeros(x.shape, dtype=np.int64)
    labels[x**2 + y**2 <= 55.0**2] = 1
    labels[x**2 + y**2 <= 45.0**2] = 2
    bones = (
        ((0.0, 5.0, 30.0), (28.0, 28.0, 24.0)),
        ((0.0, 5.0, -30.0), (28.0, 28.0, 22.0)),
    )
    for grow, label in ((2.5, 5), (0.0, 3), (-3.0, 4)):
        for center, semi in bones:
            big = (semi[0] + grow, semi[1] + grow, semi[2] + grow)
            labels[_ellipsoid(x, y, z, center, big)] = label
        shaft = _tube(x, y, z, (0, 5), (28 + grow, 28 + grow), (-120, 120))
        labels[shaft & (np.abs(z) >= 30)] = label
        patella = (18 + grow, 9 + grow, 16 + grow)
        labels[_ellipsoid(x, y, z, (0, -38, 20), patella)] = label
    labels[_ellipsoid(x, y, z, (0, -25, 48), (16, 4, 14))] = 6  # suprapatellar fluid
    return labels


def _patient_a_hu(x: FloatArray, y: FloatArray, z: FloatArray) -> FloatArray:
    head = _head_labels(x, y, z, (0.0, 0.0, 80.0))
    lut = np.array([0.0, 30.0, 700.0, 8.0, 40.0, 28.0])
    return np.where(head > 0, lut[head], _torso_hu(x, y, z, 1.0))


def _patient_c_hu(x: FloatArray, y: FloatArray, z: FloatArray) -> FloatArray:
    return _torso_hu(x, y, z, 1.1)


def _brain(lut: tuple[float, ...]) -> Phantom:
    def phantom(x: FloatArray, y: FloatArray, z: FloatArray) -> FloatArray:
        return np.array(lut)[_head_labels(x, y, z, (0.0, 10.0, 20.0))]

    return phantom


def _knee_pd(x: FloatArray, y: FloatArray, z: FloatArray) -> FloatArray:
    lut = np.array([0.0, 1400.0, 450.0, 60.0, 1250.0, 900.0, 1800.0])
    return lut[_knee_labels(x, y, z)]


#            air  scalp skull  CSF  grey white
BRAIN_PD = (0.0, 1200.0, 80.0, 1300.0, 1150.0, 950.0)
BRAIN_T2 = (0.0, 420.0, 40.0, 1230.0, 500.0, 330.0)  # echo 2: darker except CSF
BRAIN_T1 = (0.0, 1400.0, 80.0, 250.0, 700.0, 950.0)
BRAIN_FLAIR = (0.0, 900.0, 60.0, 120.0, 900.0, 700.0)


# ---------------------------------------------------------------------- headers
def _header(series: _Series, number: int, plane: _Plane, thickness: float) -> Dataset:
    """Patient, study, series, equipment and plane modules of one image."""
    study, patient, device = series.study, series.study.patient, series.study.device
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = device.sop_class
    ds.SOPInstanceUID = series.sop_uid(number)
    for kw in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"):
        setattr(ds, kw, study.date)
    ds.StudyTime = study.time
    ds.SeriesTime = _tm(study.ms + series.offset_s * 1000)
    ds.AccessionNumber = f"ACC{study.date[2:]}{study.study_id:0>4}"
    ds.Modality = device.modality
    ds.Manufacturer = device.manufacturer
    ds.InstitutionName = "EXAMPLE GENERAL HOSPITAL"
    ds.ReferringPhysicianName = patient.referring
    ds.StationName = device.station
    ds.StudyDescription = study.description
    ds.SeriesDescription = series.description
    ds.ManufacturerModelName = device.model
    ds.PatientName = patient.name
    ds.PatientID = patient.pid
    ds.PatientBirthDate = patient.birth
    ds.PatientSex = patient.sex
    ds.PatientAge = f"{(int(study.date) - int(patient.birth)) // 10000:03d}Y"
    ds.BodyPartExamined = series.body_part
    ds.DeviceSerialNumber = device.serial
    ds.PatientPosition = "HFS" if series.body_part != "KNEE" else "FFS"
    ds.StudyInstanceUID = study.uid(1, 1)
    ds.SeriesInstanceUID = series.uid
    ds.StudyID = study.study_id
    ds.SeriesNumber = series.number
    ds.InstanceNumber = number
    ds.FrameOfReferenceUID = study.uid(4, 1)
    ds.PositionReferenceIndicator = ""
    ds.ImagePositionPatient = [_ds(v) for v in plane.origin]
    ds.ImageOrientationPatient = [_ds(v) for v in (*plane.row, *plane.col)]
    ds.SliceLocation = _ds(
        sum(o * n for o, n in zip(plane.origin, plane.normal, strict=True))
    )
    ds.PixelSpacing = [_ds(plane.spacing), _ds(plane.spacing)]
    ds.SliceThickness = _ds(thickness)
    for keyword, value in series.extra.items():
        setattr(ds, keyword, value)
    return ds


def _pixels(
    ds: Dataset, values: FloatArray, *, bits: int, signed: bool, window: tuple[int, int]
) -> None:
    """Store ``values`` (already in stored-value units) as MONOCHROME2 pixels."""
    low, high = (
        (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    )
    stored = np.clip(np.rint(values), low, high).astype("<i2" if signed else "<u2")
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = stored.shape
    ds.BitsAllocated = 16
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = int(signed)
    ds.WindowCenter, ds.WindowWidth = str(window[0]), str(window[1])
    ds.PixelData = stored.tobytes()


def _times(ds: Dataset, series: _Series, acq: int, ms: int) -> None:
    ds.AcquisitionNumber = acq
    ds.AcquisitionTime = _tm(series.study.ms + series.offset_s * 1000 + ms)
    ds.ContentTime = _tm(series.study.ms + series.offset_s * 1000 + ms + 1500)


def _ct(
    series: _Series,
    number: int,
    plane: _Plane,
    phantom: Phantom,
    *,
    thickness: float,
    window: tuple[int, int] = (40, 400),
) -> Dataset:
    """One axial CT image of ``phantom`` (HU) on ``plane``."""
    ds = _header(series, number, plane, thickness)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    _times(ds, series, 2, 20_000 + 250 * number)
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "-1024", "1", "HU"
    seed = series.number * 1000 + number
    hu = phantom(*plane.coords()) + _noise((plane.size,) * 2, seed, 8)
    _pixels(ds, hu + 1024, bits=12, signed=False, window=window)
    return ds


def _mr(
    series: _Series,
    number: int,
    plane: _Plane,
    phantom: Phantom,
    slab: tuple[float, float],
    echo: tuple[int, float],
) -> Dataset:
    """One MR image; ``slab`` is (thickness, gap) mm, ``echo`` (number, TE ms)."""
    ds = _header(series, number, plane, slab[0])
    ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
    _times(ds, series, 1, 4_000 * number)
    ds.SpacingBetweenSlices = _ds(slab[0] + slab[1])
    ds.EchoNumbers, ds.EchoTime = echo[0], _ds(echo[1])
    seed = series.number * 1000 + number
    values = phantom(*plane.coords()) + _noise((plane.size,) * 2, seed, 25)
    _pixels(ds, np.maximum(values, 0.0), bits=16, signed=True, window=(700, 1400))
    return ds


def _ct_extra(protocol: str, kernel: str, tilt: float = 0.0) -> dict[str, object]:
    return {
        "ProtocolName": protocol,
        "KVP": "120",
        "ConvolutionKernel": kernel,
        "GantryDetectorTilt": _ds(tilt),
        "XRayTubeCurrent": 180,
    }


def _mr_extra(
    protocol: str, seq: str, variant: str, tr: float, ti: float = 0.0
) -> dict[str, object]:
    extra: dict[str, object] = {
        "ProtocolName": protocol,
        "ScanningSequence": seq.split("\\"),
        "SequenceVariant": variant.split("\\"),
        "MRAcquisitionType": "2D",
        "RepetitionTime": _ds(tr),
        "FlipAngle": "90",
        "MagneticFieldStrength": "1.5",
        "ImagingFrequency": "63.86",
    }
    if ti:
        extra["InversionTime"] = _ds(ti)
    return extra


# ----------------------------------------------------------------------- people
PATIENT_A = _Patient("DOE^JOHN", "PAT001", "19580612", "M", "SMITH^ANNA^^DR")
PATIENT_B = _Patient("ROE^JANE", "PAT002", "19750923", "F", "BROWN^PETER^^DR")
PATIENT_C = _Patient("Müller^Jürgen", "PAT003", "19621130", "M", "Schäfer^Bernd^^Dr.")
CT_SCANNER = _Device(
    "SIEMENS", "SOMATOM Definition AS", "CTAWP83504", "83504", "CT", CT_IMAGE_STORAGE
)
MR_SCANNER = _Device(
    "GE MEDICAL SYSTEMS", "SIGNA HDxt", "GEMR15A", "4057621", "MR", MR_IMAGE_STORAGE
)


# ----------------------------------------------------------------------- series
def _localizer(series: _Series) -> Dataset:
    """Coronal CT topogram (projection image) stored as image 1 of ``series``."""
    plane = _Plane((-192.0, 0.0, -40.0), *CORONAL, 128, 3.0)
    ds = _header(series, 1, plane, 1.0)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    _times(ds, series, 1, 0)
    x, _, z = plane.coords()
    water_mm: FloatArray = np.zeros(x.shape)
    for y in np.arange(-150.0, 151.0, 6.0):
        hu = _patient_a_hu(x, np.full(x.shape, y), z)
        water_mm += np.maximum(hu + 1000.0, 0.0) * 0.006
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "0", "1", "US"
    values = water_mm * 12.0 + _noise((x.shape[0], x.shape[1]), 1, 6)
    _pixels(ds, values, bits=12, signed=False, window=(1500, 3000))
    return ds


def _a_baseline(w: _Writer) -> None:
    """Patient A, CT chest: 48 axial slices + a localizer in the same series."""
    study = _Study(PATIENT_A, CT_SCANNER, "20230314", "081502", "CT THORAX", "1")
    extra = _ct_extra("Thorax Routine", "B31f")
    series = _Series(study, 2, "Thorax 2.5 B31f", "CHEST", 45, extra)
    folder = "PAT001_DOE_JOHN/20230314_CT_THORAX/SE000002"
    w.dicom(f"{folder}/IM000001", _localizer(series))
    for k in range(48):
        plane = _plane((0.0, 0.0, -300.0 + 2.5 * k), AXIAL, 128, 350.0)
        ds = _ct(series, k + 2, plane, _patient_a_hu, thickness=2.5)
        if k + 2 == 31:
            ds.PatientName = "DOE^JON"  # typo, corrected by a later resend
        w.dicom(f"{folder}/IM{k + 2:06d}", ds)


def _a_followup(w: _Writer) -> None:
    """Patient A follow-up: tilted head series and a thorax series missing a slice."""
    desc = "CT HEAD + THORAX FOLLOW-UP"
    study = _Study(PATIENT_A, CT_SCANNER, "20230919", "104230", desc, "2")
    folder = "PAT001_DOE_JOHN/20230919_CT_HEAD_THORAX"
    extra = _ct_extra("Head Sequential", "H31s", TILT_DEG)
    head = _Series(study, 2, "Head seq 5.0 H31s tilt", "HEAD", 30, extra)
    tilt = math.radians(TILT_DEG)
    axes: tuple[Vec, Vec] = ((1.0, 0.0, 0.0), (0.0, math.cos(tilt), math.sin(tilt)))
    for k in range(30):  # the table moves along z; the planes are tilted
        plane = _plane((0.0, 0.0, 20.0 + 5.0 * k), axes, 128, 250.0)
        ds = _ct(head, k + 1, plane, _patient_a_hu, thickness=5.0, window=(40, 80))
        w.dicom(f"{folder}/2_HEAD_5.0_H31s/IM-0002-{k + 1:04d}.dcm", ds)
    extra = _ct_extra("Thorax Nodule", "B70f")
    chest = _Series(study, 3, "Thorax 3.0 B70f", "CHEST", 420, extra)
    for k in range(24):
        if k + 1 == 13:
            continue  # lost in transfer: a 6 mm gap between images 12 and 14
        plane = _plane((0.0, 0.0, -260.0 + 3.0 * k), AXIAL, 128, 350.0)
        ds = _ct(chest, k + 1, plane, _patient_a_hu, thickness=3.0)
        w.dicom(f"{folder}/3_THORAX_3.0_B70f/IM-0003-{k + 1:04d}.dcm", ds)


def _b_brain(w: _Writer) -> str:
    """Patient B, MR brain; returns the SOPInstanceUID that patient C reuses."""
    desc = "MR BRAIN W/O CONTRAST"
    study = _Study(PATIENT_B, MR_SCANNER, "20230502", "140510", desc, "4711")
    root = "PAT002_ROE_JANE/MR_BRAIN_20230502"
    misfiled = "PAT001_DOE_JOHN/20230314_CT_THORAX"  # the CT study of patient A
    extra = _mr_extra("BRAIN ROUTINE", "SE", "SK", 3000.0)
    dual = _Series(study, 3, "AX PD/T2 DUAL ECHO", "BRAIN", 120, extra)
    for k in range(20):
        plane = _plane((0.0, 0.0, -40.0 + 6.0 * k), AXIAL, 64, 230.0)
        for echo, te, lut in ((1, 12.0, BRAIN_PD), (2, 96.0, BRAIN_T2)):
            number = 2 * k + echo
            ds = _mr(dual, number, plane, _brain(lut), (5.0, 1.0), (echo, te))
            folder = f"{root}/S3_AX_PD_T2" if number < 38 else misfiled
            w.dicom(f"{folder}/{ds.SOPInstanceUID}.dcm", ds)
    extra = _mr_extra("BRAIN ROUTINE", "SE", "NONE", 500.0)
    t1 = _Series(study, 4, "SAG T1 SE", "BRAIN", 480, extra)
    for k in range(20):
        plane = _plane((57.0 - 6.0 * k, 10.0, 20.0), SAGITTAL, 64, 230.0)
        ds = _mr(t1, k + 1, plane, _brain(BRAIN_T1), (5.0, 1.0), (1, 14.0))
        w.dicom(f"{root}/S4_SAG_T1/{ds.SOPInstanceUID}.dcm", ds)
    flair = _mr_extra("BRAIN ROUTINE", "SE\\IR", "SK\\SP", 9000.0, 2200.0)
    halves = [
        _Series(study, n, "AX T2 FLAIR", "BRAIN", 890 + 2 * n, flair) for n in (5, 6)
    ]
    for k in range(20):  # one acquisition, 5 mm apart; odd slices -> 5, even -> 6
        plane = _plane((0.0, 0.0, -40.0 + 5.0 * k), AXIAL, 64, 230.0)
        half = halves[k % 2]
        ds = _mr(half, k // 2 + 1, plane, _brain(BRAIN_FLAIR), (5.0, 0.0), (1, 120.0))
        w.dicom(f"{root}/S{half.number}_AX_T2_FLAIR/{ds.SOPInstanceUID}.dcm", ds)
    return t1.sop_uid(20)


def _c_abdomen(w: _Writer) -> None:
    """Patient C, CT abdomen: one bare (no preamble) image and a truncated file."""
    study = _Study(PATIENT_C, CT_SCANNER, "20231107", "093000", "CT ABDOMEN", "3")
    extra = _ct_extra("Abdomen Routine", "B30f")
    series = _Series(study, 2, "Abdomen 5.0 B30f", "ABDOMEN", 60, extra)
    folder = "PAT003_MUELLER_JUERGEN/DICOM/ST000001/SE000001"
    for k in range(21):
        plane = _plane((0.0, 0.0, -425.0 + 5.0 * k), AXIAL, 128, 380.0)
        ds = _ct(series, k + 1, plane, _patient_c_hu, thickness=5.0)
        if k + 1 == 8:
            w.raw(f"{folder}/IM000008", _encode_bare(ds))
        elif k + 1 == 21:  # cut in the middle of the pixel data
            data = _encode(ds)
            w.raw(f"{folder}/IM000021", data[: len(data) - len(ds.PixelData) // 2])
        else:
            w.dicom(f"{folder}/IM{k + 1:06d}", ds)


def _c_knee(w: _Writer, conflicting_uid: str) -> None:
    """Patient C, MR knee; image 6 carries ``conflicting_uid`` (from patient B)."""
    study = _Study(PATIENT_C, MR_SCANNER, "20231121", "162000", "MR KNEE LEFT", "4980")
    extra = _mr_extra("KNEE", "SE", "SK", 2500.0)
    series = _Series(study, 3, "SAG PD FSE", "KNEE", 200, extra)
    for k in range(12):
        plane = _plane((22.0 - 4.0 * k, 0.0, 0.0), SAGITTAL, 64, 160.0)
        ds = _mr(series, k + 1, plane, _knee_pd, (3.5, 0.5), (1, 30.0))
        if k + 1 == 6:
            ds.SOPInstanceUID = conflicting_uid
        w.dicom(f"PAT003_MUELLER_JUERGEN/DICOM/ST000002/SE000003/IM{k + 1:06d}", ds)


def _extras(w: _Writer) -> None:
    """A non-DICOM file, then the identical and the modified resend (newest)."""
    w.raw("notes.txt", b"CD import 2024-01-02 by PACS admin.\nPAT001: name typo?\n")
    folder = "PAT001_DOE_JOHN/20230314_CT_THORAX/SE000002"
    w.raw("resent/20230315/IM000021", (w.dest / folder / "IM000021").read_bytes())
    ds = pydicom.dcmread(w.dest / folder / "IM000031")
    ds.PatientName = "DOE^JOHN"
    w.dicom("resent/20230315/IM000031", ds)


# -------------------------------------------------------------------------- api
def write_sample(dest: str | os.PathLike[str], *, force: bool = False) -> list[Path]:
    """Write the sample into ``dest`` and return the written paths, sorted.

    Parameters
    ----------
    dest : str or os.PathLike
        Target folder. Created if missing; it must be empty unless ``force``.
    force : bool, default False
        Write into a non-empty folder, overwriting the sample's own files.
        Other files already there are left alone (nothing is deleted).

    Returns
    -------
    list of pathlib.Path
        Every written file, sorted.

    Raises
    ------
    FileExistsError
        If ``dest`` is a non-empty folder and ``force`` is false.
    NotADirectoryError
        If ``dest`` exists and is not a folder.
    """
    root = Path(dest)
    if root.exists() and not root.is_dir():
        msg = f"{root} exists and is not a folder"
        raise NotADirectoryError(msg)
    if root.is_dir() and any(root.iterdir()) and not force:
        msg = f"{root} is not empty; pass force=True (--force) to write into it anyway"
        raise FileExistsError(msg)
    root.mkdir(parents=True, exist_ok=True)
    w = _Writer(root)
    _a_baseline(w)
    _a_followup(w)
    conflicting_uid = _b_brain(w)
    _c_abdomen(w)
    _c_knee(w, conflicting_uid)
    _extras(w)
    # The description of every case, last; a correct tool reports it as not_dicom.
    w.raw(
        "README.md", (Path(__file__).parent / "data" / "sample-README.md").read_bytes()
    )
    return sorted(w.written)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point: ``python -m dicomkit.sample DEST [--force]``.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; defaults to ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success, 1 if ``DEST`` cannot be used.
    """
    parser = argparse.ArgumentParser(
        prog="python -m dicomkit.sample",
        description="Write dicomkit's deterministic synthetic DICOM sample.",
    )
    parser.add_argument("dest", help="target folder (new or empty)")
    parser.add_argument(
        "--force", action="store_true", help="write into a non-empty folder"
    )
    args = parser.parse_args(argv)
    try:
        paths = write_sample(args.dest, force=args.force)
    except (FileExistsError, NotADirectoryError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    sys.stdout.write(f"wrote {len(paths)} files to {args.dest}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
