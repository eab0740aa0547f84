"""Split and merge series, as plans: frames that say which instance goes where, and why.

Pure: frames in, frames out; nothing is read or written. A plan has one row per
instance that changes series:

``SOPInstanceUID``, ``path``          the source instance
``source_series_uid``                 its SeriesInstanceUID now
``group``, ``group_key``              the new group it joins, and that group's key values
``reason``                            why the groups were separated or joined
``new_series_uid``, ``new_sop_uid``   its new UIDs (deterministic from ``key``)
``SeriesNumber``, ``SeriesDescription`` the new series' number and description
plus, for merges across studies, the harmonised patient and study attributes.

Splitting follows the tiers of ``split-verify-rules.md`` (identity → incompatible
geometry → MR acquisition keys → opt-ins), always splits a localizer off, and never
splits CT on dose or per-slice times.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Literal

import polars as pl

from dicomkit import geometry
from dicomkit.exceptions import MergeError
from dicomkit.render import clip
from dicomkit.schema import FRAME_AXIS_KEYS
from dicomkit.uid import derive

__all__ = [
    "PLAN_SCHEMA",
    "MergeError",
    "merge_plan",
    "split_plan",
    "suggest_merges",
]

Repeats = Literal["split", "4d"]

PLAN_SCHEMA: dict[str, pl.DataType] = {
    "SOPInstanceUID": pl.Utf8(),
    "path": pl.Utf8(),
    "source_series_uid": pl.Utf8(),
    "group": pl.Int64(),
    "group_key": pl.Utf8(),
    "reason": pl.Utf8(),
    "new_series_uid": pl.Utf8(),
    "new_sop_uid": pl.Utf8(),
    "SeriesNumber": pl.Int64(),
    "SeriesDescription": pl.Utf8(),
    "volume": pl.Int64(),
}

#: Named criteria usable in ``by=`` besides plain keywords.
CRITERIA = ("orientation", "pixel_format", "pixel_spacing", "image_type", "localizer")
_SERIES_LEVEL = ("SeriesDate", "SeriesTime", "ProtocolName", "BodyPartExamined")
_HARMONISED = (
    "PatientID",
    "PatientName",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyDescription",
    "AccessionNumber",
    "StudyID",
)


# -- split ---------------------------------------------------------------------------


def split_plan(
    instances: pl.DataFrame,
    series_uid: str | None = None,
    *,
    by: str | Sequence[str] = "auto",
    repeats: Repeats = "split",
    key: str,
) -> pl.DataFrame:
    """Plan the split of one series (or of every series when ``series_uid`` is None).

    Parameters
    ----------
    by
        ``"auto"`` applies the default tiers: SOPClassUID and Modality; pixel
        format, orientation (tolerance 1e-4), PixelSpacing (rtol 1e-4) and
        FrameOfReferenceUID; a localizer (ImageType LOCALIZER) always; and, for MR
        only, the normalised ImageType, EchoNumbers and SeriesNumber. Or a list of
        keywords and criteria (``"orientation"``, ``"pixel_format"``,
        ``"pixel_spacing"``, ``"image_type"``, ``"localizer"``).
    repeats
        ``"4d"`` keeps a clean repeat of positions (e.g. echoes, time points) in
        one group and numbers its volumes in ``volume`` instead of splitting it.
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
    return pl.concat(parts, how="vertical_relaxed")


