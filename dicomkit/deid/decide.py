"""What happens to one element, from its tag, VR, the options and the SOP
class alone (cached): the table's action (:mod:`dicomkit.deid.table`, choices
resolved by :mod:`dicomkit.deid.iod`) or dicomkit's rule beyond the table. The
element's value is never looked at here; :mod:`dicomkit.deid.engine` acts.

>>> decide(0x00100010, "PN", (), "", nested=False).action
'Z'
>>> decide(0x00191010, "LO", (), "", nested=False).why
'private attribute: removed (Table E.1-1 X)'
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from pydicom.datadict import dictionary_has_tag, dictionary_VR, keyword_for_tag

from dicomkit.deid.iod import KEEP_TEXT, resolve_choice
from dicomkit.deid.table import (
    PATTERN_CURVE,
    PATTERN_OVERLAY_COMMENTS,
    PATTERN_OVERLAY_DATA,
    Rule,
    pattern_rules,
    rule_action,
    rules_by_tag,
)

__all__ = [
    "NUMERIC_VRS",
    "SAFE_CREATOR",
    "SAFE_ELEMENT",
    "SAFE_SEQUENCE",
    "UNSAFE",
    "Decision",
    "decide",
    "vr_of",
]

NUMERIC_VRS = frozenset(
    {"US", "SS", "UL", "SL", "UV", "SV", "FL", "FD", "DS", "IS", "AT"}
)
_CODED_VRS = NUMERIC_VRS | {"CS"}
_TEXT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC"})
_CLASS_UIDS = frozenset(
    {"TransferSyntaxUID", "ReferencedTransferSyntaxUIDInFile", "CodingSchemeUID"}
)


@dataclass(frozen=True)
class Decision:
    action: str  # D Z X K C U, or "keep" / "drop" / "uid" for rules beyond the table
    why: str
    code: str  # the table's code as written (e.g. "X/Z/D"), or "" beyond the table


@functools.lru_cache(maxsize=65536)
def decide(
    tag: int, vr: str, options: tuple[str, ...], sop_class: str, *, nested: bool
) -> Decision:
    group, element = tag >> 16, tag & 0xFFFF
    rule: Rule | None = rules_by_tag().get(tag)
    if rule is None and group & 0xFF00 == 0x5000:
        rule = pattern_rules()[PATTERN_CURVE]
    elif rule is None and group & 0xFF01 == 0x6000 and element in (0x3000, 0x4000):
        pattern = (
            PATTERN_OVERLAY_DATA if element == 0x3000 else PATTERN_OVERLAY_COMMENTS
        )
        rule = pattern_rules()[pattern]
    if rule is not None:
        action, source = rule_action(rule, options)
        code = action
        keyword = keyword_for_tag(tag) or rule.name
        why = (
            f"Table E.1-1 {rule.basic}" if source == "basic" else f"{source}: {action}"
        )
        if "/" in action:
            action, reason = resolve_choice(
                action, keyword, sop_class or None, nested=nested
            )
            why = f"{why} → {reason}"
        return Decision(action, why, code)
    if group & 1:
        if "retain_safe_private" in options and element >= 0x10:
            return Decision("private", "retain_safe_private: decided per block", "C")
        return Decision("drop", "private attribute: removed (Table E.1-1 X)", "X")
    if group & 0xFF01 == 0x6000:
        return Decision(
            "drop", "overlay: its data (60xx,3000) is removed, so is the rest", "X"
        )
    if element == 0 or group in (0x0000, 0x0002):
        return Decision("drop", "group length or command/meta element: removed", "")
    keyword = keyword_for_tag(tag)
    if vr == "SQ":
        return Decision("K", "not in Table E.1-1: sequence kept, its items cleaned", "")
    if vr == "UI":
        if "ClassUID" in keyword or keyword in _CLASS_UIDS:
            return Decision("keep", "a class UID: names a kind of object, kept", "")
        if "retain_uids" in options:
            return Decision("keep", "retain_uids: every UID kept", "")
        return Decision("U", "not in Table E.1-1: a UID, remapped like the others", "")
    if vr in _CODED_VRS:
        return Decision("keep", f"not in Table E.1-1: a {vr} value, kept", "")
    if vr in ("OF", "OD", "OL", "OV"):
        return Decision("keep", f"not in Table E.1-1: numbers ({vr}), kept", "")
    if group in (0x0028, 0x5400, 0x7FE0) and vr in ("OB", "OW"):
        return Decision("keep", "pixel or waveform data, or its description: kept", "")
    if tag in (0x7FE00010, 0x7FE00008, 0x7FE00009):
        return Decision("keep", "pixel data: kept (burned-in text is not cleaned)", "")
    if vr in _TEXT_VRS and keyword in KEEP_TEXT:
        return Decision(
            "keep", "not in Table E.1-1: technical text the image needs, kept", ""
        )
    return Decision(
        "drop", f"not in Table E.1-1 and not needed by the image ({vr}): removed", ""
    )


@functools.lru_cache(maxsize=8192)
def _dictionary_vr(tag: int) -> str:
    if dictionary_has_tag(tag):
        return str(dictionary_VR(tag)).split(" or ")[0]
    return "UN"


def vr_of(elem: Any, tag: int) -> str:
    """The element's VR as stored, or the dictionary's (implicit VR, or UN)."""
    vr = elem.VR
    if vr and vr != "UN":
        return str(vr)
    return _dictionary_vr(tag)


SAFE_CREATOR = Decision(
    "keep", "retain_safe_private: the creator of a retained safe element, kept", "C"
)
SAFE_ELEMENT = Decision(
    "keep", "retain_safe_private: PS3.15 Table E.3.10-1 lists it safe, kept", "C"
)
SAFE_SEQUENCE = Decision(
    "K",
    "retain_safe_private: PS3.15 Table E.3.10-1 lists it safe, its items cleaned",
    "C",
)
UNSAFE = Decision(
    "drop",
    "retain_safe_private: not a listed safe private attribute nor its creator, removed",
    "C",
)
