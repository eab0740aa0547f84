"""dicomkit: any folder of DICOM files, back into Patient → Study → Series → Instance.

>>> import dicomkit as dk
>>> col = dk.scan("data/sample")   # doctest: +SKIP

``import dicomkit`` stays light and headless: ipywidgets and matplotlib are only
imported by the modules that draw.
"""

from dicomkit.api import read_parquet, scan
from dicomkit.collection import Collection, concat
from dicomkit.exceptions import (
    DicomkitError,
    DuplicateInstanceError,
    IndexFormatError,
    NotDicomError,
    UnknownUIDError,
)

__version__ = "0.1.0"

__all__ = [
    "Collection",
    "DicomkitError",
    "DuplicateInstanceError",
    "IndexFormatError",
    "NotDicomError",
    "UnknownUIDError",
    "__version__",
    "concat",
    "read_parquet",
    "scan",
]
