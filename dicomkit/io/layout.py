"""Where a written file goes: one safe path per instance, from untrusted values.

The values naming a file (PatientID, descriptions, UIDs) come from DICOM files:
each becomes one sanitised path component (:func:`component`: ASCII, at most 64
characters, never ``..`` nor a Windows device name), names taken twice get
``_2``, ``_3`` … (:func:`unique_target`, case-insensitively), and the resolved
target is checked to lie inside the destination (:func:`check_inside`)::

    <PatientID>/<StudyDate>_<StudyDescription or StudyInstanceUID tail>/
        <SeriesNumber>_<SeriesDescription>/<InstanceNumber:05d>_<SOPInstanceUID>.dcm

Used by :func:`dicomkit.io.write.write_instances` and the NIfTI export.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from pydicom.multival import MultiValue

from dicomkit.io.walk import os_path

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = [
    "check_inside",
    "clean",
    "component",
    "identity",
    "layout",
    "unique_target",
    "value_text",
]

_LIMIT = 64  # characters per path component
_SAFE = re.compile(r"[^A-Za-z0-9._+-]+")
_RESERVED = frozenset({"CON", "PRN", "AUX", "NUL"} | {f"COM{n}" for n in range(10)})
_RESERVED |= {f"LPT{n}" for n in range(10)}


def layout(ds: Dataset, source: str) -> tuple[list[str], str, str]:
    """The three folders and the file stem for ``ds``, and its SOPInstanceUID."""
    sop_uid = value_text(ds, "SOPInstanceUID")
    if not sop_uid:
        msg = f"the source file {source} has no SOPInstanceUID and the plan sets none"
        raise ValueError(msg)
    label = (
        value_text(ds, "StudyDescription")
        or clean(value_text(ds, "StudyInstanceUID"))[-12:]
    )
    study = f"{value_text(ds, 'StudyDate') or 'nodate'}_{label}"
    series = f"{value_text(ds, 'SeriesNumber')}_{value_text(ds, 'SeriesDescription')}"
    number = value_text(ds, "InstanceNumber")
    try:
        number = f"{int(number or 0):05d}"
    except ValueError:
        number = component(number, "00000")[:20]
    room = _LIMIT - len(".dcm") - len(number) - 1  # keep the UID's distinctive tail
    uid = clean(sop_uid)[-room:].lstrip("._-") or "unknown"
    patient = component(value_text(ds, "PatientID"))
    folders = [patient, component(study), component(series)]
    return folders, f"{number}_{uid}", sop_uid


def value_text(ds: Dataset, keyword: str) -> str:
    """``ds``'s value of ``keyword`` as text (values joined by ``_``); "" when absent
    or undecodable."""
    try:
        value = ds.get(keyword)
    except Exception:  # noqa: BLE001 - an undecodable value names no folder
        return ""
    if isinstance(value, (list, MultiValue)):
        return "_".join(str(item) for item in value).strip("\0 ")
    return "" if value is None else str(value).strip("\0 ")


def clean(text: str) -> str:
    """Each run of characters other than ``A-Z a-z 0-9 . _ + -`` becomes one ``_``."""
    return re.sub(r"__+", "_", _SAFE.sub("_", text)).strip("._-")


def component(text: str, fallback: str = "unknown") -> str:
    """``text`` as one path component: non-empty, at most 64 characters, safe.

    ASCII only (the same bytes on every file system), never ``.`` or ``..``, no
    leading or trailing ``.``, ``_`` or ``-``, and never a Windows device name
    (``CON`` becomes ``CON_``, ``nul.x`` becomes ``nul_.x``).
    """
    name = clean(text)[: _LIMIT - 1].strip("._-") or fallback
    stem, dot, rest = name.partition(".")
    return f"{stem}_{dot}{rest}" if stem.upper() in _RESERVED else name


def unique_target(top: str, folders: list[str], stem: str, taken: set[str]) -> str:
    """The target path, with ``_2``, ``_3`` … added to a name already taken."""
    n = 1
    while True:
        suffix = f"_{n}" if n > 1 else ""
        name = f"{stem[: _LIMIT - len(suffix) - len('.dcm')]}{suffix}.dcm"
        target = os.path.join(top, *folders, name)
        key = os.path.normcase(target).casefold()  # as on case-insensitive disks
        if key not in taken:
            taken.add(key)
            return target
        n += 1


def check_inside(top: str, target: str) -> None:
    """Defence in depth: the resolved target lies inside the resolved ``dest``."""
    real_top, real = os.path.realpath(top), os.path.realpath(target)
    if os.path.commonpath([real_top, real]) != real_top or real == real_top:
        msg = f"refusing to write {target}: it resolves to {real}, outside {real_top}"
        raise ValueError(msg)


def identity(path: str) -> tuple[int, int] | str:
    """What tells a file apart whatever its name: ``(device, inode)``, else its
    resolved path (for a file that cannot be stat'ed)."""
    try:
        st = os.stat(os_path(path))
    except OSError:
        return os.path.realpath(path)
    return st.st_dev, st.st_ino
