"""A series as a 3-D or 4-D array with its spacing and affine: ``col.volume(uid)``.

Every 2-D image of the series is a *plane*: a single-frame file, one frame of a
multi-frame file, or one tile of a Siemens mosaic. Where each plane lies comes
from ImagePositionPatient for classic files and, for the others, from what
:mod:`dicomkit.io.multiframe` reads: the functional groups of enhanced objects
(PlanePosition, PlaneOrientation, PixelMeasures, FrameContent), RT Dose's
GridFrameOffsetVector, a classic multi-frame's SpacingBetweenSlices, a mosaic's
CSA header.

Planes are stacked in the one geometric order of
:func:`dicomkit.geometry.slice_order` (along the normal; ties by InstanceNumber,
frame, path), never by file name. A clean repeat — every position held the same
number of times, told apart by echo, phase, trigger time, temporal position,
b-value, acquisition or a dimension index (:func:`dicomkit.geometry.repeat_axis`)
— becomes a 4-D ``(t, z, y, x)`` volume. A series that is not a regular volume
(a localizer inside, other repeated positions, missing slices, irregular spacing,
mixed pixel formats, no geometry for a CT/MR) is refused with the verify finding
that says why, unless ``allow_irregular=True``. A gantry tilt is not refused: the
affine carries the shear. Images without patient geometry (plain CR, US, secondary
capture) give ``affine=None``: no geometry is invented.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import polars as pl

from dicomkit import geometry
from dicomkit.exceptions import MissingExtraError, NotAVolumeError
from dicomkit.io.multiframe import (
    NEEDS_NIBABEL,
    multiframe_files,
    read_frame_geometry,
)
from dicomkit.nifti import Tilt
from dicomkit.stacking import stack_pixels
from dicomkit.verify import BLOCKING_CHECKS, verify
from dicomkit.window import dicom_window

if TYPE_CHECKING:
    import os

__all__ = ["BLOCKING_CHECKS", "Volume", "build_volume", "viewing_order"]

#: Pixel spacings closer than this (mm) are the same.
_SPACING_TOL = 1e-4


@dataclass(frozen=True)
class Volume:
    """Voxels in ``(z, y, x)`` order and where they are in the patient.

    Attributes
    ----------
    array
        ``float32`` values with the modality LUT applied (e.g. HU; for enhanced
        objects the PixelValueTransformationSequence of each frame; for RT Dose
        the DoseGridScaling, in Gy), ``(z, y, x)``; ``(t, z, y, x)`` for a clean
        repeat (echoes, phases, b-values …), whose values along ``t`` are
        ``repeat_values``. Only from ``col.volume(uid, stored=True)`` (what the
        NIfTI export reads), when every plane has one linear rescale: the
        files' stored integers instead, with ``metadata["stored_rescale"]``
        ``= (slope, intercept)``.
    spacing
        ``(dz, dy, dx)`` in mm: PixelSpacing (row spacing ``dy``, column spacing
        ``dx``) and ``dz``, the median step between neighbouring positions
        measured along the slice normal. Always the affine's own: ``dx`` and
        ``dy`` are the lengths of its first two columns and ``dz`` is its third
        column's component along the normal (with a gantry tilt the third column
        is longer: it also carries the shear).
    affine
        4×4 matrix mapping voxel ``(x, y, z, 1)`` (column, row, slice) to patient
        coordinates in mm (DICOM LPS): columns ``r·dx``, ``c·dy``,
        ``dz·(n + s)`` and the first slice's position, with ``r, c`` the
        ImageOrientationPatient, ``n = r × c`` and ``s`` the in-plane shift per mm
        along ``n`` from the first to the last position (zero unless the gantry
        is tilted). For a regular series voxel ``(0, 0, k)`` is exactly slice
        ``k``'s ImagePositionPatient. With ``allow_irregular=True`` the affine is
        this same regular grid anchored at the first slice: slices after a gap or
        an irregular step are *not* where the affine puts them — their true
        positions are in ``positions``, and ``metadata["irregular"]`` names the
        findings passed over. ``None`` when the images carry no patient geometry
        (plain CR, US, secondary capture): none is invented.
    sop_instance_uids
        The instance of each 2-D image in array order (``t``-major for 4-D;
        repeated for the frames of a multi-frame file or the tiles of a mosaic).
    positions
        The ImagePositionPatient of each 2-D image, in the same order as
        ``sop_instance_uids`` (per frame or tile where the file has several;
        None where there is none).
    series_instance_uid
        The series the volume was built from.
    repeat_key
        What varies along ``t`` (e.g. ``"EchoNumbers"``, ``"TemporalPositionIndex"``)
        for a 4-D volume, else None.
    repeat_values
        The value of ``repeat_key`` for each index along ``t`` (empty for 3-D).
    frame_numbers
        The 1-based frame of each 2-D image within its file, in array order (all
        1 for single-frame files and mosaics; a mosaic's tiles are in
        ``metadata["mosaic_tiles"]``).
    metadata
        Anything else a reader of the volume must know: ``geometry`` (where the
        positions came from), ``units`` (the RescaleType or DoseUnits, when one),
        ``real_world_value_mapping`` (a mapping present but not applied),
        ``irregular`` (the blocking findings passed over with
        ``allow_irregular=True``), ``no_geometry`` (why ``affine`` is None),
        ``mosaic_tiles``; ``window``, the ``(center, width)`` of the middle
        slice's WindowCenter and WindowWidth when its file has them
        (``dk.plot.montage`` uses it); ``stored_rescale`` (see ``array``).

    Examples
    --------
    >>> vol = col.volume(uid)                       # doctest: +SKIP
    >>> vol.shape, vol.repeat_key, vol.repeat_values  # doctest: +SKIP
    ((2, 20, 64, 64), 'EchoNumbers', [1, 2])
    """

    array: npt.NDArray[np.float32]
    spacing: tuple[float, float, float]
    affine: npt.NDArray[np.float64] | None
    sop_instance_uids: list[str]
    positions: list[list[float]]
    series_instance_uid: str = ""
    repeat_key: str | None = None
    repeat_values: list[Any] = field(default_factory=list)
    frame_numbers: list[int] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        """The array's shape: ``(z, y, x)``, or ``(t, z, y, x)`` for a repeat."""
        return tuple(self.array.shape)

    def to_nifti(
        self,
        path: str | os.PathLike[str],
        *,
        sidecar: bool = True,
        tilt: Tilt = "shear",
        overwrite: bool = False,
    ) -> Path:
        """Write the volume as NIfTI (``.nii`` or ``.nii.gz``), with a JSON sidecar.

        The RAS affine is ``diag(-1, -1, 1, 1) @ self.affine`` and the voxels are
        ``self.array`` in NIfTI's ``(x, y, z[, t])`` order (a transpose, never a
        resample). ``tilt="shear"`` keeps a gantry tilt in the affine (sform);
        ``"refuse"`` raises. Needs nibabel: ``pip install "dicomkit[nifti]"``.
        See :func:`dicomkit.export.write_volume`; to export whole series with
        their metadata, use :meth:`dicomkit.Collection.to_nifti`.

        Examples
        --------
        >>> vol = col.volume(uid)                 # doctest: +SKIP
        >>> vol.to_nifti("out/ct.nii.gz")         # doctest: +SKIP
        PosixPath('out/ct.nii.gz')
        """
        from dicomkit.export import write_volume

        return write_volume(self, path, sidecar=sidecar, tilt=tilt, overwrite=overwrite)


