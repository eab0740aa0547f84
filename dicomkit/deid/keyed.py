"""The keyed values: patient pseudonyms, per-patient date offsets and remapped
UIDs, all from one secret key (HMAC-SHA-256; :func:`dicomkit.uid.derive` for
UIDs), and the date shift itself.

>>> pseudonym("12345", b"k") == pseudonym("12345", b"k") != pseudonym("12345", b"j")
True
>>> shift_date("20240301", "DA", -1)
'20240229'
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac

from pydicom.uid import UID_dictionary  # type: ignore[attr-defined]

from dicomkit.uid import derive

__all__ = [
    "MAX_SHIFT",
    "MIN_SHIFT",
    "date_offset",
    "is_well_known",
    "new_uid",
    "pseudonym",
    "shift_date",
]

#: Date offsets are whole days, ``-MIN_SHIFT`` to ``-MAX_SHIFT`` (into the past).
MIN_SHIFT, MAX_SHIFT = 365, 3652


def _mac(key: bytes, purpose: str, value: str) -> bytes:
    message = f"dicomkit-deid\0{purpose}\0{value}".encode("utf-8", "surrogatepass")
    return hmac.new(key, message, hashlib.sha256).digest()


def pseudonym(patient_id: str, key: bytes) -> str:
    """The keyed pseudonym of a PatientID: ``"DK"`` + 16 base-32 characters.

    The same PatientID and key give the same pseudonym in every run; without the
    key it can be neither inverted nor recomputed.

    >>> pseudonym("12345", b"k") == pseudonym("12345 ", b"k")
    True
    >>> len(pseudonym("12345", b"k"))
    18
    """
    import base64

    digest = _mac(key, "PatientID", patient_id.strip("\0 "))
    return "DK" + base64.b32encode(digest[:10]).decode("ascii")


def date_offset(patient_id: str, key: bytes) -> int:
    """The patient's keyed date shift in days: between -3652 and -365, never 0.

    >>> -3652 <= date_offset("12345", b"k") <= -365
    True
    """
    digest = _mac(key, "date offset", patient_id.strip("\0 "))
    span = MAX_SHIFT - MIN_SHIFT + 1
    return -(MIN_SHIFT + int.from_bytes(digest[:8], "big") % span)


@functools.lru_cache(maxsize=4096)
def is_well_known(uid: str) -> bool:
    """Whether ``uid`` is a registered UID (pydicom's UID dictionary)."""
    return uid in UID_dictionary


def new_uid(uid: str, key: bytes) -> str:
    """``uid`` remapped by :func:`dicomkit.uid.derive`, or unchanged if well known
    or empty."""
    text = uid.strip("\0 ")
    if not text or is_well_known(text):
        return text
    return derive(text, key)


def shift_date(text: str, vr: str, days: int) -> str | None:
    """A DA (``YYYYMMDD``) or DT (``YYYYMMDD…``) moved by ``days``; None if it has
    no full date. The DT's time and zone stay as they are."""
    date_part = text.replace(".", "") if vr == "DA" else text[:8]
    if len(date_part) != 8 or not date_part.isdigit():
        return None
    try:
        date = dt.date(int(date_part[:4]), int(date_part[4:6]), int(date_part[6:]))
        new = date + dt.timedelta(days=days)
    except (ValueError, OverflowError):
        return None
    return new.strftime("%Y%m%d") + ("" if vr == "DA" else text[8:])
