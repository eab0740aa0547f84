"""Resolving the table's choices (X/Z, X/D, X/Z/D, Z/D, X/Z/U*) by the attribute's
type in the IOD, and what the image keeps that the table does not list.

PS3.15 E.1.1: a choice means the weaker action unless IOD conformance needs the
stronger one — Type 1 (a value required) → D (or U), Type 2 (present, may be empty)
→ Z, Type 3 (optional) → X. dicomkit carries no IOD module tables, so it knows the
type of the few attributes below and decides the rest conservatively:

- ``X/Z``, ``X/D``, ``X/Z/D``: **X** (remove) unless this module lists the attribute
  as Type 1 or 2 for the object's SOP class. Removal is the choice that can never
  leave identifying text behind; at worst an optional attribute goes.
- ``Z/D``: **Z** (empty) unless listed as Type 1 (D). ``PatientID`` (Type 2) is the
  exception: it becomes the keyed pseudonym (a D), because a delivery without a
  patient identifier cannot be linked to its next delivery.
- ``X/Z/U*`` (Referenced Image Sequence, Source Image Sequence): **U**, always: the
  sequence stays, every UID in it is remapped with the others and every other
  attribute in its items goes through the table. These references are the
  structure de-identification must keep (CTP's Basic script removes them).
- Inside sequence items a choice resolves as for a Type 3 attribute (X), except
  X/Z/U* (U).

>>> resolve_choice("X/Z/D", "DeviceSerialNumber", CT_IMAGE)
('X', 'Type 3 in the CT Image IOD as far as dicomkit knows: removed')
>>> resolve_choice("X/Z/D", "DeviceSerialNumber", ENHANCED_CT_IMAGE)[0]
'D'
>>> resolve_choice("Z/D", "ContentDate", CT_IMAGE)[0]
'Z'
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "CT_IMAGE",
    "ENHANCED_CT_IMAGE",
    "ENHANCED_SOP_CLASSES",
    "KEEP_TEXT",
    "resolve_choice",
    "type_in_iod",
]

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2.1"

#: The multi-frame "enhanced" image IODs, whose Enhanced General Equipment module
#: makes the device identity Type 1 and whose Acquisition Context module is
#: mandatory (sequence Type 2).
ENHANCED_SOP_CLASSES = frozenset(
    {
        ENHANCED_CT_IMAGE,
        "1.2.840.10008.5.1.4.1.1.2.2",  # Legacy Converted Enhanced CT
        "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR Image
        "1.2.840.10008.5.1.4.1.1.4.3",  # Enhanced MR Color Image
        "1.2.840.10008.5.1.4.1.1.4.4",  # Legacy Converted Enhanced MR
        "1.2.840.10008.5.1.4.1.1.128.1",  # Legacy Converted Enhanced PET
        "1.2.840.10008.5.1.4.1.1.130",  # Enhanced PET Image
        "1.2.840.10008.5.1.4.1.1.6.2",  # Enhanced US Volume
        "1.2.840.10008.5.1.4.1.1.12.1.1",  # Enhanced XA Image
        "1.2.840.10008.5.1.4.1.1.12.2.1",  # Enhanced XRF Image
    }
)

#: Type of attributes in every composite image IOD (the General Image, Patient and
#: Contrast/Bolus modules), for the choice rows only.
_COMMON_TYPES: Mapping[str, str] = {
    "ContentDate": "2",  # General Image: Type 2C (temporally related images)
    "ContentTime": "2",
    "ContrastBolusAgent": "2",  # Contrast/Bolus module
    "PatientID": "2",  # Patient module
}

#: Overrides for the enhanced IODs (Enhanced General Equipment, Enhanced image
#: modules, Acquisition Context module).
_ENHANCED_TYPES: Mapping[str, str] = {
    "DeviceSerialNumber": "1",
    "ContentDate": "1",
    "ContentTime": "1",
    "AcquisitionDateTime": "1",
    "AcquisitionContextSequence": "2",
}

#: Text attributes (LO, SH, ST, LT, UT, UC) that the table does not list and the
#: image keeps: the equipment's make and software (General Equipment, Type 2 /
#: Enhanced Type 1), reconstruction and sequence names, and the code triplets
#: coded values need. Every other text attribute not in the table is removed.
KEEP_TEXT = frozenset(
    {
        "Manufacturer",
        "ManufacturerModelName",
        "SoftwareVersions",
        "ConvolutionKernel",
        "SequenceName",
        "PulseSequenceName",
        "ReceiveCoilName",
        "TransmitCoilName",
        "ImagedNucleus",
        "PositionReferenceIndicator",
        "RescaleType",
        "WindowCenterWidthExplanation",
        "LUTExplanation",
        "CodeValue",
        "CodingSchemeDesignator",
        "CodingSchemeVersion",
        "CodeMeaning",
        "LongCodeValue",
        "URNCodeValue",
        "MappingResource",
        "ContextIdentifier",
        "ContextUID",
        "FrameLaterality",
        "SpecificCharacterSet",
    }
)


def type_in_iod(keyword: str, sop_class: str | None) -> str | None:
    """The attribute's type (``"1"``, ``"2"``) in the object's IOD when dicomkit
    knows it, else None (treated as Type 3)."""
    if sop_class in ENHANCED_SOP_CLASSES and keyword in _ENHANCED_TYPES:
        return _ENHANCED_TYPES[keyword]
    return _COMMON_TYPES.get(keyword)


def resolve_choice(
    choice: str, keyword: str, sop_class: str | None, *, nested: bool = False
) -> tuple[str, str]:
    """One of ``choice``'s actions for ``keyword`` in an object of ``sop_class``,
    and why (see the module text)."""
    if choice == "X/Z/U*":
        return "U", "references kept: every UID in the sequence remapped (U)"
    if keyword == "PatientID":
        return "D", "replaced by the keyed pseudonym (D): links later deliveries"
    kind = None if nested else type_in_iod(keyword, sop_class)
    where = "in a sequence item" if nested else f"in the {_iod_name(sop_class)} IOD"
    actions = choice.split("/")
    if kind == "1":
        strongest = actions[-1]
        return strongest, f"Type 1 {where}: replaced by a dummy ({strongest})"
    if kind == "2" and "Z" in actions:
        return "Z", f"Type 2 {where}: emptied (Z)"
    if actions[0] == "Z":
        return "Z", f"not Type 1 {where} as far as dicomkit knows: emptied (Z)"
    return "X", f"Type 3 {where} as far as dicomkit knows: removed"


def _iod_name(sop_class: str | None) -> str:
    from pydicom.uid import UID

    if not sop_class:
        return "object's"
    name = UID(sop_class).name
    name = name.removesuffix(" Storage")
    return name if name != sop_class else "object's"
