"""Split and merge series, as plans: frames that say which instance goes where, and why.

Pure: frames in, frames out; nothing is read or written. A plan has one row per
instance that changes series:

``SOPInstanceUID``, ``path``          the source instance
``source_series_uid``                 its SeriesInstanceUID now
``group``, ``group_key``              the new group it joins, and the full values of
                                      the criteria that define that group
``reason``                            why the groups were separated or joined
``new_series_uid``, ``new_sop_uid``   its new UIDs (deterministic from ``key``)
``SeriesNumber``, ``SeriesDescription`` the new series' number and description
``volume``                            its volume in a 4-D repeat (``repeats="4d"``)
plus, for merges across studies, the harmonised patient and study attributes.

One module per job: :mod:`~dicomkit.ops.split` (split plans),
:mod:`~dicomkit.ops.merge` (merge plans), :mod:`~dicomkit.ops.suggest` (merge
suggestions); the criteria they share, and the plan schema, are in
:mod:`dicomkit.ops._common`. Splitting follows the tiers of
``split-verify-rules.md`` (identity → incompatible geometry → MR acquisition keys →
opt-ins), always splits a localizer off, and never splits CT on dose or per-slice
times. A merge is allowed only where a split would not separate the result again.
"""

from __future__ import annotations

from dicomkit.exceptions import MergeError
from dicomkit.ops._common import CRITERIA, PLAN_SCHEMA, Repeats, auto_criteria
from dicomkit.ops.merge import disagreements, merge_plan
from dicomkit.ops.split import repeat_axis, split_plan
from dicomkit.ops.suggest import suggest_merges

__all__ = [
    "CRITERIA",
    "PLAN_SCHEMA",
    "MergeError",
    "Repeats",
    "auto_criteria",
    "disagreements",
    "merge_plan",
    "repeat_axis",
    "split_plan",
    "suggest_merges",
]
