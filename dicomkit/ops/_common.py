"""What split, merge and merge suggestions share: the plan schema and the criteria.

A *criterion* is one thing that can separate the instances of a series: a keyword
(``"EchoNumbers"``) or a named criterion (``"orientation"``, ``"pixel_format"``,
``"pixel_spacing"``, ``"image_type"``, ``"localizer"``). :func:`criterion_columns`
gives each criterion's **full value** per instance, never a display label: the
orientation cluster's own direction cosines, every pixel-format attribute, the
spacing, the repeat value. A split group is one combination of these values; a
merge is allowed only when they agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import polars as pl

from dicomkit import geometry, text
from dicomkit.schema import PIXEL_FORMAT
from dicomkit.text import clip

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

#: The column prefix of a criterion's values in a keyed frame.
PREFIX = "by:"


def auto_criteria(modality: str | None) -> list[str]:
    """The criteria of ``by="auto"`` for a series of ``modality``.

    Identity (SOPClassUID, Modality), what cannot form one volume (pixel format,
    orientation, pixel spacing, frame of reference), a localizer always, and for
    MR only the acquisition keys (image type, echo, series number): CT is never
    split on dose or per-slice times.

    >>> auto_criteria("CT")[-1], auto_criteria("MR")[-1]
    ('localizer', 'SeriesNumber')
    """
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
    return by


def criterion_columns(frame: pl.DataFrame, by: Sequence[str]) -> list[pl.Series]:
    """One column per criterion that takes more than one value in ``frame``.

    Each column is named ``by:<criterion>`` and holds the criterion's full value
    per instance (lists joined with ``\\``; an orientation as the direction
    cosines of its cluster, ``"none"`` when missing).

    Raises
    ------
    ValueError
        ``by`` names neither a column of ``frame`` nor one of :data:`CRITERIA`.
    """
    out: dict[str, pl.Series] = {}
    for criterion in by:
        name = PREFIX + criterion
        if criterion == "orientation":
            out[name] = pl.Series(
                name, orientation_keys(frame["ImageOrientationPatient"].to_list())
            )
        elif criterion == "pixel_format":
            present = [c for c in PIXEL_FORMAT if c in frame.columns]
            out[name] = (
                frame.select(
                    pl.concat_str(
                        [pl.col(c).cast(pl.Utf8).fill_null("?") for c in present],
                        separator="/",
                    )
                )
                .to_series()
                .alias(name)
            )
        elif criterion == "pixel_spacing":
            out[name] = (
                frame.select(
                    pl.col("PixelSpacing")
                    .list.eval(pl.element().round_sig_figs(4))
                    .cast(pl.List(pl.Utf8))
                    .list.join("\\")
                )
                .to_series()
                .alias(name)
            )
        elif criterion in ("image_type", "localizer"):
            out[name] = frame.select(_image_type(criterion)).to_series().alias(name)
        elif criterion in frame.columns:
            column = frame[criterion]
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


def orientation_keys(orientations: Sequence[Sequence[float] | None]) -> list[str]:
    """Each orientation as the exact direction cosines of one member of its cluster.

    Orientations within :data:`dicomkit.geometry.ORIENTATION_TOL` of each other
    share a key; clusters further apart always get different keys. The member is
    the smallest, so the key does not depend on the order of the rows.
    """
    labels = geometry.cluster_orientations(orientations)
    members: dict[int, tuple[float, ...]] = {}
    for label, value in zip(labels, orientations, strict=True):
        if label >= 0 and value is not None:
            cosines = tuple(float(v) for v in value)
            members[label] = min(members.get(label, cosines), cosines)
    centre = {k: ",".join(repr(v) for v in m) for k, m in members.items()}
    return [centre.get(label, "none") for label in labels]


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


def plane(orientation: Sequence[float] | None) -> str:
    """``axial``, ``coronal`` or ``sagittal`` (``(oblique)`` when tilted), for display."""
    if orientation is None:
        return "no orientation"
    n = geometry.normal(orientation)
    axis = max(range(3), key=lambda i: abs(float(n[i])))  # argmax, any numpy stubs
    return ("sagittal", "coronal", "axial")[axis] + (
        " (oblique)" if abs(n[axis]) < 0.99 else ""
    )


def differences(keyed: pl.DataFrame, names: Sequence[str]) -> list[str]:
    """One phrase per criterion column that varies: what differs, and its values."""
    parts = []
    for name in names:
        criterion = name[len(PREFIX) :]
        values = keyed[name].unique().to_list()
        if criterion == "orientation":
            planes = sorted(
                {plane(o) for o in keyed["ImageOrientationPatient"].to_list()}
            )
            parts.append(
                f"orientation differs ({len(values)} orientations: {', '.join(planes)})"
                if len(values) > len(planes)
                else f"orientation differs ({', '.join(planes)})"
            )
        elif criterion == "localizer":
            parts.append("a localizer (ImageType LOCALIZER) is filed with the images")
        elif criterion == "pixel_format":
            varying = [
                f"{c} {'/'.join(clip(str(v)) for v in sorted(keyed[c].unique().to_list(), key=str))}"
                for c in PIXEL_FORMAT
                if c in keyed.columns and keyed[c].n_unique() > 1
            ]
            parts.append(f"pixel format differs ({', '.join(varying)})")
        else:
            shown = ", ".join(clip(str(v)) for v in sorted(values, key=str)[:6])
            parts.append(f"{criterion} takes {len(values)} values ({shown})")
    return parts


def series_label(frame: pl.DataFrame, uid: str) -> str:
    """``#<SeriesNumber> <SeriesDescription>`` of one series, for messages.

    :func:`dicomkit.text.series_label` in its message form, for the series ``uid``
    of an instance-level ``frame``.
    """
    row = frame.filter(pl.col("SeriesInstanceUID") == uid).row(0, named=True)
    return text.series_label(row, form="message")


def spatial_order(frame: pl.DataFrame) -> pl.DataFrame:
    """Instances along the normal of the first orientation (else by series, number).

    :func:`dicomkit.geometry.slice_order`, the one order along the normal; ties
    (and everything, when an instance has no position) by SeriesNumber,
    InstanceNumber and SOPInstanceUID.
    """
    fallback = frame.sort(
        "SeriesNumber", "InstanceNumber", "SOPInstanceUID", nulls_last=True
    )
    orientations = fallback["ImageOrientationPatient"].drop_nulls()
    if orientations.len() == 0 or fallback["ImagePositionPatient"].null_count():
        return fallback
    order = geometry.slice_order(
        fallback["ImagePositionPatient"].to_list(), orientations[0].to_list()
    )
    return fallback[order]


def first(values: pl.Series, default: Any = "") -> Any:
    """The first non-null value of a column, else ``default``."""
    present = values.drop_nulls()
    return present[0] if present.len() else default
