"""The fast reader's values: raw element bytes into typed values, as pydicom gives them.

:func:`typed` is ``convert_value(decode(element), kind)`` with shortcuts for the
common cases (one clean ASCII value, one binary number); :func:`decode`
reproduces pydicom's converters (multi-value splitting, padding) and hands
anything else (non-ASCII text, unusual VRs) to pydicom with the file's character
set. Whatever cannot be converted exactly as pydicom would raises
:class:`Fallback`: :mod:`dicomkit.io.fastread` then lets pydicom read the file.
"""

from __future__ import annotations

import datetime as dt
import struct
from typing import Any

from pydicom.charset import convert_encodings
from pydicom.dataelem import RawDataElement
from pydicom.tag import BaseTag
from pydicom.valuerep import IS, DSfloat, PersonName
from pydicom.values import convert_value as pydicom_convert

from dicomkit.schema import Kind, convert_value

__all__ = ["Fallback", "decode", "encodings_of", "typed"]

_NUMBER_FORMATS = {
    "US": "H",
    "SS": "h",
    "UL": "I",
    "SL": "i",
    "FL": "f",
    "FD": "d",
    "UV": "Q",
    "SV": "q",
}
_STRING_VRS = frozenset({"AS", "CS", "DA", "TM", "DT"})  # AE: pydicom's converter
_TEXT_MULTI = frozenset({"LO", "SH", "UC"})
_TEXT_SINGLE = frozenset({"LT", "ST", "UT"})


class Fallback(Exception):
    """The fast path cannot read this file exactly as pydicom would."""


_ASCII_FAST = frozenset(
    {
        "UI",
        "CS",
        "AS",
        "DA",
        "TM",
        "DT",
        "DS",
        "IS",
        "SH",
        "LO",
        "UC",
        "LT",
        "ST",
        "UT",
        "PN",
    }
)
_STRIP_NUL_SPACE = frozenset({"SH", "LO", "UC", "LT", "ST", "UT"})
_UNPACK = {vr: struct.Struct("<" + fmt) for vr, fmt in _NUMBER_FORMATS.items()}
_FINITE = float("inf")


def typed(
    element: tuple[str, bytes], kind: Kind, encodings: list[str] | None
) -> tuple[Any, str | None]:
    """``convert_value(decode(element), kind)``, with shortcuts for the common cases.

    A single ASCII value, or one binary number, converts directly; everything
    else takes the general route, so the result is always the same.
    """
    vr, data = element
    if not data:
        return None, None
    if vr in _ASCII_FAST and data.isascii() and b"\x1b" not in data:
        if vr == "PN":
            text = data.rstrip(b"\x00 ").decode("ascii")
        elif vr in _STRIP_NUL_SPACE:
            text = data.decode("ascii").rstrip("\0 ")
        elif vr == "DS":
            text = data.decode("ascii").strip().rstrip(" \x00")
        elif vr == "UI":  # pydicom's UID strips whitespace at both ends too
            text = data.decode("ascii").rstrip(" \x00").strip()
        else:  # IS and the string VRs
            text = data.decode("ascii").rstrip(" \x00")
        if not text:
            return None, None
        if "\\" in text:
            if vr not in _TEXT_SINGLE and kind.endswith("_list"):
                many = _many(text, vr, kind)
                if many is not None:
                    return many, None
        else:
            shortcut = _shortcut(text, vr, kind)
            if shortcut is not None:
                return shortcut, None
    elif vr in _UNPACK and len(data) == _UNPACK[vr].size and kind in ("int", "float"):
        (number,) = _UNPACK[vr].unpack(data)
        if kind == "float" and abs(number) < _FINITE:
            return float(number), None
        if kind == "int" and isinstance(number, int):
            return number, None
    return convert_value(decode(element, vr, encodings), kind)


def _shortcut(text: str, vr: str, kind: Kind) -> Any:
    """The typed value of one clean ASCII value, or None to take the general route."""
    try:
        if kind == "str":
            return text
        if kind == "str_list":
            return [text]
        if kind in ("float", "float_list") and vr == "DS":
            number = float(text)
            if abs(number) < _FINITE:
                return number if kind == "float" else [number]
        elif kind in ("int", "int_list") and vr == "IS":
            integer = int(text)
            return integer if kind == "int" else [integer]
        elif kind == "date" and vr == "DA" and len(text) == 8 and text.isdigit():
            return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        elif kind == "time" and vr == "TM":
            return _time(text)
    except ValueError:
        return None
    return None


