"""Stored pixels read straight from the file's bytes, without pydicom's decode.

Uncompressed little-endian monochrome images (8, 16 or 32 bits, implicit or
explicit VR) are most of what a scanner sends; for them the pixel bytes are
read into one array, the values pydicom's ``pixel_array`` gives (unused high
bits corrected as pydicom does). :func:`read_native` walks a Part 10 file's
header with the scan's reader (:func:`dicomkit.io.fastread.locate_pixel_data`);
:func:`native_frames` reads the pixels of a data set pydicom has just read up to
its PixelData. Anything else returns None: :mod:`dicomkit.io.pixels` then lets
pydicom decode it.
"""

from __future__ import annotations

import functools
import io
import os
import warnings
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID

from dicomkit.exceptions import TruncatedFileError
from dicomkit.io import fastread
from dicomkit.io.dicom import UNDEFINED_LENGTH
from dicomkit.io.walk import open_regular, os_path

__all__ = [
    "NATIVE_LITTLE",
    "PixelRange",
    "correct_bits",
    "frames_text",
    "native_frames",
    "pixel_layout",
    "pixel_range",
    "read_native",
]

_PIXEL_TAG = b"\xe0\x7f\x10\x00"  # (7FE0,0010) little endian
#: Uncompressed little-endian syntaxes whose pixels are read straight from the
#: file's bytes (implicit VR, explicit VR).
NATIVE_LITTLE = {"1.2.840.10008.1.2": True, "1.2.840.10008.1.2.1": False}
#: The attributes the native path needs, read by the scan's header walker.
_FAST_KEYWORDS = (
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "PixelRepresentation",
    "SamplesPerPixel",
    "NumberOfFrames",
    "RescaleSlope",
    "RescaleIntercept",
    "RescaleType",
    "ModalityLUTSequence",
)
_FAST_PLAN = fastread.ReadPlan.build(_FAST_KEYWORDS)
_FAST_TAGS: dict[str, int] = {
    k: t for k, t in zip(_FAST_KEYWORDS, _FAST_PLAN.tags, strict=True) if t is not None
}


def read_native(
    path: str, out: npt.NDArray[Any] | None
) -> tuple[npt.NDArray[Any], Dataset] | None:
    """The stored pixels and the pixel-format data set of a Part 10 uncompressed
    little-endian monochrome file, the header walked by the scan's own reader
    (:mod:`dicomkit.io.fastread`, which reads exactly what pydicom reads) and the
    pixel bytes read into ``out`` when it has the image's shape and type (else a
    new array). None for anything it does not handle exactly (a Modality LUT
    Sequence, a truncated file, another syntax …): the caller then opens the
    file the pydicom way, which also says what is wrong with it.
    """
    try:
        with open_regular(path) as fp:
            size = os.fstat(fp.fileno()).st_size
            found = fastread.locate_pixel_data(fp, size, _FAST_PLAN, NATIVE_LITTLE)
            if found is None or _FAST_TAGS["ModalityLUTSequence"] in found.raw:
                return None
            key = (found.syntax, *(found.raw.get(t) for t in _FAST_TAGS.values()))
            ds, layout = _pixel_format(key)
            if ds is None or layout is None or found.length == UNDEFINED_LENGTH:
                return None
            dtype, shape = layout
            expected = int(np.prod(shape)) * dtype.itemsize
            if found.length < expected or found.start + expected > size:
                return None  # truncated: the pydicom path says so
            fits = out is not None and out.shape == shape and out.dtype == dtype
            array = out if fits and out is not None else np.empty(shape, dtype=dtype)
            fp.seek(found.start)
            reader_fp = cast("io.BufferedReader", fp)  # open_regular's buffered file
            if reader_fp.readinto(array.data.cast("B")) != expected:
                return None
    except (OSError, fastread.TooLarge, ValueError):
        return None
    correct_bits(array, ds)
    return array, ds


@dataclass(frozen=True)
class PixelRange:
    """Where one uncompressed single-frame file keeps its stored pixels: ``length``
    bytes from ``start``, of ``dtype`` in ``shape`` ``(1, rows, columns)``, with
    the pixel-format data set ``ds`` (shared by the files of one format: do not
    modify it) and ``shift``, the unused high bits (BitsAllocated − BitsStored)."""

    path: str
    start: int
    length: int
    dtype: np.dtype[Any]
    shape: tuple[int, int, int]
    shift: int
    ds: Dataset


def pixel_range(path: str) -> PixelRange | None:
    """The pixel bytes of a Part 10 uncompressed little-endian monochrome
    single-frame file, found as :func:`read_native` finds them (the same header
    walk, the same pixel format), without reading them. None for anything else
    (multi-frame, compressed, big endian, a Modality LUT Sequence, truncated …).
    The streamed ``.nii`` of :mod:`dicomkit.export` copies these ranges."""
    try:
        with open_regular(os_path(path)) as fp:
            size = os.fstat(fp.fileno()).st_size
            found = fastread.locate_pixel_data(fp, size, _FAST_PLAN, NATIVE_LITTLE)
    except (OSError, fastread.TooLarge, ValueError):
        return None
    if found is None or _FAST_TAGS["ModalityLUTSequence"] in found.raw:
        return None
    key = (found.syntax, *(found.raw.get(t) for t in _FAST_TAGS.values()))
    ds, layout = _pixel_format(key)
    if ds is None or layout is None or layout[1][0] != 1:
        return None
    if found.length == UNDEFINED_LENGTH:
        return None
    dtype, shape = layout
    expected = int(np.prod(shape)) * dtype.itemsize
    if found.length < expected or found.start + expected > size:
        return None  # truncated: the array path says so
    shift = dtype.itemsize * 8 - int(ds.get("BitsStored", dtype.itemsize * 8))
    return PixelRange(path, found.start, expected, dtype, shape, shift, ds)


