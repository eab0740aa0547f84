"""Slice geometry: where the images of a series lie, from ImagePositionPatient.

Pure numpy on plain arrays, no frames, no files (the highdicom ``spatial`` style).
The rules follow ``split-verify-rules.md``:

* positions are projected on the normal ``n = r × c`` of ImageOrientationPatient;
* the reference spacing is the **median** gap between distinct positions (the first
  gap breaks when it is the missing one; ``(last − first)/(N − 1)`` is biased by
  gaps);
* a gap within ``missing_tol`` of an integer multiple ``k ≥ 2`` of the spacing means
  ``k − 1`` missing slices; any other gap off by more than
  ``max(spacing_abs_tol, spacing_rel_tol × spacing)`` is irregular;
* positions closer than ``duplicate_tol`` are the same position; when every
  position repeats the same number of times the series is a clean 4-D repeat;
* the tilt is the angle between the slice-stacking direction and the normal;
* one ordering for every consumer (verify, the volume, the viewer):
  :func:`slice_order` sorts along the normal, and breaks ties — and orders the
  slices that have no position, which come last — by InstanceNumber, then the
  frame (or mosaic tile) within the file, then the path;
* repeated positions are told apart by the first of :data:`REPEAT_KEYS` that takes
  the same set of distinct values at every position (:func:`repeat_axis`).

Nothing here interpolates or guesses: functions report what they measure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from dicomkit.schema import FRAME_AXIS_KEYS

__all__ = [
    "REPEAT_KEYS",
    "Gap",
    "SliceAnalysis",
    "along_normal",
    "analyse_positions",
    "cluster_orientations",
    "normal",
    "orientation_angle",
    "orientation_problem",
    "repeat_axis",
    "repeat_candidates",
    "slice_order",
    "stack_affine",
]

FloatArray = npt.NDArray[np.float64]

#: Defaults, with the range the surveyed tools use (split-verify-rules.md §3).
ORIENTATION_TOL = 1e-4  # max |Δ component| for "same orientation" (1e-6 … 1e-2)
ORTHOGONALITY_TOL = 1e-4  # |r·c| and |‖r‖ − 1| above this: invalid (dicom-numpy)
SPACING_ABS_TOL = 0.01  # mm (Slicer 0.01 … dcm2niix 0.2)
SPACING_REL_TOL = 0.01  # of the spacing (highdicom 1 % … OHIF 20 %)
MISSING_TOL = 0.1  # how close to an integer multiple a gap must be
DUPLICATE_TOL = 0.01  # mm (OHIF; GDCM and highdicom: exact)
TILT_TOL_DEG = 0.5  # degrees (highdicom ≈ 2.6°, dcm2niix ≈ 0.8°)


def normal(orientation: Sequence[float] | npt.NDArray[np.float64]) -> FloatArray:
    """The unit normal ``r × c`` of an ImageOrientationPatient ``(r, c)``."""
    iop = np.asarray(orientation, dtype=float)
    n = np.cross(iop[:3], iop[3:6])
    length = float(np.linalg.norm(n))
    unit: FloatArray = n / length if length > 0 else n  # numpy < 2.3 stubs: Any
    return unit


def along_normal(
    positions: Sequence[Sequence[float] | None], orientation: Sequence[float]
) -> FloatArray:
    """Each position projected on the normal of ``orientation`` (mm); NaN for a
    missing or malformed position."""
    n = normal(orientation)
    out = np.full(len(positions), np.nan)
    for i, position in enumerate(positions):
        if position is not None and len(position) == 3:
            out[i] = float(np.asarray(position, dtype=float) @ n)
    return out


def slice_order(
    positions: Sequence[Sequence[float] | None],
    orientation: Sequence[float] | None,
    *,
    instance_numbers: Sequence[int | None] | None = None,
    frames: Sequence[int | None] | None = None,
    paths: Sequence[str | None] | None = None,
) -> list[int]:
    """The one geometric order of slices: indices into the inputs.

    Ascending along the normal of ``orientation``; ties, and the slices without a
    position (which come last), by InstanceNumber (missing last), then ``frames``
    (the frame or mosaic tile within a file), then ``paths``, then input order.
    Used by verify, :func:`dicomkit.volume.build_volume` and the viewer, so all
    three show the same slice at the same index.

    Examples
    --------
    >>> slice_order([[0, 0, 5], None, [0, 0, 1], [0, 0, 1]], [1, 0, 0, 0, 1, 0],
    ...             instance_numbers=[1, 2, 4, 3])
    [3, 2, 0, 1]
    """
    count = len(positions)
    along = (
        along_normal(positions, orientation)
        if orientation is not None and len(orientation) == 6
        else np.full(count, np.nan)
    )
    numbers = instance_numbers or [None] * count
    within = frames or [None] * count
    names = paths or [None] * count

    def key(i: int) -> tuple[Any, ...]:
        placed = bool(np.isfinite(along[i]))
        return (
            not placed,
            float(along[i]) if placed else 0.0,
            numbers[i] is None,
            numbers[i] or 0,
            within[i] or 0,
            names[i] or "",
            i,
        )

    return sorted(range(count), key=key)


def orientation_problem(
    orientation: Sequence[float] | None, *, tol: float = ORTHOGONALITY_TOL
) -> str | None:
    """Why an ImageOrientationPatient is not two orthonormal directions, or None.

    Examples
    --------
    >>> orientation_problem([1, 0, 0, 0, 1, 0]) is None
    True
    >>> orientation_problem([1, 0, 0, 1, 0, 0])
    'row and column directions are not orthogonal (r·c = 1)'
    """
    if orientation is None or len(orientation) != 6:
        count = 0 if orientation is None else len(orientation)
        return f"has {count} values; ImageOrientationPatient needs 6"
    iop = np.asarray(orientation, dtype=float)
    if not np.all(np.isfinite(iop)):
        return "has values that are not finite numbers"
    r, c = iop[:3], iop[3:]
    for name, vector in (("row", r), ("column", c)):
        length = float(np.linalg.norm(vector))
        if abs(length - 1) > tol:
            return f"{name} direction has length {length:.6g}, not 1"
    dot = float(r @ c)
    if abs(dot) > tol:
        return f"row and column directions are not orthogonal (r·c = {dot:.6g})"
    return None


def orientation_angle(a: Sequence[float], b: Sequence[float]) -> float:
    """The angle in degrees between the normals of two orientations."""
    cosine = float(np.clip(abs(normal(a) @ normal(b)), 0.0, 1.0))
    return math.degrees(math.acos(cosine))


def cluster_orientations(
    orientations: Sequence[Sequence[float] | None], *, tol: float = ORIENTATION_TOL
) -> list[int]:
    """Label each orientation with a cluster; ``-1`` for a missing one.

    Two orientations are in one cluster when every component differs by at most
    ``tol`` from the cluster's first member. Cluster 0 is the largest (ties: the
    first met), so "the main orientation" is label 0.
    """
    centres: list[FloatArray] = []
    raw: list[int] = []
    for value in orientations:
        if value is None or len(value) != 6:
            raw.append(-1)
            continue
        iop = np.asarray(value, dtype=float)
        for index, centre in enumerate(centres):
            if float(np.max(np.abs(iop - centre))) <= tol:
                raw.append(index)
                break
        else:
            centres.append(iop)
            raw.append(len(centres) - 1)
    sizes = [raw.count(i) for i in range(len(centres))]
    ranking = sorted(range(len(centres)), key=lambda i: (-sizes[i], i))
    relabel = {old: new for new, old in enumerate(ranking)}
    return [relabel.get(label, -1) for label in raw]


@dataclass(frozen=True)
class Gap:
    """A step between two neighbouring positions that is not the regular spacing."""

    after: int  # index (into the sorted distinct positions) before the gap
    size: float  # mm along the normal
    missing: int  # slices missing (k − 1 for a k-fold gap); 0 when irregular


@dataclass(frozen=True)
class SliceAnalysis:
    """What the positions of one stack of slices say.

    ``order`` sorts the input along the normal (ties by input order);
    ``positions`` are the distinct positions along the normal, ascending;
    ``groups[i]`` lists the input indices at ``positions[i]``.
    """

    order: list[int]
    positions: list[float]
    groups: list[list[int]]
    spacing: float | None
    gaps: list[Gap] = field(default_factory=list)
    repeats: int | None = None  # R when every position holds exactly R slices
    tilt_deg: float = 0.0
    drift_mm: float = 0.0  # largest in-plane deviation from a straight stack

    @property
    def n_missing(self) -> int:
        """Slices missing in total (from integer-multiple gaps)."""
        return sum(g.missing for g in self.gaps)

    @property
    def duplicates(self) -> list[list[int]]:
        """Groups of input indices that share a position."""
        return [g for g in self.groups if len(g) > 1]

    @property
    def irregular(self) -> list[Gap]:
        """Gaps that are neither regular nor an integer multiple."""
        return [g for g in self.gaps if g.missing == 0]


def analyse_positions(
    positions: Sequence[Sequence[float]],
    orientation: Sequence[float],
    *,
    duplicate_tol: float = DUPLICATE_TOL,
    spacing_abs_tol: float = SPACING_ABS_TOL,
    spacing_rel_tol: float = SPACING_REL_TOL,
    missing_tol: float = MISSING_TOL,
) -> SliceAnalysis:
    """Analyse slice positions (ImagePositionPatient, mm) of one orientation.

    Parameters
    ----------
    positions
        One ``(x, y, z)`` per slice, in any order.
    orientation
        The common ImageOrientationPatient.

    Examples
    --------
    >>> a = analyse_positions([[0, 0, z] for z in (0, 2, 4, 8, 10)], [1, 0, 0, 0, 1, 0])
    >>> a.spacing, a.n_missing, a.gaps[0].after
    (2.0, 1, 2)
    """
    points = np.asarray(positions, dtype=float).reshape(-1, 3)
    n = normal(orientation)
    along = points @ n
    order = slice_order(points.tolist(), orientation)
    groups: list[list[int]] = []
    centres: list[float] = []
    for index in order:
        if groups and along[index] - centres[-1] <= duplicate_tol:
            groups[-1].append(index)
        else:
            groups.append([index])
            centres.append(float(along[index]))
    steps = np.diff(centres)
    spacing = float(np.median(steps)) if len(steps) else None
    gaps: list[Gap] = []
    if spacing is not None and spacing > 0:
        allowed = max(spacing_abs_tol, spacing_rel_tol * spacing)
        for i, step in enumerate(steps):
            if abs(step - spacing) <= allowed:
                continue
            ratio = step / spacing
            k = round(ratio)
            missing = k - 1 if k >= 2 and abs(ratio - k) <= missing_tol else 0
            gaps.append(Gap(after=i, size=float(step), missing=missing))
    sizes = {len(g) for g in groups}
    repeats = sizes.pop() if len(sizes) == 1 and len(groups[0]) > 1 else None
    tilt, drift = _shear(points, n, along, [g[0] for g in groups])
    return SliceAnalysis(
        order=order,
        positions=centres,
        groups=groups,
        spacing=spacing,
        gaps=gaps,
        repeats=repeats,
        tilt_deg=tilt,
        drift_mm=drift,
    )


def _shear(
    points: FloatArray, n: FloatArray, along: FloatArray, firsts: list[int]
) -> tuple[float, float]:
    """The stacking direction's angle to the normal, and the in-plane drift."""
    if len(firsts) < 2:
        return 0.0, 0.0
    origin = points[firsts[0]]
    offsets = points[firsts] - origin
    heights = along[firsts] - along[firsts[0]]
    in_plane = offsets - np.outer(heights, n)
    span = float(heights[-1])
    if span <= 0:
        return 0.0, 0.0
    slope = in_plane[-1] / span  # the shear per mm along the normal
    tilt = math.degrees(math.atan(float(np.linalg.norm(slope))))
    deviation = in_plane - np.outer(heights, slope)
    drift = float(np.max(np.linalg.norm(deviation, axis=1)))
    return tilt, drift


