"""NIfTI export, the pure part: affines, axis order, gaps, sidecars and manifests.

Nothing here reads or writes a file (:mod:`dicomkit.export` and :mod:`dicomkit.io.nifti` do, with nibabel);
everything is a function of a :class:`~dicomkit.volume.Volume`, numpy arrays or
instance frames, so every rule is tested without disk.

The geometry, as in nibabel (``DPCS_TO_TAL``) and dcm2niix ("dicom LPS to nifti
RAS"): DICOM patient coordinates are LPS (x to the patient's left, y posterior,
z head), NIfTI's are RAS, so

    affine_RAS = diag(−1, −1, 1, 1) · affine_LPS

and the voxel index order is NIfTI's ``(i, j, k[, t])`` = dicomkit's
``(x, y, z[, t])`` = (column, row, slice[, repeat]): the ``(z, y, x)`` array is
transposed, never resampled or flipped. With a gantry tilt the slice axis of the
affine keeps the shear the positions show (``tilt="shear"``).

>>> import numpy as np
>>> ras_affine(np.eye(4))[:3, :3].diagonal().tolist()
[-1.0, -1.0, 1.0]
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from dicomkit.exceptions import NiftiExportError

__all__ = [
    "BIDS_KEYS",
    "IDENTIFYING_KEYS",
    "LPS_TO_RAS",
    "MANIFEST_SCHEMA",
    "GapFill",
    "Tilt",
    "corners",
    "fill_gaps",
    "manifest_row",
    "nifti_array",
    "ras_affine",
    "sidecar",
    "slice_corner_error",
    "storage_array",
    "tilt_degrees",
]

Tilt = Literal["shear", "refuse"]

#: DICOM LPS → NIfTI RAS: x and y change sign.
LPS_TO_RAS: npt.NDArray[np.float64] = np.diag([-1.0, -1.0, 1.0, 1.0])

#: The manifest ``col.to_nifti`` returns and writes beside the files.
MANIFEST_SCHEMA: dict[str, pl.DataType] = {
    "SeriesInstanceUID": pl.Utf8(),
    "group": pl.Int64(),
    "path": pl.Utf8(),
    "sidecar": pl.Utf8(),
    "shape": pl.List(pl.Int64()),
    "spacing": pl.List(pl.Float64()),
    "status": pl.Utf8(),
    "reason": pl.Utf8(),
}

_MS = 0.001  # DICOM times (EchoTime …) are in ms, BIDS wants seconds

#: dcm2niix's BIDS sidecar key ← the instance column it comes from, and a unit
#: factor (None: the value as it is). Written only where the value is the same for
#: every image of the file.
BIDS_KEYS: tuple[tuple[str, str, float | None], ...] = (
    ("Modality", "Modality", None),
    ("Manufacturer", "Manufacturer", None),
    ("ManufacturersModelName", "ManufacturerModelName", None),
    ("StationName", "StationName", None),
    ("BodyPart", "BodyPartExamined", None),
    ("StudyDescription", "StudyDescription", None),
    ("SeriesDescription", "SeriesDescription", None),
    ("ProtocolName", "ProtocolName", None),
    ("ImageType", "ImageType", None),
    ("SeriesNumber", "SeriesNumber", None),
    ("AcquisitionTime", "AcquisitionTime", None),
    ("AcquisitionNumber", "AcquisitionNumber", None),
    ("SliceThickness", "SliceThickness", None),
    ("SpacingBetweenSlices", "SpacingBetweenSlices", None),
    ("EchoNumber", "EchoNumbers", None),
    ("EchoTime", "EchoTime", _MS),
    ("RepetitionTime", "RepetitionTime", _MS),
    ("InversionTime", "InversionTime", _MS),
    ("FlipAngle", "FlipAngle", None),
    ("TriggerTime", "TriggerTime", _MS),
    ("DiffusionBValue", "DiffusionBValue", None),
    ("GantryDetectorTilt", "GantryDetectorTilt", None),
    ("ImageOrientationPatientDICOM", "ImageOrientationPatient", None),
)

#: Keys that identify a person, a visit or a place: written only with
#: ``identifying=True`` (dcm2niix's ``-ba n``).
IDENTIFYING_KEYS: tuple[tuple[str, str, float | None], ...] = (
    ("PatientName", "PatientName", None),
    ("PatientID", "PatientID", None),
    ("PatientBirthDate", "PatientBirthDate", None),
    ("PatientSex", "PatientSex", None),
    ("AccessionNumber", "AccessionNumber", None),
    ("StudyID", "StudyID", None),
    ("StudyDate", "StudyDate", None),
    ("SeriesDate", "SeriesDate", None),
    ("InstitutionName", "InstitutionName", None),
    ("StudyInstanceUID", "StudyInstanceUID", None),
)


#: Keys whose value is a list in BIDS, even of one item.
_LISTS = frozenset({"ImageType", "ImageOrientationPatientDICOM"})


# -- geometry ---------------------------------------------------------------------


def ras_affine(lps_affine: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The NIfTI (RAS) affine of a dicomkit (LPS) affine: ``diag(−1, −1, 1, 1) · LPS``.

    >>> import numpy as np
    >>> lps = np.eye(4); lps[:3, 3] = [10, 20, 30]
    >>> ras_affine(lps)[:3, 3].tolist()
    [-10.0, -20.0, 30.0]
    """
    lps = np.asarray(lps_affine, dtype=np.float64)
    if lps.shape != (4, 4):
        msg = f"an affine is a 4×4 matrix, not an array of shape {lps.shape}"
        raise ValueError(msg)
    result: npt.NDArray[np.float64] = LPS_TO_RAS @ lps
    return result


