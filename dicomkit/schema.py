"""Columns, dtypes and value conversion: how a DICOM attribute becomes a polars cell.

This module imports no other dicomkit module. It decides, once per keyword, what
polars dtype a column has, so that every scan, every merge of two scans and every
parquet round trip produce the same schema.

The rule (DESIGN.md "Data model"), driven by the DICOM data dictionary:

=========================  =====================  ==========================
VR                         VM 1                   VM > 1 in the dictionary
=========================  =====================  ==========================
DA                         ``Date``               ``List(Utf8)``
TM                         ``Time``               ``List(Utf8)``
DT                         ``Datetime("us")``     ``List(Utf8)``
IS, US, SS, UL, SL, UV, SV ``Int64``              ``List(Int64)``
DS, FL, FD                 ``Float64``            ``List(Float64)``
anything else (UI, PN …)   ``Utf8``               ``List(Utf8)``
=========================  =====================  ==========================

The dtype follows the *dictionary* multiplicity, not what one file happens to hold,
so ``ImageType`` is always a list and ``SliceThickness`` always a float. A value that
does not parse (a date of ``20231301``, two values where one is allowed) becomes null
and is reported in the instance's ``bad_values`` column; it is never guessed.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import polars as pl
from pydicom.datadict import dictionary_VM, dictionary_VR, keyword_dict, tag_for_keyword
from pydicom.multival import MultiValue
from pydicom.valuerep import DA, DT, TM

__all__ = [
    "BINARY_VRS",
    "DEFAULT_KEYWORDS",
    "ERROR_SCHEMA",
    "FRAME_AXIS_KEYS",
    "INT_VRS",
    "LEVEL_ATTRIBUTES",
    "LEVEL_KEYS",
    "OWN_COLUMNS",
    "PATIENT_ATTRIBUTES",
    "PIXEL_FORMAT",
    "RESEND_COLUMNS",
    "STUDY_ATTRIBUTES",
    "Kind",
    "convert_value",
    "instance_schema",
    "kind_of",
    "validate_keywords",
]

Kind = Literal[
    "str",
    "int",
    "float",
    "date",
    "time",
    "datetime",
    "str_list",
    "int_list",
    "float_list",
]

#: The attributes every scan indexes, in column order.
DEFAULT_KEYWORDS: tuple[str, ...] = (
    # identity: the UID chain and what kind of object this is
    "PatientID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "SOPClassUID",
    "FrameOfReferenceUID",
    "SpecificCharacterSet",
    "TransferSyntaxUID",
    # patient
    "PatientName",
    "PatientBirthDate",
    "PatientSex",
    # study
    "StudyDate",
    "StudyTime",
    "StudyDescription",
    "AccessionNumber",
    "StudyID",
    # series
    "SeriesNumber",
    "SeriesDescription",
    "SeriesDate",
    "SeriesTime",
    "Modality",
    "BodyPartExamined",
    "ProtocolName",
    # equipment
    "Manufacturer",
    "ManufacturerModelName",
    "StationName",
    "InstitutionName",
    # instance
    "InstanceNumber",
    "ImageType",
    "AcquisitionNumber",
    "AcquisitionTime",
    "ContentTime",
    # geometry
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "SliceThickness",
    "SpacingBetweenSlices",
    "SliceLocation",
    "GantryDetectorTilt",
    # pixel format
    "Rows",
    "Columns",
    "NumberOfFrames",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "BitsAllocated",
    "BitsStored",
    "PixelRepresentation",
    "RescaleSlope",
    "RescaleIntercept",
    "WindowCenter",
    "WindowWidth",
    # MR / temporal
    "EchoTime",
    "EchoNumbers",
    "RepetitionTime",
    "InversionTime",
    "FlipAngle",
    "TriggerTime",
    "TemporalPositionIdentifier",
    "DiffusionBValue",
)

#: Attributes that can tell apart images repeated at one position (echoes, time
#: points, b-values …), in the order tried: the union of dcmstack's sort guesses
#: and MultiVolumeImporter's frame tags that the default index holds.
FRAME_AXIS_KEYS: tuple[str, ...] = (
    "EchoNumbers",
    "EchoTime",
    "TemporalPositionIdentifier",
    "TriggerTime",
    "DiffusionBValue",
    "InversionTime",
    "FlipAngle",
    "AcquisitionNumber",
    "AcquisitionTime",
    "ContentTime",
)

#: What "one pixel format" means: instances that differ in any of these cannot be
#: stacked into one array. The one definition used by ``verify()``
#: (``mixed_pixel_format``) and by ``split_series`` / ``merge_series``
#: (``"pixel_format"``).
PIXEL_FORMAT: tuple[str, ...] = (
    "Rows",
    "Columns",
    "SamplesPerPixel",
    "BitsAllocated",
    "BitsStored",
    "PixelRepresentation",
    "PhotometricInterpretation",
)

#: dicomkit's own instance columns (lower snake_case, so never a DICOM keyword).
OWN_COLUMNS: dict[str, pl.DataType] = {
    "path": pl.Utf8(),
    "file_size": pl.Int64(),
    "mtime_ns": pl.Int64(),
    "n_frames": pl.Int64(),
    "has_pixel_data": pl.Boolean(),
    "bad_values": pl.List(pl.Utf8()),
    "content_hash": pl.Utf8(),
}

#: The ``errors`` frame: one row per file that is not an instance.
ERROR_SCHEMA: dict[str, pl.DataType] = {
    "path": pl.Utf8(),
    "file_size": pl.Int64(),
    "mtime_ns": pl.Int64(),
    "reason": pl.Utf8(),
    "message": pl.Utf8(),
}

#: Columns a resend row has beyond the instance columns (the ``resends`` frame;
#: :func:`dicomkit.hierarchy.resolve_resends` fills them).
RESEND_COLUMNS: dict[str, pl.DataType] = {
    "resend": pl.Utf8(),
    "replaced_by": pl.Utf8(),
    "differs": pl.List(pl.Utf8()),
}

#: The key column of each level.
LEVEL_KEYS: dict[str, str] = {
    "patient": "PatientID",
    "study": "StudyInstanceUID",
    "series": "SeriesInstanceUID",
    "instance": "SOPInstanceUID",
}

#: Attributes that the standard makes constant inside one group of each level
#: (the Patient, General Study and General Series/Equipment modules). The level
#: views show them, and list in ``varying`` those that differ inside a group.
#: The Patient module's own attributes, the same in every instance of a patient.
PATIENT_ATTRIBUTES: tuple[str, ...] = ("PatientName", "PatientBirthDate", "PatientSex")
#: The General Study module's own attributes, the same in every instance of a study.
STUDY_ATTRIBUTES: tuple[str, ...] = (
    "StudyDate",
    "StudyTime",
    "StudyDescription",
    "AccessionNumber",
    "StudyID",
)
LEVEL_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "patient": PATIENT_ATTRIBUTES,
    "study": ("PatientID", "PatientName", *STUDY_ATTRIBUTES),
    "series": (
        "PatientID",
        "StudyInstanceUID",
        "SeriesNumber",
        "Modality",
        "SeriesDescription",
        "SeriesDate",
        "SeriesTime",
        "BodyPartExamined",
        "ProtocolName",
        "FrameOfReferenceUID",
        "Manufacturer",
        "ManufacturerModelName",
        "StationName",
        "InstitutionName",
    ),
}

# Attributes not in the data set proper: they live in the file meta (group 0002).
_META_KEYWORDS = frozenset({"TransferSyntaxUID"})

#: VRs whose values are integers (IS as text), and those of binary data or items,
#: which the index never holds (PS3.5 6.2).
INT_VRS = frozenset({"IS", "US", "SS", "UL", "SL", "UV", "SV"})
_FLOAT_VRS = frozenset({"DS", "FL", "FD"})
BINARY_VRS = frozenset({"SQ", "OB", "OW", "OF", "OD", "OL", "OV", "UN"})

_DTYPES: dict[Kind, pl.DataType] = {
    "str": pl.Utf8(),
    "int": pl.Int64(),
    "float": pl.Float64(),
    "date": pl.Date(),
    "time": pl.Time(),
    "datetime": pl.Datetime("us"),
    "str_list": pl.List(pl.Utf8()),
    "int_list": pl.List(pl.Int64()),
    "float_list": pl.List(pl.Float64()),
}


def kind_of(keyword: str) -> Kind:
    """Return how values of ``keyword`` are stored, from the DICOM dictionary.

    Parameters
    ----------
    keyword
        An exact pydicom keyword such as ``"SliceThickness"``.

    Examples
    --------
    >>> kind_of("ImageType"), kind_of("StudyDate"), kind_of("PixelSpacing")
    ('str_list', 'date', 'float_list')
    """
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise _unknown_keyword(keyword)
    vr = dictionary_VR(tag)
    multi = dictionary_VM(tag) != "1"
    if vr in INT_VRS:
        return "int_list" if multi else "int"
    if vr in _FLOAT_VRS:
        return "float_list" if multi else "float"
    if multi:
        return "str_list"
    if vr == "DA":
        return "date"
    if vr == "TM":
        return "time"
    if vr == "DT":
        return "datetime"
    return "str"


def validate_keywords(keywords: Iterable[str] | None) -> tuple[str, ...]:
    """Return the default keywords followed by the valid extra ``keywords``.

    Raises
    ------
    ValueError
        For a keyword pydicom does not know (with the closest known ones), or for
        a sequence or binary attribute, which cannot be a column.
    """
    extra: list[str] = []
    for keyword in keywords or ():
        if keyword in DEFAULT_KEYWORDS or keyword in extra:
            continue
        tag = tag_for_keyword(keyword)
        if tag is None:
            raise _unknown_keyword(keyword)
        vr = dictionary_VR(tag)
        if vr in BINARY_VRS or " or " in vr:
            msg = (
                f"keyword {keyword!r} has VR {vr}: sequences and binary values cannot "
                "be index columns; index a text or number attribute instead"
            )
            raise ValueError(msg)
        extra.append(keyword)
    return DEFAULT_KEYWORDS + tuple(extra)


def instance_schema(keywords: Sequence[str]) -> dict[str, pl.DataType]:
    """Return the schema of the instance frame for these DICOM ``keywords``."""
    schema: dict[str, pl.DataType] = {kw: _DTYPES[kind_of(kw)] for kw in keywords}
    schema.update(OWN_COLUMNS)
    return schema


def is_meta_keyword(keyword: str) -> bool:
    """Whether ``keyword`` is read from the file meta information (group 0002)."""
    return keyword in _META_KEYWORDS


def convert_value(value: Any, kind: Kind) -> tuple[Any, str | None]:
    """Convert a pydicom element value into the Python value of its column.

    Returns ``(value, problem)``: ``problem`` is ``None`` when the value converted
    (an empty value converts to ``None``), else a short description and ``value``
    is ``None``. Nothing is guessed.

    Examples
    --------
    >>> convert_value("20240131", "date")
    (datetime.date(2024, 1, 31), None)
    >>> convert_value("20241301", "date")[1]
    "not a DICOM date (DA): '20241301'"
    """
    if value is None or (
        isinstance(value, (str, bytes, list, MultiValue)) and len(value) == 0
    ):
        return None, None
    many = isinstance(value, (list, MultiValue))
    values = list(value) if many else [value]
    if kind.endswith("_list"):
        base = kind[: -len("_list")]
        converted = []
        for item in values:
            one, problem = _convert_scalar(item, base)
            if problem is not None:
                return None, problem
            converted.append(one)
        return converted, None
    if many:
        shown = "\\".join(str(v) for v in values)
        return None, f"{len(values)} values where the standard allows 1: {shown!r}"
    return _convert_scalar(values[0], kind)


def _convert_scalar(value: Any, kind: str) -> tuple[Any, str | None]:
    try:
        if kind == "str":
            return (str(value) or None), None
        if kind == "int":
            return int(value), None
        if kind == "float":
            number = float(value)
            if number != number:  # NaN in a DS is not a value
                return None, f"not a number: {str(value)!r}"
            return number, None
        if kind == "date":
            return _as_date(value), None
        if kind == "time":
            return _as_time(value), None
        if kind == "datetime":
            return _as_datetime(value), None
    except (TypeError, ValueError, OverflowError):
        pass
    else:  # pragma: no cover - every kind returns above
        msg = f"unknown kind {kind!r}"
        raise AssertionError(msg)
    vr = {"int": "IS", "float": "DS", "date": "DA", "time": "TM", "datetime": "DT"}.get(
        kind, kind
    )
    label = {"IS": "an integer", "DS": "a number", "DA": "a DICOM date"}.get(vr)
    label = label or {"TM": "a DICOM time", "DT": "a DICOM date-time"}.get(vr, "valid")
    return None, f"not {label} ({vr}): {str(value)!r}"


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return dt.date(value.year, value.month, value.day)
    parsed = DA(str(value).strip())
    if parsed is None:
        raise ValueError(value)
    return dt.date(parsed.year, parsed.month, parsed.day)


def _as_time(value: Any) -> dt.time:
    if not isinstance(value, dt.time):
        text = str(value).strip()
        if ":" in text:  # the ACR-NEMA form HH:MM:SS, which PS3.5 still allows reading
            text = text.replace(":", "")
        value = TM(text)
        if value is None:
            raise ValueError(value)
    return dt.time(value.hour, value.minute, value.second, value.microsecond)


def _as_datetime(value: Any) -> dt.datetime:
    # A UTC offset, when present, is dropped: the column holds the local clock time
    # the modality wrote, like DA and TM, which carry no offset either.
    if not isinstance(value, dt.datetime):
        value = DT(str(value).strip())
        if value is None:
            raise ValueError(value)
    naive: dt.datetime = value.replace(tzinfo=None)
    return naive


def _unknown_keyword(keyword: str) -> ValueError:
    close = difflib.get_close_matches(keyword, keyword_dict.keys(), n=3)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    msg = f"{keyword!r} is not a DICOM keyword known to pydicom{hint}"
    return ValueError(msg)
