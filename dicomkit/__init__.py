"""dicomkit: any folder of DICOM files, back into Patient → Study → Series → Instance.

>>> import dicomkit as dk
>>> col = dk.scan("data/sample")   # doctest: +SKIP

``import dicomkit`` stays light and headless: ipywidgets and matplotlib are only
imported by the modules that draw.
"""

from dicomkit import uid
from dicomkit.api import read_parquet, scan
from dicomkit.collection import Collection, concat
from dicomkit.exceptions import (
    DicomkitError,
    DuplicateInstanceError,
    IndexFormatError,
    MergeError,
    NotDicomError,
    UnknownUIDError,
    VerificationError,
)
from dicomkit.plan import Plan
from dicomkit.verify import Tolerances, describe_checks

__version__ = "0.1.0"

__all__ = [
    "Collection",
    "DicomkitError",
    "DuplicateInstanceError",
    "IndexFormatError",
    "MergeError",
    "NotDicomError",
    "Plan",
    "Tolerances",
    "UnknownUIDError",
    "VerificationError",
    "__version__",
    "concat",
    "describe_checks",
    "read_parquet",
    "scan",
    "uid",
]
