"""Pure functions on DICOM UIDs: check them, explain them, compare, make new ones.

A DICOM UID (PS3.5 §9.1) is an ISO object identifier written as digits and dots,
``<org root>.<suffix>``: the root says *who* issued it, the suffix is whatever that
organisation chose to make it unique (often a device serial number, a time stamp and
counters). Nothing here touches a disk; the module imports only the standard library
and pydicom.

>>> import dicomkit.uid as U
>>> U.is_valid("1.2.840.10008.1.2.1")
True
>>> U.explain("1.2.840.113619.2.410.4057621.1683036310.1.1").organisation
'GE HealthCare'
"""

from __future__ import annotations

import hashlib
import hmac
import html
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

from pydicom.uid import UID, generate_uid

__all__ = [
    "KNOWN_ROOTS",
    "KnownRoot",
    "UIDExplanation",
    "common_prefix",
    "derive",
    "explain",
    "generate",
    "is_valid",
    "problems",
]

_MAX_LENGTH = 64
_DIGITS = frozenset("0123456789")
_SHOWN = 5  # problems of one kind listed one by one before a summary line


@dataclass(frozen=True)
class KnownRoot:
    """A UID root whose owner is known, and where that was checked.

    Attributes
    ----------
    root, organisation : str
        The root (``"1.2.840.113619"``) and who owns it (``"GE HealthCare"``).
    kind : str
        ``standard``, ``uuid``, ``manufacturer``, ``library``, ``registrar`` (gives
        out sub-roots) or ``iana-enterprise``.
    source : str
        The public material that confirmed the attribution.
    """

    root: str
    organisation: str
    kind: str
    source: str


# Each entry was checked against the public material named in ``source``. Left out,
# unconfirmed: Carestream (1.2.840.113564 was attributed only by a table that got
# other roots wrong) and TCIA (1.3.6.1.4.1.14519 is common in TCIA data but its owner
# was not confirmed; it is still explained as an IANA enterprise number).
KNOWN_ROOTS: tuple[KnownRoot, ...] = (
    KnownRoot("1.2.840.10008", "DICOM Standard (NEMA)", "standard", "DICOM PS3.5 Annex C; pydicom UID dictionary"),
    KnownRoot("2.25", "UUID-derived (ISO/IEC 9834-8)", "uuid", "DICOM PS3.5 Annex B.2; pydicom generate_uid; dcm4che UIDUtils"),
    KnownRoot("1.2.840.113619", "GE HealthCare", "manufacturer", "fo-dicom private GE SOP classes (1.2.840.113619.4.x)"),
    KnownRoot("1.3.12.2.1107.5", "Siemens Healthineers", "manufacturer", "fo-dicom private Siemens SOP classes (1.3.12.2.1107.5.9.1)"),
    KnownRoot("1.3.46.670589", "Philips", "manufacturer", "fo-dicom private Philips SOP classes (1.3.46.670589.5.0.x)"),
    KnownRoot("1.2.392.200036.9116", "Canon Medical Systems (formerly Toshiba)", "manufacturer", "fo-dicom Private Toshiba US Image Storage"),
    KnownRoot("1.2.392.200036.9125", "Fujifilm", "manufacturer", "fo-dicom Private Fuji CR Image Storage"),
    KnownRoot("1.2.124.113532", "Agfa HealthCare", "manufacturer", "fo-dicom private Agfa SOP classes (1.2.124.113532.3500.x)"),
    KnownRoot("1.2.840.113681", "Hologic", "manufacturer", "UIDs of Hologic mammography files in public code (no registry entry found)"),
    KnownRoot("1.2.826.0.1.3680043", "Medical Connections Ltd (free UID roots)", "registrar", "pydicom 0.9 uid.py; Conquest DICOM server history"),
    KnownRoot("1.2.826.0.1.3680043.8.498", "pydicom", "library", "pydicom.uid.PYDICOM_ROOT_UID"),
    KnownRoot("1.2.276.0.7230010.3", "OFFIS e.V. (DCMTK)", "library", "DCMTK dcuid.h OFFIS_UID_ROOT"),
    KnownRoot("1.2.40.0.13.1", "dcm4che", "library", "dcm4che Implementation class UIDs 1.2.40.0.13.1.1 and .3"),
    KnownRoot("1.3.6.1.4.1.5962", "PixelMed Publishing", "iana-enterprise", "fo-dicom private PixelMed SOP classes (1.3.6.1.4.1.5962.301.x)"),
    KnownRoot("1.3.6.1.4.1.19376", "IHE International", "iana-enterprise", "IHE wiki, OID Registration"),
)  # fmt: skip

