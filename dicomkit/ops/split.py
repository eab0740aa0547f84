"""Split series, as plans: which instance goes to which new series, and why.

A split group is one combination of the **full values** of the criteria (see
:mod:`dicomkit.ops._common`): two instances share a new series only when every
criterion agrees, and the new SeriesInstanceUID is derived from the source UID and
that full key, so different groups never share a UID. SeriesNumber and
SeriesDescription differ per group; the description carries a short label for
people, which never decides anything.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import polars as pl

from dicomkit import geometry
from dicomkit.ops._common import (
    PLAN_SCHEMA,
    PREFIX,
    Repeats,
    auto_criteria,
    criterion_columns,
    differences,
    first,
    plane,
    spatial_order,
)
from dicomkit.schema import FRAME_AXIS_KEYS, PIXEL_FORMAT
from dicomkit.uid import derive

__all__ = ["repeat_axis", "split_plan"]

_VOLUME = "_volume"
_AXIS = "_axis"
_ROW = "_row"


def split_plan(
    instances: pl.DataFrame,
    series_uid: str | None = None,
    *,
    by: str | Sequence[str] = "auto",
    repeats: Repeats = "split",
    key: str,
) -> pl.DataFrame:
    """Plan the split of one series (or of every series when ``series_uid`` is None).

    The plan has one row per instance: ``SOPInstanceUID``, ``path``,
    ``source_series_uid``; ``group`` (0 = the largest) and ``group_key`` (the full
    criterion values of the group); ``reason``; ``new_series_uid`` and
    ``new_sop_uid``; the new ``SeriesNumber`` (source × 100 + group + 1) and
    ``SeriesDescription`` (source ``[label]``); ``volume`` (with ``repeats="4d"``)
    and, when the series is split, ``InstanceNumber`` renumbered along the normal.

    Parameters
    ----------
    by
        ``"auto"`` applies the default tiers (:func:`dicomkit.ops.auto_criteria`):
        SOPClassUID and Modality; pixel format (every attribute of
        :data:`dicomkit.schema.PIXEL_FORMAT`), orientation (tolerance 1e-4),
        PixelSpacing (rtol 1e-4) and FrameOfReferenceUID; a localizer (ImageType
        LOCALIZER) always; and, for MR only, the normalised ImageType, EchoNumbers
        and SeriesNumber. Or a list of keywords and criteria (``"orientation"``,
        ``"pixel_format"``, ``"pixel_spacing"``, ``"image_type"``,
        ``"localizer"``).
    repeats
        ``"4d"`` keeps a clean repeat of positions (every position the same number
        of times, told apart by one of :data:`dicomkit.schema.FRAME_AXIS_KEYS`:
        echo, time, b-value, acquisition …) in one group and numbers its volumes
        in ``volume`` (1, 2, … in the order of the repeat value) instead of
        splitting it.
    key
        Secret from which the new UIDs are derived (same key, same UIDs).
    """
    if series_uid is not None:
        chosen = instances.filter(pl.col("SeriesInstanceUID") == series_uid)
    else:
        chosen = instances.filter(pl.col("SeriesInstanceUID").is_not_null())
    parts: list[pl.DataFrame] = []
    for (uid,), series in chosen.group_by("SeriesInstanceUID", maintain_order=True):
        planned = _split_one(str(uid), series, by, repeats, key)
        splits = planned is not None and (
            planned["group"].n_unique() > 1 or planned["volume"].is_not_null().any()
        )
        if planned is not None and (series_uid is not None or splits):
            parts.append(planned)
    if not parts:
        return pl.DataFrame(schema=PLAN_SCHEMA)
    return pl.concat(parts, how="diagonal_relaxed")


def _split_one(
    uid: str, series: pl.DataFrame, by: str | Sequence[str], repeats: Repeats, key: str
) -> pl.DataFrame | None:
    if by == "auto" and series.height < 2:
        return None
    if by == "auto":
        criteria = auto_criteria(first(series["Modality"]))
        if _own_frames_of_reference(series):
            # some scanners give every instance its own; verify warns, and a split
            # into single images would help nobody
            criteria.remove("FrameOfReferenceUID")
    else:
        criteria = [by] if isinstance(by, str) else list(by)
    columns = criterion_columns(series, criteria)
    keyed = series.with_columns(
        *columns,
        pl.lit(None, pl.Int64).alias(_VOLUME),
        pl.lit(None, pl.Utf8).alias(_AXIS),
    )
    names = [c.name for c in columns]
    if repeats == "4d":
        keyed = _fold_repeats(keyed, names)
    names = [n for n in names if keyed[n].n_unique() > 1]
    groups = _groups(keyed, names)
    n_groups = groups.height
    reasons = differences(keyed, names)
    axes = keyed[_AXIS].drop_nulls().unique().sort().to_list()
    if axes:
        kept = int(keyed.select(pl.col(_VOLUME).max()).item())
        reasons.append(
            f"a clean repeat of every position, told apart by {', '.join(axes)}, "
            f"kept together as {kept} volume{'s' if kept != 1 else ''} (repeats='4d')"
        )
    reason = "; ".join(reasons) or "nothing separates these instances: one group"
    number = first(series["SeriesNumber"], 0)
    description = first(series["SeriesDescription"], "")
    info: dict[str, dict[str, Any]] = {}
    labels = _labels(groups, keyed, names)
    for index, (row, label) in enumerate(
        zip(groups.iter_rows(named=True), labels, strict=True)
    ):
        full = "; ".join(f"{n[len(PREFIX) :]}={row[n]}" for n in names) or "all"
        # the UID comes from an unambiguous encoding of the values (text that
        # contains "; " or "None" cannot make two keys look alike)
        encoded = _encode(row, names)
        split = n_groups > 1
        info[encoded] = {
            "group": index,
            "group_key": full,
            "new_series_uid": derive(f"{uid}#{encoded}", key) if split else uid,
            "SeriesNumber": number * 100 + index + 1 if split else number,
            "SeriesDescription": _description(description, label)
            if split
            else description,
        }
    rows: list[dict[str, Any]] = []
    for row in keyed.iter_rows(named=True):
        group = info[_encode(row, names)]
        new_series = group["new_series_uid"]
        rows.append(
            {
                "SOPInstanceUID": row["SOPInstanceUID"],
                "path": row["path"],
                "source_series_uid": uid,
                "reason": reason,
                "new_sop_uid": derive(f"{row['SOPInstanceUID']}#{new_series}", key)
                if n_groups > 1
                else row["SOPInstanceUID"],
                "volume": row[_VOLUME],
                **group,
            }
        )
    plan = pl.DataFrame(rows, schema=PLAN_SCHEMA)
    if n_groups == 1:
        return plan
    return _renumber(plan, series)


def _encode(row: dict[str, Any], names: list[str]) -> str:
    """A group's values as text no other values give (NaN and None included)."""
    return json.dumps([[n, row[n]] for n in names], default=str)


