"""dicomkit: any folder of DICOM files, back into Patient → Study → Series → Instance.

>>> import dicomkit as dk
>>> col = dk.scan("data/sample")   # doctest: +SKIP

``import dicomkit`` stays light and headless: ipywidgets and matplotlib are only
imported by the modules that draw.
"""

from typing import Any

from dicomkit import uid
from dicomkit.api import read_parquet, scan, scan_parquet, scan_to_parquet
from dicomkit.collection import Collection, concat
from dicomkit.exceptions import (
    DicomkitError,
    DuplicateInstanceError,
    IndexFormatError,
    MergeError,
    MissingDecoderError,
    NotAVolumeError,
    NotDicomError,
    TruncatedFileError,
    UnknownUIDError,
    VerificationError,
)
from dicomkit.io.pixels import load_pixels
from dicomkit.lazy import LazyCollection
from dicomkit.plan import Plan
from dicomkit.verify import Tolerances, describe_checks
from dicomkit.volume import Volume

__version__ = "0.1.0"

__all__ = [
    "Collection",
    "DicomkitError",
    "DuplicateInstanceError",
    "IndexFormatError",
    "LazyCollection",
    "MergeError",
    "MissingDecoderError",
    "NotAVolumeError",
    "NotDicomError",
    "Plan",
    "Tolerances",
    "TruncatedFileError",
    "UnknownUIDError",
    "VerificationError",
    "Volume",
    "__version__",
    "concat",
    "describe_checks",
    "load_pixels",
    "plot",
    "read_parquet",
    "scan",
    "scan_parquet",
    "scan_to_parquet",
    "uid",
    "widgets",
]


def __getattr__(name: str) -> Any:
    """``dk.plot`` and ``dk.widgets`` import matplotlib/ipywidgets on first use."""
    if name in ("plot", "widgets"):
        import importlib

        return importlib.import_module(f"dicomkit.{name}")
    msg = f"module 'dicomkit' has no attribute {name!r}"
    raise AttributeError(msg)
