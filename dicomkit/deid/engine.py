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
>>> from dicomkit.uid import derive
>>> ds.StudyInstanceUID == derive("1.2.3.4", settings.key)
True

This module walks and acts; the decisions are :mod:`dicomkit.deid.decide`'s,
the keyed values :mod:`dicomkit.deid.keyed`'s, text cleaning
:mod:`dicomkit.deid.text`'s, the safe private list :mod:`dicomkit.deid.private`'s
and the burned-in rule :mod:`dicomkit.deid.burned`'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydicom.config import IGNORE
from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from dicomkit.deid.burned import (
    BURNED_IN_MODALITIES,
    BURNED_IN_SOP_CLASSES,
    burned_in_reason,
    burned_in_reason_of,
)
from dicomkit.deid.decide import (
    NUMERIC_VRS,
    SAFE_CREATOR,
    SAFE_ELEMENT,
    SAFE_SEQUENCE,
    UNSAFE,
    decide,
    vr_of,
)
from dicomkit.deid.keyed import (
    date_offset,
    is_well_known,
    new_uid,
    pseudonym,
    shift_date,
)
from dicomkit.deid.private import safe_private_tags
from dicomkit.deid.table import CODES, check_options
from dicomkit.deid.text import VOCABULARY, clean_text
from dicomkit.exceptions import DeidentificationError

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


def _clean(ds: Dataset, ctx: _Context, depth: int, where: str) -> None:
    nested = depth > 0
    safe: frozenset[int] | None = None  # the private tags kept, found when needed
    for tag, elem in list(ds._dict.items()):
        vr = vr_of(elem, int(tag))
        decision = decide(int(tag), vr, ctx.options, ctx.sop_class, nested=nested)
        if decision.action == "private":
            if safe is None:
                safe = safe_private_tags(ds, ctx.manufacturer)
            if tag not in safe:
                decision = UNSAFE
            elif tag & 0xFF00 == 0:
                decision = SAFE_CREATOR
            else:
                decision = SAFE_SEQUENCE if vr == "SQ" else SAFE_ELEMENT
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
            new = shift_date(text, vr, ctx.outcome.offset_days) if text else ""
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
    if vr in NUMERIC_VRS:
        return
    elem = ds[tag]
    values = elem.value if isinstance(elem.value, (list, MultiValue)) else [elem.value]
    cleaned = [clean_text(str(v or "")) for v in values]
    if vr == "CS":
        cleaned = [c.upper().replace(" ", "_")[:16] for c in cleaned]
    ds[tag] = DataElement(tag, vr, cleaned if len(cleaned) > 1 else cleaned[0])


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
