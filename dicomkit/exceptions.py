"""Exceptions raised by dicomkit.

Every exception derives from :class:`DicomkitError` and also from the builtin it
refines, so existing ``except ValueError`` / ``except KeyError`` clauses keep working::

    DicomkitError
    ├── NotDicomError(ValueError)           a file given on its own is not DICOM
    ├── TruncatedFileError(ValueError)      a DICOM file cut short (header or pixel data)
    ├── DuplicateInstanceError(ValueError)  on_duplicate="error" met a repeated SOPInstanceUID
    ├── IndexFormatError(ValueError)        a parquet file is not a dicomkit index
    ├── MergeError(ValueError)              series that must not be merged unasked
    ├── NotAVolumeError(ValueError)         col.volume() on a series that is not a regular volume
    ├── MissingDecoderError(RuntimeError)   compressed pixels and no decoder installed
    ├── VerificationError(ValueError)       verify(strict=True) found errors
    └── UnknownUIDError(KeyError)           col[uid] with a UID that is not in the collection

A bad file met *during a scan* never raises: it becomes a row of ``col.errors``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "DicomkitError",
    "DuplicateInstanceError",
    "IndexFormatError",
    "MergeError",
    "MissingDecoderError",
    "NotAVolumeError",
    "NotDicomError",
    "TruncatedFileError",
    "UnknownUIDError",
    "VerificationError",
]


class DicomkitError(Exception):
    """Root of every exception dicomkit raises on purpose."""


class NotDicomError(DicomkitError, ValueError):
    """A file that had to be DICOM is not (no ``DICM`` marker, no parsable data set)."""


class TruncatedFileError(DicomkitError, ValueError):
    """A DICOM file cut short: its header ends early, or its pixel data holds fewer
    bytes than its image needs (a scan's ``truncated`` error row)."""


class DuplicateInstanceError(DicomkitError, ValueError):
    """Several files carry one SOPInstanceUID and ``on_duplicate="error"`` was asked."""


class IndexFormatError(DicomkitError, ValueError):
    """A file given to :func:`dicomkit.read_parquet` is not an index dicomkit wrote."""


class UnknownUIDError(DicomkitError, KeyError):
    """A UID or PatientID that is not in the collection.

    ``candidates`` holds the closest identifiers that are present.
    """

    def __init__(self, uid: str, what: str, candidates: Sequence[str]) -> None:
        self.uid = uid
        self.candidates = tuple(candidates)
        hint = (
            "; the closest present: " + ", ".join(self.candidates)
            if self.candidates
            else ""
        )
        self.message = f"no {what} {uid!r} in this collection{hint}"
        super().__init__(self.message)

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return self.message


class MergeError(DicomkitError, ValueError):
    """Series that should not be merged without being asked explicitly (e.g. of
    different studies or patients), or a merge that names unknown series."""


class VerificationError(DicomkitError, ValueError):
    """``verify(strict=True)`` found errors; ``findings`` holds every finding."""

    def __init__(self, findings: pl.DataFrame) -> None:
        self.findings = findings
        errors = findings.filter(findings["severity"] == "error")
        lines = [
            f"  {r['check']}: {r['message']}"
            for r in errors.head(10).iter_rows(named=True)
        ]
        more = f"\n  … and {errors.height - 10} more" if errors.height > 10 else ""
        super().__init__(
            f"{errors.height} error(s) found by verify():\n" + "\n".join(lines) + more
        )


class NotAVolumeError(DicomkitError, ValueError):
    """A series asked for as a volume is not a regular one (see its findings)."""


class MissingDecoderError(DicomkitError, RuntimeError):
    """Pixel data in a compressed transfer syntax that no installed plugin decodes."""
