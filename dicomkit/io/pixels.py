"""Pixel data: read on demand, decoded by pydicom's pixel handlers, modality LUT applied.

The scan never reads pixels; these functions do, one file at a time. Compressed
transfer syntaxes decode through pydicom's plugins; when none is installed for a
syntax, :class:`~dicomkit.exceptions.MissingDecoderError` names the packages to
install (``pip install "dicomkit[codecs]"``).
"""

from __future__ import annotations

import os
import warnings
from typing import Any, NoReturn

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
from dicomkit.io import native
from dicomkit.io.dicomweb import is_url, read_instance
from dicomkit.io.header import (
    BoundedReader,
    decoded_syntax,
    file_identity,
    read_header,
    sniff,
)
from dicomkit.io.walk import os_path

__all__ = ["load_pixels", "read_dataset", "read_stored"]

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
        path, transfer_syntax, stop_before_pixels=stop_before_pixels, direct=False
    )
    return ds


def _read(
    path: str | os.PathLike[str],
    transfer_syntax: str | None,
    *,
    stop_before_pixels: bool,
    direct: bool,
) -> tuple[Dataset, npt.NDArray[Any] | None]:
    """The data set of ``path`` (as :func:`read_dataset`); with ``direct``, also
    its stored pixels read straight from the file when they are uncompressed
    little endian (:func:`~dicomkit.io.native.native_frames`), else None and the data set is read
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
                    fp, stop_before_pixels=stop_before_pixels or direct, force=True
                )
                if direct:
                    _with_syntax(ds, transfer_syntax)
                    frames = native.native_frames(fp, ds, shown)
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
            f"{native.frames_text(ds)}); a scan lists it in col.errors as 'truncated': "
            "copy the file again from its source"
        )
        raise TruncatedFileError(msg)


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
        fast = native.read_native(os_path(os.fspath(path)), out)
        if fast is not None:
            return fast
        ds, stored = _read(path, transfer_syntax, stop_before_pixels=False, direct=True)
        if stored is not None:
            return stored, ds
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
