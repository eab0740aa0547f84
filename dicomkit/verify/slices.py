"""Geometry and numbering checks, per series: orientation, positions, spacing, tilt."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import polars as pl

from dicomkit import geometry
from dicomkit.schema import FRAME_AXIS_KEYS
from dicomkit.text import plural
from dicomkit.verify._common import Tolerances, finding, shown

_VOLUME_MODALITIES = frozenset({"CT", "MR", "PT", "NM"})


def geometry_findings(
    instances: pl.DataFrame, frames: pl.DataFrame | None, tol: Tolerances
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    images = instances.filter(
        pl.col("Rows").is_not_null() & pl.col("SeriesInstanceUID").is_not_null()
    )
    for (uid,), series in images.group_by("SeriesInstanceUID", maintain_order=True):
        slices = _slices(series, frames)
        out += list(_check_series(str(uid), series, slices, tol))
    return out


def _slices(series: pl.DataFrame, frames: pl.DataFrame | None) -> pl.DataFrame:
    """One row per 2-D slice: single-frame instances, or the planes (frames, mosaic
    tiles) of the others, whose per-frame values replace the instance's."""
    columns = [
        "SOPInstanceUID",
        "InstanceNumber",
        "ImagePositionPatient",
        "ImageOrientationPatient",
        "ImageType",
        "path",
        *[k for k in FRAME_AXIS_KEYS if k in series.columns],
    ]
    own = series.select([c for c in columns if c in series.columns]).with_columns(
        pl.lit(None, pl.Int64).alias("frame")
    )
    if frames is None or frames.is_empty():
        return own
    planes = frames.filter(
        pl.col("SOPInstanceUID").is_in(series["SOPInstanceUID"].implode())
    )
    if planes.is_empty():
        return own
    instance = own.drop("ImagePositionPatient", "ImageOrientationPatient", "frame")
    expanded = planes.join(instance, on="SOPInstanceUID", how="inner", suffix="_own")
    for key in [c for c in expanded.columns if c.endswith("_own")]:
        name = key.removesuffix("_own")
        expanded = expanded.with_columns(
            pl.coalesce(pl.col(name), pl.col(key).cast(expanded.schema[name])).alias(
                name
            )
        ).drop(key)
    return pl.concat(
        [
            own.filter(
                ~pl.col("SOPInstanceUID").is_in(planes["SOPInstanceUID"].implode())
            ),
            expanded,
        ],
        how="diagonal_relaxed",
    )


def _label(row: dict[str, Any]) -> str:
    number = row["InstanceNumber"]
    if row.get("tile") is not None:
        frame = f" tile {row['tile'] + 1}"
    elif row.get("frame") is not None:
        frame = f" frame {row['frame']}"
    else:
        frame = ""
    return (
        f"InstanceNumber {number}{frame}"
        if number is not None
        else f"{row['SOPInstanceUID']}{frame}"
    )


