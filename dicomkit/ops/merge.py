"""Merge series, as plans: several series become one, only when nothing separates them.

Two series are merged only when every split criterion agrees (the criteria of
``by="auto"`` except SeriesNumber, which a merge replaces): the merged series is
one that :func:`dicomkit.ops.split_plan` would leave whole. Series of different
studies or patients must be allowed explicitly.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from dicomkit.exceptions import MergeError
from dicomkit.ops._common import (
    PLAN_SCHEMA,
    auto_criteria,
    criterion_columns,
    differences,
    first,
    series_label,
    spatial_order,
)
from dicomkit.render import clip
from dicomkit.schema import PATIENT_ATTRIBUTES, STUDY_ATTRIBUTES
from dicomkit.uid import derive

__all__ = ["disagreements", "merge_plan"]

_SERIES_LEVEL = ("SeriesDate", "SeriesTime", "ProtocolName", "BodyPartExamined")
_HARMONISED = (
    "PatientID",
    *PATIENT_ATTRIBUTES,
    "StudyInstanceUID",
    *STUDY_ATTRIBUTES,
)


def disagreements(instances: pl.DataFrame) -> list[str]:
    """What would keep ``instances`` from being one series: one phrase per split
    criterion (of ``by="auto"``, SeriesNumber aside) that takes several values.

    Empty when every criterion agrees.
    """
    criteria = [
        c for c in auto_criteria(first(instances["Modality"])) if c != "SeriesNumber"
    ]
    columns = criterion_columns(instances, criteria)
    return differences(instances.with_columns(columns), [c.name for c in columns])


def merge_plan(
    instances: pl.DataFrame,
    series_uids: Sequence[str],
    *,
    into: str | None = None,
    allow_cross_study: bool = False,
    allow_mixed: bool = False,
    key: str,
) -> pl.DataFrame:
    """Plan the merge of several series into one.

    The result has the columns of :data:`~dicomkit.ops.PLAN_SCHEMA` (``group`` is
    0 for every row), ``InstanceNumber`` renumbered along the slice normal, and the
    patient and study attributes of the target series (harmonised when the series
    come from different studies, which must be allowed explicitly).

    Parameters
    ----------
    into
        One of ``series_uids`` whose identity is kept: its SeriesInstanceUID and its
        instances' SOPInstanceUIDs stay; the other instances join it with new
        SOPInstanceUIDs. ``None`` gives the merged series a new UID.
    allow_cross_study
        Merge series of different studies or patients; their patient and study
        attributes are replaced by the target's, and the reason says which.
    allow_mixed
        Merge series that a split would separate again (different orientation,
        pixel format, pixel spacing, frame of reference, SOP class, modality, a
        localizer; for MR image type or echo). The result is a mixed series that
        ``verify()`` reports; only for a deliberate repair.

    Raises
    ------
    MergeError
        Fewer than two series, an unknown UID, different studies/patients without
        ``allow_cross_study``, or a criterion that differs without ``allow_mixed``.
    """
    uids = list(dict.fromkeys(series_uids))
    if len(uids) < 2:
        msg = f"merging needs at least two series, got {len(uids)}"
        raise MergeError(msg)
    chosen = instances.filter(pl.col("SeriesInstanceUID").is_in(uids))
    unknown = sorted(set(uids) - set(chosen["SeriesInstanceUID"].to_list()))
    if unknown:
        msg = f"no series {', '.join(unknown)} in this collection"
        raise MergeError(msg)
    if into is not None and into not in uids:
        msg = f"into={into!r} must be one of the series being merged"
        raise MergeError(msg)
    order = (
        chosen.group_by("SeriesInstanceUID")
        .agg(pl.col("SeriesNumber").min())
        .sort("SeriesNumber", "SeriesInstanceUID", nulls_last=True)["SeriesInstanceUID"]
        .to_list()
    )
    target_uid = into or order[0]
    target = chosen.filter(pl.col("SeriesInstanceUID") == target_uid).row(0, named=True)
    harmonised = [
        a for a in _HARMONISED if a in chosen.columns and chosen[a].n_unique() > 1
    ]
    # one series has one date, time and protocol: the target's
    series_level = [
        a for a in _SERIES_LEVEL if a in chosen.columns and chosen[a].n_unique() > 1
    ]
    crossing = [a for a in ("PatientID", "StudyInstanceUID") if a in harmonised]
    if crossing and not allow_cross_study:
        words = {"PatientID": "patients", "StudyInstanceUID": "studies"}
        shown = " and ".join(
            f"different {words[c]} ({c}: {', '.join(sorted(clip(str(v)) for v in chosen[c].unique()))})"
            for c in crossing
        )
        msg = (
            f"the series belong to {shown}; merging them would move images between "
            "patients or studies. Pass allow_cross_study=True to merge anyway (the "
            "patient and study attributes of the target series are then written into "
            "every instance)."
        )
        raise MergeError(msg)
    differ = disagreements(chosen)
    if differ and not allow_mixed:
        msg = (
            f"the series {', '.join(series_label(chosen, u) for u in order)} cannot be "
            f"one series: {'; '.join(differ)}. A split would separate them again; merge "
            "only series that agree (see col.suggest_merges()), or pass "
            "allow_mixed=True for a deliberate repair."
        )
        raise MergeError(msg)
    new_series = (
        target_uid
        if into is not None
        else derive("merge#" + "#".join(sorted(uids)), key)
    )
    reason = f"merged {len(uids)} series ({', '.join(series_label(chosen, u) for u in order)}) into one"
    if harmonised:
        reason += f"; harmonised to the target's values: {', '.join(harmonised)}"
    if differ:
        reason += f"; mixed on purpose (allow_mixed=True): {'; '.join(differ)}"
    ordered = spatial_order(chosen)
    rows = []
    for number, row in enumerate(ordered.iter_rows(named=True), start=1):
        keep = into is not None and row["SeriesInstanceUID"] == into
        rows.append(
            {
                "SOPInstanceUID": row["SOPInstanceUID"],
                "path": row["path"],
                "source_series_uid": row["SeriesInstanceUID"],
                "group": 0,
                "group_key": "merged",
                "reason": reason,
                "new_series_uid": new_series,
                "new_sop_uid": row["SOPInstanceUID"]
                if keep
                else derive(f"{row['SOPInstanceUID']}#{new_series}", key),
                "SeriesNumber": target["SeriesNumber"],
                "SeriesDescription": target["SeriesDescription"],
                "volume": None,
                "InstanceNumber": number,
                **{a: target[a] for a in series_level},
                **{a: target[a] for a in harmonised},
            }
        )
    schema = {
        **PLAN_SCHEMA,
        **{a: chosen.schema[a] for a in series_level},
        "InstanceNumber": pl.Int64(),
        **{a: chosen.schema[a] for a in harmonised},
    }
    return pl.DataFrame(rows, schema=schema)
