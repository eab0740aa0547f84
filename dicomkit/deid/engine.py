"""De-identify one pydicom Dataset in memory: PS3.15 Table E.1-1, keyed UIDs,
patient pseudonyms and per-patient date offsets. No disk.

Every element, at every sequence depth, gets exactly one decision:

1. **In the table** (an exact tag, or curve ``50xx``/overlay ``60xx`` data and
   comments): the row's action under the chosen options (:func:`rule_action`), a
   choice resolved by :mod:`dicomkit.deid.iod`. ``D`` puts a dummy of the VR (the
   pseudonym for PatientName); ``Z`` empties; ``X`` removes; ``K`` keeps (a
   sequence's items are cleaned); ``U`` remaps every UID through
   :func:`dicomkit.uid.derive`; ``C`` cleans by VR: dates move by the patient's
   offset (times kept), text keeps only the words of a closed technical
   vocabulary (:data:`VOCABULARY`) and numbers, sequences are cleaned item by
   item, and binary values (overlay bitmaps, OB timestamps) — which cannot be
   inspected — are removed.
2. **Private** (odd group): removed; with ``retain_safe_private`` only the
   elements PS3.15 Table E.3.10-1 lists as safe (matched by private creator and
   offset in the block, :mod:`dicomkit.deid.private`) and the creators of their
   blocks are kept; any other creator goes with its whole block.
3. **Not in the table**: kept when the image needs it and it cannot hold free
   text — numbers (binary OF/OD/OL/OV too), code strings (CS), attribute tags,
   the pixel and waveform data and the binary elements of groups 0028 and 5400
   (LUTs, ICC profile, waveform samples), the text attributes of
   :data:`dicomkit.deid.iod.KEEP_TEXT` — sequences (their items cleaned), and
   UIDs (remapped, except class UIDs); everything else is removed (free text,
   person names, dates and times, AE titles, URIs, other binary, unknown VRs).

Well-known UIDs (those in pydicom's UID dictionary: SOP classes, transfer
syntaxes, coding schemes …) and class UIDs (``SOPClassUID``,
``ReferencedSOPClassUID`` …) are never remapped. The file meta is rebuilt from
the new data set (transfer syntax, class, new MediaStorageSOPInstanceUID), the
preamble zeroed.

>>> from pydicom.dataset import Dataset
>>> ds = Dataset()
>>> ds.PatientID, ds.PatientName, ds.StudyDate = "12345", "Doe^John", "20240301"
>>> ds.StudyInstanceUID = "1.2.3.4"
>>> settings = Settings.make("project secret")
>>> outcome = deidentify_dataset(ds, settings)
>>> ds.PatientID == pseudonym("12345", settings.key), ds.StudyDate
(True, None)
>>> ds.StudyInstanceUID == derive("1.2.3.4", settings.key)
True
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydicom.config import IGNORE
from pydicom.datadict import dictionary_has_tag, dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import UID_dictionary  # type: ignore[attr-defined]

from dicomkit.deid.iod import KEEP_TEXT, resolve_choice
from dicomkit.deid.private import safe_private_tags
from dicomkit.deid.table import (
    CODES,
    PATTERN_CURVE,
    PATTERN_OVERLAY_COMMENTS,
    PATTERN_OVERLAY_DATA,
    Rule,
    check_options,
    pattern_rules,
    rule_action,
    rules_by_tag,
)
from dicomkit.exceptions import DeidentificationError
from dicomkit.uid import derive

__all__ = [
    "BURNED_IN_MODALITIES",
    "BURNED_IN_SOP_CLASSES",
    "MAX_DEPTH",
    "VOCABULARY",
    "Outcome",
    "Settings",
    "burned_in_reason",
    "burned_in_reason_of",
    "clean_text",
    "date_offset",
    "deidentify_dataset",
    "is_well_known",
    "new_uid",
    "pseudonym",
]

#: Sequences deeper than this are removed (with a finding): bounded work.
MAX_DEPTH = 32
#: Date offsets are whole days, ``-MIN_SHIFT`` to ``-MAX_SHIFT`` (into the past).
MIN_SHIFT, MAX_SHIFT = 365, 3652
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
#: Words that identify nobody; ``C`` on text keeps these (any case) and numbers.
VOCABULARY = frozenset(
    [
        "a",
        "abdomen",
        "abd",
        "adc",
        "angio",
        "ankle",
        "ap",
        "aorta",
        "arterial",
        "ax",
        "axial",
        "b0",
        "bh",
        "body",
        "bolus",
        "bone",
        "brain",
        "breast",
        "c",
        "c-",
        "c+",
        "cardiac",
        "chest",
        "cine",
        "cor",
        "coronal",
        "contrast",
        "cta",
        "ct",
        "delayed",
        "dixon",
        "dti",
        "dwi",
        "echo",
        "elbow",
        "epi",
        "equilibrium",
        "fat",
        "fatsat",
        "fiesta",
        "flair",
        "fl",
        "fs",
        "fse",
        "gre",
        "haste",
        "head",
        "hip",
        "hr",
        "inspiration",
        "expiration",
        "iv",
        "knee",
        "l",
        "lat",
        "lateral",
        "left",
        "liver",
        "localizer",
        "loc",
        "lumbar",
        "lung",
        "mip",
        "mpr",
        "mprage",
        "mr",
        "mra",
        "mri",
        "neck",
        "no",
        "non",
        "oblique",
        "pa",
        "pd",
        "pelvis",
        "perf",
        "perfusion",
        "phase",
        "portal",
        "post",
        "pre",
        "prone",
        "r",
        "recon",
        "right",
        "routine",
        "sag",
        "sagittal",
        "scout",
        "se",
        "sequence",
        "shoulder",
        "soft",
        "spine",
        "spin",
        "stir",
        "supine",
        "survey",
        "swi",
        "t1",
        "t2",
        "t2star",
        "thoracic",
        "thorax",
        "tof",
        "tissue",
        "trufi",
        "tse",
        "venous",
        "vibe",
        "w",
        "with",
        "without",
        "wrist",
        "3d",
        "2d",
        "std",
        "standard",
        "sharp",
        "smooth",
        "lung",
        "mediastinum",
        "kernel",
        "thin",
        "thick",
        "dose",
        "low",
        "high",
        "series",
        "image",
        "images",
        "study",
        "exam",
        "examination",
        "scan",
        "of",
        "and",
        "or",
    ]
)
_NUMBER = re.compile(r"[+-]?\d{1,4}(?:\.\d+)?(?:mm|cm|ms|s|t|kv|mas|ma|deg|x)?")
_WORDS = re.compile(r"[A-Za-z0-9+\-.]+|[^A-Za-z0-9+\-.]+")
_NUMERIC_VRS = frozenset(
    {"US", "SS", "UL", "SL", "UV", "SV", "FL", "FD", "DS", "IS", "AT"}
)
_CODED_VRS = _NUMERIC_VRS | {"CS"}
_TEXT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC"})
_CLASS_UIDS = frozenset(
    {"TransferSyntaxUID", "ReferencedTransferSyntaxUIDInFile", "CodingSchemeUID"}
)
_DUMMY: Mapping[str, Any] = {
    "DA": "19000101",
    "TM": "000000",
    "DT": "19000101000000",
    "AS": "000Y",
    "DS": "0",
    "IS": "0",
    "US": 0,
    "SS": 0,
    "UL": 0,
    "SL": 0,
    "UV": 0,
    "SV": 0,
    "FL": 0.0,
    "FD": 0.0,
    "UR": "urn:dicomkit:removed",
    "OB": b"\0\0",
    "OW": b"\0\0",
    "UN": b"\0\0",
}


@dataclass(frozen=True)
class Settings:
    """What to do: the key, the options, and whether burned-in text may pass.

    Build it with :meth:`make`, which validates the options.
    """

    key: bytes
    options: tuple[str, ...] = ()
    allow_burned_in: bool = False

    @classmethod
    def make(
        cls,
        key: str | bytes,
        options: Iterable[str] = (),
        *,
        allow_burned_in: bool = False,
    ) -> Settings:
        """Validated settings; raises ValueError for an empty key or unknown option."""
        secret = key.encode("utf-8") if isinstance(key, str) else bytes(key)
        if not secret:
            msg = (
                "key must not be empty: the pseudonyms, UIDs and date offsets are "
                "only as private as the key (use a long random secret, kept apart "
                "from the data)"
            )
            raise ValueError(msg)
        return cls(secret, check_options(options), allow_burned_in)


@dataclass
class Outcome:
    """What :func:`deidentify_dataset` did to one data set.

    ``uids``: every UID remapped (old → new); ``patient_id``/``new_patient_id``
    and ``offset_days`` (None without ``retain_longitudinal_modified_dates``);
    ``findings``: ``(severity, attribute, message)``; ``refused``: why the data
    set must not be written (burned-in text), else None; ``log`` (only when asked):
    one ``(where, tag, keyword, VR, action, why)`` per element met.
    """

    patient_id: str = ""
    new_patient_id: str = ""
    offset_days: int | None = None
    uids: dict[str, str] = field(default_factory=dict)
    findings: list[tuple[str, str, str]] = field(default_factory=list)
    refused: str | None = None
    log: list[tuple[str, str, str, str, str, str]] | None = None


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


def clean_text(text: str) -> str:
    """``text`` with every word outside :data:`VOCABULARY` (and numbers of up to
    four digits, with a unit) replaced by ``X``.

    >>> clean_text("AX T1 post Dr Smith 2024-03-01")
    'AX T1 post X X X'
    """
    parts = []
    for token in _WORDS.findall(text):
        if not token[0].isalnum() and token[0] not in "+-.":
            parts.append(" " if token.strip() else token)
            continue
        keep = token.lower() in VOCABULARY or _NUMBER.fullmatch(token.lower())
        parts.append(token if keep else "X")
    return re.sub(r"\s+", " ", "".join(parts)).strip()


# ------------------------------------------------------------------- deciding
@dataclass(frozen=True)
class _Decision:
    action: str  # D Z X K C U, or "keep" / "drop" / "uid" for rules beyond the table
    why: str
    code: str  # the table's code as written (e.g. "X/Z/D"), or "" beyond the table


@functools.lru_cache(maxsize=65536)
def _decide(
    tag: int, vr: str, options: tuple[str, ...], sop_class: str, *, nested: bool
) -> _Decision:
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
        return _Decision(action, why, code)
    if group & 1:
        if "retain_safe_private" in options and element >= 0x10:
            return _Decision("private", "retain_safe_private: decided per block", "C")
        return _Decision("drop", "private attribute: removed (Table E.1-1 X)", "X")
    if group & 0xFF01 == 0x6000:
        return _Decision(
            "drop", "overlay: its data (60xx,3000) is removed, so is the rest", "X"
        )
    if element == 0 or group in (0x0000, 0x0002):
        return _Decision("drop", "group length or command/meta element: removed", "")
    keyword = keyword_for_tag(tag)
    if vr == "SQ":
        return _Decision(
            "K", "not in Table E.1-1: sequence kept, its items cleaned", ""
        )
    if vr == "UI":
        if "ClassUID" in keyword or keyword in _CLASS_UIDS:
            return _Decision("keep", "a class UID: names a kind of object, kept", "")
        if "retain_uids" in options:
            return _Decision("keep", "retain_uids: every UID kept", "")
        return _Decision("U", "not in Table E.1-1: a UID, remapped like the others", "")
    if vr in _CODED_VRS:
        return _Decision("keep", f"not in Table E.1-1: a {vr} value, kept", "")
    if vr in ("OF", "OD", "OL", "OV"):
        return _Decision("keep", f"not in Table E.1-1: numbers ({vr}), kept", "")
    if group in (0x0028, 0x5400, 0x7FE0) and vr in ("OB", "OW"):
        return _Decision("keep", "pixel or waveform data, or its description: kept", "")
    if tag in (0x7FE00010, 0x7FE00008, 0x7FE00009):
        return _Decision("keep", "pixel data: kept (burned-in text is not cleaned)", "")
    if vr in _TEXT_VRS and keyword in KEEP_TEXT:
        return _Decision(
            "keep", "not in Table E.1-1: technical text the image needs, kept", ""
        )
    return _Decision(
        "drop", f"not in Table E.1-1 and not needed by the image ({vr}): removed", ""
    )


# ------------------------------------------------------------------- acting
class _Context:
    def __init__(self, settings: Settings, outcome: Outcome, sop_class: str) -> None:
        self.settings = settings
        self.key = settings.key
        self.options = settings.options
        self.outcome = outcome
        self.sop_class = sop_class
        self.manufacturer = ""

    def uid(self, value: str) -> str:
        text = value.strip("\0 ")
        if not text:
            return text
        new = new_uid(text, self.key)
        if new != text:
            self.outcome.uids[text] = new
        return new


@functools.lru_cache(maxsize=8192)
def _dictionary_vr(tag: int) -> str:
    if dictionary_has_tag(tag):
        return str(dictionary_VR(tag)).split(" or ")[0]
    return "UN"


def _vr_of(elem: Any, tag: int) -> str:
    """The element's VR as stored, or the dictionary's (implicit VR, or UN)."""
    vr = elem.VR
    if vr and vr != "UN":
        return str(vr)
    return _dictionary_vr(tag)


_SAFE_CREATOR = _Decision(
    "keep", "retain_safe_private: the creator of a retained safe element, kept", "C"
)
_SAFE_ELEMENT = _Decision(
    "keep", "retain_safe_private: PS3.15 Table E.3.10-1 lists it safe, kept", "C"
)
_SAFE_SEQUENCE = _Decision(
    "K",
    "retain_safe_private: PS3.15 Table E.3.10-1 lists it safe, its items cleaned",
    "C",
)
_UNSAFE = _Decision(
    "drop",
    "retain_safe_private: not a listed safe private attribute nor its creator, removed",
    "C",
)


def _clean(ds: Dataset, ctx: _Context, depth: int, where: str) -> None:
    nested = depth > 0
    safe: frozenset[int] | None = None  # the private tags kept, found when needed
    for tag, elem in list(ds._dict.items()):
        vr = _vr_of(elem, int(tag))
        decision = _decide(int(tag), vr, ctx.options, ctx.sop_class, nested=nested)
        if decision.action == "private":
            if safe is None:
                safe = safe_private_tags(ds, ctx.manufacturer)
            if tag not in safe:
                decision = _UNSAFE
            elif tag & 0xFF00 == 0:
                decision = _SAFE_CREATOR
            else:
                decision = _SAFE_SEQUENCE if vr == "SQ" else _SAFE_ELEMENT
        action = decision.action
        if ctx.outcome.log is not None:
            name = keyword_for_tag(tag) or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
            ctx.outcome.log.append(
                (
                    where,
                    f"({tag >> 16:04X},{tag & 0xFFFF:04X})",
                    name,
                    vr,
                    decision.code or action,
                    decision.why,
                )
            )
        if action == "keep":
            continue
        if action in ("drop", "X"):
            del ds[tag]
            continue
        try:
            _act(ds, int(tag), vr, action, ctx, depth, where)
        except DeidentificationError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bad value: removed and reported
            name = keyword_for_tag(tag) or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
            ctx.outcome.findings.append(
                (
                    "warning",
                    name,
                    f"{where}{name} (VR {vr}) could not be processed "
                    f"({type(exc).__name__}: {exc}); removed",
                )
            )
            if tag in ds:
                del ds[tag]


def _act(
    ds: Dataset, tag: int, vr: str, action: str, ctx: _Context, depth: int, where: str
) -> None:
    if vr == "SQ":
        if action == "Z":
            ds[tag] = DataElement(tag, "SQ", Sequence())
            return
        if action == "U" or action in ("K", "C", "D"):
            _clean_items(ds, tag, ctx, depth, where)
            return
    if action == "Z":
        ds[tag] = DataElement(tag, vr, b"" if vr in ("OB", "OW", "UN") else None)
        return
    if action == "U" or (action == "D" and vr == "UI"):
        if vr != "UI":
            name = keyword_for_tag(tag) or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
            msg = (
                f"{where}{name} is stored with VR {vr}, not UI: it cannot be remapped "
                "as a UID, and removing it could break the references; fix the "
                "source file's VR"
            )
            raise DeidentificationError(msg)
        raw: Any = ds.get_item(tag)
        if isinstance(raw, RawDataElement):  # fast path: no pydicom conversion
            if raw.value:
                text = raw.value.decode("ascii", "replace")
                new = [ctx.uid(v) for v in text.split("\\")]
                ds[tag] = DataElement(
                    tag, "UI", new if len(new) > 1 else new[0], validation_mode=IGNORE
                )
            return
        elem = ds[tag]
        if isinstance(elem.value, (list, MultiValue)):
            elem.value = [ctx.uid(str(v)) for v in elem.value]
        elif elem.value:
            elem.value = ctx.uid(str(elem.value))
        return
    if action == "K":
        return
    if action == "D":
        ds[tag] = DataElement(tag, vr, _dummy(tag, vr, ctx, ds))
        return
    if action == "C":
        _clean_value(ds, tag, vr, ctx, where)
        return
    msg = f"no implementation for action {action!r}"  # pragma: no cover
    raise AssertionError(msg)


def _clean_items(ds: Dataset, tag: int, ctx: _Context, depth: int, where: str) -> None:
    name = keyword_for_tag(tag) or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
    if depth + 1 > MAX_DEPTH:
        del ds[tag]
        ctx.outcome.findings.append(
            (
                "warning",
                name,
                f"{where}{name} is nested over {MAX_DEPTH} levels deep: removed",
            )
        )
        return
    for index, item in enumerate(ds[tag].value):
        _clean(item, ctx, depth + 1, f"{where}{name}[{index}].")


def _dummy(tag: int, vr: str, ctx: _Context, ds: Dataset) -> Any:
    if tag == 0x00100010:  # PatientName: the pseudonym
        return ctx.outcome.new_patient_id
    if tag == 0x00100020:  # a PatientID: its own keyed pseudonym
        return pseudonym(str(ds[tag].value or ""), ctx.key)
    if vr in _DUMMY:
        return _DUMMY[vr]
    return "ANONYMOUS"


def _clean_value(ds: Dataset, tag: int, vr: str, ctx: _Context, where: str) -> None:
    name = keyword_for_tag(tag) or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
    if vr in ("DA", "DT"):
        if ctx.outcome.offset_days is None:  # C on a date only comes with the option
            del ds[tag]
            return
        elem = ds[tag]
        values = (
            elem.value if isinstance(elem.value, (list, MultiValue)) else [elem.value]
        )
        shifted = []
        for value in values:
            text = str(value or "").strip("\0 ")
            new = _shift(text, vr, ctx.outcome.offset_days) if text else ""
            if new is None:
                ctx.outcome.findings.append(
                    (
                        "warning",
                        name,
                        f"{where}{name} {vr} value {text!r} is not a "
                        "full date and cannot be shifted: removed",
                    )
                )
                del ds[tag]
                return
            shifted.append(new)
        ds[tag] = DataElement(tag, vr, shifted if len(shifted) > 1 else shifted[0])
        return
    if vr == "TM":
        return  # times are kept with shifted dates (whole days)
    if vr in ("OB", "OW", "OF", "OD", "OL", "OV", "UN"):
        del ds[tag]  # binary: cannot be inspected, so cannot be known clean
        return
    if vr in ("AE", "PN", "UR", "AS"):
        ds[tag] = DataElement(tag, vr, _dummy(tag, vr, ctx, ds))
        return
    if vr in _NUMERIC_VRS:
        return
    elem = ds[tag]
    values = elem.value if isinstance(elem.value, (list, MultiValue)) else [elem.value]
    cleaned = [clean_text(str(v or "")) for v in values]
    if vr == "CS":
        cleaned = [c.upper().replace(" ", "_")[:16] for c in cleaned]
    ds[tag] = DataElement(tag, vr, cleaned if len(cleaned) > 1 else cleaned[0])


def _shift(text: str, vr: str, days: int) -> str | None:
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


def deidentify_dataset(
    ds: Dataset, settings: Settings, *, log: bool = False
) -> Outcome:
    """De-identify ``ds`` in place (file meta and preamble included).

    Returns what was done (:class:`Outcome`). ``outcome.refused`` is set, and
    ``ds`` left unchanged, when its pixels probably carry burned-in text and
    ``settings.allow_burned_in`` is false.
    """
    outcome = Outcome(log=[] if log else None)
    reason = burned_in_reason(ds)
    if reason and not settings.allow_burned_in:
        outcome.refused = (
            f"{reason}; dicomkit does not clean pixels: check them, then pass "
            "allow_burned_in=True to copy it"
        )
        return outcome
    if reason:
        outcome.findings.append(
            (
                "warning",
                "BurnedInAnnotation",
                f"{reason}; copied as asked "
                "(allow_burned_in=True): the pixels may still show identifying text",
            )
        )
    patient_id = str(ds.get("PatientID", "") or "").strip("\0 ")
    outcome.patient_id = patient_id
    outcome.new_patient_id = pseudonym(patient_id, settings.key)
    options = settings.options
    if "retain_longitudinal_modified_dates" in options:
        outcome.offset_days = date_offset(patient_id, settings.key)
    meta = getattr(ds, "file_meta", None)
    old_media = str(meta.get("MediaStorageSOPInstanceUID", "") or "") if meta else ""
    sop_class = str(ds.get("SOPClassUID", "") or "").strip("\0 ")
    ctx = _Context(settings, outcome, sop_class)
    ctx.manufacturer = str(ds.get("Manufacturer", "") or "")
    _clean(ds, ctx, 0, "")
    retain_uids = "retain_uids" in options
    if old_media.strip("\0 ") and not retain_uids:
        ctx.uid(old_media)
    ds.PatientID = outcome.new_patient_id
    ds.PatientName = outcome.new_patient_id
    ds.PatientIdentityRemoved = "YES"
    chosen = ("basic", *options)
    ds.DeidentificationMethod = [
        "PS3.15 Basic Profile (dicomkit)",
        *[CODES[o][1][:64] for o in options],
    ]
    items = []
    for name in chosen:
        item = Dataset()
        item.CodeValue, item.CodeMeaning = CODES[name]
        item.CodingSchemeDesignator = "DCM"
        items.append(item)
    ds.DeidentificationMethodCodeSequence = Sequence(items)
    if "retain_longitudinal_full_dates" in options:
        ds.LongitudinalTemporalInformationModified = "UNMODIFIED"
    elif outcome.offset_days is not None:
        ds.LongitudinalTemporalInformationModified = "MODIFIED"
    else:
        ds.LongitudinalTemporalInformationModified = "REMOVED"
    new_meta = FileMetaDataset()
    if meta is not None and "TransferSyntaxUID" in meta:
        new_meta.TransferSyntaxUID = meta.TransferSyntaxUID
    if "SOPClassUID" in ds:
        new_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    if "SOPInstanceUID" in ds:
        new_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta = new_meta
    ds.preamble = b"\0" * 128
    return outcome
