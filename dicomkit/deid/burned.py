"""Burned-in text: which instances probably show identifying text in their
pixels (dicomkit does not clean pixels, so these are refused by default).

>>> burned_in_reason_of("YES", "CT", None)
'BurnedInAnnotation is YES'
"""

from __future__ import annotations

from pydicom.dataset import Dataset

__all__ = [
    "BURNED_IN_MODALITIES",
    "BURNED_IN_SOP_CLASSES",
    "burned_in_reason",
    "burned_in_reason_of",
]

#: Modalities whose pixels usually carry burned-in text.
BURNED_IN_MODALITIES = frozenset({"US", "SC", "OT", "DOC", "XC", "ES", "SM", "GM"})
#: SOP classes likewise: ultrasound, secondary captures, encapsulated documents.
BURNED_IN_SOP_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.6.1",  # US Image
        "1.2.840.10008.5.1.4.1.1.6.2",  # Enhanced US Volume
        "1.2.840.10008.5.1.4.1.1.3.1",  # US Multi-frame
        "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture
        "1.2.840.10008.5.1.4.1.1.7.1",
        "1.2.840.10008.5.1.4.1.1.7.2",
        "1.2.840.10008.5.1.4.1.1.7.3",
        "1.2.840.10008.5.1.4.1.1.7.4",
        "1.2.840.10008.5.1.4.1.1.104.1",  # Encapsulated PDF
        "1.2.840.10008.5.1.4.1.1.104.2",  # Encapsulated CDA
        "1.2.840.10008.5.1.4.1.1.104.3",  # Encapsulated STL
        "1.2.840.10008.5.1.4.1.1.104.4",  # Encapsulated OBJ
        "1.2.840.10008.5.1.4.1.1.104.5",  # Encapsulated MTL
    }
)


def burned_in_reason(ds: Dataset) -> str | None:
    """Why ``ds``'s pixels may show identifying text, or None."""
    return burned_in_reason_of(
        str(ds.get("BurnedInAnnotation", "") or ""),
        str(ds.get("Modality", "") or ""),
        str(ds.get("SOPClassUID", "") or ""),
    )


def burned_in_reason_of(
    burned_in: str | None, modality: str | None, sop_class: str | None
) -> str | None:
    """:func:`burned_in_reason` from the three values (e.g. a scan's columns).

    >>> burned_in_reason_of(None, "US", None)
    'modality US usually carries burned-in text'
    >>> burned_in_reason_of("NO", "CT", "1.2.840.10008.5.1.4.1.1.2") is None
    True
    """
    if (burned_in or "").strip().upper() == "YES":
        return "BurnedInAnnotation is YES"
    kind = (modality or "").strip().upper()
    if kind in BURNED_IN_MODALITIES:
        return f"modality {kind} usually carries burned-in text"
    if (sop_class or "").strip("\0 ") in BURNED_IN_SOP_CLASSES:
        return (
            "its SOP class (secondary capture, ultrasound or document) usually "
            "carries burned-in text"
        )
    return None