#: What may tell apart images at one position, in the order tried: the classic
#: attributes (:data:`dicomkit.schema.FRAME_AXIS_KEYS`), each followed by its
#: per-frame counterpart in enhanced objects' functional groups.
REPEAT_KEYS: tuple[str, ...] = tuple(
    name
    for key in FRAME_AXIS_KEYS
    for name in {
        "EchoTime": ("EchoTime", "EffectiveEchoTime"),
        "TemporalPositionIdentifier": (
            "TemporalPositionIdentifier",
            "TemporalPositionIndex",
        ),
        "TriggerTime": ("TriggerTime", "NominalCardiacTriggerDelayTime"),
    }.get(key, (key,))
)


def _hashable(value: Any) -> Any:
    """Lists (multi-valued attributes) as tuples; a single value as itself."""
    if isinstance(value, list | tuple):
        return value[0] if len(value) == 1 else tuple(value)
    return value


def repeat_candidates(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """The values, per slice, of everything that may be a repeat axis.

    The :data:`REPEAT_KEYS` that have a value in ``rows``, then each dimension of the
    enhanced objects' DimensionIndexValues, named by its DimensionIndexPointer
    (``dimension_keywords``) unless a key of that name is already there.
    """
    out: dict[str, list[Any]] = {}
    for key in REPEAT_KEYS:
        values = [_hashable(row.get(key)) for row in rows]
        if any(v is not None for v in values):
            out[key] = values
    width = max((len(row.get("DimensionIndexValues") or []) for row in rows), default=0)
    for d in range(width):
        names = {
            (row.get("dimension_keywords") or [None] * width)[d]
            if d < len(row.get("dimension_keywords") or [])
            else None
            for row in rows
        }
        name = names.pop() if len(names) == 1 else None
        key = name or f"DimensionIndexValues[{d}]"
        if key in out:
            continue
        out[key] = [
            values[d] if values is not None and d < len(values) else None
            for values in (row.get("DimensionIndexValues") for row in rows)
        ]
    return out


def repeat_axis(
    groups: Sequence[Sequence[int]], candidates: Mapping[str, Sequence[Any]]
) -> tuple[str, list[Any]] | None:
    """The first candidate that tells apart the slices at every position.

    ``groups`` are the slice indices at each position (``SliceAnalysis.groups``);
    a candidate qualifies when, at every position, its values are present, all
    different, and the same set as at every other position. Returns the key and
    its values in ascending order (the ``t`` axis of a 4-D volume), or None.

    Examples
    --------
    >>> repeat_axis([[0, 1], [2, 3]], {"EchoTime": [12, 12, 12, 12],
    ...                                "EchoNumbers": [1, 2, 2, 1]})
    ('EchoNumbers', [1, 2])
    """
    for key, values in candidates.items():
        first: set[Any] | None = None
        for group in groups:
            here = [values[i] for i in group]
            if None in here or len(set(here)) != len(here):
                break
            if first is None:
                first = set(here)
            elif set(here) != first:
                break
        else:
            if first is not None and len(first) > 1:
                return key, sorted(first, key=_sort_key)
    return None


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, int | float):
        return (0, float(value))
    return (1, str(value))