# ISO member-body arcs 1.2.<ISO 3166-1 numeric country code> (oid-info.com, OID 1.2).
# The standards body is named only where a source confirmed it administers the arc.
_COUNTRIES: dict[str, str] = {
    "36": "Australia", "40": "Austria", "56": "Belgium", "76": "Brazil",
    "124": "Canada", "156": "China", "208": "Denmark", "246": "Finland",
    "250": "France", "276": "Germany (DIN)", "356": "India", "372": "Ireland",
    "380": "Italy", "392": "Japan", "410": "Korea", "528": "Netherlands",
    "554": "New Zealand", "578": "Norway", "620": "Portugal", "724": "Spain",
    "752": "Sweden", "756": "Switzerland", "826": "United Kingdom",
    "840": "United States (ANSI)",
}  # fmt: skip

_IANA = ("1", "3", "6", "1", "4", "1")
_UNKNOWN = KnownRoot("", "unknown: no registered root recognised", "unregistered", "")
_MALFORMED = KnownRoot("", "unknown: malformed UID", "unregistered", "")


def _digits(text: str) -> bool:
    return bool(text) and all(c in _DIGITS for c in text)


def problems(uid: str) -> list[str]:
    """Say, in sentences, what keeps `uid` from being a valid DICOM UID.

    The rules of PS3.5 §9.1: at most 64 characters, only digits and dots, no empty
    component (so no leading or trailing dot and no ``..``), and no leading zero in
    a component other than a component that is exactly ``0``. Trailing NUL
    characters (the padding of UI values to an even length) are removed first.

    Parameters
    ----------
    uid : str
        The text to check.

    Returns
    -------
    list of str
        One sentence per problem, empty when `uid` is valid.

    Examples
    --------
    >>> problems("1.2.840.10008.1.2.1\\0")
    []
    >>> problems("1.2.3.012")
    ["component 4 ('012') has a leading zero"]
    >>> problems("1.2.a")
    ["character 'a' at position 5 is not a digit or a dot"]
    >>> problems("1..2")
    ['component 2 is empty: two dots in a row at positions 2-3']
    """
    text = uid.rstrip("\0")
    if not text:
        return ["the UID is empty: it needs at least one component"]
    found: list[str] = []
    if len(text) > _MAX_LENGTH:
        found.append(f"{len(text)} characters: a UID has at most {_MAX_LENGTH}")
    bad = [(i, c) for i, c in enumerate(text, start=1) if c not in _DIGITS and c != "."]
    for pos, char in bad[:_SHOWN]:
        hint = ""
        if not text[pos - 1 :].strip(" ") and text[pos - 2 : pos - 1] != " ":
            hint = " (UI values are padded with '\\0', not spaces)"
        found.append(
            f"character {char!r} at position {pos} is not a digit or a dot{hint}"
        )
    if len(bad) > _SHOWN:
        found.append(
            f"… and {len(bad) - _SHOWN} more characters that are not digits or dots"
        )
    parts = text.split(".")
    wrong = []
    start = 1  # position of the component's first character
    for number, part in enumerate(parts, start=1):
        if part:
            if part[0] == "0" and part[1:2] in _DIGITS:
                wrong.append(f"component {number} ({part!r}) has a leading zero")
        elif number == 1:
            wrong.append("component 1 is empty: a UID cannot start with a dot")
        elif number == len(parts):
            wrong.append(f"component {number} is empty: a UID cannot end with a dot")
        else:
            wrong.append(
                f"component {number} is empty: two dots in a row at positions "
                f"{start - 1}-{start}"
            )
        start += len(part) + 1
    if len(wrong) > _SHOWN:
        wrong[_SHOWN:] = [f"… and {len(wrong) - _SHOWN} more component problems"]
    return found + wrong


def is_valid(uid: str) -> bool:
    """Whether `uid` is a valid DICOM UID: ``problems(uid) == []``.

    Examples
    --------
    >>> is_valid("1.2.840.10008.1.2.1")
    True
    >>> is_valid("1.2.840.10008.1.2.1 ")
    False
    """
    return not problems(uid)


