"""Per-frame geometry of enhanced multi-frame objects, read on demand.

An Enhanced CT/MR/PET object keeps each frame's ImagePositionPatient in its
PerFrameFunctionalGroupsSequence (PlanePositionSequence) and the orientation there
or in the SharedFunctionalGroupsSequence (PlaneOrientationSequence). The scan keeps
one row per file, so verify reads these frames only for multi-frame files.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import polars as pl
from pydicom import dcmread
from pydicom.dataset import Dataset

from dicomkit.io.dicomweb import is_url, read_instance
from dicomkit.io.header import BoundedReader
from dicomkit.io.walk import os_path

__all__ = ["FRAME_SCHEMA", "MAX_FRAMES", "read_frame_geometry"]

FRAME_SCHEMA: dict[str, pl.DataType] = {
    "SOPInstanceUID": pl.Utf8(),
    "frame": pl.Int64(),
    "ImagePositionPatient": pl.List(pl.Float64()),
    "ImageOrientationPatient": pl.List(pl.Float64()),
}

#: Frames read per file at most: a bound on the work one hostile file can cause.
MAX_FRAMES = 100_000


def read_frame_geometry(files: Iterable[tuple[str, str]]) -> pl.DataFrame:
    """Read the per-frame positions of ``(path, SOPInstanceUID)`` pairs.

    Files without a PerFrameFunctionalGroupsSequence, or that cannot be read, give
    no rows (their instance-level geometry is used as it is).
    """
    rows: list[dict[str, Any]] = []
    for path, sop in files:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if is_url(path):  # a DICOMweb collection's instance: retrieved
                    ds = read_instance(path, stop_before_pixels=True)
                else:
                    with BoundedReader(os_path(path)) as fp:
                        ds = dcmread(fp, stop_before_pixels=True)
                rows.extend(_frames(ds, sop))
        except Exception:  # noqa: BLE001 - unreadable now: keep the scan geometry
            continue
    return pl.DataFrame(rows, schema=FRAME_SCHEMA)


def _first(item: Dataset | None, sequence: str, keyword: str) -> list[float] | None:
    if item is None or sequence not in item or not item[sequence].value:
        return None
    value = item[sequence].value[0].get(keyword)
    return [float(v) for v in value] if value is not None else None


def _frames(ds: Dataset, sop: str) -> list[dict[str, Any]]:
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if not per_frame:
        return []
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    shared_orientation = _first(
        shared, "PlaneOrientationSequence", "ImageOrientationPatient"
    )
    shared_position = _first(shared, "PlanePositionSequence", "ImagePositionPatient")
    out = []
    for number, item in enumerate(per_frame[:MAX_FRAMES], start=1):
        out.append(
            {
                "SOPInstanceUID": sop,
                "frame": number,
                "ImagePositionPatient": _first(
                    item, "PlanePositionSequence", "ImagePositionPatient"
                )
                or shared_position,
                "ImageOrientationPatient": _first(
                    item, "PlaneOrientationSequence", "ImageOrientationPatient"
                )
                or shared_orientation,
            }
        )
    return out
