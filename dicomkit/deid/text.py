"""The C action on text: keep only the words of a closed technical vocabulary
and small numbers, replace every other word by ``X``.

>>> clean_text("CT chest 5mm for Dr Smith")
'CT chest 5mm X X X'
"""

from __future__ import annotations

import re

__all__ = ["VOCABULARY", "clean_text"]

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