def nifti_array(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """dicomkit's ``(z, y, x)`` / ``(t, z, y, x)`` array in NIfTI's ``(x, y, z[, t])``
    index order: a transposed view, no copy (its Fortran order is the C order of
    ``array``, which is how NIfTI stores voxels).

    >>> import numpy as np
    >>> nifti_array(np.zeros((3, 4, 5))).shape
    (5, 4, 3)
    >>> nifti_array(np.zeros((2, 3, 4, 5))).shape
    (5, 4, 3, 2)
    """
    if array.ndim in (3, 4):
        view: npt.NDArray[Any] = array.transpose(tuple(range(array.ndim - 1, -1, -1)))
        return view
    msg = f"a volume array is (z, y, x) or (t, z, y, x), not of shape {array.shape}"
    raise ValueError(msg)


def corners(affine: npt.ArrayLike, shape_xyz: Sequence[int]) -> npt.NDArray[np.float64]:
    """The 8 corner voxel centres ``(8, 3)`` of a grid of ``shape_xyz`` (NIfTI order
    ``(i, j, k)``) in the space of ``affine``, ordered by ``(i, j, k)`` ∈ {0, n−1}³.
    """
    a = np.asarray(affine, dtype=np.float64)
    nx, ny, nz = (int(n) for n in shape_xyz[:3])
    ijk = np.array(
        [(i, j, k, 1.0) for i in (0, nx - 1) for j in (0, ny - 1) for k in (0, nz - 1)]
    )
    result: npt.NDArray[np.float64] = (ijk @ a.T)[:, :3]
    return result


def tilt_degrees(affine: npt.ArrayLike) -> float:
    """The angle (degrees) between an affine's slice axis and the normal of its
    image plane: 0 for an orthogonal stack, the gantry tilt for a tilted CT."""
    a = np.asarray(affine, dtype=np.float64)
    n = np.cross(a[:3, 0], a[:3, 1])
    k = a[:3, 2]
    denominator = float(np.linalg.norm(n) * np.linalg.norm(k))
    if denominator == 0:
        return 0.0
    cosine = abs(float(np.dot(n, k))) / denominator
    return math.degrees(math.acos(min(1.0, cosine)))


def is_orthogonal(affine: npt.ArrayLike, *, tol: float = 1e-6) -> bool:
    """Whether the three axes of ``affine`` are orthogonal (a qform can hold it)."""
    a = np.asarray(affine, dtype=np.float64)[:3, :3]
    unit = a / np.linalg.norm(a, axis=0)
    gram = unit.T @ unit
    return bool(np.allclose(gram, np.eye(3), atol=tol))


def slice_corner_error(
    ras: npt.ArrayLike,
    positions: Sequence[Sequence[float] | None],
    *,
    rows: int,
    columns: int,
    orientation: Sequence[float],
    pixel_spacing: Sequence[float],
    slots: Sequence[int] | None = None,
) -> float:
    """The largest distance (mm) between where the RAS affine puts the 4 corners of
    each slice and where DICOM puts them: ImagePositionPatient plus the row and
    column directions (ImageOrientationPatient) times PixelSpacing, x and y negated.

    ``slots`` gives the ``k`` index of each position (default ``0 … n−1``; after
    :func:`fill_gaps` the slices beside a gap skip an index). Slices without a
    position are skipped.
    """
    a = np.asarray(ras, dtype=np.float64)
    iop = np.asarray(orientation, dtype=np.float64)
    dy, dx = (float(v) for v in pixel_spacing[:2])
    row_dir, col_dir = iop[:3], iop[3:6]
    kept = [(i, p) for i, p in enumerate(positions) if p is not None]
    if not kept:
        return 0.0
    ks = np.asarray(
        [slots[i] if slots is not None else i for i, _ in kept], dtype=np.float64
    )
    ipp = np.asarray([p for _, p in kept], dtype=np.float64)  # (m, 3)
    ij = np.array(
        [(i, j) for i in (0, columns - 1) for j in (0, rows - 1)], dtype=np.float64
    )  # the 4 corners (column, row)
    in_plane = ij[:, :1] * dx * row_dir + ij[:, 1:] * dy * col_dir  # (4, 3)
    dicom = (ipp[:, None, :] + in_plane[None, :, :]) * np.diag(LPS_TO_RAS)[:3]
    nifti = (
        (ij @ a[:3, :2].T)[None, :, :] + ks[:, None, None] * a[:3, 2] + a[:3, 3]
    )  # (m, 4, 3)
    return float(np.max(np.linalg.norm(dicom - nifti, axis=2)))


@dataclass(frozen=True)
class GapFill:
    """A stack with its missing slices put back as empty (NaN) planes.

    Attributes
    ----------
    array
        The volume array with ``len(missing)`` more slices along ``z``.
    affine
        The LPS affine of the regular grid (step = the measured slice step).
    slots
        For each slice of the input, its ``z`` index in ``array``.
    missing
        The ``z`` indices of the empty planes (no image was there).
    """

    array: npt.NDArray[np.float32]
    affine: npt.NDArray[np.float64]
    slots: list[int]
    missing: list[int]


def fill_gaps(
    array: npt.NDArray[np.float32],
    positions: Sequence[Sequence[float]],
    affine: npt.ArrayLike,
    *,
    tol: float = 0.1,
) -> GapFill:
    """Put each slice of a stack with missing slices on its regular grid position.

    The step is the smallest distance between neighbouring positions (adjusted so
    that the last slice lies on the grid); each slice goes
    to the grid index nearest to its distance from the first, and the indices no
    slice takes are NaN planes (never interpolated). Slices that do not sit on the
    grid (within ``tol`` of a step) are an irregular stack, not a gap: refused.

    Raises
    ------
    NiftiExportError
        Fewer than 2 positions, repeated positions, or slices off the grid.

    >>> import numpy as np
    >>> filled = fill_gaps(np.zeros((3, 2, 2), np.float32),
    ...                    [[0, 0, 0], [0, 0, 3], [0, 0, 9]], np.eye(4))
    >>> filled.slots, filled.missing, filled.array.shape
    ([0, 1, 3], [2], (4, 2, 2))
    """
    p = np.asarray(positions, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] < 2:
        msg = f"filling gaps needs the positions of at least 2 slices, not {len(p)}"
        raise NiftiExportError(msg)
    span = p[-1] - p[0]
    length = float(np.linalg.norm(span))
    if length == 0:
        msg = "the first and last slices are at one position: not a stack with gaps"
        raise NiftiExportError(msg)
    along = (p - p[0]) @ (span / length)
    steps = np.diff(along)
    if np.any(steps <= 0):
        msg = "slice positions repeat or go backwards: split the series, it has no gap"
        raise NiftiExportError(msg)
    step = length / round(length / float(steps.min()))  # the grid the ends lie on
    exact = along / step
    slots = np.rint(exact).astype(int)
    off = np.abs(exact - slots)
    if float(off.max()) > tol:
        worst = int(off.argmax())
        msg = (
            f"slice {worst} is {off[worst] * step:.2f} mm off the {step:.2f} mm grid of "
            "its neighbours: the spacing is irregular, not a gap (not exported; "
            "resample it yourself if that is what you want)"
        )
        raise NiftiExportError(msg)
    n = int(slots[-1]) + 1
    shape = (*array.shape[:-3], n, *array.shape[-2:])
    filled = np.full(shape, np.nan, dtype=np.float32)
    filled[..., slots, :, :] = array
    lps = np.array(affine, dtype=np.float64)
    lps[:3, 2] = span / slots[-1]
    lps[:3, 3] = p[0]
    missing = sorted(set(range(n)) - {int(s) for s in slots})
    return GapFill(filled, lps, [int(s) for s in slots], missing)


def storage_array(
    array: npt.NDArray[np.floating[Any]], *, reuse: bool = False
) -> npt.NDArray[Any]:
    """``array`` in the smallest NIfTI data type that holds every value exactly:
    ``int16``/``uint16``/``int32`` for integer values (HU, stored MR values), else
    ``array`` itself as ``float32`` (NaN planes of a gap, fractional rescales).
    Never lossy. Same shape and C order as ``array``.

    The work is done one plane at a time into preallocated scratch planes (fresh
    memory is expensive: page faults cost more than the arithmetic). With
    ``reuse=True`` a C-contiguous ``float32`` input is overwritten: the integers
    are written into its own buffer (no new array), so ``array`` must not be used
    afterwards.

    >>> import numpy as np
    >>> storage_array(np.array([[[-1024.0, 3071.0]]], np.float32)).dtype
    dtype('int16')
    >>> storage_array(np.array([[[0.5]]], np.float32)).dtype
    dtype('float32')
    """
    as_float = np.asarray(array, dtype=np.float32)
    if as_float.size == 0 or as_float.ndim < 2:
        return as_float
    planes = as_float.reshape(-1, *as_float.shape[-2:])
    scratch = np.empty(planes.shape[1:], dtype=np.float32)
    differs = np.empty(planes.shape[1:], dtype=bool)
    low, high = math.inf, -math.inf
    for plane in planes:  # is every value an integer, and in which range?
        plane_low, plane_high = float(plane.min()), float(plane.max())
        if not (math.isfinite(plane_low) and math.isfinite(plane_high)):
            return as_float  # NaN (a gap's empty plane) or inf
        np.rint(plane, out=scratch)
        np.not_equal(scratch, plane, out=differs)
        if differs.any():
            return as_float  # a fraction: keep the floats
        low, high = min(low, plane_low), max(high, plane_high)
    for candidate in (np.int16, np.uint16, np.int32):
        info = np.iinfo(candidate)
        if info.min <= low and high <= info.max:
            break
    else:
        return as_float
    if reuse and as_float is array and as_float.flags.c_contiguous:
        # plane i's integers land at or before plane i's floats: read it first
        out = as_float.reshape(-1).view(candidate)[: as_float.size]
        out = out.reshape(planes.shape)
    else:
        out = np.empty(planes.shape, dtype=candidate)
    for index, plane in enumerate(planes):
        np.copyto(scratch, plane)
        np.copyto(out[index], scratch, casting="unsafe")
    shaped: npt.NDArray[Any] = out.reshape(as_float.shape)
    return shaped


# -- sidecar and manifest -----------------------------------------------------------


def _json_value(value: Any, factor: float | None) -> Any:
    if isinstance(value, dt.time):  # as dcm2niix: 08:15:47.000000
        return value.isoformat(timespec="microseconds")
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, list):
        return [_json_value(v, None) for v in value]
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return round(value * factor, 9) if factor is not None else value
    if isinstance(value, int) and factor is not None:
        return round(value * factor, 9)
    return value


