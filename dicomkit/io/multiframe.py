"""Where each frame of a multi-frame file (or tile of a mosaic) lies, read on demand.

The scan keeps one row per file, with the classic per-file attributes. Several
kinds of object keep the geometry of their frames elsewhere, and this module reads
it — only for the files that need it (:func:`multiframe_files`) — into one row per
2-D image (a *plane*):

* **enhanced multi-frame** objects (Enhanced CT/MR/PET, SEG, …): the
  PerFrameFunctionalGroupsSequence, each macro falling back to the
  SharedFunctionalGroupsSequence — PlanePositionSequence,
  PlaneOrientationSequence, PixelMeasuresSequence, FrameContentSequence
  (StackID, InStackPositionNumber, TemporalPositionIndex, DimensionIndexValues,
  named by the DimensionIndexSequence), PixelValueTransformationSequence (the
  modality LUT), RealWorldValueMappingSequence, MREchoSequence,
  CardiacSynchronizationSequence and MRDiffusionSequence;
* **RT Dose** grids: one ImagePositionPatient and a GridFrameOffsetVector along
  the normal (relative when its first value is 0, else absolute, PS3.3 C.8.8.3.2);
* **classic multi-frame** CT/MR/NM/US with an ImagePositionPatient, an
  ImageOrientationPatient (for NM: in the DetectorInformationSequence) and a
  SpacingBetweenSlices: frame ``k`` at ``k × spacing`` along the normal (NM only
  for reconstructed tomography, ImageType ``RECON TOMO``);
* **Siemens MOSAIC** images: ``NumberOfImagesInMosaic`` tiles of one image, the
  slice direction in the CSA image header (read with nibabel's
  ``nicom.csareader``: ``pip install "dicomkit[nifti]"``), positions as nibabel's
  ``MosaicWrapper`` computes them (Siemens writes the corner of the whole mosaic).

A file that should have such geometry and does not (a mosaic without its CSA
fields, nibabel missing) gives one row whose ``problem`` says why; a file that
cannot be read gives no rows (its instance-level geometry is used as it is).
"""

from __future__ import annotations

import importlib
import math
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from pydicom import dcmread
from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset

from dicomkit.io.dicomweb import is_url, read_instance
from dicomkit.io.header import BoundedReader
from dicomkit.io.walk import os_path

__all__ = [
    "FRAME_SCHEMA",
    "MAX_FRAMES",
    "NEEDS_NIBABEL",
    "multiframe_files",
    "read_frame_geometry",
    "untile_mosaic",
]

FRAME_SCHEMA: dict[str, pl.DataType] = {
    "SOPInstanceUID": pl.Utf8(),
    "frame": pl.Int64(),  # 1-based frame number in the file
    "tile": pl.Int64(),  # 0-based tile of a mosaic, else null
    "n_tiles": pl.Int64(),  # NumberOfImagesInMosaic, else null
    "ImagePositionPatient": pl.List(pl.Float64()),
    "ImageOrientationPatient": pl.List(pl.Float64()),
    "PixelSpacing": pl.List(pl.Float64()),
    "SliceThickness": pl.Float64(),
    "StackID": pl.Utf8(),
    "InStackPositionNumber": pl.Int64(),
    "TemporalPositionIndex": pl.Int64(),
    "DimensionIndexValues": pl.List(pl.Int64()),
    "dimension_keywords": pl.List(pl.Utf8()),
    "EffectiveEchoTime": pl.Float64(),
    "NominalCardiacTriggerDelayTime": pl.Float64(),
    "DiffusionBValue": pl.Float64(),
    "RescaleSlope": pl.Float64(),
    "RescaleIntercept": pl.Float64(),
    "RescaleType": pl.Utf8(),
    "real_world_mapping": pl.Utf8(),  # a RealWorldValueMapping, described
    "geometry": pl.Utf8(),  # where the plane's geometry came from
    "problem": pl.Utf8(),  # why the geometry could not be read
}

#: Frames read per file at most: a bound on the work one hostile file can cause.
MAX_FRAMES = 100_000

#: ``problem`` of a mosaic read without nibabel.
NEEDS_NIBABEL = (
    "reading a Siemens mosaic's CSA header needs nibabel: "
    'pip install "dicomkit[nifti]"'
)


def multiframe_files(instances: pl.DataFrame) -> Iterator[tuple[str, str]]:
    """The ``(path, SOPInstanceUID)`` of the instances whose planes this module
    reads: multi-frame files and mosaics (ImageType contains ``MOSAIC``)."""
    wanted = pl.col("n_frames").fill_null(1) > 1
    if "ImageType" in instances.columns and isinstance(
        instances.schema["ImageType"], pl.List
    ):
        wanted = wanted | pl.col("ImageType").list.contains("MOSAIC").fill_null(False)
    yield from instances.filter(wanted).select("path", "SOPInstanceUID").iter_rows()


