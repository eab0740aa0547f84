"""Pixel data: read on demand, decoded by pydicom's pixel handlers, modality LUT applied.

The scan never reads pixels; these functions do, one file at a time. Compressed
transfer syntaxes decode through pydicom's plugins; when none is installed for a
syntax, :class:`~dicomkit.exceptions.MissingDecoderError` names the packages to
install (``pip install "dicomkit[codecs]"``).
"""

from __future__ import annotations

import functools
import io
import os
import warnings
from typing import Any, NoReturn, cast

import numpy as np
import numpy.typing as npt
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels.processing import apply_modality_lut
from pydicom.pixels.utils import get_expected_length
from pydicom.uid import (
    UID,
)

from dicomkit.exceptions import (
    DicomkitError,
    MissingDecoderError,
    NotDicomError,
    TruncatedFileError,
)
from dicomkit.io import fastread
from dicomkit.io.dicomweb import is_url, read_instance
from dicomkit.io.fastvalue import Fallback
from dicomkit.io.header import (
    BoundedReader,
    decoded_syntax,
    file_identity,
    read_header,
    sniff,
)
from dicomkit.io.walk import open_regular, os_path

__all__ = ["load_pixels", "read_dataset", "read_stored"]

#: Uncompressed little-endian syntaxes whose pixels are read straight from the
#: file's bytes (implicit VR, explicit VR).
_NATIVE_LITTLE = {"1.2.840.10008.1.2": True, "1.2.840.10008.1.2.1": False}
_PIXEL_TAG = b"\xe0\x7f\x10\x00"  # (7FE0,0010) little endian
_UNDEFINED = 0xFFFFFFFF
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

_CODECS_HINT = (
    'install the decoders with: pip install "dicomkit[codecs]" '
    "(pylibjpeg, pylibjpeg-libjpeg, pylibjpeg-openjpeg, pyjpegls)"
)


def read_dataset(
    path: str | os.PathLike[str],
    *,
    stop_before_pixels: bool = False,
    transfer_syntax: str | None = None,
) -> Dataset:
    """Open one file as DICOM: the one way dicomkit opens a file for its pixels or tags.

    The file's first bytes are checked as the scan checks them, so a text file or a
    ZIP archive is refused with the scan's reason rather than "read" into an empty
    data set. A file without file meta (no preamble: an old ACR-NEMA style data
    set) gets the transfer syntax it was decoded with, so its pixels decode;
    ``transfer_syntax`` overrides that guess (the scan records the syntax in its
    ``TransferSyntaxUID`` column). ``path`` may be a ``path`` value of a frame,
    whose undecodable bytes read ``\\xNN`` (:func:`dicomkit.io.walk.os_path`
    finds the file).

    A ``path`` that is an ``http(s)://`` URL (the ``path`` of a
    :func:`dicomkit.scan_dicomweb` collection) is retrieved through WADO-RS
    (:func:`dicomkit.io.dicomweb.read_instance`, cached per process).

    Raises
    ------
    NotDicomError
        If ``path`` is not DICOM (says what it is: empty, an archive, not DICOM)
        or pydicom cannot parse it.
    TruncatedFileError
        If the header is cut short.
    FileNotFoundError
        If there is no file at ``path``.

    Examples
    --------
    >>> ds = read_dataset("data/sample/PAT003_MUELLER_JUERGEN/DICOM/ST000001/SE000001/IM000008")  # doctest: +SKIP
    >>> ds.file_meta.TransferSyntaxUID                      # doctest: +SKIP
    '1.2.840.10008.1.2'
    """
    if is_url(path):
        return read_instance(str(path), stop_before_pixels=stop_before_pixels)
    ds, _ = _read(
        path, transfer_syntax, stop_before_pixels=stop_before_pixels, native=False
    )
    return ds


