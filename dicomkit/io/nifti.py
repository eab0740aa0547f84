"""NIfTI-1 files on disk (nibabel): an image from an array and an affine, its JSON.

The file-level half of the NIfTI sink; :mod:`dicomkit.export` decides what to
write for a volume or a collection, with the pure rules of :mod:`dicomkit.nifti`.
Every file goes through :func:`dicomkit.io.atomic.write_file` (temporary name
beside it, fsync, rename).

nibabel is an optional dependency: ``pip install "dicomkit[nifti]"``.
"""

from __future__ import annotations

import gzip
import importlib
import json
import os
from types import ModuleType
from typing import Any, BinaryIO

from dicomkit.exceptions import MissingExtraError
from dicomkit.io.atomic import file_mode, write_file

__all__ = [
    "GZIP_LEVEL",
    "check_suffix",
    "nifti_writer",
    "require_nibabel",
    "sidecar_path",
    "write_json",
]

#: gzip level of ``.nii.gz``: 1 is ~5× faster than 6 for ~10 % more bytes.
GZIP_LEVEL = 1


def require_nibabel() -> ModuleType:
    """``import nibabel``, or :class:`~dicomkit.exceptions.MissingExtraError`
    naming the extra to install."""
    try:
        return importlib.import_module("nibabel")
    except ImportError as exc:
        msg = (
            "NIfTI export needs nibabel, which is not installed: "
            'pip install "dicomkit[nifti]"'
        )
        raise MissingExtraError(msg) from exc


def nifti_writer(image: Any, *, compress: bool) -> Any:
    """What :func:`dicomkit.io.atomic.write_file` writes for a nibabel image."""

    def fill(fp: BinaryIO) -> None:
        if compress:
            with gzip.GzipFile(
                fileobj=fp, mode="wb", compresslevel=GZIP_LEVEL, mtime=0
            ) as gz:
                image.to_stream(gz)
        else:
            image.to_stream(fp)

    return fill


def write_json(data: dict[str, Any], target: str, *, overwrite: bool) -> None:
    """``data`` as UTF-8 JSON at ``target``, atomically."""
    text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    write_file(
        target,
        lambda fp: fp.write(text.encode("utf-8")),
        mode=file_mode(),
        overwrite=overwrite,
    )


def check_suffix(path: str) -> bool:
    """True for ``.nii.gz``, False for ``.nii``; anything else is refused."""
    if path.endswith(".nii.gz"):
        return True
    if path.endswith(".nii"):
        return False
    msg = f"a NIfTI file name ends in .nii or .nii.gz, not {os.path.basename(path)!r}"
    raise ValueError(msg)


def sidecar_path(path: str) -> str:
    """The JSON sidecar beside a ``.nii``/``.nii.gz`` file."""
    stem = path[: -len(".nii.gz")] if path.endswith(".nii.gz") else path[: -len(".nii")]
    return stem + ".json"
