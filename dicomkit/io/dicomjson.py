"""DICOM JSON (PS3.18 Annex F) into the rows a folder scan gives.

A DICOMweb server describes each instance as a DICOM JSON object: keys are tags of
eight upper-case hex digits, each attribute an object with its ``vr`` and at most
one of ``Value`` (an array), ``BulkDataURI`` (a URL to fetch the bytes from) or
``InlineBinary`` (base64). :func:`json_to_row` turns one such object into exactly
the row :func:`dicomkit.io.header.read_header` makes of the file: the same keys,
each value passed through the same :func:`dicomkit.schema.convert_value`, so that
:func:`dicomkit.io.scan.rows_to_frames` and the resend rule of
:mod:`dicomkit.hierarchy` treat both alike.

What each VR's JSON becomes before conversion (the Python value pydicom would give
for the same attribute read from a file):

=================  ==========================================================
JSON               value
=================  ==========================================================
no ``Value``       empty (null in the column), as an empty element in a file
``[x]``            ``x`` (one value); ``[x, y, …]`` a list (several values)
``null`` in array  ``""``: an empty value among several (``ORIGINAL\\\\AXIAL``)
PN object          ``"Alphabetic=Ideographic=Phonetic"``, trailing empty
                   groups dropped (``str(PersonName)``); a PN sent as a plain
                   string (seen in the wild) is taken as it is
IS, DS, SV, UV …   JSON numbers or strings (F.2.3 allows both): ``int``/``float``
                   of either; an IS such as ``1.5`` is not an integer and is
                   reported in ``bad_values``, as in a file
AT                 ``"00100010"`` becomes ``"(0010,0010)"``, pydicom's ``str(Tag)``
``InlineBinary``   a value stored as UN (e.g. a text over 64 KB) is decoded by
                   the dictionary VR, as :mod:`dicomkit.io.header` does
``BulkDataURI``    not fetched: null, reported in ``bad_values``; for PixelData
                   (and float pixel data) it sets ``has_pixel_data`` (WADO-RS
                   metadata lists every attribute, bulk data by its URI: no
                   pixel element means no pixels, as for a file)
SQ                 :func:`decode_dataset` gives a list of nested dicts (rows
                   never hold sequences: they cannot be index columns)
=================  ==========================================================

The file meta group (0002) is not part of a data set, and WADO-RS metadata
normally lacks it: ``TransferSyntaxUID`` comes from ``00020010`` when a server
sends it, else from ``AvailableTransferSyntaxUID`` (0008,3002), else is null.
"""

from __future__ import annotations

import base64
import binascii
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag
from pydicom.values import convert_value as pydicom_convert

from dicomkit.io.values import Row, Unreadable, instance_row
from dicomkit.schema import Kind, is_meta_keyword, kind_of

__all__ = [
    "JsonDataset",
    "decode_dataset",
    "element_value",
    "json_to_row",
    "kinds_of",
    "tag_key",
]

#: One instance as DICOM JSON: ``{"0020000D": {"vr": "UI", "Value": [...]}, …}``.
JsonDataset = Mapping[str, Any]

_PIXEL_KEYS = ("7FE00010", "7FE00008", "7FE00009")
_SOP_INSTANCE = "00080018"
_DIRECTORY_RECORDS = "00041220"
_TRANSFER_SYNTAX = "00020010"
_AVAILABLE_SYNTAX = "00083002"
_INT_VRS = frozenset({"IS", "US", "SS", "UL", "SL", "UV", "SV"})
_BINARY_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN"})
#: Nested sequences decoded at most this deep (a bound on hostile input).
MAX_DEPTH = 32


def tag_key(keyword: str) -> str:
    """The DICOM JSON key of ``keyword``: ``tag_key("PatientID") == "00100020"``."""
    tag = tag_for_keyword(keyword)
    if tag is None:
        msg = f"{keyword!r} is not a DICOM keyword known to pydicom"
        raise ValueError(msg)
    return f"{tag:08X}"


def element_value(element: Any, tag: int | None = None) -> Any:
    """The Python value of one DICOM JSON attribute, as pydicom gives it from a file.

    ``tag`` (the attribute's tag) is needed only to decode an ``InlineBinary``
    value of VR UN by the dictionary VR. Sequences give a list of
    :func:`decode_dataset` dicts.

    Examples
    --------
    >>> element_value({"vr": "PN", "Value": [{"Alphabetic": "Doe^John"}]})
    'Doe^John'
    >>> element_value({"vr": "DS", "Value": ["0.5", 2]})
    ['0.5', 2]
    >>> element_value({"vr": "LO"}) is None
    True
    """
    if not isinstance(element, Mapping):
        return Unreadable(f"not a DICOM JSON attribute: {type(element).__name__}")
    vr = str(element.get("vr", "UN"))
    if "Value" in element:
        values = element["Value"]
        if values is None:
            return None
        if not isinstance(values, list):
            values = [values]
        if vr == "SQ":
            return [
                decode_dataset(item) for item in values if isinstance(item, Mapping)
            ]
        decoded = [_one(v, vr) for v in values]
        if not decoded:
            return None
        return decoded[0] if len(decoded) == 1 else decoded
    if "InlineBinary" in element:
        try:
            data = base64.b64decode(str(element["InlineBinary"]), validate=True)
        except (binascii.Error, ValueError):
            return Unreadable("its InlineBinary value is not valid base64")
        if vr == "UN" and tag is not None:
            return _from_un(tag, data)
        return data
    if "BulkDataURI" in element:
        return Unreadable(
            "its value is held at a BulkDataURI, which the index does not fetch"
        )
    return None