def _constant(rows: pl.DataFrame, column: str) -> tuple[bool, Any]:
    """(True, value) when every row has the same non-null ``column`` value."""
    if column not in rows.columns or rows.is_empty():
        return False, None
    values = rows[column].to_list()
    first = values[0]
    if first is None or first == "" or first == []:
        return False, None
    return all(v == first for v in values[1:]), first


def sidecar(
    rows: pl.DataFrame,
    *,
    series_instance_uid: str,
    sop_instance_uids: Sequence[str | None],
    frame_numbers: Sequence[int] = (),
    repeat_key: str | None = None,
    repeat_values: Sequence[Any] = (),
    tilt: Tilt = "shear",
    tilt_deg: float = 0.0,
    missing_slices: Sequence[int] = (),
    group: dict[str, Any] | None = None,
    identifying: bool = False,
    version: str = "",
) -> dict[str, Any]:
    """The BIDS sidecar of one NIfTI file, with dcm2niix's key names.

    ``rows`` are the instances the file was made from. A key is written only
    when dicomkit knows its value and it is the same for every image (so a 4-D
    file of two echoes has no ``EchoTime`` but ``RepeatKey``/``RepeatValues``);
    times are in seconds. Then what dcm2niix does not say: the
    ``SeriesInstanceUID``, the ``SOPInstanceUIDs`` of the voxel planes in
    ``k``-order (``t``-major for 4-D; ``null`` for an empty plane of a gap), the
    gantry tilt handling, the missing slices and the split group. Identifying
    values (:data:`IDENTIFYING_KEYS`) only with ``identifying=True``.

    >>> import polars as pl
    >>> rows = pl.DataFrame({"Modality": ["MR"], "EchoTime": [12.0],
    ...                      "PatientName": ["DOE^JOHN"]})
    >>> car = sidecar(rows, series_instance_uid="1.2.3", sop_instance_uids=["1.2.3.4"])
    >>> car["Modality"], car["EchoTime"], "PatientName" in car
    ('MR', 0.012, False)
    """
    out: dict[str, Any] = {}
    keys = BIDS_KEYS + (IDENTIFYING_KEYS if identifying else ())
    for key, column, factor in keys:
        same, value = _constant(rows, column)
        if same:
            if isinstance(value, list) and len(value) == 1 and key not in _LISTS:
                value = value[0]  # EchoNumbers is multi-valued in DICOM, one in BIDS
            out[key] = _json_value(value, factor)
    out["ConversionSoftware"] = "dicomkit"
    if version:
        out["ConversionSoftwareVersion"] = version
    out["SeriesInstanceUID"] = series_instance_uid
    out["SOPInstanceUIDs"] = list(sop_instance_uids)
    if frame_numbers and any(f != 1 for f in frame_numbers):
        out["FrameNumbers"] = list(frame_numbers)
    if repeat_key is not None:
        out["RepeatKey"] = repeat_key
        out["RepeatValues"] = [_json_value(v, None) for v in repeat_values]
    out["GantryTilt"] = {
        "measured_deg": round(tilt_deg, 6),
        "handling": "none"
        if tilt_deg < 1e-3
        else (
            "shear kept in the affine (sform); qform not set"
            if tilt == "shear"
            else tilt
        ),
    }
    if missing_slices:
        out["MissingSlices"] = list(missing_slices)
    if group is not None:
        out["SplitGroup"] = group
    return out


def manifest_row(
    series_instance_uid: str,
    *,
    group: int | None = None,
    path: str | None = None,
    sidecar_path: str | None = None,
    shape: Sequence[int] | None = None,
    spacing: Sequence[float] | None = None,
    status: Literal["written", "refused"] = "written",
    reason: str | None = None,
) -> dict[str, Any]:
    """One row of the export manifest (:data:`MANIFEST_SCHEMA`)."""
    return {
        "SeriesInstanceUID": series_instance_uid,
        "group": group,
        "path": path,
        "sidecar": sidecar_path,
        "shape": list(shape) if shape is not None else None,
        "spacing": [float(s) for s in spacing] if spacing is not None else None,
        "status": status,
        "reason": reason,
    }