def _calendar(text: str, *, short_year: bool = False) -> str | None:
    """``YYYYMMDD[hhmmss]`` (``YY…`` if `short_year`) as ISO text, else None."""
    cut = 2 if short_year else 4
    rest, timed = text[cut:], len(text) - cut >= 10
    try:
        year = int(text[:cut]) + (
            (2000 if int(text[:2]) < 70 else 1900) if short_year else 0
        )
        hms = (int(rest[4:6]), int(rest[6:8]), int(rest[8:10])) if timed else (0, 0, 0)
        when = datetime(year, int(rest[0:2]), int(rest[2:4]), *hms)
    except ValueError:
        return None
    if not 1970 <= year < 2100:
        return None
    return f"{when:%Y-%m-%d %H:%M:%S}" if timed else f"{when:%Y-%m-%d}"


def _timestamp(part: str) -> tuple[str, str] | None:
    """A date/time that `part` seems to encode, and how, or None (a heuristic)."""
    if len(part) < 8 or not _digits(part):
        return None
    if (when := _calendar(part[:14]) or _calendar(part[:8])) is not None:
        return when, "YYYYMMDD…"
    for offset in range(1, min(7, len(part) - 13)):
        if (when := _calendar(part[offset : offset + 14])) is not None:
            return when, f"YYYYMMDDhhmmss from digit {offset + 1}"
    if part[0] == "3" and len(part) >= 13:
        zeros = min(8, len(part[1:]) - len(part[1:].lstrip("0")))
        for at in range(min(1 + zeros, len(part) - 12), 0, -1):
            if (when := _calendar(part[at : at + 12], short_year=True)) is not None:
                return when, "'3' + YYMMDDhhmmss, Siemens style"
    if len(part) in (9, 10) and 631_152_000 <= int(part) < 4_102_444_800:
        stamp = datetime.fromtimestamp(int(part), tz=timezone.utc)
        return f"{stamp:%Y-%m-%d %H:%M:%S} UTC", "Unix time: seconds since 1970"
    return None


@dataclass(frozen=True)
class UIDExplanation:
    """What a UID is made of; ``str()`` reads as a lesson, and it renders in Jupyter.

    Attributes
    ----------
    uid : str
        The UID without its NUL padding.
    valid, problems : bool, tuple of str
        Whether it is valid, and if not why (see :func:`problems`).
    root, organisation, root_kind, root_source : str
        The longest recognised root (``""`` if none), its owner, its kind (a
        `KnownRoot` kind, ``iso-member-body``, ``iso-itu-country`` or
        ``unregistered``) and where the attribution was checked.
    device_part, suffix : str
        After the root: what usually names the product, device or site, and what
        is specific to one examination or object (a heuristic, see :func:`explain`).
        ``".".join(p for p in (root, device_part, suffix) if p) == uid`` always.
    notes : tuple of str
        What else can be read from it: time stamps, UUIDs, standard names.
    """

    uid: str
    valid: bool
    problems: tuple[str, ...]
    root: str
    organisation: str
    root_kind: str
    root_source: str
    device_part: str
    suffix: str
    notes: tuple[str, ...]

    def _rows(self) -> tuple[tuple[str, str, str], ...]:
        return (
            ("root", self.root, f"{self.organisation} ({self.root_kind})"),
            ("device", self.device_part, "product / device / site (a guess)"),
            ("suffix", self.suffix, "this examination or object"),
        )

    def __str__(self) -> str:
        count = len(self.problems)
        state = (
            "valid" if self.valid else f"NOT valid: {count} problem{'s' * (count > 1)}"
        )
        lines = [f"UID {self.uid}  ({state}, {len(self.uid)} characters)"]
        width = max(len(value) for _, value, _ in self._rows())
        lines += [f"  {k:<7}{v or '-':<{width + 2}}{m}" for k, v, m in self._rows()]
        for title, items in (("problems", self.problems), ("notes", self.notes)):
            if items:
                lines += [f"  {title}:", *(f"  - {item}" for item in items)]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        esc, colours = html.escape, ("#1f77b4", "#d62728", "#2ca02c")
        spans = ".".join(
            f'<span style="color:{c};font-weight:bold" title="{k}">{esc(v)}</span>'
            for c, (k, v, _) in zip(colours, self._rows(), strict=True)
            if v
        )
        rows = "".join(
            f"<tr><th style='text-align:left'>{k}</th><td><code>{esc(v)}</code></td>"
            f"<td>{esc(m)}</td></tr>"
            for k, v, m in self._rows()
        )
        items = "".join(f"<li><b>problem:</b> {esc(p)}</li>" for p in self.problems)
        items += "".join(f"<li>{esc(note)}</li>" for note in self.notes)
        state = "valid" if self.valid else "<b style='color:#d62728'>not valid</b>"
        return (
            f"<div class='dicomkit-uid'><p><code>{spans}</code> ({state})</p>"
            f"<table>{rows}</table><ul>{items}</ul></div>"
        )


