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
    ├── MissingExtraError(ImportError)      a feature's optional extra is not installed
    ├── VerificationError(ValueError)       verify(strict=True) found errors
    ├── DeidentificationError(ValueError)   a file de-identification cannot process safely
    ├── NiftiExportError(ValueError)        a volume that cannot be written as NIfTI as asked
    ├── UnknownUIDError(KeyError)           col[uid] with a UID that is not in the collection
    └── DicomwebError(OSError)              a DICOMweb server that cannot be read as asked
        ├── DicomwebConnectionError(ConnectionError)  unreachable, or no answer in time
        │   └── DicomwebTimeoutError(TimeoutError)    no (whole) answer within the timeout
        ├── DicomwebAuthError(PermissionError)        401 / 403: credentials missing or refused
        └── DicomwebNotFoundError(FileNotFoundError)  404: no such study, series or instance

    DeidentificationWarning(UserWarning)    plan.write() left instances out, or copied
                                            burned-in ones as asked (see plan.report)

A bad file met *during a scan* never raises: it becomes a row of ``col.errors``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dicomkit.text import plural

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "DeidentificationError",
    "DeidentificationWarning",
    "DicomkitError",
    "DicomwebAuthError",
    "DicomwebConnectionError",
    "DicomwebError",
    "DicomwebNotFoundError",
    "DicomwebTimeoutError",
    "DuplicateInstanceError",
    "IndexFormatError",
    "MergeError",
    "MissingDecoderError",
    "MissingExtraError",
    "NiftiExportError",
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
            f"{plural(errors.height, 'error')} found by verify():\n"
            + "\n".join(lines)
            + more
        )


class NotAVolumeError(DicomkitError, ValueError):
    """A series asked for as a volume is not a regular one (see its findings)."""


class MissingDecoderError(DicomkitError, RuntimeError):
    """Pixel data in a compressed transfer syntax that no installed plugin decodes."""


class MissingExtraError(DicomkitError, ImportError):
    """A feature needs an optional extra that is not installed; the message names
    it (e.g. ``pip install "dicomkit[nifti]"``)."""


class NiftiExportError(DicomkitError, ValueError):
    """A volume that cannot be written as NIfTI as asked (no patient geometry, a
    gantry tilt with ``tilt="refuse"``, missing slices without ``allow_gaps``, or an
    affine that does not reproduce the slice positions)."""


class DicomwebError(DicomkitError, OSError):
    """A DICOMweb server that cannot be read as asked: an error status, an answer that
    is not DICOM JSON, or (``pip install "dicomkit[dicomweb]"``) no HTTP client."""


class DicomwebConnectionError(DicomwebError, ConnectionError):
    """The DICOMweb server cannot be reached, or does not answer within the timeout."""


class DicomwebTimeoutError(DicomwebConnectionError, TimeoutError):
    """The DICOMweb server did not answer (or finish answering) within the timeout."""


class DicomwebAuthError(DicomwebError, PermissionError):
    """The DICOMweb server refused the request (HTTP 401 or 403)."""


class DicomwebNotFoundError(DicomwebError, FileNotFoundError):
    """The DICOMweb server has no such resource (HTTP 404)."""


class DeidentificationWarning(UserWarning):
    """A de-identification wrote fewer files than planned (refused or failed
    instances) or copied instances whose pixels may show text; ``plan.report``
    lists each one."""


class DeidentificationError(DicomkitError, ValueError):
    """One file cannot be de-identified safely (e.g. a UID attribute stored with
    another VR); the message names the attribute. ``plan.write`` reports the file
    as ``failed`` and writes the others."""
