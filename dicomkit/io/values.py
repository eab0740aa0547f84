"""A data set's values into an instance row: the one place values are converted.

:func:`instance_row` completes a row from any source of raw values (a pydicom
data set through :func:`dataset_row`, or DICOM JSON through
:mod:`dicomkit.io.dicomjson`), so a value converts the same wherever it comes
from; a value that cannot be had is an :class:`Unreadable`, null in the row with
its reason in ``bad_values``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag
from pydicom.values import convert_value as pydicom_convert

from dicomkit.io.dicom import (
    EXPLICIT_VR_BE,
    EXPLICIT_VR_LE,
    IMPLICIT_VR_LE,
    MEDIA_STORAGE_DIRECTORY,
)
from dicomkit.schema import Kind, convert_value, is_meta_keyword

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = [
    "Row",
    "Unreadable",
    "dataset_row",
    "decoded_syntax",
    "error_row",
    "instance_row",
    "safe_get",
]

#: ``("instance", {column: value})``, ``("instance", (value, …))`` in the column
#: order of :func:`dicomkit.schema.instance_schema`, or ``("error", {column: value})``.
Row = tuple[str, Any]


def error_row(base: dict[str, Any], reason: str, message: str) -> Row:
    """An error row: ``base`` (path, size, mtime) with a reason code and a message."""
    return "error", {**base, "reason": reason, "message": message}


def dataset_row(
    ds: Dataset, base: dict[str, Any], kinds: Sequence[tuple[str, Kind]]
) -> Row:
    """A pydicom data set into an instance row, or an error row (a DICOMDIR, no
    SOPInstanceUID, one that cannot be decoded)."""
    meta = getattr(ds, "file_meta", None)
    media_class = str(safe_get(meta, "MediaStorageSOPClassUID") or "") if meta else ""
    if media_class == MEDIA_STORAGE_DIRECTORY or "DirectoryRecordSequence" in ds:
        return error_row(
            base,
            "dicomdir",
            "a DICOMDIR: an index of a DICOM medium, not an image; the files it lists "
            "are scanned as ordinary files",
        )
    sop_value = safe_get(ds, "SOPInstanceUID")
    if isinstance(sop_value, Unreadable):
        return error_row(
            base,
            "invalid_dicom",
            f"the SOPInstanceUID (0008,0018) cannot be decoded: {sop_value.reason}",
        )
    sop_uid = str(sop_value or "").strip("\0 ")
    if not sop_uid:
        return error_row(
            base,
            "missing_sop_instance_uid",
            "a DICOM data set without SOPInstanceUID (0008,0018): an instance cannot "
            "be identified without it",
        )
    return instance_row(dict(base), kinds, lambda keyword: _raw_value(ds, keyword))


def instance_row(
    row: dict[str, Any],
    kinds: Iterable[tuple[str, Kind]],
    raw_value: Callable[[str], Any],
) -> Row:
    """``row`` completed into an instance row: each keyword's value converted.

    ``raw_value(keyword)`` gives the value as pydicom would (from a file, or from
    DICOM JSON), or an :class:`Unreadable` whose reason goes into ``bad_values``
    (the value is then null). Both header readers and the DICOMweb decoder build
    their rows here, so a value converts the same wherever it comes from.
    """
    bad: list[str] = []
    for keyword, kind in kinds:
        raw = raw_value(keyword)
        problem: str | None
        if isinstance(raw, Unreadable):
            value, problem = None, raw.reason
        else:
            value, problem = convert_value(raw, kind)
        row[keyword] = value
        if problem is not None:
            bad.append(f"{keyword}: {problem}")
    frames = row.get("NumberOfFrames")
    row["n_frames"] = frames if isinstance(frames, int) and frames > 0 else 1
    row["bad_values"] = bad
    row["content_hash"] = None
    return "instance", row


def _raw_value(ds: Dataset, keyword: str) -> Any:
    try:
        if is_meta_keyword(keyword):
            meta = getattr(ds, "file_meta", None)
            if meta is not None and keyword in meta:
                return meta[keyword].value
            return decoded_syntax(ds)
        tag = tag_for_keyword(keyword)
        if tag is None or tag not in ds:
            return None
        element = ds[tag]
        if element.VR == "UN" and isinstance(element.value, bytes):
            return _from_un(ds, tag, element.value)
        return element.value
    except Exception as exc:  # noqa: BLE001 - a value pydicom cannot decode
        return _undecodable(exc)


def _from_un(ds: Dataset, tag: int, value: bytes) -> Any:
    """A known attribute stored as UN, decoded by its dictionary VR.

    pydicom writes a value too long for its VR's 16-bit length (a text over
    64 KB) as UN, and reads it back as bytes (it restores the dictionary VR only
    when the length fits).
    """
    vr = dictionary_VR(tag)
    _, little = ds.original_encoding
    raw = RawDataElement(Tag(tag), vr, len(value), value, 0, False, little is not False)
    return pydicom_convert(vr, raw, ds._character_set)


def safe_get(ds: Dataset, keyword: str) -> Any:
    """``ds.get(keyword)``, or an :class:`Unreadable` when pydicom raises on it."""
    try:
        return ds.get(keyword)
    except Exception as exc:  # noqa: BLE001 - e.g. an unknown VR in the file meta
        return Unreadable(str(exc))


def decoded_syntax(ds: Dataset) -> str | None:
    """The transfer syntax a meta-less data set was decoded with."""
    implicit, little = ds.original_encoding
    if implicit is None or little is None:
        return None
    if implicit:
        return IMPLICIT_VR_LE
    return EXPLICIT_VR_LE if little else EXPLICIT_VR_BE


class Unreadable:
    """A value that cannot be had; converts to null with ``reason`` in bad_values."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __str__(self) -> str:
        return f"<unreadable: {self.reason}>"


def _undecodable(exc: Exception) -> Unreadable:
    """A value pydicom raised on."""
    return Unreadable(f"pydicom cannot decode it: {exc}")