def _root_of(parts: list[str]) -> KnownRoot:
    """The longest known root, enterprise or national arc that prefixes `parts`."""
    known = [
        k for k in KNOWN_ROOTS if parts[: k.root.count(".") + 1] == k.root.split(".")
    ]
    if known:
        return max(known, key=lambda k: k.root.count("."))
    if tuple(parts[:6]) == _IANA and len(parts) > 6 and _digits(parts[6]):
        name = f"IANA Private Enterprise Number {parts[6]}"
        return KnownRoot(".".join(parts[:7]), name, "iana-enterprise", "IANA PEN arc")
    if parts[:2] in (["1", "2"], ["2", "16"]) and parts[2:3] and parts[2] in _COUNTRIES:
        kind = "iso-member-body" if parts[0] == "1" else "iso-itu-country"
        name = f"{_COUNTRIES[parts[2]]}, national arc"
        return KnownRoot(
            ".".join(parts[:3]), name, kind, "oid-info.com, OIDs 1.2 and 2.16"
        )
    return _UNKNOWN


def explain(uid: str) -> UIDExplanation:
    """Take a UID apart: who issued it, which part names the device, what is unique.

    The root is the longest known root (see `KNOWN_ROOTS`), IANA enterprise arc
    ``1.3.6.1.4.1.N`` or national arc ``1.2.<country>`` that is a component-wise
    prefix. The split of the rest is a **heuristic**, as organisations may build
    suffixes as they like (PS3.5 says not to parse them): the suffix starts at the
    first component that looks like a time stamp (``YYYYMMDD…``, an embedded
    ``YYYYMMDDhhmmss``, Siemens' ``3`` + ``YYMMDDhhmmss`` or a Unix time between
    1990 and 2100), else it is the last two components; what lies between root and
    suffix usually names the product, device or site. Under ``2.25`` (a UUID) and
    the DICOM Standard's root, everything after the root is the suffix.

    Parameters
    ----------
    uid : str
        Any text; trailing NUL padding is removed, invalid UIDs are explained too.

    Returns
    -------
    UIDExplanation

    Examples
    --------
    >>> e = explain("1.3.12.2.1107.5.1.4.83504.3230314081502100001")
    >>> e.organisation, e.root, e.device_part, e.suffix
    ('Siemens Healthineers', '1.3.12.2.1107.5', '1.4.83504', '3230314081502100001')
    >>> explain("1.2.840.10008.1.2.1").notes[1]
    "pydicom knows it as 'Explicit VR Little Endian' (Transfer Syntax)"
    >>> explain("9.9.9.1").root_kind
    'unregistered'
    """
    text = uid.rstrip("\0")
    found = tuple(problems(text))
    parts = text.split(".")
    known = _root_of(parts)
    rest = parts[known.root.count(".") + 1 :] if known.root else parts
    notes: list[str] = []
    stamps = [] if known.kind in ("uuid", "standard") else [_timestamp(p) for p in rest]
    for index, stamp in enumerate(stamps):
        if stamp is not None:
            notes.append(
                f"component {len(parts) - len(rest) + index + 1} ({rest[index]!r}) "
                f"looks like a date/time stamp {stamp[0]} ({stamp[1]})"
            )
    at = [i for i, stamp in enumerate(stamps) if stamp is not None]
    cut = 0 if not stamps else at[0] if at else max(0, len(rest) - 2)
    device, suffix = ".".join(rest[:cut]), ".".join(rest[cut:])
    if ".".join(p for p in (known.root, device, suffix) if p) != text:  # x.. or x.
        known, device, suffix = _MALFORMED, "", text
    kind, first = known.kind, parts[0]
    if kind == "uuid" and len(rest) == 1 and _digits(rest[0]) and len(rest[0]) <= 39:
        if (number := int(rest[0])) < 2**128:
            value = uuid.UUID(int=number)
            how = f"version {value.version}" if value.version else "not RFC 4122"
            notes.append(f"the integer is the UUID {value} in decimal ({how})")
    elif kind == "standard":
        notes.append(
            "1.2.840.10008 is the DICOM Standard's own root: this UID names something "
            "the standard defines (transfer syntax, SOP class, …), not patient data"
        )
        if not found and (name := UID(text).name) != text:
            notes.append(f"pydicom knows it as {name!r} ({UID(text).type})")
    elif kind == "iana-enterprise":
        notes.append(
            f"an IANA Private Enterprise Number: 1.3.6.1.4.1.<N>, N = {parts[6]}"
        )
    elif kind in ("iso-member-body", "iso-itu-country") and len(parts) > 3:
        notes.append(
            f"component 4 ({parts[3]!r}) names an organisation registered in that "
            "country's arc; dicomkit does not know which"
        )
    elif kind == "registrar" and rest:
        notes.append("the next components name whoever received this free sub-root")
    elif kind == "unregistered" and _digits(first) and first not in ("0", "1", "2"):
        notes.append(
            f"component 1 is {first!r}: object identifiers start with 0 (ITU-T), "
            "1 (ISO) or 2 (joint), so no one can have registered this root"
        )
    return UIDExplanation(
        uid=text, valid=not found, problems=found, root=known.root,
        organisation=known.organisation, root_kind=kind, root_source=known.source,
        device_part=device, suffix=suffix, notes=tuple(notes),
    )  # fmt: skip


