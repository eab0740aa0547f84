"""Which NIfTI exports are the files' own pixel bytes, streamed without an array.

A plain ``.nii`` of a regular single-frame stack (the common CT or MR series) is
the files' pixel bytes in slice order after a header: :func:`stream_plan` says
when that holds and gives the volume's geometry without its pixels
(:class:`Headers`) and where each slice's bytes are
(:class:`dicomkit.io.native.PixelRange`); :mod:`dicomkit.export` then writes the
header and copies the bytes (:func:`dicomkit.io.nifti.stream_writer`), and
builds the volume array for everything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from dicomkit import geometry, nifti
from dicomkit.geometry import TILT_TOL_DEG
from dicomkit.io.dicomweb import is_url
from dicomkit.io.multiframe import multiframe_files, read_frame_geometry
from dicomkit.io.native import PixelRange, pixel_range
from dicomkit.stacking import file_rescale
from dicomkit.verify import BLOCKING_CHECKS, verify

__all__ = ["Headers", "stream_plan"]


@dataclass(frozen=True)
class Headers:
    """A volume's geometry and trace without its pixels (``array`` is a
    zero-strided view of the right shape and type: no memory), as the
    streamed ``.nii`` needs it; a :class:`dicomkit.export.VolumeLike`."""

    array: Any
    spacing: tuple[float, float, float]
    affine: npt.NDArray[np.float64] | None
    sop_instance_uids: list[str]
    positions: list[list[float]]
    series_instance_uid: str
    metadata: dict[str, Any]
    repeat_key: str | None = None
    repeat_values: list[Any] = field(default_factory=list)

    @property
    def frame_numbers(self) -> list[int]:
        return [1] * len(self.sop_instance_uids)


def stream_plan(
    instances: pl.DataFrame, uid: str
) -> tuple[Headers, list[PixelRange]] | None:
    """The volume of series ``uid`` of ``instances`` without its pixels, and where each slice's pixel
    bytes are, when a plain ``.nii`` of it is the files' pixel bytes in slice
    order; else None (the export builds the volume array).

    That is the common case of a CT or MR series: single-frame files, native
    little-endian, one pixel format, one linear rescale (written as
    ``scl_slope``/``scl_inter``, exact in ``float32``), one PixelSpacing, a
    regular stack (no blocking verify finding, so no gap, no repeat) and no
    gantry tilt. The array path writes those same bytes:
    :func:`dicomkit.nifti.nifti_array` is a transposed view (no flip), the
    RAS/LPS difference is in the affine only, and the unused high bits are
    corrected as the array path does (:func:`dicomkit.io.nifti.stream_writer`).
    The slice order and affine are computed as :func:`dicomkit.volume.build_volume`
    computes them (``tests/test_nifti.py`` checks the files are byte-identical).
    """
    series = instances.filter(pl.col("SeriesInstanceUID") == uid)
    if series.is_empty() or next(multiframe_files(series), None) is not None:
        return None
    rows = list(series.iter_rows(named=True))
    iops = [r.get("ImageOrientationPatient") for r in rows]
    ipps = [r.get("ImagePositionPatient") for r in rows]
    if any(o is None or len(o) != 6 for o in iops) or any(
        p is None or len(p) != 3 for p in ipps
    ):
        return None
    spacings = {tuple(r.get("PixelSpacing") or ())[:2] for r in rows}
    if len(spacings) != 1 or len(next(iter(spacings))) != 2:
        return None
    frames = read_frame_geometry(())
    blocking = verify(series, frames=frames).filter(
        pl.col("check").is_in(list(BLOCKING_CHECKS))
    )
    if blocking.height:
        return None
    order = geometry.slice_order(
        ipps,
        iops[0],
        instance_numbers=[r.get("InstanceNumber") for r in rows],
        frames=[0] * len(rows),
        paths=[r.get("path") for r in rows],
    )
    planes = [rows[i] for i in order]
    analysis = geometry.analyse_positions(
        [p["ImagePositionPatient"] for p in planes],
        planes[0]["ImageOrientationPatient"],
    )
    if analysis.repeats:
        return None
    paths = [str(p["path"]) for p in planes]
    if len(set(paths)) != len(paths) or any(is_url(p) for p in paths):
        return None
    sources: list[PixelRange] = []
    for path in paths:
        found = pixel_range(path)
        if found is None:
            return None
        sources.append(found)
    first = sources[0]
    rescale = file_rescale(first.ds)
    if (
        not isinstance(rescale, tuple)
        or not all(float(np.float32(v)) == v for v in rescale)
        or any(
            (s.dtype, s.shape, s.shift) != (first.dtype, first.shape, first.shift)
            or (s.ds is not first.ds and file_rescale(s.ds) != rescale)
            for s in sources
        )
    ):
        return None
    dy, dx = (float(v) for v in next(iter(spacings)))
    points = np.asarray([p["ImagePositionPatient"] for p in planes], dtype=float)
    thickness = planes[0].get("SpacingBetweenSlices") or planes[0].get("SliceThickness")
    affine, dz = geometry.stack_affine(
        planes[0]["ImageOrientationPatient"], points, analysis, dy, dx, thickness
    )
    if len(planes) > 1 and nifti.tilt_degrees(affine) > TILT_TOL_DEG:
        return None
    volume = Headers(
        array=np.broadcast_to(
            np.zeros((), dtype=first.dtype), (len(planes), *first.shape[1:])
        ),
        spacing=(dz, dy, dx),
        affine=affine,
        sop_instance_uids=[p["SOPInstanceUID"] for p in planes],
        positions=[p["ImagePositionPatient"] for p in planes],
        series_instance_uid=uid,
        metadata={"stored_rescale": rescale},
    )
    return volume, sources