def _split_one(
    uid: str, series: pl.DataFrame, by: str | Sequence[str], repeats: Repeats, key: str
) -> pl.DataFrame | None:
    modality = (series["Modality"].drop_nulls().unique().to_list() or [""])[0]
    if by == "auto" and series.height < 2:
        return None
    if isinstance(by, str):
        if by != "auto":
            by = [by]
        else:
            by = [
                "SOPClassUID",
                "Modality",
                "pixel_format",
                "orientation",
                "pixel_spacing",
                "FrameOfReferenceUID",
                "localizer",
            ]
            if modality == "MR":
                by += ["image_type", "EchoNumbers", "SeriesNumber"]
    columns = _criteria(series, by)
    if repeats == "4d":
        axis = _repeat_axis(series)
        columns = [c for c in columns if c.name != axis]
    keyed = series.with_columns(columns or [pl.lit("all").alias("by:all")])
    names = [c.name for c in columns] or ["by:all"]
    # the largest group first, then by key values: echo 1 before echo 2
    groups = (
        keyed.group_by(names, maintain_order=True)
        .agg(pl.len().alias("_n"))
        .sort(
            [pl.col("_n"), *[pl.col(n).cast(pl.Utf8) for n in names]],
            descending=[True] + [False] * len(names),
            nulls_last=True,
        )
    )
    group_of = {
        tuple(row[n] for n in names): i
        for i, row in enumerate(groups.iter_rows(named=True))
    }
    varying = [n for n in names if keyed[n].n_unique() > 1]
    number = series["SeriesNumber"].drop_nulls().to_list()
    base_number = number[0] if number else 0
    base_desc = (series["SeriesDescription"].drop_nulls().to_list() or [""])[0]
    rows: list[dict[str, Any]] = []
    n_groups = len(group_of)
    for row in keyed.iter_rows(named=True):
        values = tuple(row[n] for n in names)
        group = group_of[values]
        label = _group_label(row, varying)
        new_series = derive(f"{uid}#{label}", key) if n_groups > 1 else uid
        rows.append(
            {
                "SOPInstanceUID": row["SOPInstanceUID"],
                "path": row["path"],
                "source_series_uid": uid,
                "group": group,
                "group_key": label,
                "reason": _split_reason(keyed, varying, n_groups),
                "new_series_uid": new_series,
                "new_sop_uid": derive(f"{row['SOPInstanceUID']}#{new_series}", key)
                if n_groups > 1
                else row["SOPInstanceUID"],
                "SeriesNumber": base_number * 100 + group + 1
                if n_groups > 1
                else base_number,
                "SeriesDescription": _description(base_desc, label)
                if n_groups > 1
                else base_desc,
                "volume": None,
            }
        )
    plan = pl.DataFrame(rows, schema=PLAN_SCHEMA)
    if repeats == "4d":
        plan = _number_volumes(plan, series)
    if n_groups == 1:
        return plan
    return _renumber(plan, series)


def _renumber(plan: pl.DataFrame, series: pl.DataFrame) -> pl.DataFrame:
    """InstanceNumber 1…n inside each new series, along the slice normal."""
    numbers = []
    for (group,), rows in plan.group_by("group", maintain_order=True):
        members = series.filter(
            pl.col("SOPInstanceUID").is_in(rows["SOPInstanceUID"].implode())
        )
        ordered = _spatial_order(members)["SOPInstanceUID"].to_list()
        numbers += [(sop, i) for i, sop in enumerate(ordered, start=1)]
        del group
    renumbered = pl.DataFrame(
        numbers,
        schema={"SOPInstanceUID": pl.Utf8(), "InstanceNumber": pl.Int64()},
        orient="row",
    )
    return plan.join(renumbered, on="SOPInstanceUID", how="left", maintain_order="left")


