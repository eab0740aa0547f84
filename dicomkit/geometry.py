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
* the tilt is the angle between the slice-stacking direction and the normal.

Nothing here interpolates or guesses: functions report what they measure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = [
    "Gap",
    "SliceAnalysis",
    "analyse_positions",
    "cluster_orientations",
    "normal",
    "orientation_angle",
    "orientation_problem",
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
    order = sorted(range(len(along)), key=lambda i: (along[i], i))
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