def _own_frames_of_reference(series: pl.DataFrame) -> bool:
    """Every instance has a FrameOfReferenceUID of its own (verify's warning case)."""
    frames = series["FrameOfReferenceUID"].drop_nulls()
    return series.height > 1 and frames.n_unique() == series.height


def _groups(keyed: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    """One row per group: its key values, size and a representative instance;
    the largest group first, then by key values (echo 1 before echo 2)."""
    shown = [
        "ImageOrientationPatient",
        *[c for c in PIXEL_FORMAT if c in keyed.columns],
    ]
    if not names:
        return keyed.select(pl.len().alias("_n"), *[pl.col(c).first() for c in shown])
    # orientations in the order met (their keys are direction cosines), the rest
    # by value
    order = [pl.col(_ROW) if n == PREFIX + "orientation" else pl.col(n) for n in names]
    return (
        keyed.with_row_index(_ROW)
        .group_by(names, maintain_order=True)
        .agg(
            pl.len().alias("_n"),
            pl.col(_ROW).min(),
            *[pl.col(c).first() for c in shown],
        )
        .sort(
            [pl.col("_n"), *order],
            descending=[True] + [False] * len(names),
            nulls_last=True,
            maintain_order=True,
        )
        .drop(_ROW)
    )


def _labels(groups: pl.DataFrame, keyed: pl.DataFrame, names: list[str]) -> list[str]:
    """A short label per group for SeriesDescription, different for every group."""
    main = groups.row(0, named=True)["ImageOrientationPatient"]
    formats = [
        c
        for c in PIXEL_FORMAT
        if PREFIX + "pixel_format" in names and c in keyed.columns
        if keyed[c].n_unique() > 1
    ]
    labels = []
    for row in groups.iter_rows(named=True):
        parts = []
        # the localizer first: it is what a reader looks for
        for name in sorted(names, key=lambda n: n != PREFIX + "localizer"):
            criterion, value = name[len(PREFIX) :], row[name]
            if criterion == "localizer":
                parts.append(str(value))
            elif criterion == "orientation":
                parts.append(_orientation_label(row["ImageOrientationPatient"], main))
            elif criterion == "pixel_format":
                parts.append(" ".join(f"{c} {row[c]}" for c in formats))
            elif criterion == "pixel_spacing":
                parts.append(f"spacing {value}")
            else:
                parts.append(f"{criterion}={value}")
        # "\\" separates values in DICOM: a label written into SeriesDescription must not
        labels.append((", ".join(parts).replace("\\", "x") or "all")[:50])
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return unique


def _orientation_label(orientation: Any, main: Any) -> str:
    label = plane(orientation)
    if orientation is None or main is None:
        return label
    angle = geometry.orientation_angle(list(main), list(orientation))
    return f"{label} {angle:.0f}°" if angle >= 0.5 else label


def _description(base: str, label: str) -> str:
    """``base [label]`` within the 64 characters of a LO value, the label kept whole."""
    suffix = f" [{label}]"
    return base[: max(64 - len(suffix), 0)].rstrip() + suffix


def _renumber(plan: pl.DataFrame, series: pl.DataFrame) -> pl.DataFrame:
    """InstanceNumber 1…n inside each new series: by volume, then along the normal."""
    numbers = []
    volumes = plan.select("SOPInstanceUID", pl.col("volume").alias("_v"))
    for _, rows in plan.group_by("group", maintain_order=True):
        members = series.filter(
            pl.col("SOPInstanceUID").is_in(rows["SOPInstanceUID"].implode())
        )
        ordered = (
            spatial_order(members)
            .join(volumes, on="SOPInstanceUID", how="left", maintain_order="left")
            .sort("_v", nulls_last=True, maintain_order=True)["SOPInstanceUID"]
            .to_list()
        )
        numbers += [(sop, i) for i, sop in enumerate(ordered, start=1)]
    renumbered = pl.DataFrame(
        numbers,
        schema={"SOPInstanceUID": pl.Utf8(), "InstanceNumber": pl.Int64()},
        orient="row",
    )
    return plan.join(renumbered, on="SOPInstanceUID", how="left", maintain_order="left")


# -- repeats kept as 4-D --------------------------------------------------------------


def _fold_repeats(keyed: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    """Inside each group of the non-repeat criteria, a clean repeat gets volume
    numbers, and the repeat criteria that only tell its volumes apart stop
    separating them."""
    base = [n for n in names if n[len(PREFIX) :] not in FRAME_AXIS_KEYS]
    repeat_names = [n for n in names if n not in base]
    keyed = keyed.with_row_index(_ROW)
    parts = keyed.partition_by(base, maintain_order=True) if base else [keyed]
    out = []
    for part in parts:
        axis = repeat_axis(part)
        if axis is None:
            out.append(part)
            continue
        keyword, values = axis
        volume = values.rank("dense").cast(pl.Int64)
        part = part.with_columns(
            volume.alias(_VOLUME), pl.lit(keyword, pl.Utf8).alias(_AXIS)
        )
        # a repeat criterion constant inside each volume only tells volumes apart
        folded = [
            n
            for n in repeat_names
            if part.group_by(_VOLUME).agg(pl.col(n).n_unique())[n].max() == 1
        ]
        out.append(part.with_columns(pl.col(n).first().alias(n) for n in folded))
    return pl.concat(out, how="vertical_relaxed").sort(_ROW).drop(_ROW)


def repeat_axis(frame: pl.DataFrame) -> tuple[str, pl.Series] | None:
    """The attribute a clean repeat of positions is told apart by, and its values.

    A clean repeat: every position along the normal holds the same number R ≥ 2
    of images, and one of :data:`dicomkit.geometry.REPEAT_KEYS` (tried in
    order) takes the same R distinct values at every position:
    :func:`dicomkit.geometry.repeat_axis`, verify's and the volume's rule for a
    ``duplicate_position`` that is 4-D data. Multi-valued attributes (EchoNumbers
    is a list) count as their single value.

    Returns
    -------
    (keyword, values) or None
        ``values`` is one sortable value per row of ``frame``.
    """
    if (
        frame.height < 2
        or not frame.select(
            (pl.col("ImagePositionPatient").list.len() == 3).fill_null(False).all()
            & (pl.col("ImageOrientationPatient").list.len() == 6).fill_null(False).all()
        ).item()
    ):
        return None
    orientation = frame["ImageOrientationPatient"][0].to_list()
    analysis = geometry.analyse_positions(
        frame["ImagePositionPatient"].to_list(), orientation
    )
    if analysis.repeats is None:
        return None
    # the rule verify and the volume use: geometry.repeat_axis
    columns = [k for k in geometry.REPEAT_KEYS if k in frame.columns]
    found = geometry.repeat_axis(
        analysis.groups, geometry.repeat_candidates(frame.select(columns).to_dicts())
    )
    if found is None:
        return None
    return found[0], _scalar(frame[found[0]])


def _scalar(column: pl.Series) -> pl.Series:
    """A list column as its single value per row (joined text when several)."""
    if not isinstance(column.dtype, pl.List):
        return column
    single: pl.Series = column.list.first()
    if (column.list.len().fill_null(1) == 1).all():
        return single
    joined: pl.Series = column.cast(pl.List(pl.Utf8)).list.join("\\")
    return joined
