"""De-identification (PS3.15 Annex E) as pure logic: the table, the decisions,
and what happens to each element of a pydicom Dataset. No disk: files are read
and written by :mod:`dicomkit.io.deid_write`, driven by
:class:`dicomkit.deid.plan.DeidentifyPlan` (``col.deidentify(...)``).
"""

from dicomkit.deid.engine import (
    Outcome,
    Settings,
    date_offset,
    deidentify_dataset,
    new_uid,
    pseudonym,
)
from dicomkit.deid.table import CODES, OPTIONS, Rule, load_rules

__all__ = [
    "CODES",
    "OPTIONS",
    "Outcome",
    "Rule",
    "Settings",
    "date_offset",
    "deidentify_dataset",
    "load_rules",
    "new_uid",
    "pseudonym",
]