def _one(value: Any, vr: str) -> Any:
    if value is None:
        return ""  # an empty value among several, as pydicom reads "A\\\\B"
    if vr == "PN":
        if isinstance(value, Mapping):
            groups = [
                str(value.get(k) or "")
                for k in ("Alphabetic", "Ideographic", "Phonetic")
            ]
            while groups and not groups[-1]:
                groups.pop()
            return "=".join(groups)
        return str(value)
    if vr == "AT" and isinstance(value, str):
        try:
            return str(Tag(int(value, 16)))
        except ValueError:
            return value
    if vr in _INT_VRS and isinstance(value, float) and not value.is_integer():
        return repr(value)  # int() of the text fails: reported, never rounded
    if isinstance(value, bool):
        return str(value).lower()  # a JSON true is no DICOM value: reported
    if isinstance(value, (int, float, str)):
        return value
    return str(value)


def _from_un(tag: int, data: bytes) -> Any:
    try:
        vr = dictionary_VR(tag)
    except KeyError:
        return data
    raw = RawDataElement(Tag(tag), vr, len(data), data, 0, False, True)
    try:
        with warnings.catch_warnings():  # an over-long value is the point: no warning
            warnings.simplefilter("ignore")
            return pydicom_convert(vr, raw)
    except Exception:  # noqa: BLE001 - an undecodable value is reported, not raised
        return Unreadable(f"its UN value cannot be decoded as {vr}")


def decode_dataset(item: JsonDataset, *, _depth: int = 0) -> dict[str, Any]:
    """A DICOM JSON object as ``{keyword: value}`` (tag keys for unknown or private
    tags), sequences as lists of such dicts, bulk data left out.

    Examples
    --------
    >>> decode_dataset({"00100010": {"vr": "PN", "Value": [{"Alphabetic": "A^B"}]}})
    {'PatientName': 'A^B'}
    """
    if _depth > MAX_DEPTH:
        return {}
    out: dict[str, Any] = {}
    for key, element in item.items():
        try:
            tag = int(key, 16)
        except (TypeError, ValueError):
            continue
        name = keyword_for_tag(tag) or str(key).upper()
        if isinstance(element, Mapping) and element.get("vr") == "SQ":
            items = element.get("Value") or []
            out[name] = [
                decode_dataset(i, _depth=_depth + 1)
                for i in items
                if isinstance(i, Mapping)
            ]
            continue
        value = element_value(element, tag)
        if not isinstance(value, Unreadable):
            out[name] = value
    return out


def json_to_row(
    item: JsonDataset | Any, base: Mapping[str, Any], kinds: Sequence[tuple[str, Kind]]
) -> Row:
    """One instance's DICOM JSON as an instance row or an error row.

    ``base`` holds the row's own columns that do not come from the data set
    (``path``: the instance's WADO-RS URL; ``file_size`` and ``mtime_ns``: null
    for a server). The result has the keys and values
    :func:`dicomkit.io.header.read_header` gives for the same data set read from
    a file (see the module docstring for what differs by nature).
    """
    row: dict[str, Any] = dict(base)
    if not isinstance(item, Mapping):
        return "error", {
            **row,
            "reason": "invalid_dicom_json",
            "message": f"not a DICOM JSON data set but a JSON {type(item).__name__}",
        }
    if _DIRECTORY_RECORDS in item:
        return "error", {
            **row,
            "reason": "dicomdir",
            "message": "a DICOMDIR: an index of a DICOM medium, not an image; the "
            "files it lists are scanned as ordinary files",
        }
    sop = element_value(item.get(_SOP_INSTANCE))
    sop_uid = sop.strip("\0 ") if isinstance(sop, str) else ""
    if not sop_uid:
        return "error", {
            **row,
            "reason": "missing_sop_instance_uid",
            "message": "a DICOM data set without SOPInstanceUID (0008,0018): an "
            "instance cannot be identified without it",
        }
    row["has_pixel_data"] = any(key in item for key in _PIXEL_KEYS)
    return instance_row(row, kinds, lambda keyword: _raw(item, keyword))


def _raw(item: JsonDataset, keyword: str) -> Any:
    if is_meta_keyword(keyword):
        for key in (_TRANSFER_SYNTAX, _AVAILABLE_SYNTAX):
            value = element_value(item.get(key)) if key in item else None
            if isinstance(value, list):  # several available: the first
                value = value[0] if value else None
            if value:
                return value
        return None
    known = _KEYS.get(keyword)
    key = known if known is not None else _KEYS.setdefault(keyword, tag_key(keyword))
    if key not in item:
        return None
    return element_value(item[key], int(key, 16))


_KEYS: dict[str, str] = {}


def kinds_of(keywords: Sequence[str]) -> list[tuple[str, Kind]]:
    """``[(keyword, kind), …]`` as :func:`json_to_row` takes them."""
    return [(kw, kind_of(kw)) for kw in keywords]
