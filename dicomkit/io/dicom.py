"""The DICOM encoding constants both header readers use, defined once.

:mod:`dicomkit.io.fastread` (the fast element walker) and :mod:`dicomkit.io.header`
(pydicom's path, and the checks around it) read the same encoding: these are its
fixed numbers and UIDs.
"""

from __future__ import annotations

__all__ = [
    "DEFLATED_VR_LE",
    "EXPLICIT_VR_BE",
    "EXPLICIT_VR_LE",
    "IMPLICIT_VR_LE",
    "ITEM",
    "ITEM_END",
    "LONG_VRS",
    "MEDIA_STORAGE_DIRECTORY",
    "PIXEL_TAGS",
    "SEQUENCE_END",
    "SHORT_VRS",
    "UNDEFINED_LENGTH",
]

#: A value length of 0xFFFFFFFF: the value ends at a delimiter (PS3.5 7.1.1).
UNDEFINED_LENGTH = 0xFFFFFFFF
#: Item, Item Delimitation and Sequence Delimitation tags (PS3.5 7.5).
ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
#: Float Pixel Data, Double Float Pixel Data and Pixel Data (7FE0,0008/0009/0010).
PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})

#: Transfer syntaxes (PS3.5 Annex A).
IMPLICIT_VR_LE = "1.2.840.10008.1.2"
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
EXPLICIT_VR_BE = "1.2.840.10008.1.2.2"
DEFLATED_VR_LE = "1.2.840.10008.1.2.1.99"

#: The SOP Class of a DICOMDIR (Media Storage Directory Storage, PS3.10): a media
#: index, not an image.
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"

#: VRs whose explicit-VR header has a 4-byte length (PS3.5 7.1.2), and the others.
LONG_VRS = frozenset(
    {
        b"OB",
        b"OD",
        b"OF",
        b"OL",
        b"OV",
        b"OW",
        b"SQ",
        b"SV",
        b"UC",
        b"UN",
        b"UR",
        b"UT",
        b"UV",
    }
)
SHORT_VRS = frozenset({
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO",
    b"LT", b"PN", b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US",
})  # fmt: skip