def _criteria(series: pl.DataFrame, by: Sequence[str]) -> list[pl.Series]:
    """One column per split criterion (named ``by:<criterion>``), in ``by`` order."""
    out: dict[str, pl.Series] = {}
    for criterion in by:
        name = f"by:{criterion}"
        if criterion == "orientation":
            labels = geometry.cluster_orientations(
                series["ImageOrientationPatient"].to_list()
            )
            out[name] = pl.Series(name, labels, dtype=pl.Int64)
        elif criterion == "pixel_format":
            out[name] = (
                series.select(
                    pl.concat_str(
                        [
                            pl.col(c).cast(pl.Utf8).fill_null("?")
                            for c in ("Rows", "Columns", "SamplesPerPixel")
                        ],
                        separator="x",
                    )
                )
                .to_series()
                .alias(name)
            )
        elif criterion == "pixel_spacing":
            out[name] = (
                series.select(
                    pl.col("PixelSpacing")
                    .list.eval(pl.element().round_sig_figs(4))
                    .cast(pl.List(pl.Utf8))
                    .list.join("\\")
                )
                .to_series()
                .alias(name)
            )
        elif criterion in ("image_type", "localizer"):
            out[name] = series.select(_image_type(criterion)).to_series().alias(name)
        elif criterion in series.columns:
            column = series[criterion]
            if isinstance(column.dtype, pl.List):
                column = column.cast(pl.List(pl.Utf8)).list.join("\\")
            out[name] = column.alias(name)
        else:
            msg = (
                f"cannot split by {criterion!r}: not a column of this collection nor one "
                f"of {', '.join(CRITERIA)}; add it with dk.scan(..., keywords=[...])"
            )
            raise ValueError(msg)
    # a criterion that takes one value everywhere separates nothing
    return [s for s in out.values() if s.n_unique() > 1]


def _image_type(criterion: str) -> pl.Expr:
    flags = pl.col("ImageType").fill_null([]).cast(pl.List(pl.Utf8))
    localizer = flags.list.contains("LOCALIZER")
    if criterion == "localizer":
        return pl.when(localizer).then(pl.lit("localizer")).otherwise(pl.lit("image"))
    first = flags.list.first().fill_null("")
    complex_part = (
        pl.when(flags.list.contains("P") | flags.list.contains("PHASE")).then(pl.lit("P"))
        .when(flags.list.contains("R") | flags.list.contains("REAL")).then(pl.lit("R"))
        .when(flags.list.contains("I") | flags.list.contains("IMAGINARY")).then(pl.lit("I"))
        .otherwise(pl.lit("M"))
    )  # fmt: skip
    return pl.concat_str([first, complex_part, localizer.cast(pl.Utf8)], separator="/")


def _group_label(row: dict[str, Any], varying: Sequence[str]) -> str:
    parts = []
    for name in varying:
        criterion = name[3:]
        value = row[name]
        if criterion == "localizer":
            parts.append(str(value))
        elif criterion == "orientation":
            parts.append(_plane(row["ImageOrientationPatient"]))
        else:
            parts.append(f"{criterion}={value}")
    # "\\" separates values in DICOM: a label written into SeriesDescription must not
    return ", ".join(parts).replace("\\", "x") or "all"


def _description(base: str, label: str) -> str:
    """``base [label]`` within the 64 characters of a LO value, the label kept whole."""
    suffix = f" [{label[:50]}]"
    return base[: max(64 - len(suffix), 0)].rstrip() + suffix


def _plane(orientation: Sequence[float] | None) -> str:
    if orientation is None:
        return "no orientation"
    n = geometry.normal(orientation)
    axis = max(range(3), key=lambda i: abs(float(n[i])))  # argmax, any numpy stubs
    return ("sagittal", "coronal", "axial")[axis] + (
        " (oblique)" if abs(n[axis]) < 0.99 else ""
    )


def _split_reason(keyed: pl.DataFrame, varying: Sequence[str], n_groups: int) -> str:
    if n_groups == 1:
        return "nothing separates these instances: one group"
    parts = []
    for name in varying:
        criterion = name[3:]
        values = keyed[name].unique().to_list()
        if criterion == "orientation":
            parts.append(
                f"orientation differs ({', '.join(sorted({_plane(o) for o in keyed['ImageOrientationPatient'].to_list()}))})"
            )
        elif criterion == "localizer":
            parts.append("a localizer (ImageType LOCALIZER) is filed with the images")
        else:
            shown = ", ".join(clip(str(v)) for v in sorted(values, key=str)[:6])
            parts.append(f"{criterion} takes {len(values)} values ({shown})")
    return "; ".join(parts)


