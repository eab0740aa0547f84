"""dicomkit: any folder of DICOM files, back into Patient → Study → Series → Instance.

>>> import dicomkit as dk
>>> col = dk.scan("data/sample")   # doctest: +SKIP

``import dicomkit`` stays light and headless: ipywidgets and matplotlib are only
imported by the modules that draw.
"""

from typing import Any

from dicomkit import uid, window
from dicomkit._version import dicomkit_version as _dicomkit_version
from dicomkit.api import (
    read_parquet,
    scan,
    scan_dicomweb,
    scan_parquet,
    scan_to_parquet,
)
from dicomkit.collection import Collection, concat
from dicomkit.compare import compare
from dicomkit.deid.plan import DeidentifyPlan
from dicomkit.exceptions import (
    DeidentificationWarning,
    DicomkitError,
    DicomwebAuthError,
    DicomwebConnectionError,
    DicomwebError,
    DicomwebNotFoundError,
    DicomwebTimeoutError,
    DuplicateInstanceError,
    IndexFormatError,
    MergeError,
    MissingDecoderError,
    MissingExtraError,
    NiftiExportError,
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

__version__ = _dicomkit_version()  # from the package metadata (pyproject.toml)

__all__ = [
    "Collection",
    "DeidentificationWarning",
    "DeidentifyPlan",
    "DicomkitError",
    "DicomwebAuthError",
    "DicomwebConnectionError",
    "DicomwebError",
    "DicomwebNotFoundError",
    "DicomwebTimeoutError",
    "DuplicateInstanceError",
    "IndexFormatError",
    "LazyCollection",
    "MergeError",
    "MissingDecoderError",
    "MissingExtraError",
    "NiftiExportError",
    "NotAVolumeError",
    "NotDicomError",
    "Plan",
    "Tolerances",
    "TruncatedFileError",
    "UnknownUIDError",
    "VerificationError",
    "Volume",
    "__version__",
    "compare",
    "concat",
    "describe_checks",
    "examples",
    "load_pixels",
    "plot",
    "read_parquet",
    "scan",
    "scan_dicomweb",
    "scan_parquet",
    "scan_to_parquet",
    "uid",
    "widgets",
    "window",
]


def __getattr__(name: str) -> Any:
    """``dk.plot``, ``dk.widgets`` and ``dk.examples`` are imported on first use."""
    if name in ("plot", "widgets", "examples"):
        import importlib

        return importlib.import_module(f"dicomkit.{name}")
    msg = f"module 'dicomkit' has no attribute {name!r}"
    raise AttributeError(msg)
