"""Retain Safe Private (PS3.15 E.3.10): the private elements known to be safe.

With ``retain_safe_private`` a private element is kept only when it is listed
as safe, matched by its block's **private creator** and its **offset in the
block** — ``(gggg,xxEE)``: group ``gggg``, the creator's block ``xx`` (which
moves from file to file) and element ``EE`` — never by absolute tag. The list is
PS3.15 Table E.3.10-1, "Exemplary Safe Private Attributes" (GE, Siemens,
Philips, Elscint, Hologic, NeuroQuant …; 129 rows), shipped as
``dicomkit/data/ps3.15-safe-private.json`` with its source. An element also
needs

* its stored VR to be the listed one; an element of unknown VR (implicit VR,
  or UN) must have bytes that fit it (a number string for DS/IS, whole values
  for binary numbers), and never passes as SQ (a sequence must be parsed to
  be cleaned); a row whose VR the table leaves empty admits numbers only;
* for the rows dicomkit tags with a manufacturer (``GE``, ``SIEMENS``,
  ``PHILIPS``, ``HOLOGIC``), a Manufacturer (0008,0070) that names it, when the
  data set has one.

A private creator is kept only as the creator of a retained element: the
creator value is then one of the listed creators, never free text. Every other
private element, and every other creator (the whole block), is removed.

>>> from pydicom.dataset import Dataset
>>> ds = Dataset()
>>> block = ds.private_block(0x0019, "GEMS_ACQU_01", create=True)
>>> block.add_new(0x23, "DS", "39.375")  # Table Speed: listed safe
>>> block.add_new(0x10, "LO", "Dr Smith's protocol")  # not listed
>>> other = ds.private_block(0x0019, "Dr Smith", create=True)
>>> other.add_new(0x23, "DS", "1")  # a listed offset, but not that creator's
>>> sorted(f"{tag:08X}" for tag in safe_private_tags(ds))
['00190010', '00191023']
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

__all__ = [
    "SAFE_PRIVATE_FILE",
    "SafePrivate",
    "load_safe_private",
    "safe_private_entry",
    "safe_private_tags",
]

#: The list's file in ``dicomkit/data``.
SAFE_PRIVATE_FILE = "ps3.15-safe-private.json"
_NUMERIC_VRS = frozenset(
    {"US", "SS", "UL", "SL", "UV", "SV", "FL", "FD", "DS", "IS", "AT"}
)
_BINARY_SIZES = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "FD": 8}
_NUMBER_STRING = re.compile(rb"[0-9eE+\-. \\\0]*")


@dataclass(frozen=True)
class SafePrivate:
    """One row of Table E.3.10-1: ``(group, creator, offset)`` names the
    element, ``vr``/``vm``/``meaning`` as the table gives them (``vr`` may be
    empty), ``manufacturer`` (dicomkit's, optional) what Manufacturer must name."""

    group: int
    creator: str
    offset: int
    vr: str
    vm: str
    meaning: str
    manufacturer: str | None = None


@functools.lru_cache(maxsize=1)
def load_safe_private() -> tuple[SafePrivate, ...]:
    """Every row of the shipped list, in the table's order.

    >>> rows = load_safe_private()
    >>> len(rows), rows[0].creator, f"{rows[0].group:04X}"
    (129, 'Philips PET Private Group', '7053')
    """
    text = resources.files("dicomkit").joinpath("data").joinpath(SAFE_PRIVATE_FILE)
    document = json.loads(text.read_text(encoding="utf-8"))
    return tuple(
        SafePrivate(
            group=int(row["group"], 16),
            creator=row["creator"],
            offset=int(row["element"][2:], 16),
            vr=row["vr"],
            vm=row["vm"],
            meaning=row["meaning"],
            manufacturer=row.get("manufacturer"),
        )
        for row in document["attributes"]
    )


@functools.lru_cache(maxsize=1)
def _index() -> Mapping[tuple[int, str], Mapping[int, SafePrivate]]:
    index: dict[tuple[int, str], dict[int, SafePrivate]] = {}
    for row in load_safe_private():
        index.setdefault((row.group, row.creator), {})[row.offset] = row
    return index


def safe_private_entry(group: int, creator: str, offset: int) -> SafePrivate | None:
    """The row for element ``offset`` of ``creator``'s block in ``group``, or None.

    >>> safe_private_entry(0x0019, "SIEMENS MR HEADER", 0x0C).meaning
    'B Value'
    """
    return _index().get((group, creator.strip("\0 ")), {}).get(offset)


def _text(elem: Any) -> str:
    value = elem.value
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return str(value or "").strip("\0 ")


def safe_private_tags(ds: Dataset, manufacturer: str | None = None) -> frozenset[int]:
    """The private tags of ``ds`` (this level; items are judged on their own)
    to keep under ``retain_safe_private``: the listed safe elements and the
    creators of their blocks. ``manufacturer``: the instance's Manufacturer
    (by default ``ds``'s own)."""
    if manufacturer is None:
        manufacturer = str(ds.get("Manufacturer", "") or "")
    maker = manufacturer.strip().upper()
    creators: dict[tuple[int, int], str] = {}
    items = ds._dict.items()
    for tag, elem in items:
        group, element = tag >> 16, tag & 0xFFFF
        if group & 1 and 0x10 <= element <= 0xFF:
            creators[group, element] = _text(elem)
    keep: set[int] = set()
    for tag, elem in items:
        group, element = tag >> 16, tag & 0xFFFF
        if not group & 1 or element < 0x1000:
            continue
        creator = creators.get((group, element >> 8))
        if creator is None:
            continue
        row = safe_private_entry(group, creator, element & 0xFF)
        if row is None or not _vr_fits(elem, row.vr):
            continue
        if row.manufacturer and maker and row.manufacturer not in maker:
            continue
        keep.add(int(tag))
        keep.add((group << 16) | (element >> 8))
    return frozenset(keep)


def _vr_fits(elem: Any, listed: str) -> bool:
    stored = elem.VR if not isinstance(elem, RawDataElement) or elem.VR else None
    if stored in (None, "UN"):  # implicit VR: the bytes must fit the listed VR
        value = elem.value if isinstance(elem.value, bytes) else None
        if not listed or listed == "SQ" or value is None:
            return False  # a sequence must be parsed to be cleaned
        if listed in ("DS", "IS"):
            return _NUMBER_STRING.fullmatch(value) is not None
        if listed in _BINARY_SIZES:
            return len(value) % _BINARY_SIZES[listed] == 0
        return True
    if not listed:
        return str(stored) in _NUMERIC_VRS
    return str(stored) == listed
