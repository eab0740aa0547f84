"""A series as a 3-D array with its spacing and affine: ``col.volume(uid)``.

Slices are stacked in geometric order (along the normal of ImageOrientationPatient),
never by InstanceNumber or file name. A series that is not a regular volume
(a localizer inside, repeated positions, missing slices, irregular spacing,
mixed pixel formats, no geometry) is refused with the verify finding that says
why, unless ``allow_irregular=True``. A gantry tilt is not refused: the affine
carries the shear.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from dicomkit import geometry
from dicomkit.exceptions import NotAVolumeError
from dicomkit.io.frames import read_frame_geometry
from dicomkit.io.pixels import load_pixels
from dicomkit.verify import verify
from dicomkit.window import dicom_window

__all__ = ["BLOCKING_CHECKS", "Volume", "build_volume"]

#: Findings that make a series something other than one regular volume.
BLOCKING_CHECKS = frozenset(
    {
        "mixed_orientation",
        "duplicate_position",
        "missing_slices",
        "irregular_spacing",
        "missing_geometry",
        "invalid_orientation",
        "mixed_pixel_format",
        "mixed_modality",
    }
)


@dataclass(frozen=True)
class Volume:
    """Voxels in ``(z, y, x)`` order and where they are in the patient.

    Attributes
    ----------
    array
        ``float32`` values with the modality LUT applied (e.g. HU), ``(z, y, x)``;
        ``(t, z, y, x)`` for a clean repeat (echoes, phases, b-values …), whose
        values along ``t`` are ``repeat_values``.
    spacing
        ``(dz, dy, dx)`` in mm: the median slice spacing and PixelSpacing.
    affine
        4×4 matrix mapping voxel ``(x, y, z, 1)`` (column, row, slice) to patient
        coordinates in mm (DICOM LPS). With a gantry tilt its slice axis is
        sheared, exactly as the positions say. ``None`` when the images carry no
        patient geometry (plain CR, US, secondary capture): none is invented.
    sop_instance_uids
        The instance of each slice in array order (``t``-major for 4-D; repeated
        for the frames of a multi-frame file).
    positions
        Each slice's ImagePositionPatient (along ``z``).
    series_instance_uid
        The series the volume was built from.
    repeat_key
        What varies along ``t`` (e.g. ``"EchoNumbers"``) for a 4-D volume, else None.
    repeat_values
        The value of ``repeat_key`` for each index along ``t`` (empty for 3-D).
    frame_numbers
        The 1-based frame of each slice within its file, in array order (all 1 for
        single-frame files).
    metadata
        Anything else a reader of the volume must know (e.g. a real-world value
        mapping that was not applied, or how an irregular series was stacked).
        ``"window"``: the ``(center, width)`` of the middle slice's WindowCenter
        and WindowWidth, when its file has them (``dk.plot.montage`` uses it).
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


def build_volume(series: pl.DataFrame, *, allow_irregular: bool = False) -> Volume:
    """Stack the instances of one series (the rows of ``series``) into a Volume.

    Raises
    ------
    NotAVolumeError
        When a blocking finding exists and ``allow_irregular`` is False; the
        message quotes the finding.
    """
    uid = series["SeriesInstanceUID"][0]
    multi = series.filter(pl.col("n_frames") > 1)
    frames = read_frame_geometry(multi.select("path", "SOPInstanceUID").iter_rows())
    blocking = verify(series, frames=frames).filter(
        pl.col("check").is_in(list(BLOCKING_CHECKS))
    )
    if blocking.height and not allow_irregular:
        first = blocking.row(0, named=True)
        msg = (
            f"series {uid} is not a regular volume — {first['check']}: {first['message']} "
            f"({blocking.height} blocking finding(s); see col.verify()). Pass "
            "allow_irregular=True to stack it anyway in position order."
        )
        raise NotAVolumeError(msg)
    slices = _slices(series, frames)
    placed = [
        s for s in slices if s["position"] is not None and s["orientation"] is not None
    ]
    if (
        len(placed) < len(slices) and not allow_irregular
    ):  # pragma: no cover - verify catches it
        msg = f"series {uid}: some images have no position"
        raise NotAVolumeError(msg)
    if placed:
        n = geometry.normal(placed[0]["orientation"])
        slices = sorted(
            slices,
            key=lambda s: (
                float(np.dot(s["position"], n)) if s["position"] is not None else np.inf
            ),
        )
    images = [_frame(s) for s in slices]
    shapes = {image.shape for image in images}
    if len(shapes) > 1:
        msg = f"series {uid}: slices have different shapes {sorted(shapes)}; split it first"
        raise NotAVolumeError(msg)
    array = np.stack(images).astype(np.float32, copy=False)
    return Volume(
        array=array,
        spacing=_spacing(series, placed),
        affine=_affine(series, slices),
        sop_instance_uids=[s["sop"] for s in slices],
        positions=[s["position"] for s in slices],
        series_instance_uid=uid,
        metadata=_file_window(series, slices),
    )