def _read(
    path: str | os.PathLike[str],
    transfer_syntax: str | None,
    *,
    stop_before_pixels: bool,
    native: bool,
) -> tuple[Dataset, npt.NDArray[Any] | None]:
    """The data set of ``path`` (as :func:`read_dataset`); with ``native``, also
    its stored pixels read straight from the file when they are uncompressed
    little endian (:func:`_native_frames`), else None and the data set is read
    whole for pydicom to decode."""
    shown = os.fspath(path)
    frames: npt.NDArray[Any] | None = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with BoundedReader(os_path(shown)) as fp:
                problem = sniff(fp, os.fstat(fp.fileno()).st_size)
                if problem is not None:
                    reason, message = problem
                    msg = f"cannot read {shown!r} ({reason}): {message}"
                    raise NotDicomError(msg)
                ds = dcmread(
                    fp, stop_before_pixels=stop_before_pixels or native, force=True
                )
                if native:
                    _with_syntax(ds, transfer_syntax)
                    frames = _native_frames(fp, ds, shown)
                    if frames is None:  # not a simple native image: pydicom's way
                        fp.seek(0)
                        ds = dcmread(fp, force=True)
    except (DicomkitError, FileNotFoundError):
        raise
    except Exception as exc:  # noqa: BLE001 - pydicom raises anything: say what it is
        _refuse(shown, f"cannot read {shown!r} as DICOM: {exc}", exc)
    _with_syntax(ds, transfer_syntax)
    return ds, frames


def _with_syntax(ds: Dataset, transfer_syntax: str | None) -> None:
    """Give a data set without file meta the syntax it was decoded with."""
    meta = getattr(ds, "file_meta", None)
    if meta is None or "TransferSyntaxUID" not in meta:
        syntax = transfer_syntax or decoded_syntax(ds)
        if syntax:
            ds.file_meta = meta if meta is not None else FileMetaDataset()
            ds.file_meta.TransferSyntaxUID = UID(syntax)


def _fast_native(
    path: str, out: npt.NDArray[Any] | None
) -> tuple[npt.NDArray[Any], Dataset] | None:
    """The stored pixels and the pixel-format data set of a Part 10 uncompressed
    little-endian monochrome file, the header walked by the scan's own reader
    (:mod:`dicomkit.io.fastread`, which reads exactly what pydicom reads) and the
    pixel bytes read into ``out`` when it has the image's shape and type (else a
    new array). None for anything it does not handle exactly (a Modality LUT
    Sequence, a truncated file, another syntax …): :func:`_read` then opens the
    file the pydicom way, which also says what is wrong with it.
    """
    try:
        with open_regular(path) as fp:
            size = os.fstat(fp.fileno()).st_size
            reader = fastread._Reader(fp, size)
            if reader.buf[128:132] != b"DICM":
                return None
            pos, syntax, _ = fastread._meta(reader)
            implicit = _NATIVE_LITTLE.get(syntax or "")
            if implicit is None:
                return None
            raw: dict[int, tuple[str, bytes]] = {}
            pos, has_pixels = fastread._walk(reader, pos, implicit, _FAST_PLAN, raw)
            if not has_pixels or _FAST_TAGS["ModalityLUTSequence"] in raw:
                return None
            at = reader.need(pos, 8 if implicit else 12)
            head = reader.buf[at : at + (8 if implicit else 12)]
            if head[:4] != _PIXEL_TAG:
                return None
            if implicit:
                length, start = int.from_bytes(head[4:8], "little"), pos + 8
            elif head[4:6] in (b"OB", b"OW"):
                length, start = int.from_bytes(head[8:12], "little"), pos + 12
            else:
                return None
            key = (syntax or "", *(raw.get(t) for t in _FAST_TAGS.values()))
            ds, layout = _pixel_format(key)
            if ds is None or layout is None or length == _UNDEFINED:
                return None
            dtype, shape = layout
            expected = int(np.prod(shape)) * dtype.itemsize
            if length < expected or start + expected > size:
                return None  # truncated: the pydicom path says so
            fits = out is not None and out.shape == shape and out.dtype == dtype
            array = out if fits and out is not None else np.empty(shape, dtype=dtype)
            fp.seek(start)
            reader_fp = cast("io.BufferedReader", fp)  # open_regular's buffered file
            if reader_fp.readinto(array.data.cast("B")) != expected:
                return None
    except (OSError, Fallback, fastread.TooLarge, ValueError):
        return None
    _correct_bits(array, ds)
    return array, ds


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
    return ds, (None if ds is None else _layout(ds))


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


def _layout(ds: Dataset) -> tuple[np.dtype[Any], tuple[int, int, int]] | None:
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


