"""The pixels of a volume's planes, stacked: one array, one read per file.

:func:`dicomkit.volume.build_volume` decides which 2-D images (planes) make the
volume and in which order; this module reads them — each file once, through
:func:`dicomkit.io.pixels.read_stored` (uncompressed pixels straight into their
plane of one preallocated array), a Siemens mosaic un-tiled — and applies each
plane's modality LUT (RescaleSlope/Intercept, an enhanced object's per-frame
PixelValueTransformation, RT Dose's DoseGridScaling, a Modality LUT Sequence) as
pydicom does, or keeps the stored integers when the NIfTI export asks and one
linear rescale holds for every plane.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.pixels.processing import apply_modality_lut

from dicomkit.exceptions import NotAVolumeError
from dicomkit.io.multiframe import untile_mosaic
from dicomkit.io.pixels import read_stored

__all__ = ["Rescale", "stack_pixels"]


#: How a plane's stored values become modality values: ``(slope, intercept)``,
#: or the data set whose Modality LUT Sequence pydicom applies; None for colour.
Rescale = tuple[float, float] | Dataset | None


def stack_pixels(
    uid: str, planes: list[dict[str, Any]], metadata: dict[str, Any], *, stored: bool
) -> npt.NDArray[Any]:
    """The planes' values, each file read (and a mosaic un-tiled) once and kept
    only until its last plane is stacked, into one preallocated array of the
    stored values; then the modality LUT of each plane (per frame where the file
    has per-frame values).

    With ``stored``, when every plane has the same linear rescale (slope and
    intercept exact in ``float32``, as a NIfTI header holds them), the stored
    values are returned as they are and ``metadata["stored_rescale"]`` is
    ``(slope, intercept)``; otherwise the ``float32`` modality values.
    """
    uses: dict[str, int] = {}
    for p in planes:
        uses[p["path"]] = uses.get(p["path"], 0) + 1
    files: dict[str, tuple[npt.NDArray[Any], Rescale]] = {}
    formats: dict[int, tuple[Dataset, Rescale]] = {}
    raw: npt.NDArray[Any] | None = None
    rescales: list[Rescale] = []
    shapes: set[tuple[int, ...]] = set()
    for index_in_stack, p in enumerate(planes):
        path = p["path"]
        placed = False
        if path not in files:
            # a single-frame file: its pixels go straight into their plane
            slot = (
                raw[index_in_stack : index_in_stack + 1]
                if raw is not None and uses[path] == 1 and p["tile"] is None
                else None
            )
            data, ds = read_stored(
                path, transfer_syntax=p.get("TransferSyntaxUID"), out=slot
            )
            placed = slot is not None and data is slot
            if p["tile"] is not None:
                data = untile_mosaic(data[0], int(p["n_tiles"]))
            if id(ds) not in formats:  # files of one pixel format share it
                formats[id(ds)] = (ds, file_rescale(ds))
            files[path] = (data, formats[id(ds)][1])
        data, rescale = files[path]
        index = p["tile"] if p["tile"] is not None else p["frame"]
        image = data[min(index, len(data) - 1)]
        if p.get("frame_rescale"):
            rescale = (
                float(p["RescaleSlope"]),
                float(p.get("RescaleIntercept") or 0.0),
            )
        rescales.append(rescale)
        shapes.add(image.shape)
        if raw is None:
            raw = np.empty((len(planes), *image.shape), dtype=image.dtype)
        elif image.dtype != raw.dtype:
            raw = raw.astype(np.result_type(raw.dtype, image.dtype))
        if image.shape == raw.shape[1:] and not placed:
            raw[index_in_stack] = image
        uses[path] -= 1
        if not uses[path]:
            del files[path]
    if len(shapes) > 1:
        msg = f"series {uid}: slices have different shapes {sorted(shapes)}; split it first"
        raise NotAVolumeError(msg)
    assert raw is not None  # a series has at least one plane
    _describe_units(planes, metadata)
    uniform = rescales[0]
    if (
        stored
        and raw.ndim == 3
        and isinstance(uniform, tuple)
        and all(r == uniform for r in rescales)
        and all(float(np.float32(v)) == v for v in uniform)
    ):
        metadata["stored_rescale"] = uniform
        return raw
    return _modality_values(raw, rescales)


def file_rescale(ds: Dataset) -> Rescale:
    """The modality LUT of a file, as :func:`pydicom.pixels.apply_modality_lut`
    applies it (to monochrome images only, as :func:`dicomkit.load_pixels`)."""
    if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        return None
    if ds.get("ModalityLUTSequence"):
        return ds
    if "RescaleSlope" in ds and "RescaleIntercept" in ds:
        return float(ds.RescaleSlope), float(ds.RescaleIntercept)
    return 1.0, 0.0


def _modality_values(
    raw: npt.NDArray[Any], rescales: Sequence[Rescale]
) -> npt.NDArray[np.float32]:
    """``float32`` modality values of each plane: ``stored × slope + intercept``
    computed in float64 as pydicom does (exactly in float32 where that is the same:
    slope 1, an integer intercept and integers of at most 16 bits)."""
    out = np.empty(raw.shape, dtype=np.float32)
    small = raw.dtype.kind in "iu" and raw.dtype.itemsize <= 2
    scratch = np.empty(raw.shape[1:], dtype=np.float64)
    for k, rescale in enumerate(rescales):
        plane = raw[k]
        if rescale is None:
            out[k] = plane
        elif isinstance(rescale, Dataset):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out[k] = apply_modality_lut(plane, rescale)
        else:
            slope, intercept = rescale
            if (
                small
                and slope == 1.0
                and intercept.is_integer()
                and abs(intercept) < 2**23
            ):
                out[k] = plane
                if intercept:
                    out[k] += np.float32(intercept)
            else:
                np.multiply(plane, slope, out=scratch)
                scratch += intercept
                out[k] = scratch
    return out


def _describe_units(planes: list[dict[str, Any]], metadata: dict[str, Any]) -> None:
    units = {p.get("RescaleType") for p in planes} - {None}
    if len(units) == 1:
        metadata["units"] = units.pop()
    mapping = [p for p in planes if p.get("real_world_mapping")]
    if mapping:
        applied = all(p.get("frame_rescale") for p in mapping)
        metadata["real_world_value_mapping"] = (
            f"{len(mapping)} of {len(planes)} images carry a "
            f"{mapping[0]['real_world_mapping']}; not applied: the array holds "
            + (
                "the modality values of the PixelValueTransformationSequence"
                if applied
                else "the stored values (no modality LUT in the file)"
            )
        )