def common_prefix(uids: Iterable[str]) -> str:
    """The longest component-wise prefix shared by all `uids` (never half a component).

    Examples
    --------
    >>> common_prefix(["1.2.34.5", "1.2.3.5"])
    '1.2'
    >>> common_prefix(["1.3.12.2.1107.5.1.4.83504.3230314081502100001",
    ...                "1.3.12.2.1107.5.1.4.83504.3230919104230100001"])
    '1.3.12.2.1107.5.1.4.83504'
    >>> common_prefix([])
    ''
    """
    shared: list[str] | None = None
    for uid in uids:
        parts = uid.rstrip("\0").split(".")
        if shared is None:
            shared = parts
            continue
        size = 0
        while size < min(len(shared), len(parts)) and shared[size] == parts[size]:
            size += 1
        shared = shared[:size]
        if not shared:
            break
    return ".".join(shared or [])


def generate(prefix: str | None = None) -> str:
    """A new, unique UID: ``2.25.<random UUID>`` or `prefix` plus random digits.

    Parameters
    ----------
    prefix : str, optional
        Your organisation's root followed by a dot, e.g. ``"1.2.826.0.1.3680043.10.1234."``.
        It must be valid without its dot and at most 54 characters long, to leave at
        least 10 random digits.

    Raises
    ------
    ValueError
        If `prefix` does not end with a dot, is not a valid UID, or is too long.

    Examples
    --------
    >>> generate().startswith("2.25.")
    True
    >>> is_valid(generate("1.2.826.0.1.3680043.10.1234."))
    True
    """
    if prefix is None:
        return str(generate_uid(prefix=None))
    if not prefix.endswith("."):
        msg = f"prefix {prefix!r} must end with a dot, e.g. {prefix + '.'!r}"
        raise ValueError(msg)
    if "\0" in prefix or (found := problems(prefix[:-1])):
        found = found if "\0" not in prefix else ["it contains a NUL character"]
        msg = f"prefix {prefix!r} is not a valid UID root: " + "; ".join(found)
        raise ValueError(msg)
    if len(prefix) > _MAX_LENGTH - 10:
        msg = (
            f"prefix {prefix!r} has {len(prefix)} characters: at most "
            f"{_MAX_LENGTH - 10} leave room for the 10 random digits that make it unique"
        )
        raise ValueError(msg)
    return str(generate_uid(prefix=prefix))


def derive(uid: str, key: str | bytes) -> str:
    """A new UID computed from `uid` and a secret `key`: same inputs, same result.

    ``"2.25." + str(int.from_bytes(HMAC-SHA256(key, uid)[:16], "big"))``, after
    removing NUL padding from `uid`: 128 bits like a UUID, always valid, at most 44
    characters. Different keys or UIDs give different results (a clash is as unlikely
    as between two random 128-bit numbers), so it can replace UIDs consistently across files
    when splitting, merging or pseudonymising. For pseudonymisation keep the key
    secret: without it the mapping cannot be inverted, nor recomputed to check a
    guess; with it, anyone can test whether a known UID maps to a given result.

    Raises
    ------
    ValueError
        If `key` is empty.

    Examples
    --------
    >>> derive("1.2.3.4", key="secret") == derive("1.2.3.4\\0", key=b"secret")
    True
    >>> derive("1.2.3.4", key="secret") != derive("1.2.3.4", key="other")
    True
    >>> derive("1.2.3.4", key="secret")[:5]
    '2.25.'
    """
    secret = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    if not secret:
        msg = "key must not be empty: derived UIDs are only as private as the key"
        raise ValueError(msg)
    message = uid.strip("\0").encode("utf-8", "surrogatepass")
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))
