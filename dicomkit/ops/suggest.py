"""Merge suggestions: series that look like one acquisition a vendor split.

Suggested only when the series could be merged: every split criterion agrees
(:func:`dicomkit.ops.merge.disagreements` is empty), so a suggestion can be
passed to ``col.merge_series`` as it is.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from dicomkit import geometry
from dicomkit.ops.merge import disagreements

__all__ = ["suggest_merges"]


def suggest_merges(
    instances: pl.DataFrame, *, max_minutes: float = 10.0
) -> pl.DataFrame:
    """Series that look like one acquisition a vendor split, with the reasons.

    Two series of one study are proposed when they share FrameOfReferenceUID,
    orientation (1e-4), matrix and PixelSpacing, their positions do not collide and
    together form one regular stack, and they are related: equal
    SeriesDescription or ProtocolName, neighbouring SeriesNumbers (or the same
    number modulo 1000, as Siemens XA writes), or SeriesTimes within
    ``max_minutes``. Connected pairs are grouped.

    Returns
    -------
    polars.DataFrame
        ``series_uids`` (list), ``series_numbers`` (list), ``n_instances``,
        ``spacing`` (of the merged stack, mm) and ``reason``.
    """
    summaries = _stack_summaries(instances)
    edges: list[tuple[str, str, str]] = []
    for (study,), group in summaries.group_by("StudyInstanceUID", maintain_order=True):
        rows = list(group.iter_rows(named=True))
        del study
        for i, a in enumerate(rows):
            for b in rows[i + 1 :]:
                why = _why_merge(a, b, max_minutes)
                if why:
                    edges.append((a["SeriesInstanceUID"], b["SeriesInstanceUID"], why))
    out = []
    for component, reasons in _components(edges):
        members = instances.filter(pl.col("SeriesInstanceUID").is_in(component))
        positions = members["ImagePositionPatient"].to_list()
        orientation = members["ImageOrientationPatient"].drop_nulls()[0].to_list()
        stack = geometry.analyse_positions(positions, orientation)
        if stack.duplicates or stack.gaps:
            continue  # the pairs fit, the whole group does not
        if disagreements(members):
            continue  # a split would separate them again: not one series
        numbers = summaries.filter(pl.col("SeriesInstanceUID").is_in(component)).sort(
            "SeriesNumber"
        )
        out.append(
            {
                "series_uids": numbers["SeriesInstanceUID"].to_list(),
                "series_numbers": numbers["SeriesNumber"].to_list(),
                "n_instances": members.height,
                "spacing": stack.spacing,
                "reason": "; ".join(dict.fromkeys(reasons)),
            }
        )
    return pl.DataFrame(
        out,
        schema={
            "series_uids": pl.List(pl.Utf8()),
            "series_numbers": pl.List(pl.Int64()),
            "n_instances": pl.Int64(),
            "spacing": pl.Float64(),
            "reason": pl.Utf8(),
        },
    )


def _stack_summaries(instances: pl.DataFrame) -> pl.DataFrame:
    """One row per series that is a single, placed stack of one orientation."""
    placed = instances.filter(
        pl.col("ImagePositionPatient").is_not_null()
        & pl.col("ImageOrientationPatient").is_not_null()
        & pl.col("SeriesInstanceUID").is_not_null()
    )
    return (
        placed.group_by("SeriesInstanceUID")
        .agg(
            pl.col("StudyInstanceUID").first(),
            pl.col("FrameOfReferenceUID").unique(),
            pl.col("ImageOrientationPatient").unique(),
            pl.col("ImagePositionPatient"),
            pl.col("Rows").first(),
            pl.col("Columns").first(),
            pl.col("PixelSpacing").first(),
            pl.col("SeriesNumber").first(),
            pl.col("SeriesDescription").first(),
            pl.col("ProtocolName").first(),
            pl.col("SeriesTime").first(),
        )
        .filter(
            (pl.col("FrameOfReferenceUID").list.len() == 1)
            & (pl.col("ImageOrientationPatient").list.len() == 1)
            & pl.col("FrameOfReferenceUID").list.first().is_not_null()
        )
        .sort("SeriesNumber", "SeriesInstanceUID", nulls_last=True)
    )


def _why_merge(a: dict[str, Any], b: dict[str, Any], max_minutes: float) -> str | None:
    if a["FrameOfReferenceUID"] != b["FrameOfReferenceUID"]:
        return None
    if (a["Rows"], a["Columns"]) != (b["Rows"], b["Columns"]):
        return None
    spacing_a, spacing_b = a["PixelSpacing"] or [], b["PixelSpacing"] or []
    if len(spacing_a) != len(spacing_b) or any(
        abs(x - y) > 1e-4 * max(abs(x), 1)
        for x, y in zip(spacing_a, spacing_b, strict=True)
    ):
        return None
    iop_a, iop_b = a["ImageOrientationPatient"][0], b["ImageOrientationPatient"][0]
    if (
        max(abs(x - y) for x, y in zip(iop_a, iop_b, strict=True))
        > geometry.ORIENTATION_TOL
    ):
        return None
    own = [geometry.analyse_positions(s["ImagePositionPatient"], iop_a) for s in (a, b)]
    union = geometry.analyse_positions(
        a["ImagePositionPatient"] + b["ImagePositionPatient"], iop_a
    )
    if union.duplicates or union.gaps or union.spacing is None:
        return None
    related = []
    if a["SeriesDescription"] and a["SeriesDescription"] == b["SeriesDescription"]:
        related.append(f"the same SeriesDescription {a['SeriesDescription']!r}")
    elif a["ProtocolName"] and a["ProtocolName"] == b["ProtocolName"]:
        related.append(f"the same ProtocolName {a['ProtocolName']!r}")
    na, nb = a["SeriesNumber"], b["SeriesNumber"]
    if (
        na is not None
        and nb is not None
        and (abs(na - nb) == 1 or (na >= 1000 and na // 1000 == nb // 1000))
    ):
        related.append(f"SeriesNumbers {na} and {nb}")
    if a["SeriesTime"] is not None and b["SeriesTime"] is not None:
        minutes = abs(_seconds(a["SeriesTime"]) - _seconds(b["SeriesTime"])) / 60
        if minutes <= max_minutes:
            related.append(f"SeriesTimes {minutes * 60:.0f} s apart")
    if not related:
        return None
    layout = (
        "interleaved"
        if all(s.spacing is not None and s.spacing > union.spacing * 1.5 for s in own)
        else "adjacent"
    )
    return (
        f"same FrameOfReferenceUID, orientation, matrix and pixel spacing; {layout} positions "
        f"that together form one regular stack at {union.spacing:.2f} mm; "
        + ", ".join(related)
    )


def _seconds(value: dt.time) -> float:
    return (
        value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6
    )


def _components(edges: list[tuple[str, str, str]]) -> list[tuple[list[str], list[str]]]:
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b, _ in edges:
        parent[find(a)] = find(b)
    groups: dict[str, tuple[list[str], list[str]]] = {}
    for a, b, why in edges:
        members, reasons = groups.setdefault(find(a), ([], []))
        for uid in (a, b):
            if uid not in members:
                members.append(uid)
        reasons.append(why)
    return list(groups.values())