# -- planes ---------------------------------------------------------------------------


def _planes(series: pl.DataFrame, frames: pl.DataFrame) -> list[dict[str, Any]]:
    """One dict per 2-D image: the instance row, with the values of its frame or
    tile (``frame`` 0-based, ``tile``) where the file has several."""
    per_file = (
        {sop: group.sort("frame", "tile") for (sop,), group in frames.group_by("SOPInstanceUID")}
        if frames.height
        else {}
    )  # fmt: skip
    out: list[dict[str, Any]] = []
    for row in series.iter_rows(named=True):
        base = {**row, "tile": None, "n_tiles": None, "problem": None}
        planes = per_file.get(row["SOPInstanceUID"])
        if planes is None:
            out += [{**base, "frame": k} for k in range(row.get("n_frames") or 1)]
            continue
        for plane in planes.iter_rows(named=True):
            # the frame's values where it has them; its position and orientation
            # even when absent (the file's own are not the frame's)
            merged = {**base, **{k: v for k, v in plane.items() if v is not None}}
            merged["ImagePositionPatient"] = plane["ImagePositionPatient"]
            merged["ImageOrientationPatient"] = plane["ImageOrientationPatient"]
            merged["frame"] = plane["frame"] - 1
            merged["frame_rescale"] = plane["RescaleSlope"] is not None
            out.append(merged)
    return out