def read_frame_geometry(files: Iterable[tuple[str, str]]) -> pl.DataFrame:
    """One row per plane (frame, or mosaic tile) of ``(path, SOPInstanceUID)`` pairs.

    Columns: :data:`FRAME_SCHEMA`. Files that hold no per-frame geometry give no
    rows, nor do files that cannot be read.

    Examples
    --------
    >>> from dicomkit.io.multiframe import multiframe_files
    >>> planes = read_frame_geometry(multiframe_files(col.instances))  # doctest: +SKIP
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
                        ds = dcmread(fp, stop_before_pixels=True, force=True)
                rows.extend(_planes(ds, sop))
        except Exception:  # noqa: BLE001 - unreadable now: keep the scan geometry
            continue
    return pl.DataFrame(rows, schema=FRAME_SCHEMA)


def untile_mosaic(image: npt.NDArray[Any], n_tiles: int) -> npt.NDArray[Any]:
    """A mosaic ``(rows, columns)`` as ``(n_tiles, rows / m, columns / m)``.

    The tiles fill an ``m × m`` grid (``m = ceil(sqrt(n_tiles))``) row by row;
    the empty tiles after the last one are dropped.

    Examples
    --------
    >>> untile_mosaic(np.arange(16).reshape(4, 4), 3)[:, 0, 0].tolist()
    [0, 2, 8]
    """
    size = math.ceil(math.sqrt(n_tiles))
    rows, columns = image.shape[0] // size, image.shape[1] // size
    blocks = image[: size * rows, : size * columns].reshape(
        size, rows, size, columns, *image.shape[2:]
    )
    return np.swapaxes(blocks, 1, 2).reshape(
        size * size, rows, columns, *image.shape[2:]
    )[:n_tiles]


# -- readers ------------------------------------------------------------------------


def _floats(value: Any) -> list[float] | None:
    if value is None or value == "":
        return None
    try:
        values = [float(v) for v in (value if _is_multi(value) else [value])]
    except (TypeError, ValueError):
        return None
    return values if all(math.isfinite(v) for v in values) else None


def _is_multi(value: Any) -> bool:
    return not isinstance(value, str | bytes) and hasattr(value, "__iter__")


def _float(value: Any) -> float | None:
    values = _floats(value)
    return values[0] if values else None


def _int(value: Any) -> int | None:
    number = _float(value)
    return int(number) if number is not None else None


def _macro(items: tuple[Dataset | None, ...], sequence: str) -> Dataset | None:
    """The first item of ``sequence`` in the first of ``items`` that has it (the
    per-frame group, then the shared one)."""
    for item in items:
        if item is not None and sequence in item:
            value = item[sequence].value
            if value:
                first: Dataset = value[0]
                return first
    return None


def _get(items: tuple[Dataset | None, ...], sequence: str, keyword: str) -> Any:
    macro = _macro(items, sequence)
    return macro.get(keyword) if macro is not None else None


def _planes(ds: Dataset, sop: str) -> list[dict[str, Any]]:
    image_type = [str(v).upper() for v in (_list(ds.get("ImageType")))]
    if "MOSAIC" in image_type:
        return _mosaic(ds, sop)
    if ds.get("PerFrameFunctionalGroupsSequence"):
        return _functional_groups(ds, sop)
    frames = _int(ds.get("NumberOfFrames")) or 1
    if frames > 1 and ds.get("GridFrameOffsetVector") is not None:
        return _grid_offsets(ds, sop, frames)
    if frames > 1:
        return _stacked_frames(ds, sop, frames, image_type)
    return []


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if _is_multi(value) else [value]


def _row(sop: str, frame: int, **values: Any) -> dict[str, Any]:
    return {"SOPInstanceUID": sop, "frame": frame, **values}


def _functional_groups(ds: Dataset, sop: str) -> list[dict[str, Any]]:
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    keywords = [
        keyword_for_tag(item.get("DimensionIndexPointer")) or None
        for item in ds.get("DimensionIndexSequence") or []
        if item.get("DimensionIndexPointer") is not None
    ]
    out = []
    for number, item in enumerate(
        ds.PerFrameFunctionalGroupsSequence[:MAX_FRAMES], start=1
    ):
        items = (item, shared)
        measures = _macro(items, "PixelMeasuresSequence")
        content = _macro(items, "FrameContentSequence")
        transform = _macro(items, "PixelValueTransformationSequence")
        dims = _list(content.get("DimensionIndexValues")) if content else []
        out.append(
            _row(
                sop,
                number,
                ImagePositionPatient=_floats(
                    _get(items, "PlanePositionSequence", "ImagePositionPatient")
                ),
                ImageOrientationPatient=_floats(
                    _get(items, "PlaneOrientationSequence", "ImageOrientationPatient")
                ),
                PixelSpacing=_floats(measures.get("PixelSpacing"))
                if measures
                else None,
                SliceThickness=_float(measures.get("SliceThickness"))
                if measures
                else None,
                StackID=str(content.get("StackID"))
                if content and content.get("StackID") is not None
                else None,
                InStackPositionNumber=_int(content.get("InStackPositionNumber"))
                if content
                else None,
                TemporalPositionIndex=_int(content.get("TemporalPositionIndex"))
                if content
                else None,
                DimensionIndexValues=[_int(v) for v in dims] or None,
                dimension_keywords=keywords if dims else None,
                EffectiveEchoTime=_float(
                    _get(items, "MREchoSequence", "EffectiveEchoTime")
                ),
                NominalCardiacTriggerDelayTime=_float(
                    _get(
                        items,
                        "CardiacSynchronizationSequence",
                        "NominalCardiacTriggerDelayTime",
                    )
                ),
                DiffusionBValue=_float(
                    _get(items, "MRDiffusionSequence", "DiffusionBValue")
                ),
                RescaleSlope=_float(transform.get("RescaleSlope"))
                if transform
                else None,
                RescaleIntercept=_float(transform.get("RescaleIntercept"))
                if transform
                else None,
                RescaleType=str(transform.get("RescaleType"))
                if transform and transform.get("RescaleType") is not None
                else None,
                real_world_mapping=_real_world(items),
                geometry="functional groups",
            )
        )
    return out


def _real_world(items: tuple[Dataset | None, ...]) -> str | None:
    mapping = _macro(items, "RealWorldValueMappingSequence")
    if mapping is None:
        return None
    units = mapping.get("MeasurementUnitsCodeSequence")
    unit = units[0].get("CodeValue") if units else None
    parts = [
        f"{key} {mapping.get(key)}"
        for key in ("LUTLabel", "RealWorldValueSlope", "RealWorldValueIntercept")
        if mapping.get(key) is not None
    ]
    if unit:
        parts.append(f"units {unit}")
    return "RealWorldValueMapping (" + ", ".join(parts) + ")"


def _grid_offsets(ds: Dataset, sop: str, frames: int) -> list[dict[str, Any]]:
    ipp = _floats(ds.get("ImagePositionPatient"))
    iop = _floats(ds.get("ImageOrientationPatient"))
    offsets = _floats(ds.get("GridFrameOffsetVector")) or []
    if ipp is None or iop is None or len(ipp) != 3 or len(iop) != 6:
        return []
    if len(offsets) != frames:
        return [
            _row(
                sop,
                1,
                ImagePositionPatient=ipp,
                ImageOrientationPatient=iop,
                geometry="GridFrameOffsetVector",
                problem=f"GridFrameOffsetVector has {len(offsets)} values for "
                f"{frames} frames",
            )
        ]
    n = _normal(iop)
    origin = np.asarray(ipp)
    # relative offsets start at 0; otherwise they are coordinates along the normal
    base = 0.0 if offsets[0] == 0 else float(origin @ n)
    return [
        _row(
            sop,
            k + 1,
            ImagePositionPatient=[float(v) for v in origin + (offset - base) * n],
            ImageOrientationPatient=iop,
            PixelSpacing=_floats(ds.get("PixelSpacing")),
            RescaleSlope=_float(ds.get("DoseGridScaling")),
            RescaleIntercept=0.0 if ds.get("DoseGridScaling") is not None else None,
            RescaleType=str(ds.get("DoseUnits")) if ds.get("DoseUnits") else None,
            geometry="GridFrameOffsetVector",
        )
        for k, offset in enumerate(offsets[:MAX_FRAMES])
    ]


def _stacked_frames(
    ds: Dataset, sop: str, frames: int, image_type: list[str]
) -> list[dict[str, Any]]:
    ipp = _floats(ds.get("ImagePositionPatient"))
    iop = _floats(ds.get("ImageOrientationPatient"))
    modality = str(ds.get("Modality", "")).upper()
    if modality == "NM":
        if not any(t == "RECON TOMO" for t in image_type):
            return []
        detector = ds.get("DetectorInformationSequence")
        if detector and (ipp is None or iop is None):
            ipp = ipp or _floats(detector[0].get("ImagePositionPatient"))
            iop = iop or _floats(detector[0].get("ImageOrientationPatient"))
    elif modality not in ("CT", "MR", "US", "PT"):
        return []
    spacing = _float(ds.get("SpacingBetweenSlices"))
    if ipp is None or iop is None or len(ipp) != 3 or len(iop) != 6 or not spacing:
        return []
    n = _normal(iop)
    origin = np.asarray(ipp)
    return [
        _row(
            sop,
            k + 1,
            ImagePositionPatient=[float(v) for v in origin + k * spacing * n],
            ImageOrientationPatient=iop,
            PixelSpacing=_floats(ds.get("PixelSpacing")),
            geometry="SpacingBetweenSlices",
        )
        for k in range(min(frames, MAX_FRAMES))
    ]


def _normal(iop: list[float]) -> npt.NDArray[np.float64]:
    r, c = np.asarray(iop[:3], dtype=np.float64), np.asarray(iop[3:], dtype=np.float64)
    n = np.cross(r, c).astype(np.float64)
    length = float(np.linalg.norm(n))
    unit: npt.NDArray[np.float64] = n / length if length else n
    return unit


def _csa(ds: Dataset) -> dict[str, Any] | str:
    """The CSA image header, or why it cannot be had."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nibabel.nicom warns it is experimental
            csareader: Any = importlib.import_module("nibabel.nicom.csareader")
    except ImportError:
        return NEEDS_NIBABEL
    try:
        header = csareader.get_csa_header(ds, "image")
    except Exception as exc:  # noqa: BLE001 - a broken private header is a reason
        return f"its CSA image header cannot be read ({exc})"
    if header is None:
        return "it has no Siemens CSA image header (0029,xx10)"
    n = csareader.get_n_mosaic(header)
    try:
        normal = csareader.get_slice_normal(header)
    except ValueError:
        normal = None
    missing = [
        name
        for name, value in (
            ("NumberOfImagesInMosaic", n),
            ("SliceNormalVector", normal),
        )
        if value is None or (name == "NumberOfImagesInMosaic" and not value)
    ]
    if missing:
        return f"its CSA image header lacks {' and '.join(missing)}"
    return {"n": int(n), "normal": [float(v) for v in normal]}


