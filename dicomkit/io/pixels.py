"""Pixel data: read on demand, decoded by pydicom's pixel handlers, modality LUT applied.

The scan never reads pixels; these functions do, one file at a time. Compressed
transfer syntaxes decode through pydicom's plugins; when none is installed for a
syntax, :class:`~dicomkit.exceptions.MissingDecoderError` names the packages to
install (``pip install "dicomkit[codecs]"``).
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels.processing import apply_modality_lut
from pydicom.uid import UID

from dicomkit.exceptions import MissingDecoderError, NotDicomError
from dicomkit.io.dicomweb import is_url, read_instance
from dicomkit.io.header import BoundedReader
from dicomkit.io.walk import os_path

__all__ = ["load_pixels", "read_dataset"]

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
    """Read a whole data set (header only with ``stop_before_pixels``).

    ``transfer_syntax`` is used for files without file meta (no preamble), whose
    encoding the scan recorded in its ``TransferSyntaxUID`` column. ``path`` may
    be a ``path`` value of a frame, whose undecodable bytes read ``\\xNN``
    (:func:`dicomkit.io.walk.os_path` finds the file).

    A ``path`` that is an ``http(s)://`` URL (the ``path`` of a
    :func:`dicomkit.scan_dicomweb` collection) is retrieved through WADO-RS
    (:func:`dicomkit.io.dicomweb.read_instance`, cached per process).

    Raises
    ------
    NotDicomError
        If pydicom cannot read ``path`` as DICOM.
    """
    if is_url(path):
        return read_instance(str(path), stop_before_pixels=stop_before_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with BoundedReader(os_path(os.fspath(path))) as fp:
                ds = dcmread(fp, stop_before_pixels=stop_before_pixels, force=True)
    except Exception as exc:
        msg = f"cannot read {os.fspath(path)!r} as DICOM: {exc}"
        raise NotDicomError(msg) from exc
    meta = getattr(ds, "file_meta", None)
    if transfer_syntax and (meta is None or "TransferSyntaxUID" not in meta):
        ds.file_meta = meta if meta is not None else FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = UID(transfer_syntax)
    return ds


def load_pixels(
    path: str | os.PathLike[str],
    *,
    rescale: bool = True,
    transfer_syntax: str | None = None,
) -> npt.NDArray[Any]:
    """Decode one instance's pixels: shape ``(frames, rows, columns[, samples])``.

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
        The file cannot be read, or has no pixel data.

    Examples
    --------
    >>> frames = dk.load_pixels(col.instances["path"][0])   # doctest: +SKIP
    >>> frames.shape                                        # doctest: +SKIP
    (1, 128, 128)
    """
    ds = read_dataset(path, transfer_syntax=transfer_syntax)
    if (
        "PixelData" not in ds
        and "FloatPixelData" not in ds
        and "DoubleFloatPixelData" not in ds
    ):
        msg = f"{os.fspath(path)!r} has no pixel data (SOP class {ds.get('SOPClassUID', '?')})"
        raise NotDicomError(msg)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            array = ds.pixel_array
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
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if frames == 1:
        array = array[np.newaxis]
    if samples == 1 and rescale:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            array = np.asarray(apply_modality_lut(array, ds), dtype=np.float32)
    return array