def _file_window(series: pl.DataFrame, slices: list[dict[str, Any]]) -> dict[str, Any]:
    """``{"window": (center, width)}`` from the middle slice's file, if it has one."""
    if not slices or "WindowCenter" not in series.columns:
        return {}
    middle = series.filter(pl.col("SOPInstanceUID") == slices[len(slices) // 2]["sop"])
    window = dicom_window(middle.row(0, named=True)) if middle.height else None
    return {} if window is None else {"window": (window.level, window.width)}


def _slices(series: pl.DataFrame, frames: pl.DataFrame) -> list[dict[str, Any]]:
    per_frame = (
        {sop: group for (sop,), group in frames.group_by("SOPInstanceUID")}
        if frames.height
        else {}
    )
    out: list[dict[str, Any]] = []
    for row in series.iter_rows(named=True):
        common = {
            "sop": row["SOPInstanceUID"],
            "path": row["path"],
            "syntax": row.get("TransferSyntaxUID"),
        }
        if row["SOPInstanceUID"] in per_frame:
            for f in (
                per_frame[row["SOPInstanceUID"]].sort("frame").iter_rows(named=True)
            ):
                out.append({**common, "frame": f["frame"] - 1, "position": f["ImagePositionPatient"],
                            "orientation": f["ImageOrientationPatient"]})  # fmt: skip
        else:
            for frame in range(row["n_frames"] or 1):
                out.append({**common, "frame": frame, "position": row["ImagePositionPatient"],
                            "orientation": row["ImageOrientationPatient"]})  # fmt: skip
    return out


def _frame(s: dict[str, Any]) -> npt.NDArray[Any]:
    pixels = load_pixels(s["path"], transfer_syntax=s["syntax"])
    image: npt.NDArray[Any] = pixels[s["frame"]]
    return image


def _spacing(
    series: pl.DataFrame, placed: list[dict[str, Any]]
) -> tuple[float, float, float]:
    pixel = series["PixelSpacing"].drop_nulls()
    dy, dx = (pixel[0].to_list() if pixel.len() else [1.0, 1.0])[:2]
    dz = 1.0
    if len(placed) > 1:
        analysis = geometry.analyse_positions(
            [s["position"] for s in placed], placed[0]["orientation"]
        )
        dz = analysis.spacing or 1.0
    return float(dz), float(dy), float(dx)


def _affine(
    series: pl.DataFrame, slices: list[dict[str, Any]]
) -> npt.NDArray[np.float64]:
    affine = np.eye(4)
    placed = [
        s for s in slices if s["position"] is not None and s["orientation"] is not None
    ]
    if not placed:
        return affine
    pixel = series["PixelSpacing"].drop_nulls()
    dy, dx = (pixel[0].to_list() if pixel.len() else [1.0, 1.0])[:2]
    iop = np.asarray(placed[0]["orientation"], dtype=float)
    first = np.asarray(placed[0]["position"], dtype=float)
    affine[:3, 0] = iop[:3] * dx  # along a row: the column index x grows
    affine[:3, 1] = iop[3:] * dy  # down a column: the row index y grows
    if len(placed) > 1:
        last = np.asarray(placed[-1]["position"], dtype=float)
        affine[:3, 2] = (last - first) / (len(placed) - 1)
    else:
        affine[:3, 2] = geometry.normal(iop)
    affine[:3, 3] = first
    return affine
