"""Single-frame DICOM series of any geometry, written by code, for the NIfTI tests.

Each :class:`SeriesSpec` is one series: an orientation (axial, sagittal, coronal,
oblique), a step between slices (along the normal, or along the table for a gantry
tilt), slices left out (a gap), a file order that is not the spatial order. The
pixels are distinct everywhere (a ramp over column, row and slice), so a flip, a
transpose or a wrong slice order shows, and the grid is not square (rows ≠
columns, row spacing ≠ column spacing) so a swapped axis shows too.

>>> from tests.series_factory import SPECS, write_series
>>> paths = write_series(tmp_path / "axial", SPECS["axial"])   # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, MRImageStorage

ROOT = "1.2.826.0.1.3680043.10.1234.77."  # the tests' illustrative UID root

Vec = tuple[float, float, float]


def _unit(v: Sequence[float] | npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    a = np.asarray(v, dtype=np.float64)
    result: npt.NDArray[np.float64] = a / np.linalg.norm(a)
    return result


def _rotation(axis: Vec, degrees: float) -> npt.NDArray[np.float64]:
    """Rodrigues: the rotation by ``degrees`` about ``axis``."""
    k = _unit(axis)
    t = math.radians(degrees)
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    result: npt.NDArray[np.float64] = (
        np.eye(3) + math.sin(t) * cross + (1 - math.cos(t)) * cross @ cross
    )
    return result


@dataclass(frozen=True)
class SeriesSpec:
    """One series to write; see the module docstring.

    ``row`` and ``column`` are ImageOrientationPatient's two direction cosines;
    ``step`` is the vector from one slice's ImagePositionPatient to the next
    (``None``: ``spacing`` along the normal). ``missing`` are slice indices that
    are not written. ``reverse_files`` numbers the files against the spatial order.
    """

    name: str
    row: Vec
    column: Vec
    n_slices: int = 10
    rows: int = 24
    columns: int = 20
    pixel_spacing: tuple[float, float] = (0.8, 0.7)  # (between rows, between columns)
    spacing: float = 2.5
    step: Vec | None = None
    origin: Vec = (-8.0, -9.5, -30.0)
    missing: tuple[int, ...] = ()
    reverse_files: bool = False
    modality: str = "CT"
    gantry_tilt: float | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def orientation(self) -> list[float]:
        return [*self.row, *self.column]

    @property
    def normal(self) -> npt.NDArray[np.float64]:
        cross: npt.NDArray[np.float64] = np.cross(self.row, self.column).astype(
            np.float64
        )
        return _unit(cross)

    @property
    def step_vector(self) -> npt.NDArray[np.float64]:
        if self.step is not None:
            return np.asarray(self.step, dtype=np.float64)
        return self.normal * self.spacing

    def positions(self) -> list[list[float]]:
        """ImagePositionPatient of every planned slice (written or missing)."""
        o = np.asarray(self.origin, dtype=np.float64)
        return [list(o + k * self.step_vector) for k in range(self.n_slices)]

    def stored(self, k: int) -> npt.NDArray[np.uint16]:
        """The stored pixel values of planned slice ``k``: (rows, columns)."""
        j, i = np.mgrid[0 : self.rows, 0 : self.columns]
        values: npt.NDArray[np.uint16] = (100 + i + 37 * j + 1000 * k).astype(np.uint16)
        return values


def _oblique() -> tuple[Vec, Vec]:
    r = _rotation((1.0, 0.3, 0.2), 23.0) @ _rotation((0.0, 0.0, 1.0), 17.0)
    row = tuple(float(v) for v in (r @ [1.0, 0.0, 0.0]).round(6))
    column = tuple(float(v) for v in (r @ [0.0, 1.0, 0.0]).round(6))
    return row, column  # type: ignore[return-value]


_TILT = 12.0
_C, _S = math.cos(math.radians(_TILT)), math.sin(math.radians(_TILT))

#: The geometries every NIfTI test runs on.
SPECS: dict[str, SeriesSpec] = {
    "axial": SeriesSpec("axial", (1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
    "sagittal": SeriesSpec(
        "sagittal",
        (0.0, 1.0, 0.0),
        (0.0, 0.0, -1.0),
        modality="MR",
        extra={"EchoTime": 12.0, "RepetitionTime": 500.0, "FlipAngle": 90.0},
    ),
    "coronal": SeriesSpec("coronal", (1.0, 0.0, 0.0), (0.0, 0.0, -1.0), spacing=3.0),
    "oblique": SeriesSpec("oblique", *_oblique(), spacing=2.0),
    "tilted": SeriesSpec(
        "tilted",
        (1.0, 0.0, 0.0),
        (0.0, round(_C, 6), round(_S, 6)),
        step=(0.0, 0.0, 3.0),
        gantry_tilt=_TILT,
    ),
    "reversed": SeriesSpec(
        "reversed", (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), reverse_files=True
    ),
    "gap": SeriesSpec(
        "gap", (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), n_slices=12, missing=(5,)
    ),
}


def write_series(folder: Path, spec: SeriesSpec, *, number: int = 7) -> list[Path]:
    """Write ``spec`` into ``folder`` (one file per written slice); the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = [k for k in range(spec.n_slices) if k not in spec.missing]
    order = list(reversed(written)) if spec.reverse_files else written
    uid = f"{ROOT}{number}.{sum(map(ord, spec.name))}"
    paths = []
    for instance, k in enumerate(order, start=1):
        ds = _dataset(spec, k, instance, uid, number)
        path = folder / f"IM{instance:04d}.dcm"
        dcmwrite(path, ds, enforce_file_format=True)
        paths.append(path)
    return paths