def _mosaic(ds: Dataset, sop: str) -> list[dict[str, Any]]:
    ipp = _floats(ds.get("ImagePositionPatient"))
    iop = _floats(ds.get("ImageOrientationPatient"))
    spacing = _floats(ds.get("PixelSpacing"))
    step = _float(ds.get("SpacingBetweenSlices")) or _float(ds.get("SliceThickness"))
    csa = _csa(ds)
    problem = csa if isinstance(csa, str) else None
    if problem is None and (
        ipp is None or iop is None or spacing is None or len(spacing) != 2
    ):
        problem = (
            "it lacks ImagePositionPatient, ImageOrientationPatient or PixelSpacing"
        )
    if problem is None and not step:
        problem = "it has neither SpacingBetweenSlices nor SliceThickness"
    if (
        problem is not None
        or isinstance(csa, str)
        or ipp is None
        or iop is None
        or spacing is None
        or not step
    ):
        return [  # one row, so that verify and the volume can say why
            _row(
                sop,
                1,
                ImagePositionPatient=ipp,
                ImageOrientationPatient=iop,
                geometry="mosaic",
                problem=f"a Siemens mosaic cannot be un-tiled: {problem}",
            )
        ]
    n_tiles = csa["n"]
    size = math.ceil(math.sqrt(n_tiles))
    rows, columns = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    if n_tiles < 1 or not rows or rows % size or columns % size:
        return [
            _row(
                sop,
                1,
                ImagePositionPatient=ipp,
                ImageOrientationPatient=iop,
                geometry="mosaic",
                problem=f"a Siemens mosaic cannot be un-tiled: NumberOfImagesInMosaic "
                f"{n_tiles} needs a {size}×{size} grid of tiles, which a "
                f"{rows}×{columns} image does not divide into",
            )
        ]
    r, c = np.asarray(iop[:3]), np.asarray(iop[3:])
    # Siemens writes the corner of the whole mosaic as if it were one image
    # centred on the first tile (nibabel's MosaicWrapper.image_position)
    first = (
        np.asarray(ipp)
        + c * spacing[0] * (rows - rows / size) / 2
        + r * spacing[1] * (columns - columns / size) / 2
    )
    n = _normal(iop)
    s = -n if float(np.dot(csa["normal"], n)) < 0 else n
    return [
        _row(
            sop,
            1,
            tile=k,
            n_tiles=n_tiles,
            ImagePositionPatient=[float(v) for v in first + k * step * s],
            ImageOrientationPatient=iop,
            PixelSpacing=spacing,
            SliceThickness=_float(ds.get("SliceThickness")),
            geometry="mosaic",
        )
        for k in range(min(n_tiles, MAX_FRAMES))
    ]
