"""Consistency checks: one patient per study, one study per series, one format per series."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from dicomkit.schema import PATIENT_ATTRIBUTES, PIXEL_FORMAT, STUDY_ATTRIBUTES
from dicomkit.verify._common import finding, shown


def _normalise_name(name: pl.Expr) -> pl.Expr:
    """PN comparison: ignore trailing spaces and empty trailing '^' components."""
    return name.str.strip_chars(" ").str.strip_chars_end("^= ").str.to_uppercase()


def _varying(instances: pl.DataFrame, key: str, columns: Sequence[str]) -> pl.DataFrame:
    """Per group of ``key``: the distinct values of each column that varies."""
    present = [c for c in columns if c in instances.columns]
    aggs = [pl.col(c).unique().sort(nulls_last=True).alias(c) for c in present]
    return (
        instances.drop_nulls(key).group_by(key).agg([*aggs, pl.col("SOPInstanceUID")])
    )


def consistency_findings(instances: pl.DataFrame) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    # identity across levels
    for key, parent, check in (
        ("SeriesInstanceUID", "StudyInstanceUID", "series_in_multiple_studies"),
        ("StudyInstanceUID", "PatientID", "study_in_multiple_patients"),
    ):
        for row in _varying(instances, key, [parent]).iter_rows(named=True):
            if len(row[parent]) > 1:
                out.append(
                    finding(
                        check,
                        row[key],
                        f"{key} {row[key]} appears under {len(row[parent])} different "
                        f"{parent}s: {shown(row[parent])}. A {key[:-11].lower()} belongs to "
                        f"exactly one; the files need new UIDs or a corrected {parent}.",
                        row["SOPInstanceUID"],
                        float(len(row[parent])),
                    )
                )
    # patient attributes inside a study, and for one PatientID
    normalised = instances.with_columns(
        _normalise_name(pl.col("PatientName")).alias("PatientName")
    )
    for key, level in (("StudyInstanceUID", "study"), ("PatientID", "patient")):
        for row in _varying(normalised, key, PATIENT_ATTRIBUTES).iter_rows(named=True):
            differ = [a for a in PATIENT_ATTRIBUTES if len(row[a]) > 1]
            if differ:
                detail = "; ".join(f"{a}: {shown(row[a])}" for a in differ)
                where = (
                    f"study {row[key]}" if level == "study" else f"PatientID {row[key]}"
                )
                out.append(
                    finding(
                        "patient_mismatch",
                        row[key],
                        f"the patient's {', '.join(differ)} differ inside {where} ({detail}). "
                        "Expected one patient per study; correct the files, or check that "
                        "two patients were not given one ID.",
                        row["SOPInstanceUID"],
                        level=level,
                    )
                )
    for row in _varying(instances, "StudyInstanceUID", STUDY_ATTRIBUTES).iter_rows(
        named=True
    ):
        differ = [a for a in STUDY_ATTRIBUTES if len(row[a]) > 1]
        if differ:
            detail = "; ".join(f"{a}: {shown(row[a])}" for a in differ)
            out.append(
                finding(
                    "study_attribute_mismatch",
                    row["StudyInstanceUID"],
                    f"study attributes differ inside study {row['StudyInstanceUID']} "
                    f"({detail}); they should be identical in every instance of a study.",
                    row["SOPInstanceUID"],
                )
            )
    # inside a series
    columns = ["Modality", "FrameOfReferenceUID", *PIXEL_FORMAT]
    for row in _varying(instances, "SeriesInstanceUID", columns).iter_rows(named=True):
        uid, sops = row["SeriesInstanceUID"], row["SOPInstanceUID"]
        if len(row["Modality"]) > 1:
            out.append(
                finding(
                    "mixed_modality",
                    uid,
                    f"series {uid} mixes modalities {shown(row['Modality'])}; split it "
                    "(col.split_series(uid)).",
                    sops,
                )
            )
        frames_of_reference = [f for f in row["FrameOfReferenceUID"] if f is not None]
        if len(frames_of_reference) > 1:
            each_own = len(frames_of_reference) == len(sops)
            out.append(
                finding(
                    "mixed_frame_of_reference",
                    uid,
                    f"series {uid} has {len(frames_of_reference)} FrameOfReferenceUIDs"
                    + (
                        " — one per instance, which some scanners write; positions are then "
                        "not comparable across instances"
                        if each_own
                        else f": {shown(frames_of_reference)}; expected one per series"
                    ),
                    sops,
                    float(len(frames_of_reference)),
                    severity="warning" if each_own else None,
                )
            )
        differ = [c for c in PIXEL_FORMAT if c in row and len(row[c]) > 1]
        if differ:
            detail = "; ".join(f"{c}: {shown(row[c])}" for c in differ)
            out.append(
                finding(
                    "mixed_pixel_format",
                    uid,
                    f"series {uid} mixes pixel formats ({detail}), so it cannot be stacked "
                    "into one array; split it by these attributes.",
                    sops,
                )
            )
    return out