def _dataset(spec: SeriesSpec, k: int, instance: int, uid: str, number: int) -> Dataset:
    sop_class = CTImageStorage if spec.modality == "CT" else MRImageStorage
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = f"{uid}.{k + 1}"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientID = "NIFTI01"
    ds.PatientName = "Factory^Series"
    ds.PatientBirthDate = "19800101"
    ds.PatientSex = "O"
    ds.StudyInstanceUID = f"{ROOT}{number}.1"
    ds.StudyDate = "20240301"
    ds.StudyTime = "120000"
    ds.StudyDescription = "NIFTI FACTORY"
    ds.AccessionNumber = "ACC77"
    ds.StudyID = "77"
    ds.SeriesInstanceUID = uid
    ds.SeriesNumber = number
    ds.SeriesDescription = spec.name
    ds.Modality = spec.modality
    ds.Manufacturer = "DICOMKIT FACTORY"
    ds.FrameOfReferenceUID = f"{ROOT}{number}.4"
    ds.InstanceNumber = instance
    ds.AcquisitionNumber = 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL" if spec.name == "axial" else "OTHER"]
    ds.ImagePositionPatient = [round(v, 6) for v in spec.positions()[k]]
    ds.ImageOrientationPatient = spec.orientation
    ds.PixelSpacing = list(spec.pixel_spacing)
    ds.SliceThickness = spec.spacing if spec.step is None else 3.0
    if spec.gantry_tilt is not None:
        ds.GantryDetectorTilt = spec.gantry_tilt
    ds.Rows = spec.rows
    ds.Columns = spec.columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    if spec.modality == "CT":
        ds.RescaleSlope = 1
        ds.RescaleIntercept = -1024
        ds.RescaleType = "HU"
    for key, value in spec.extra.items():
        setattr(ds, key, value)
    ds.PixelData = spec.stored(k).astype("<u2").tobytes()
    return ds


def write_echoes(
    folder: Path,
    spec: SeriesSpec,
    *,
    echoes: Sequence[float] = (12.0, 96.0),
    number: int = 8,
    dynamic: bool = False,
) -> list[Path]:
    """``spec`` acquired once per echo time, into one series (as a dual-echo MR):
    EchoNumbers 1, 2 …, the same positions, darker pixels for later echoes. With
    ``dynamic``, time points instead (TemporalPositionIdentifier 1, 2 …, TriggerTime
    the ``echoes`` values, one echo)."""
    folder.mkdir(parents=True, exist_ok=True)
    uid = f"{ROOT}{number}.{sum(map(ord, spec.name))}"
    paths = []
    for e, echo_time in enumerate(echoes, start=1):
        for k in range(spec.n_slices):
            instance = (e - 1) * spec.n_slices + k + 1
            ds = _dataset(spec, k, instance, uid, number)
            ds.SOPInstanceUID = f"{uid}.{e}.{k + 1}"
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            if dynamic:
                ds.TemporalPositionIdentifier = e
                ds.TriggerTime = echo_time
                ds.EchoNumbers = 1
                ds.EchoTime = 12.0
            else:
                ds.EchoNumbers = e
                ds.EchoTime = echo_time
            ds.PixelData = (spec.stored(k) // e).astype("<u2").tobytes()
            path = folder / f"IM{instance:04d}.dcm"
            dcmwrite(path, ds, enforce_file_format=True)
            paths.append(path)
    return paths