def _ordered(planes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    orientation = next(
        (p["ImageOrientationPatient"] for p in planes if _placed(p)), None
    )
    order = geometry.slice_order(
        [p["ImagePositionPatient"] for p in planes],
        orientation,
        instance_numbers=[p.get("InstanceNumber") for p in planes],
        frames=[p["tile"] if p["tile"] is not None else p["frame"] for p in planes],
        paths=[p.get("path") for p in planes],
    )
    return [planes[i] for i in order]


def _placed(p: dict[str, Any]) -> bool:
    position, orientation = (
        p.get("ImagePositionPatient"),
        p.get("ImageOrientationPatient"),
    )
    return (
        position is not None
        and len(position) == 3
        and orientation is not None
        and len(orientation) == 6
    )


def viewing_order(series: pl.DataFrame) -> list[dict[str, Any]]:
    """The 2-D images of one series in the order the volume stacks them.

    One dict per image: the instance row, ``frame`` (0-based), ``tile`` (the
    mosaic tile, else None), ``n_tiles`` and the image's own
    ImagePositionPatient. The viewer scrolls through these, so a mosaic shows as
    its slices and an enhanced object as its frames, in geometric order.
    """
    frames = read_frame_geometry(multiframe_files(series))
    return _ordered(_planes(series, frames))


# -- the volume -----------------------------------------------------------------------


def build_volume(
    series: pl.DataFrame, *, allow_irregular: bool = False, stored: bool = False
) -> Volume:
    """Stack the instances of one series (the rows of ``series``) into a Volume.

    With ``stored`` (what the NIfTI export asks for), a 3-D volume whose planes
    share one linear rescale keeps the *stored* values (e.g. ``int16``) in
    ``array`` and says how to get the modality values in
    ``metadata["stored_rescale"] = (slope, intercept)``; without it (as
    ``col.volume()``), ``array`` is always the ``float32`` modality values.

    Raises
    ------
    NotAVolumeError
        When a blocking finding exists and ``allow_irregular`` is False (the
        message quotes it); when a mosaic cannot be un-tiled, or the images have
        different shapes or pixel spacings.
    MissingExtraError
        A Siemens mosaic and nibabel is not installed (``dicomkit[nifti]``).
    """
    uid = series["SeriesInstanceUID"][0]
    frames = read_frame_geometry(multiframe_files(series))
    _refuse_problems(uid, series, frames)
    planes = _ordered(_planes(series, frames))
    placed = [p for p in planes if _placed(p)]
    axis = None
    if placed and len(placed) == len(planes):
        analysis = geometry.analyse_positions(
            [p["ImagePositionPatient"] for p in placed],
            placed[0]["ImageOrientationPatient"],
        )
        if analysis.repeats:
            axis = geometry.repeat_axis(
                analysis.groups, geometry.repeat_candidates(placed)
            )
    blocking = verify(series, frames=frames).filter(
        pl.col("check").is_in(list(BLOCKING_CHECKS))
    )
    if axis is not None:
        blocking = blocking.filter(pl.col("check") != "duplicate_position")
    if blocking.height and not allow_irregular:
        first = blocking.row(0, named=True)
        msg = (
            f"series {uid} is not a regular volume — {first['check']}: {first['message']} "
            f"({blocking.height} blocking finding(s); see col.verify()). Pass "
            "allow_irregular=True to stack it anyway in position order."
        )
        raise NotAVolumeError(msg)
    if axis is not None:
        key, values = axis
        candidates = geometry.repeat_candidates(planes)[key]
        stacks = [
            [p for p, v in zip(planes, candidates, strict=True) if v == value]
            for value in values
        ]
    else:
        stacks = [planes]
    metadata: dict[str, Any] = {"geometry": _geometry_source(planes)}
    if blocking.height:
        metadata["irregular"] = sorted(set(blocking["check"]))
    dy, dx = _pixel_spacing(uid, planes, allow_irregular=allow_irregular)
    images = stack_pixels(
        uid, [p for stack in stacks for p in stack], metadata, stored=stored
    )
    array = images.reshape(len(stacks), len(stacks[0]), *images.shape[1:])
    if axis is None:
        array = array[0]
    ordered = [p for stack in stacks for p in stack]
    if any(p["tile"] is not None for p in ordered):
        metadata["mosaic_tiles"] = [p["tile"] for p in ordered]
    affine, dz = _affine(stacks[0], dy, dx, metadata)
    metadata.update(_file_window(series, stacks[0]))
    return Volume(
        array=array,
        spacing=(dz, dy, dx),
        affine=affine,
        sop_instance_uids=[p["SOPInstanceUID"] for p in ordered],
        positions=[p["ImagePositionPatient"] for p in ordered],
        series_instance_uid=uid,
        repeat_key=axis[0] if axis else None,
        repeat_values=list(axis[1]) if axis else [],
        frame_numbers=[p["frame"] + 1 for p in ordered],
        metadata=metadata,
    )


def _file_window(series: pl.DataFrame, stack: list[dict[str, Any]]) -> dict[str, Any]:
    """``{"window": (center, width)}`` from the middle slice's file, if it has one."""
    if not stack or "WindowCenter" not in series.columns:
        return {}
    sop = stack[len(stack) // 2]["SOPInstanceUID"]
    middle = series.filter(pl.col("SOPInstanceUID") == sop)
    window = dicom_window(middle.row(0, named=True)) if middle.height else None
    return {} if window is None else {"window": (window.level, window.width)}


def _refuse_problems(uid: str, series: pl.DataFrame, frames: pl.DataFrame) -> None:
    problems = frames.filter(pl.col("problem").is_not_null())
    if problems.is_empty():
        return
    row = problems.row(0, named=True)
    path = series.filter(pl.col("SOPInstanceUID") == row["SOPInstanceUID"])["path"]
    where = path[0] if path.len() else row["SOPInstanceUID"]
    if NEEDS_NIBABEL in row["problem"]:
        msg = f"series {uid}: {where!r} is a Siemens mosaic; {NEEDS_NIBABEL}"
        raise MissingExtraError(msg)
    msg = (
        f"series {uid}: {where!r}: {row['problem']} "
        f"({problems.height} file{'' if problems.height == 1 else 's'}). "
        "A volume needs the position of every slice; use the original export."
    )
    raise NotAVolumeError(msg)


def _geometry_source(planes: list[dict[str, Any]]) -> str:
    sources = sorted({str(p.get("geometry") or "ImagePositionPatient") for p in planes})
    return ", ".join(sources)


def _pixel_spacing(
    uid: str, planes: list[dict[str, Any]], *, allow_irregular: bool
) -> tuple[float, float]:
    found = [
        tuple(p["PixelSpacing"][:2])
        for p in planes
        if p.get("PixelSpacing") is not None and len(p["PixelSpacing"]) >= 2
    ]
    if not found:
        return 1.0, 1.0
    first = np.asarray(found[0], dtype=float)
    worst = max(float(np.max(np.abs(np.asarray(s) - first))) for s in found)
    if worst > _SPACING_TOL and not allow_irregular:
        msg = (
            f"series {uid}: the images have different PixelSpacing (up to {worst:.4g} mm "
            f"apart, e.g. {found[0]} and another); split it by spacing first, or pass "
            "allow_irregular=True to use the first one."
        )
        raise NotAVolumeError(msg)
    return float(first[0]), float(first[1])


def _affine(
    stack: Sequence[dict[str, Any]], dy: float, dx: float, metadata: dict[str, Any]
) -> tuple[npt.NDArray[np.float64] | None, float]:
    """The affine of one stack (``t = 0`` for 4-D), and its ``dz``."""
    placed = [p for p in stack if _placed(p)]
    if not placed:
        metadata["no_geometry"] = (
            "the images have no ImagePositionPatient/ImageOrientationPatient (or "
            "per-frame equivalent): they are not placed in the patient, so there is "
            "no affine"
        )
        return None, 1.0
    iop = placed[0]["ImageOrientationPatient"]
    points = np.asarray([p["ImagePositionPatient"] for p in placed], dtype=float)
    analysis = geometry.analyse_positions(points.tolist(), list(iop))
    thickness = placed[0].get("SpacingBetweenSlices") or placed[0].get("SliceThickness")
    return geometry.stack_affine(iop, points, analysis, dy, dx, thickness)
