"""Build instance frames in memory: regular stacks of slices, no file on disk.

One builder for the rule tests (split, merge, verify): :func:`stack` makes the rows
of ``n`` regular slices with every attribute the default index holds, and
:func:`frame` / :func:`collection` turn rows into an instance frame of the default
schema, or a :class:`dicomkit.Collection`.

>>> rows = stack(3, uid="1.2.3.9") + stack(3, uid="1.2.3.9", start=3, EchoNumbers=[2])
>>> frame(rows).height
6
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import polars as pl

import dicomkit as dk
from dicomkit.geometry import normal
from dicomkit.schema import DEFAULT_KEYWORDS, ERROR_SCHEMA, instance_schema

SCHEMA = instance_schema(DEFAULT_KEYWORDS)
AXIAL = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
CORONAL = [1.0, 0.0, 0.0, 0.0, 0.0, -1.0]
SAGITTAL = [0.0, 1.0, 0.0, 0.0, 0.0, -1.0]
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"


def tilted(degrees: float) -> list[float]:
    """An axial orientation tilted by ``degrees`` about the patient's x axis."""
    a = math.radians(degrees)
    return [1.0, 0.0, 0.0, 0.0, math.cos(a), math.sin(a)]


def stack(
    n: int,
    *,
    uid: str = "1.2.3.2.1",
    spacing: float = 2.0,
    orientation: Sequence[float] = AXIAL,
    origin: Sequence[float] = (0.0, 0.0, 0.0),
    modality: str = "CT",
    start: int = 0,
    **attrs: Any,
) -> list[dict[str, Any]]:
    """``n`` regular slices of one series along the normal of ``orientation``.

    SOPInstanceUID, InstanceNumber and path count on from ``start``, so several
    calls with the same ``uid`` give one series. Any keyword argument sets an
    attribute: a value, or a callable of the slice index ``k``.
    """
    nrm = normal(list(orientation))
    rows = []
    for k in range(n):
        number = start + k + 1
        row: dict[str, Any] = {
            "PatientID": "P1",
            "PatientName": "Doe^John",
            "StudyInstanceUID": "1.2.3.1",
            "SeriesInstanceUID": uid,
            "SOPInstanceUID": f"{uid}.{number}",
            "SOPClassUID": MR_IMAGE if modality == "MR" else CT_IMAGE,
            "FrameOfReferenceUID": "1.2.3.4",
            "Modality": modality,
            "SeriesNumber": 1,
            "SeriesDescription": "BAR SERIES",
            "InstanceNumber": number,
            "ImagePositionPatient": [
                float(o + k * spacing * c) for o, c in zip(origin, nrm, strict=True)
            ],
            "ImageOrientationPatient": [float(v) for v in orientation],
            "PixelSpacing": [0.5, 0.5],
            "Rows": 64,
            "Columns": 64,
            "SamplesPerPixel": 1,
            "BitsAllocated": 16,
            "BitsStored": 12,
            "PixelRepresentation": 0,
            "PhotometricInterpretation": "MONOCHROME2",
            "RescaleSlope": 1.0,
            "RescaleIntercept": -1024.0 if modality == "CT" else 0.0,
            "ImageType": ["ORIGINAL", "PRIMARY", "AXIAL"],
            "path": f"/d/{uid}/{number}.dcm",
            "file_size": 1,
            "mtime_ns": 1,
            "n_frames": 1,
            "has_pixel_data": True,
            "bad_values": [],
        }
        row.update({key: _value(v, k) for key, v in attrs.items()})
        rows.append(row)
    return rows


def _value(value: Any, k: int) -> Any:
    return value(k) if isinstance(value, Callable) else value  # type: ignore[arg-type]


def frame(rows: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """Rows as an instance frame of the default schema (missing attributes null)."""
    return pl.DataFrame(list(rows), schema=SCHEMA)


def collection(
    rows: Sequence[dict[str, Any]],
    *,
    resends: Sequence[dict[str, Any]] = (),
    errors: Sequence[dict[str, Any]] = (),
) -> dk.Collection:
    """A Collection of ``rows``, with resend rows (``resend``, ``replaced_by``,
    ``differs`` filled in as identical copies) and error rows."""
    instances = frame(rows)
    base = dk.Collection(instances)
    resend_frame = pl.DataFrame(
        [
            {
                "resend": "identical",
                "replaced_by": row["path"],
                "differs": [],
                **row,
                "path": row["path"] + ".old",
            }
            for row in resends
        ],
        schema=base.resends.schema,
    )
    error_frame = pl.DataFrame(list(errors), schema=ERROR_SCHEMA)
    return dk.Collection(instances, resend_frame, error_frame)