def _correct_bits(array: npt.NDArray[Any], ds: Dataset) -> None:
    """pydicom's ``correct_unused_bits``: the bits above BitsStored cleared
    (unsigned) or carrying the sign (signed)."""
    bits = array.dtype.itemsize * 8
    shift = bits - int(ds.get("BitsStored", bits))
    if shift:
        np.left_shift(array, shift, out=array)
        np.right_shift(array, shift, out=array)


def _native_frames(
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
    implicit = _NATIVE_LITTLE.get(syntax)
    if implicit is None or ds.original_encoding != (implicit, True):
        return None
    layout = _layout(ds)
    if layout is None:
        return None
    dtype, shape = layout
    head = fp.read(8 if implicit else 12)
    if len(head) < 8 or head[:4] != _PIXEL_TAG:
        return None
    if implicit:
        length = int.from_bytes(head[4:8], "little")
    elif head[4:6] in (b"OB", b"OW") and len(head) == 12:
        length = int.from_bytes(head[8:12], "little")
    else:
        return None
    if length == _UNDEFINED:
        return None  # encapsulated: not native after all
    out = np.empty(shape, dtype=dtype)
    expected = out.nbytes
    got = fp.readinto(out.data.cast("B")[: min(length, expected)])
    if got < expected:
        msg = (
            f"{path!r} is a truncated DICOM file: its PixelData holds {got:,} of the "
            f"{expected:,} bytes its image needs ({shape[1]}×{shape[2]}, "
            f"{dtype.itemsize * 8} bits, "
            f"{_frames_text(ds)}); a scan lists it in col.errors as 'truncated': "
            "copy the file again from its source"
        )
        raise TruncatedFileError(msg)
    _correct_bits(out, ds)
    return out


def _refuse(path: str, fallback: str, cause: Exception | None = None) -> NoReturn:
    """Raise the error that says what ``path`` is, as a scan would classify it.

    Only called once reading the file failed: the scan's header reader (no
    pixels) gives the file's ``reason`` (``truncated``, ``not_dicom``,
    ``archive`` …); ``fallback`` is the message when it finds nothing wrong.
    """
    try:
        kind, values = read_header(file_identity(os_path(path)), ["SOPInstanceUID"])
    except OSError:
        kind, values = "instance", {}
    if kind != "error":
        raise NotDicomError(fallback) from cause
    reason, message = values["reason"], values["message"]
    msg = f"{path!r} has no image to decode ({reason}): {message}"
    if reason == "truncated":
        msg += "; copy the file again from its source"
        raise TruncatedFileError(msg) from cause
    raise NotDicomError(msg) from cause


def _check_complete(ds: Dataset, path: str) -> None:
    """Raise :class:`TruncatedFileError` when native pixel data is cut short."""
    syntax = ds.file_meta.get("TransferSyntaxUID")
    if "PixelData" not in ds or syntax is None or UID(syntax).is_compressed:
        return
    try:
        expected = int(get_expected_length(ds, unit="bytes"))
    except Exception:  # noqa: BLE001 - a bad group 0028: pydicom says what is wrong
        return
    found = len(ds.PixelData)
    if found < expected:
        msg = (
            f"{path!r} is a truncated DICOM file: its PixelData holds {found:,} of the "
            f"{expected:,} bytes its image needs ({ds.get('Rows', '?')}×"
            f"{ds.get('Columns', '?')}, {ds.get('BitsAllocated', '?')} bits, "
            f"{_frames_text(ds)}); a scan lists it in col.errors as 'truncated': "
            "copy the file again from its source"
        )
        raise TruncatedFileError(msg)


def _frames_text(ds: Dataset) -> str:
    try:
        n = int(ds.get("NumberOfFrames", 1) or 1)
    except (TypeError, ValueError):
        return "? frames"
    return "1 frame" if n == 1 else f"{n:,} frames"


def load_pixels(
    path: str | os.PathLike[str],
    *,
    rescale: bool = True,
    transfer_syntax: str | None = None,
) -> npt.NDArray[Any]:
    """Decode one instance's pixels: shape ``(frames, rows, columns[, samples])``.

    The file is opened by :func:`read_stored` (:func:`read_dataset`'s checks, then
    uncompressed little-endian pixels straight from the file's bytes), as the
    volume and the viewers open it: a file without preamble or file meta decodes
    with the syntax it was read with (``transfer_syntax`` overrides it).

    With ``rescale`` (the default) the modality LUT (RescaleSlope and
    RescaleIntercept, or a Modality LUT Sequence) is applied to monochrome images
    and the result is ``float32`` (e.g. Hounsfield units for CT); colour images
    are returned as stored.

    Raises
    ------
    MissingDecoderError
        The transfer syntax needs a decoder that is not installed; the message
        names what to install.
    NotDicomError
        The file is not DICOM (the message says what it is: empty, an archive,
        not DICOM), cannot be parsed, or has no pixel data.
    TruncatedFileError
        The file is cut short (its header, or fewer pixel bytes than its image
        needs).

    Examples
    --------
    >>> frames = dk.load_pixels(col.instances["path"][0])   # doctest: +SKIP
    >>> frames.shape                                        # doctest: +SKIP
    (1, 128, 128)
    """
    array, ds = read_stored(path, transfer_syntax=transfer_syntax)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if samples == 1 and rescale:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            array = np.asarray(apply_modality_lut(array, ds), dtype=np.float32)
    return array


def read_stored(
    path: str | os.PathLike[str],
    *,
    transfer_syntax: str | None = None,
    out: npt.NDArray[Any] | None = None,
) -> tuple[npt.NDArray[Any], Dataset]:
    """One instance's stored pixel values ``(frames, rows, columns[, samples])``
    (no modality LUT) and its data set, for the rescale.

    Uncompressed little-endian monochrome images (8, 16 or 32 bits, implicit or
    explicit VR) are read straight from the file: the header is parsed up to
    PixelData and the pixel bytes go into one new array, the values pydicom's
    ``pixel_array`` gives (unused high bits corrected as pydicom does); their data
    set then has no ``PixelData`` element. A Part 10 file's header is walked by
    the scan's reader (:mod:`dicomkit.io.fastread`) and its data set holds only
    the pixel format and rescale, one object shared by the files of one format
    (do not modify it); ``out``, an array of the image's
    ``(frames, rows, columns)`` shape and type, receives the values (no new
    array) when the file is read that way. Everything else (compressed, big
    endian, colour, float pixels, URLs) is read whole and decoded by pydicom.
    :func:`load_pixels` is this plus the modality LUT; the volume reads its
    planes with it.

    Raises
    ------
    MissingDecoderError, NotDicomError, TruncatedFileError
        As :func:`load_pixels`.
    """
    if not is_url(path):
        fast = _fast_native(os_path(os.fspath(path)), out)
        if fast is not None:
            return fast
        ds, native = _read(path, transfer_syntax, stop_before_pixels=False, native=True)
        if native is not None:
            return native, ds
    else:
        ds = read_dataset(path, transfer_syntax=transfer_syntax)
    if (
        "PixelData" not in ds
        and "FloatPixelData" not in ds
        and "DoubleFloatPixelData" not in ds
    ):
        msg = f"{os.fspath(path)!r} has no pixel data (SOP class {ds.get('SOPClassUID', '?')})"
        _refuse(os.fspath(path), msg)
    _check_complete(ds, os.fspath(path))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            array = ds.pixel_array
    except (ValueError, AttributeError, TypeError, KeyError) as exc:
        shown = os.fspath(path)
        _refuse(shown, f"cannot decode the pixel data of {shown!r}: {exc}", exc)
    except (RuntimeError, NotImplementedError) as exc:
        syntax = ds.file_meta.get("TransferSyntaxUID", "unknown")
        name = getattr(syntax, "name", str(syntax))
        if (
            "missing" in str(exc)
            or "plugin" in str(exc)
            or "decoder" in str(exc).lower()
        ):
            msg = f"cannot decode {name} pixel data in {os.fspath(path)!r}: {_CODECS_HINT}"
            raise MissingDecoderError(msg) from exc
        msg = f"cannot decode the pixel data of {os.fspath(path)!r} ({name}): {exc}"
        raise NotDicomError(msg) from exc
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames == 1:
        array = array[np.newaxis]
    return array, ds