def _many(text: str, vr: str, kind: Kind) -> list[Any] | None:
    """Several clean ASCII values as a typed list, or None for the general route."""
    items = text.split("\\")
    try:
        if kind == "str_list":
            if vr in _STRIP_NUL_SPACE:  # pydicom strips each LO/SH/UC value
                items = [x.rstrip("\0 ") for x in items]
            elif vr == "UI":  # and each UID, at both ends
                items = [x.strip() for x in items]
            return [x or None for x in items]
        if kind == "float_list" and vr == "DS":
            numbers = [float(x) for x in items]
            if all(abs(n) < _FINITE for n in numbers):
                return numbers
        elif kind == "int_list" and vr == "IS":
            return [int(x) for x in items]
    except ValueError:
        return None
    return None


def _time(text: str) -> dt.time | None:
    """``HHMMSS[.ffffff]`` as pydicom's TM reads it; None for any other form."""
    main, _, fraction = text.partition(".")
    if len(main) != 6 or not main.isdigit() or len(fraction) > 6:
        return None
    if fraction and not fraction.isdigit():
        return None
    hour, minute, second = int(main[:2]), int(main[2:4]), int(main[4:])
    if hour > 23 or minute > 59 or second > 59:
        return None
    return dt.time(hour, minute, second, int(fraction.ljust(6, "0")) if fraction else 0)


def encodings_of(charset: Any) -> list[str] | None:
    if not charset:
        return None
    values = [charset] if isinstance(charset, str) else list(charset)
    return list(convert_encodings(values))


def decode(element: tuple[str, bytes], vr: str, encodings: list[str] | None) -> Any:
    """The value pydicom's converters would give, fast for the common cases."""
    _, data = element
    if not data:
        return None
    if vr == "UI":
        items = data.decode("latin-1").rstrip("\0 ").rstrip(" \x00").split("\\")
        items = [x.strip() for x in items]  # as pydicom's UID does
        return items[0] if len(items) == 1 else items
    if vr in _STRING_VRS:
        items = data.decode("latin-1").rstrip(" \x00").split("\\")
        return items[0] if len(items) == 1 else items
    if vr == "DS":
        try:
            items = data.decode("latin-1").strip().rstrip(" \x00").split("\\")
            values = [DSfloat(x) for x in items]
        except (ValueError, OverflowError):
            return _slow(element, encodings)
        return values[0] if len(values) == 1 else values
    if vr == "IS":
        try:
            items = data.decode("latin-1").rstrip(" \x00").split("\\")
            numbers = [IS(x) for x in items]
        except (ValueError, OverflowError, TypeError):
            return _slow(element, encodings)
        return numbers[0] if len(numbers) == 1 else numbers
    fmt = _NUMBER_FORMATS.get(vr)
    if fmt is not None:
        width = struct.calcsize(fmt)
        if len(data) % width:
            return _slow(element, encodings)
        unpacked = struct.unpack(f"<{len(data) // width}{fmt}", data)
        return unpacked[0] if len(unpacked) == 1 else list(unpacked)
    plain = data.isascii() and b"\x1b" not in data
    if vr == "PN" and plain:
        items = data.rstrip(b"\x00 ").decode("ascii").split("\\")
        names = [str(PersonName(x)) for x in items]
        return names[0] if len(names) == 1 else names
    if vr in _TEXT_MULTI and plain:
        items = [x.rstrip("\0 ") for x in data.decode("ascii").split("\\")]
        return items[0] if len(items) == 1 else items
    if vr in _TEXT_SINGLE and plain:
        return data.decode("ascii").rstrip("\0 ")
    return _slow(element, encodings)


def _slow(element: tuple[str, bytes], encodings: list[str] | None) -> Any:
    """pydicom's own conversion (charsets, unusual VRs); a failure falls back whole."""
    vr, data = element
    raw = RawDataElement(BaseTag(0), vr, len(data), data, 0, False, True)
    try:
        return pydicom_convert(vr, raw, encodings)
    except Exception as exc:
        raise Fallback from exc