def stack_affine(
    orientation: Sequence[float],
    points: FloatArray,
    analysis: SliceAnalysis,
    dy: float,
    dx: float,
    thickness: float | None,
) -> tuple[FloatArray, float]:
    """The LPS affine of a stack of placed slices, and its ``dz``: the one
    definition the volume and the streamed NIfTI export share.

    ``points`` are the slices' ImagePositionPatient in stack order and
    ``analysis`` is :func:`analyse_positions` of them. Column ``x`` runs along a
    row, ``y`` down a column; the slice axis is ``dz`` along the normal plus
    the in-plane shift per mm a gantry tilt gives (so every slice's corner is
    where its IPP says). One slice: ``thickness`` (SpacingBetweenSlices, else
    SliceThickness), else 1 mm.

    >>> affine, dz = stack_affine(
    ...     [1, 0, 0, 0, 1, 0], np.array([[0.0, 0, 0], [0, 0, 2.5]]),
    ...     analyse_positions([[0, 0, 0], [0, 0, 2.5]], [1, 0, 0, 0, 1, 0]),
    ...     0.5, 0.5, None)
    >>> dz, float(affine[2, 2])
    (2.5, 2.5)
    """
    iop = np.asarray(orientation, dtype=float)
    n = normal(iop)
    affine = np.eye(4)
    affine[:3, 0] = iop[:3] * dx  # along a row: the column index x grows
    affine[:3, 1] = iop[3:] * dy  # down a column: the row index y grows
    affine[:3, 3] = points[0]
    if analysis.spacing:
        dz = analysis.spacing
        firsts = points[[group[0] for group in analysis.groups]]
        span = analysis.positions[-1] - analysis.positions[0]
        offset = firsts[-1] - firsts[0]
        shear = (offset - span * n) / span  # in-plane shift per mm along n
        affine[:3, 2] = dz * (n + shear)
    else:  # one slice: its thickness, else 1 mm
        dz = float(thickness) if thickness else 1.0
        affine[:3, 2] = dz * n
    return affine, float(dz)