def _mosaic_findings(uid: str, rows: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Siemens mosaics: how many tiles were un-tiled, or why they cannot be."""
    tiles: dict[str, int] = {}
    problems: dict[str, str] = {}
    for r in rows:
        if r.get("n_tiles") is not None:
            tiles[r["SOPInstanceUID"]] = int(r["n_tiles"])
        elif r.get("problem") and "mosaic" in str(r["problem"]):
            problems[r["SOPInstanceUID"]] = str(r["problem"])
    if tiles:
        counts = sorted(set(tiles.values()))
        yield finding(
            "mosaic",
            uid,
            f"series {uid}: {len(tiles)} Siemens mosaic "
            f"image{'' if len(tiles) == 1 else 's'} of "
            f"{' or '.join(map(str, counts))} tiles, read as {sum(tiles.values())} "
            "slices at the positions of their CSA header (col.volume() un-tiles them).",
            sorted(tiles),
            float(max(counts)),
        )
    if problems:
        first = next(iter(problems.values()))
        yield finding(
            "mosaic",
            uid,
            f"series {uid}: "
            + (
                "1 image is a Siemens mosaic"
                if len(problems) == 1
                else f"{len(problems)} images are Siemens mosaics"
            )
            + f", but {first}; "
            "col.volume() refuses such a series. Keep the private (0029) CSA header when "
            "exporting or anonymising.",
            sorted(problems),
            None,
            severity="warning",
        )


def _plane_order(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` in the one geometric order (:func:`dicomkit.geometry.slice_order`)."""
    order = geometry.slice_order(
        [r["ImagePositionPatient"] for r in rows],
        rows[0]["ImageOrientationPatient"] if rows else None,
        instance_numbers=[r["InstanceNumber"] for r in rows],
        frames=[
            r.get("tile") if r.get("tile") is not None else r.get("frame") for r in rows
        ],
        paths=[r.get("path") for r in rows],
    )
    return [rows[i] for i in order]


def _check_series(
    uid: str, series: pl.DataFrame, slices: pl.DataFrame, tol: Tolerances
) -> Iterator[dict[str, Any]]:
    rows = list(slices.iter_rows(named=True))
    modality = (series["Modality"].drop_nulls().unique().to_list() or [None])[0]
    yield from _mosaic_findings(uid, rows)
    # geometry present?
    placed = [
        r
        for r in rows
        if r["ImagePositionPatient"] is not None
        and len(r["ImagePositionPatient"]) == 3
        and r["ImageOrientationPatient"] is not None
    ]
    if len(placed) < len(rows):
        lacking = [r for r in rows if r not in placed]
        if placed or modality in _VOLUME_MODALITIES:
            yield finding(
                "missing_geometry",
                uid,
                f"{len(lacking)} of {plural(len(rows), 'image')} of series {uid} "
                f"{'has' if len(lacking) == 1 else 'have'} no "
                "ImagePositionPatient/ImageOrientationPatient (e.g. "
                f"{_label(lacking[0])}); they cannot be placed in space"
                + ("" if placed else f" — unusual for {modality}"),
                [r["SOPInstanceUID"] for r in lacking],
                float(len(lacking)),
                severity="warning" if placed else "info",
            )
    # orientation validity and clusters
    valid: list[dict[str, Any]] = []
    for r in placed:
        problem = geometry.orientation_problem(
            r["ImageOrientationPatient"], tol=tol.orthogonality
        )
        if problem is None:
            valid.append(r)
        else:
            yield finding(
                "invalid_orientation",
                r["SOPInstanceUID"],
                f"ImageOrientationPatient of {_label(r)} in series {uid} {problem}; "
                "expected two orthonormal direction cosines.",
                [r["SOPInstanceUID"]],
            )
    if not valid:
        yield from _numbering(uid, rows, None)
        return
    labels = geometry.cluster_orientations(
        [r["ImageOrientationPatient"] for r in valid], tol=tol.orientation
    )
    main = _plane_order(
        [r for r, label in zip(valid, labels, strict=True) if label == 0]
    )
    odd = [r for r, label in zip(valid, labels, strict=True) if label != 0]
    if odd:
        yield _orientation_finding(uid, main, odd)
    analysis = None
    if len(main) >= 2:
        analysis = geometry.analyse_positions(
            [r["ImagePositionPatient"] for r in main],
            main[0]["ImageOrientationPatient"],
            duplicate_tol=tol.duplicate,
            spacing_abs_tol=tol.spacing_abs,
            spacing_rel_tol=tol.spacing_rel,
            missing_tol=tol.missing,
        )
        yield from _position_findings(uid, series, main, analysis, tol)
    main_sops = {r["SOPInstanceUID"] for r in main}
    yield from _rescale(
        uid, series.filter(pl.col("SOPInstanceUID").is_in(list(main_sops)))
    )
    yield from _numbering(uid, rows, analysis, main if analysis else None)


def _orientation_finding(
    uid: str, main: list[dict[str, Any]], odd: list[dict[str, Any]]
) -> dict[str, Any]:
    angle = max(
        geometry.orientation_angle(
            main[0]["ImageOrientationPatient"], r["ImageOrientationPatient"]
        )
        for r in odd
    )
    localizer = all("LOCALIZER" in (r["ImageType"] or []) or len(odd) == 1 for r in odd)
    what = "a localizer" if localizer else "images of another orientation"
    named = ", ".join(_label(r) for r in odd[:5]) + (" …" if len(odd) > 5 else "")
    return finding(
        "mixed_orientation",
        uid,
        f"series {uid}: {len(odd)} of {plural(len(main) + len(odd), 'image')} ({named}) "
        f"{'is' if len(odd) == 1 else 'are'} {what}, "
        f"at {angle:.1f}° to the other {len(main)}. Split them off before building a "
        "volume (col.split_series(uid)).",
        [r["SOPInstanceUID"] for r in odd],
        angle,
    )


def _position_findings(
    uid: str,
    series: pl.DataFrame,
    main: list[dict[str, Any]],
    a: geometry.SliceAnalysis,
    tol: Tolerances,
) -> Iterator[dict[str, Any]]:
    if a.duplicates:
        yield _duplicate_finding(uid, main, a)
    spacing = a.spacing
    if spacing is None or spacing <= 0:
        return

    def at(i: int) -> str:
        row = main[a.groups[i][0]]
        return f"{_label(row)} ({a.positions[i]:.2f} mm)"

    missing = [g for g in a.gaps if g.missing]
    if missing:
        parts = [
            f"{g.missing} missing between {at(g.after)} and {at(g.after + 1)} "
            f"(a {g.size:.2f} mm step; the missing position"
            f"{'s are' if g.missing > 1 else ' is'} "
            + ", ".join(
                f"{a.positions[g.after] + k * spacing:.2f}"
                for k in range(1, g.missing + 1)
            )
            + f" mm, index {g.after + 1} of {len(a.positions) + a.n_missing})"
            for g in missing
        ]
        yield finding(
            "missing_slices",
            uid,
            f"series {uid}: {plural(a.n_missing, 'slice')} missing where the spacing is "
            f"{spacing:.2f} mm: "
            + "; ".join(parts)
            + ". Ask for the missing files, or "
            "build the volume with the gap kept (never interpolated silently).",
            [main[a.groups[g.after][0]]["SOPInstanceUID"] for g in missing]
            + [main[a.groups[g.after + 1][0]]["SOPInstanceUID"] for g in missing],
            float(a.n_missing),
        )
    if a.irregular:
        parts = [f"{g.size:.3f} mm after {at(g.after)}" for g in a.irregular[:5]]
        yield finding(
            "irregular_spacing",
            uid,
            f"series {uid}: spacing is {spacing:.3f} mm (median) but "
            f"{plural(len(a.irregular), 'step')} "
            f"differ{'s' if len(a.irregular) == 1 else ''} by more than the tolerance: "
            + ", ".join(parts)
            + ". The slices are not on a regular grid; resample or treat as separate stacks.",
            [main[a.groups[g.after + 1][0]]["SOPInstanceUID"] for g in a.irregular],
            float(max(abs(g.size - spacing) for g in a.irregular)),
        )
    if a.tilt_deg > tol.tilt_deg:
        nominal = series["GantryDetectorTilt"].drop_nulls().unique().to_list()
        said = f"; GantryDetectorTilt says {shown(nominal)}" if nominal else ""
        yield finding(
            "gantry_tilt",
            uid,
            f"series {uid}: the slices are stacked at {a.tilt_deg:.1f}° to their normal "
            f"(measured from ImagePositionPatient{said}). A volume built without this "
            "shear is distorted; use the positions, not just the spacing, or resample.",
            [r["SOPInstanceUID"] for r in main],
            a.tilt_deg,
        )
    header = series["SpacingBetweenSlices"].drop_nulls().unique().to_list()
    if len(header) == 1 and abs(header[0] - spacing) > max(
        tol.spacing_abs, tol.spacing_rel * spacing
    ):
        yield finding(
            "slice_thickness_vs_spacing",
            uid,
            f"series {uid}: SpacingBetweenSlices says {header[0]:g} mm but the positions "
            f"are {spacing:.2f} mm apart; dicomkit uses the positions"
            + (
                ". The header spacing is a fraction of the measured one: this series may "
                "be part of an acquisition split into several series (see "
                "col.suggest_merges())."
                if header[0] < spacing
                and abs(spacing / header[0] - round(spacing / header[0])) < 0.05
                else "."
            ),
            [],
            spacing,
        )


def _duplicate_finding(
    uid: str, main: list[dict[str, Any]], a: geometry.SliceAnalysis
) -> dict[str, Any]:
    sops = [main[i]["SOPInstanceUID"] for group in a.duplicates for i in group]
    if a.repeats:
        axis = _frame_axis(main, a)
        if axis:
            key, values = axis
            return finding(
                "duplicate_position",
                uid,
                f"series {uid}: every one of the {len(a.positions)} positions holds "
                f"{a.repeats} images, told apart by {key} ({shown(values)}): a clean 4-D "
                f"repeat. Split it by {key} (col.split_series(uid)) or load it as 4-D.",
                sops,
                float(a.repeats),
            )
    where = ", ".join(
        f"{a.positions[i]:.2f} mm" for i, g in enumerate(a.groups) if len(g) > 1
    )
    return finding(
        "duplicate_position",
        uid,
        f"series {uid}: {plural(len(a.duplicates), 'position')} "
        f"hold{'s' if len(a.duplicates) == 1 else ''} more than one image ({where[:200]}) "
        "and they are not a clean repeat told apart by echo, time or acquisition; a volume "
        "cannot be built. Check for duplicated slices or split the series.",
        sops,
        float(len(a.duplicates)),
        severity="error",
    )


def _frame_axis(
    main: list[dict[str, Any]], a: geometry.SliceAnalysis
) -> tuple[str, list[Any]] | None:
    """What tells the repeats apart (:func:`dicomkit.geometry.repeat_axis`)."""
    return geometry.repeat_axis(a.groups, geometry.repeat_candidates(main))


def _rescale(uid: str, volume: pl.DataFrame) -> Iterator[dict[str, Any]]:
    pairs = volume.select("RescaleSlope", "RescaleIntercept").unique()
    if pairs.height > 1:
        yield finding(
            "rescale_varies",
            uid,
            f"series {uid}: {pairs.height} different RescaleSlope/RescaleIntercept pairs "
            f"({', '.join(f'{s}/{i}' for s, i in pairs.head(5).iter_rows())}); apply them "
            "per slice (dk.load_pixels does) and store the volume as float.",
            volume["SOPInstanceUID"].to_list(),
            float(pairs.height),
        )


def _numbering(
    uid: str,
    rows: list[dict[str, Any]],
    analysis: geometry.SliceAnalysis | None,
    main: list[dict[str, Any]] | None = None,
) -> Iterator[dict[str, Any]]:
    singles = [r for r in rows if r.get("frame") is None]
    numbers = [r["InstanceNumber"] for r in singles if r["InstanceNumber"] is not None]
    if len(numbers) < 2:
        return
    counts: dict[int, int] = {}
    for n in numbers:
        counts[n] = counts.get(n, 0) + 1
    repeated = sorted(n for n, c in counts.items() if c > 1)
    repeats_expected = analysis is not None and analysis.repeats is not None
    if repeated and not repeats_expected:
        yield finding(
            "instance_number_duplicates",
            uid,
            f"series {uid}: InstanceNumber {', '.join(map(str, repeated[:10]))} "
            f"{'is' if len(repeated) == 1 else 'are'} used by more than one instance; "
            "sorting by InstanceNumber is ambiguous (dicomkit sorts by position).",
            [r["SOPInstanceUID"] for r in singles if r["InstanceNumber"] in repeated],
            float(len(repeated)),
        )
    distinct = sorted(counts)
    skipped = distinct[-1] - distinct[0] + 1 - len(distinct)
    if skipped and not (analysis is not None and analysis.n_missing):
        holes = [b for a_, b in pairwise(distinct) if b - a_ > 1]
        yield finding(
            "instance_number_gaps",
            uid,
            f"series {uid}: {plural(skipped, 'InstanceNumber')} between {distinct[0]} and "
            f"{distinct[-1]} {'is' if skipped == 1 else 'are'} absent (jumps before {', '.join(map(str, holes[:10]))}); "
            "files may not have been received.",
            [],
            float(skipped),
        )
    if analysis is not None and main is not None and not repeated:
        along = [
            min(
                (
                    main[i]["InstanceNumber"]
                    for i in g
                    if main[i]["InstanceNumber"] is not None
                ),
                default=None,
            )
            for g in analysis.groups
        ]
        known = [n for n in along if n is not None]
        ascending = all(x < y for x, y in pairwise(known))
        descending = all(x > y for x, y in pairwise(known))
        if len(known) > 2 and not (ascending or descending):
            yield finding(
                "instance_order_not_spatial",
                uid,
                f"series {uid}: InstanceNumber does not follow the slice position "
                f"(along the normal: {', '.join(map(str, known[:12]))}"
                f"{' …' if len(known) > 12 else ''}); sort by position, not by number.",
                [],
                None,
            )
