"""Exceptions raised by dicomkit.

Every exception derives from :class:`DicomkitError` and also from the builtin it
refines, so existing ``except ValueError`` / ``except KeyError`` clauses keep working::

    DicomkitError
    ├── NotDicomError(ValueError)           a file given on its own is not DICOM
    ├── DuplicateInstanceError(ValueError)  on_duplicate="error" met a repeated SOPInstanceUID
    ├── IndexFormatError(ValueError)        a parquet file is not a dicomkit index
    └── UnknownUIDError(KeyError)           col[uid] with a UID that is not in the collection

A bad file met *during a scan* never raises: it becomes a row of ``col.errors``.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "DicomkitError",
    "DuplicateInstanceError",
    "IndexFormatError",
    "NotDicomError",
    "UnknownUIDError",
]


class DicomkitError(Exception):
    """Root of every exception dicomkit raises on purpose."""


class NotDicomError(DicomkitError, ValueError):
    """A file that had to be DICOM is not (no ``DICM`` marker, no parsable data set)."""


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