def _raw_value(element: tuple[str, bytes] | None) -> Any:
    """A US, IS or DS value as pydicom would hold it (a number or DS text);
    None when absent; ``...`` when several values or unreadable (not native)."""
    if element is None:
        return None
    vr, data = element
    if vr == "US":
        return int.from_bytes(data, "little") if len(data) == 2 else ...
    if vr in ("IS", "DS", "CS", "LO"):
        text = data.decode("ascii", "replace").strip(" \0")
        return ... if "\\" in text else text
    return ...  # a sequence: ModalityLUTSequence is refused before


@functools.lru_cache(maxsize=256)
def _pixel_format(
    key: tuple[Any, ...],
) -> tuple[Dataset | None, tuple[np.dtype[Any], tuple[int, int, int]] | None]:
    """The data set and layout of one pixel format: ``key`` is the syntax and the
    raw elements of :data:`_FAST_KEYWORDS`. The files of a series share a few
    formats, so each is converted (by pydicom, which is slow at it) once: the
    data set is shared by those files and must not be modified."""
    syntax, *elements = key
    values = {k: _raw_value(e) for k, e in zip(_FAST_TAGS, elements, strict=True)}
    ds = _format_dataset(values, syntax)
    return ds, (None if ds is None else pixel_layout(ds))


def _format_dataset(values: dict[str, Any], syntax: str) -> Dataset | None:
    """The pixel-format attributes as a data set (the values pydicom converts)."""
    if any(v is ... for v in values.values()):
        return None
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = UID(syntax)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for keyword, value in values.items():
            if value is not None and value != "":
                setattr(ds, keyword, value)
    return ds


def pixel_layout(ds: Dataset) -> tuple[np.dtype[Any], tuple[int, int, int]] | None:
    """dtype and ``(frames, rows, columns)`` of a native monochrome image whose
    values the native path reads, else None."""
    try:
        bits = int(ds.BitsAllocated)
        stored = int(ds.get("BitsStored", bits))
        signed = int(ds.PixelRepresentation) == 1
        rows, columns = int(ds.Rows), int(ds.Columns)
        n = int(ds.get("NumberOfFrames", 1) or 1)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
    except (AttributeError, TypeError, ValueError):
        return None
    if (
        bits not in (8, 16, 32)
        or not 0 < stored <= bits
        or samples != 1
        or min(rows, columns, n) < 1
    ):
        return None
    return np.dtype(f"<{'i' if signed else 'u'}{bits // 8}"), (n, rows, columns)


def correct_bits(array: npt.NDArray[Any], ds: Dataset) -> None:
    """pydicom's ``correct_unused_bits``: the bits above BitsStored cleared
    (unsigned) or carrying the sign (signed)."""
    bits = array.dtype.itemsize * 8
    shift = bits - int(ds.get("BitsStored", bits))
    if shift:
        np.left_shift(array, shift, out=array)
        np.right_shift(array, shift, out=array)


def native_frames(
    fp: io.BufferedReader, ds: Dataset, path: str
) -> npt.NDArray[Any] | None:
    """The stored pixels ``(frames, rows, columns)`` of an uncompressed
    little-endian monochrome image, read from ``fp`` (just before its PixelData)
    into one new array: no pydicom decode, no copy of the bytes.

    None when the image is anything else (compressed, big endian, colour, 1 or 64
    bits, float pixels, no PixelData where it should be …): pydicom decodes those.
    The values are pydicom's: unused high bits are cleared (unsigned) or carry
    the sign (signed), as its ``correct_unused_bits`` does.

    Raises
    ------
    TruncatedFileError
        The file holds fewer pixel bytes than the image needs.
    """
    syntax = str(ds.file_meta.get("TransferSyntaxUID", ""))
    implicit = NATIVE_LITTLE.get(syntax)
    if implicit is None or ds.original_encoding != (implicit, True):
        return None
    found = pixel_layout(ds)
    if found is None:
        return None
    dtype, shape = found
    head = fp.read(8 if implicit else 12)
    if len(head) < 8 or head[:4] != _PIXEL_TAG:
        return None
    if implicit:
        length = int.from_bytes(head[4:8], "little")
    elif head[4:6] in (b"OB", b"OW") and len(head) == 12:
        length = int.from_bytes(head[8:12], "little")
    else:
        return None
    if length == UNDEFINED_LENGTH:
        return None  # encapsulated: not native after all
    out = np.empty(shape, dtype=dtype)
    expected = out.nbytes
    got = fp.readinto(out.data.cast("B")[: min(length, expected)])
    if got < expected:
        msg = (
            f"{path!r} is a truncated DICOM file: its PixelData holds {got:,} of the "
            f"{expected:,} bytes its image needs ({shape[1]}×{shape[2]}, "
            f"{dtype.itemsize * 8} bits, "
            f"{frames_text(ds)}); a scan lists it in col.errors as 'truncated': "
            "copy the file again from its source"
        )
        raise TruncatedFileError(msg)
    correct_bits(out, ds)
    return out


def frames_text(ds: Dataset) -> str:
    """How many frames ``ds`` says it has, as words ('1 frame', '3 frames')."""
    try:
        n = int(ds.get("NumberOfFrames", 1) or 1)
    except (TypeError, ValueError):
        return "? frames"
    return "1 frame" if n == 1 else f"{n:,} frames"