def _repeat_axis(series: pl.DataFrame) -> str | None:
    """The criterion column a clean position repeat is told apart by, if any."""
    positions = series.filter(pl.col("ImagePositionPatient").is_not_null())
    if positions.height < 2:
        return None
    counts = (
        positions.group_by(
            pl.col("ImagePositionPatient").cast(pl.List(pl.Utf8)).list.join(",")
        )
        .len()["len"]
        .unique()
    )
    if counts.len() != 1 or counts[0] < 2:
        return None
    repeat = int(counts[0])
    for keyword in FRAME_AXIS_KEYS:
        if (
            keyword in series.columns
            and series[keyword].n_unique() == repeat
            and series[keyword].null_count() == 0
        ):
            return f"by:{keyword}"
    return None


def _number_volumes(plan: pl.DataFrame, series: pl.DataFrame) -> pl.DataFrame:
    axis = _repeat_axis(series)
    if axis is None:
        return plan
    keyword = axis[3:]
    ranks = series.select(
        "SOPInstanceUID",
        pl.col(keyword).cast(pl.Utf8).rank("dense").cast(pl.Int64).alias("volume"),
    )
    return (
        plan.drop("volume")
        .join(ranks, on="SOPInstanceUID", how="left")
        .select(list(PLAN_SCHEMA))
    )


# -- merge ---------------------------------------------------------------------------


def merge_plan(
    instances: pl.DataFrame,
    series_uids: Sequence[str],
    *,
    into: str | None = None,
    allow_cross_study: bool = False,
    key: str,
) -> pl.DataFrame:
    """Plan the merge of several series into one.

    The result has the columns of :data:`PLAN_SCHEMA` (``group`` is 0 for every
    row), ``InstanceNumber`` renumbered along the slice normal, and the patient and
    study attributes of the target series (harmonised when the series come from
    different studies, which must be allowed explicitly).

    Parameters
    ----------
    into
        One of ``series_uids`` whose identity is kept: its SeriesInstanceUID and its
        instances' SOPInstanceUIDs stay; the other instances join it with new
        SOPInstanceUIDs. ``None`` gives the merged series a new UID.
    allow_cross_study
        Merge series of different studies or patients; their patient and study
        attributes are replaced by the target's, and the reason says which.

    Raises
    ------
    MergeError
        Fewer than two series, an unknown UID, or different studies/patients
        without ``allow_cross_study``.
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
    new_series = (
        target_uid
        if into is not None
        else derive("merge#" + "#".join(sorted(uids)), key)
    )
    reason = f"merged {len(uids)} series ({', '.join(_series_label(chosen, u) for u in order)}) into one"
    if harmonised:
        reason += f"; harmonised to the target's values: {', '.join(harmonised)}"
    ordered = _spatial_order(chosen)
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


def _series_label(frame: pl.DataFrame, uid: str) -> str:
    row = frame.filter(pl.col("SeriesInstanceUID") == uid).row(0, named=True)
    return f"#{row['SeriesNumber']} {clip(row['SeriesDescription'])}".strip()


def _spatial_order(frame: pl.DataFrame) -> pl.DataFrame:
    """Instances along the normal of the first orientation (else by series, number)."""
    fallback = frame.sort(
        "SeriesNumber", "InstanceNumber", "SOPInstanceUID", nulls_last=True
    )
    orientations = frame["ImageOrientationPatient"].drop_nulls()
    if orientations.len() == 0 or frame["ImagePositionPatient"].null_count():
        return fallback
    n = geometry.normal(orientations[0].to_list())
    along = [
        float(sum(p * q for p, q in zip(pos, n, strict=False)))
        for pos in frame["ImagePositionPatient"].to_list()
    ]
    return (
        frame.with_columns(pl.Series("_along", along))
        .sort("_along", "SeriesNumber", "InstanceNumber", nulls_last=True)
        .drop("_along")
    )


# -- merge suggestions -------------------------------------------------------------------


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
