"""Verify that the UIDs and the geometry of a collection hold what they promise.

Pure: frames in, a findings frame out. ``verify()`` never raises on bad data; it
returns one row per finding with these columns:

``severity``          ``error | warning | info``
``check``             a stable snake_case id (see :data:`CHECKS`)
``level``             ``patient | study | series | instance``
``uid``               the PatientID or UID of the group (or instance) concerned
``message``           what was expected, what was found, where, and what to do
``sop_instance_uids`` the instances concerned (list)
``value``             the measured value, where there is one (mm, degrees, count)

Tolerances are parameters (:class:`Tolerances`) with the defaults of
``split-verify-rules.md`` §3; :mod:`dicomkit.geometry` says what each one means.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import polars as pl

from dicomkit import geometry
from dicomkit.exceptions import VerificationError
from dicomkit.schema import FRAME_AXIS_KEYS
from dicomkit.uid import problems as uid_problems

__all__ = [
    "CHECKS",
    "FINDING_SCHEMA",
    "Tolerances",
    "VerificationError",
    "describe_checks",
    "series_badges",
    "verify",
]

FINDING_SCHEMA: dict[str, pl.DataType] = {
    "severity": pl.Utf8(),
    "check": pl.Utf8(),
    "level": pl.Utf8(),
    "uid": pl.Utf8(),
    "message": pl.Utf8(),
    "sop_instance_uids": pl.List(pl.Utf8()),
    "value": pl.Float64(),
}

_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}

#: Every check: id → (level, default severity, what it detects and why it matters).
CHECKS: dict[str, tuple[str, str, str]] = {
    "invalid_uid": ("instance", "error", "A UID breaks PS3.5 §9.1 (≤ 64 characters, digits and dots, no empty component, no leading zero). Receivers may reject or truncate it, and two different objects can then collide."),
    "missing_uid": ("instance", "error", "An instance lacks its StudyInstanceUID or SeriesInstanceUID, so it cannot be put in its envelope: no tool can file it with the rest of its study or series."),
    "sop_uid_conflict": ("instance", "error", "One SOPInstanceUID is carried by files of different series, studies or patients. The standard promises global uniqueness; a PACS keeps one copy and silently loses the other image."),
    "modified_resend": ("instance", "warning", "A later copy of an instance replaced an earlier one with different content (same UIDs). Usually a correction, sometimes an error: check which attributes changed."),
    "series_in_multiple_studies": ("series", "error", "One SeriesInstanceUID appears in two studies. A series belongs to exactly one study (PS3.4 C.3); viewers will show it in one and lose it from the other."),
    "study_in_multiple_patients": ("study", "error", "One StudyInstanceUID appears under two PatientIDs: the study's images would be filed under two different patients."),
    "patient_mismatch": ("study", "warning", "PatientName, PatientBirthDate or PatientSex differ inside one study (or for one PatientID), after normalising padding and '^'. A PACS (dcm4chee 'Patient ID differs') may reject or mis-file the later images."),
    "study_attribute_mismatch": ("study", "warning", "StudyDate, StudyTime, StudyDescription, AccessionNumber or StudyID differ inside one study, so worklists and viewers show whichever instance they read first."),
    "mixed_modality": ("series", "error", "A series holds instances of several modalities; a series is one modality by definition."),
    "mixed_frame_of_reference": ("series", "error", "A series holds several FrameOfReferenceUIDs (PS3.3 C.7.4.1.1.1: one per series), so positions of different instances are not in one coordinate system."),
    "mixed_pixel_format": ("series", "error", "Rows, Columns, SamplesPerPixel, bit depths, PixelRepresentation or PhotometricInterpretation differ inside a series: it cannot be stacked into one array."),
    "invalid_orientation": ("instance", "error", "ImageOrientationPatient is not two orthonormal unit vectors, so no position or direction computed from it can be trusted."),
    "mixed_orientation": ("series", "warning", "Instances of one series have different orientations, e.g. a localizer filed with the axial slices. Stacking them gives a wrong volume; split the odd ones off."),
    "missing_geometry": ("series", "warning", "Some images of a series lack ImagePositionPatient or ImageOrientationPatient, so they cannot be placed in space or sorted geometrically."),
    "duplicate_position": ("series", "warning", "Several images share one position. A clean repeat (every position the same number of times, told apart by echo, time …) is 4-D data to split or stack; anything else is an error for a volume."),
    "missing_slices": ("series", "warning", "A gap between neighbouring slices is an integer multiple of the spacing: slices are missing, and a volume built from the rest is distorted unless the gap is kept."),
    "irregular_spacing": ("series", "warning", "Slice spacing varies by more than the tolerance without being a multiple: the volume is not on a regular grid."),
    "gantry_tilt": ("series", "warning", "The slices are stacked at an angle to their normal (a tilted CT gantry): a volume built without the shear is distorted. The angle is measured from positions; GantryDetectorTilt is nominal."),
    "slice_thickness_vs_spacing": ("series", "info", "SpacingBetweenSlices in the header disagrees with the spacing measured from positions; dicomkit uses the positions (the header value is Type 3 and often wrong)."),
    "instance_number_gaps": ("series", "warning", "InstanceNumbers skip values, which usually means files were not received; reported when the geometry does not already show the missing slices."),
    "instance_number_duplicates": ("series", "warning", "Several instances of a series share an InstanceNumber, so ordering by it is ambiguous."),
    "instance_order_not_spatial": ("series", "warning", "InstanceNumber does not follow the slice position, so tools that sort by InstanceNumber show the slices out of order."),
    "rescale_varies": ("series", "warning", "RescaleSlope or RescaleIntercept differ between slices of one volume: apply them per instance (dicomkit does) or values will be wrong."),
}  # fmt: skip

_UID_COLUMNS = (
    ("StudyInstanceUID", "study"),
    ("SeriesInstanceUID", "series"),
    ("SOPInstanceUID", "instance"),
    ("FrameOfReferenceUID", "series"),
    ("SOPClassUID", "instance"),
)
_PATIENT_ATTRIBUTES = ("PatientName", "PatientBirthDate", "PatientSex")
_STUDY_ATTRIBUTES = (
    "StudyDate",
    "StudyTime",
    "StudyDescription",
    "AccessionNumber",
    "StudyID",
)
_PIXEL_FORMAT = (
    "Rows",
    "Columns",
    "SamplesPerPixel",
    "BitsAllocated",
    "BitsStored",
    "PixelRepresentation",
    "PhotometricInterpretation",
)
_VOLUME_MODALITIES = frozenset({"CT", "MR", "PT", "NM"})


@dataclass(frozen=True)
class Tolerances:
    """Tolerances of the geometry checks; defaults from split-verify-rules.md §3."""

    orientation: float = geometry.ORIENTATION_TOL
    orthogonality: float = geometry.ORTHOGONALITY_TOL
    spacing_abs: float = geometry.SPACING_ABS_TOL
    spacing_rel: float = geometry.SPACING_REL_TOL
    missing: float = geometry.MISSING_TOL
    duplicate: float = geometry.DUPLICATE_TOL
    tilt_deg: float = geometry.TILT_TOL_DEG


def series_badges(findings: pl.DataFrame, instances: pl.DataFrame) -> dict[str, str]:
    """The worst severity of the findings about each series (its own, and its
    instances'): ``{SeriesInstanceUID: "error" | "warning" | "info"}``."""
    of_sop = dict(
        zip(instances["SOPInstanceUID"], instances["SeriesInstanceUID"], strict=True)
    )
    series = set(instances["SeriesInstanceUID"].drop_nulls())
    worst: dict[str, str] = {}
    for row in findings.iter_rows(named=True):
        targets = {row["uid"]} & series if row["level"] == "series" else set()
        targets |= {of_sop[s] for s in row["sop_instance_uids"] if of_sop.get(s)}
        for uid in targets:
            if (
                uid not in worst
                or _SEVERITY_ORDER[row["severity"]] < _SEVERITY_ORDER[worst[uid]]
            ):
                worst[uid] = row["severity"]
    return worst


def describe_checks() -> pl.DataFrame:
    """The catalogue of checks: id, level, default severity and what it detects."""
    return pl.DataFrame(
        [(k, *v) for k, v in CHECKS.items()],
        schema=["check", "level", "severity", "description"],
        orient="row",
    )


def verify(
    instances: pl.DataFrame,
    resends: pl.DataFrame | None = None,
    *,
    frames: pl.DataFrame | None = None,
    tolerances: Tolerances | None = None,
    strict: bool = False,
) -> pl.DataFrame:
    """Run every check and return the findings (never raises unless ``strict``).

    Parameters
    ----------
    instances
        The instance frame.
    resends
        The resend frame (for ``sop_uid_conflict`` and ``modified_resend``).
    frames
        Per-frame geometry of multi-frame instances: ``SOPInstanceUID``,
        ``frame`` (1-based), ``ImagePositionPatient``, ``ImageOrientationPatient``.
        Their frames replace the instance's own position in the geometry checks.
    tolerances
        Geometry tolerances (:class:`Tolerances`).
    strict
        Raise :class:`VerificationError` when any finding is an error.
    """
    tol = tolerances or Tolerances()
    rows: list[dict[str, Any]] = []
    rows += _identity(instances, resends)
    rows += _consistency(instances)
    rows += _series_geometry(instances, frames, tol)
    findings = pl.DataFrame(rows, schema=FINDING_SCHEMA)
    findings = findings.sort(
        pl.col("severity").replace_strict(_SEVERITY_ORDER, return_dtype=pl.Int8),
        "check",
        "uid",
        maintain_order=True,
    )
    if strict and (findings["severity"] == "error").any():
        raise VerificationError(findings)
    return findings


def _finding(
    check: str,
    uid: Any,
    message: str,
    sops: Sequence[str] = (),
    value: float | None = None,
    *,
    severity: str | None = None,
    level: str | None = None,
) -> dict[str, Any]:
    default_level, default_severity, _ = CHECKS[check]
    return {
        "severity": severity or default_severity,
        "check": check,
        "level": level or default_level,
        "uid": None if uid is None else str(uid),
        "message": message,
        "sop_instance_uids": [s for s in sops if s is not None],
        "value": value,
    }


# -- identity ------------------------------------------------------------------------


def _identity(
    instances: pl.DataFrame, resends: pl.DataFrame | None
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for column, level in _UID_COLUMNS:
        if column not in instances.columns:
            continue
        values = instances.group_by(column).agg(pl.col("SOPInstanceUID").alias("_sops"))
        values = values.drop_nulls(column)
        for uid, sops in values.iter_rows():
            found = uid_problems(uid)
            if found:
                out.append(
                    _finding(
                        "invalid_uid",
                        uid,
                        f"{column} {uid!r} is not a valid UID: {'; '.join(found)}. "
                        "Fix it at the source, or give the data new UIDs "
                        "(col.split_series / merge_series write valid ones).",
                        sops,
                        level=level,
                    )
                )
    for column in ("StudyInstanceUID", "SeriesInstanceUID"):
        missing = instances.filter(pl.col(column).is_null())
        if missing.height:
            out.append(
                _finding(
                    "missing_uid",
                    None,
                    f"{missing.height} instance(s) have no {column}, so they cannot be "
                    f"filed in a {column[:-11].lower()}; e.g. {missing['path'][0]}. Add one "
                    "with a DICOM editor, or drop these files.",
                    missing["SOPInstanceUID"].to_list(),
                    float(missing.height),
                )
            )
    if resends is not None and resends.height:
        for row in resends.filter(pl.col("resend") == "conflict").iter_rows(named=True):
            out.append(
                _finding(
                    "sop_uid_conflict",
                    row["SOPInstanceUID"],
                    f"SOPInstanceUID {row['SOPInstanceUID']} is carried by two different "
                    f"images: {row['path']} (patient {row['PatientID']}, series "
                    f"{row['SeriesInstanceUID']}) and {row['replaced_by']}, which was kept. "
                    f"They differ in {_few(row['differs'])}. One of them needs a new "
                    "SOPInstanceUID; until then a PACS keeps only one of the two.",
                    [row["SOPInstanceUID"]],
                )
            )
        for row in resends.filter(pl.col("resend") == "modified").iter_rows(named=True):
            changed = (
                ", ".join(row["differs"]) or "content outside the indexed attributes"
            )
            out.append(
                _finding(
                    "modified_resend",
                    row["SOPInstanceUID"],
                    f"{row['replaced_by']} replaced an earlier copy {row['path']} of the same "
                    f"instance with different {changed}. Check that the correction was "
                    "intended; col.resends has the earlier values.",
                    [row["SOPInstanceUID"]],
                )
            )
    return out


# -- consistency ---------------------------------------------------------------------


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


def _few(names: Sequence[str], limit: int = 6) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _shown(values: Sequence[Any]) -> str:
    return ", ".join("(empty)" if v is None else repr(str(v))[:80] for v in values)


def _consistency(instances: pl.DataFrame) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    # identity across levels
    for key, parent, check in (
        ("SeriesInstanceUID", "StudyInstanceUID", "series_in_multiple_studies"),
        ("StudyInstanceUID", "PatientID", "study_in_multiple_patients"),
    ):
        for row in _varying(instances, key, [parent]).iter_rows(named=True):
            if len(row[parent]) > 1:
                out.append(
                    _finding(
                        check,
                        row[key],
                        f"{key} {row[key]} appears under {len(row[parent])} different "
                        f"{parent}s: {_shown(row[parent])}. A {key[:-11].lower()} belongs to "
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
        for row in _varying(normalised, key, _PATIENT_ATTRIBUTES).iter_rows(named=True):
            differ = [a for a in _PATIENT_ATTRIBUTES if len(row[a]) > 1]
            if differ:
                detail = "; ".join(f"{a}: {_shown(row[a])}" for a in differ)
                where = (
                    f"study {row[key]}" if level == "study" else f"PatientID {row[key]}"
                )
                out.append(
                    _finding(
                        "patient_mismatch",
                        row[key],
                        f"the patient's {', '.join(differ)} differ inside {where} ({detail}). "
                        "Expected one patient per study; correct the files, or check that "
                        "two patients were not given one ID.",
                        row["SOPInstanceUID"],
                        level=level,
                    )
                )
    for row in _varying(instances, "StudyInstanceUID", _STUDY_ATTRIBUTES).iter_rows(
        named=True
    ):
        differ = [a for a in _STUDY_ATTRIBUTES if len(row[a]) > 1]
        if differ:
            detail = "; ".join(f"{a}: {_shown(row[a])}" for a in differ)
            out.append(
                _finding(
                    "study_attribute_mismatch",
                    row["StudyInstanceUID"],
                    f"study attributes differ inside study {row['StudyInstanceUID']} "
                    f"({detail}); they should be identical in every instance of a study.",
                    row["SOPInstanceUID"],
                )
            )
    # inside a series
    columns = ["Modality", "FrameOfReferenceUID", *_PIXEL_FORMAT]
    for row in _varying(instances, "SeriesInstanceUID", columns).iter_rows(named=True):
        uid, sops = row["SeriesInstanceUID"], row["SOPInstanceUID"]
        if len(row["Modality"]) > 1:
            out.append(
                _finding(
                    "mixed_modality",
                    uid,
                    f"series {uid} mixes modalities {_shown(row['Modality'])}; split it "
                    "(col.split_series(uid)).",
                    sops,
                )
            )
        frames_of_reference = [f for f in row["FrameOfReferenceUID"] if f is not None]
        if len(frames_of_reference) > 1:
            each_own = len(frames_of_reference) == len(sops)
            out.append(
                _finding(
                    "mixed_frame_of_reference",
                    uid,
                    f"series {uid} has {len(frames_of_reference)} FrameOfReferenceUIDs"
                    + (
                        " — one per instance, which some scanners write; positions are then "
                        "not comparable across instances"
                        if each_own
                        else f": {_shown(frames_of_reference)}; expected one per series"
                    ),
                    sops,
                    float(len(frames_of_reference)),
                    severity="warning" if each_own else None,
                )
            )
        differ = [c for c in _PIXEL_FORMAT if c in row and len(row[c]) > 1]
        if differ:
            detail = "; ".join(f"{c}: {_shown(row[c])}" for c in differ)
            out.append(
                _finding(
                    "mixed_pixel_format",
                    uid,
                    f"series {uid} mixes pixel formats ({detail}), so it cannot be stacked "
                    "into one array; split it by these attributes.",
                    sops,
                )
            )
    return out


# -- geometry and numbering, per series ---------------------------------------------------


def _series_geometry(
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
    """One row per 2-D slice: single-frame instances, or the frames of multi-frame ones."""
    columns = [
        "SOPInstanceUID",
        "InstanceNumber",
        "ImagePositionPatient",
        "ImageOrientationPatient",
        "ImageType",
        *[k for k in FRAME_AXIS_KEYS if k in series.columns],
    ]
    own = series.select(columns).with_columns(pl.lit(None, pl.Int64).alias("frame"))
    if frames is None or frames.is_empty():
        return own
    expanded = frames.join(
        series.select(
            [
                c
                for c in columns
                if c not in ("ImagePositionPatient", "ImageOrientationPatient")
            ]
        ),
        on="SOPInstanceUID",
        how="inner",
    ).select([*columns, "frame"])
    if expanded.is_empty():
        return own
    return pl.concat(
        [
            own.filter(
                ~pl.col("SOPInstanceUID").is_in(expanded["SOPInstanceUID"].implode())
            ),
            expanded,
        ],
        how="vertical_relaxed",
    )


def _label(row: dict[str, Any]) -> str:
    number = row["InstanceNumber"]
    frame = f" frame {row['frame']}" if row.get("frame") is not None else ""
    return (
        f"InstanceNumber {number}{frame}"
        if number is not None
        else f"{row['SOPInstanceUID']}{frame}"
    )


def _check_series(
    uid: str, series: pl.DataFrame, slices: pl.DataFrame, tol: Tolerances
) -> Iterator[dict[str, Any]]:
    rows = list(slices.iter_rows(named=True))
    modality = (series["Modality"].drop_nulls().unique().to_list() or [None])[0]
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
            yield _finding(
                "missing_geometry",
                uid,
                f"{len(lacking)} of {len(rows)} images of series {uid} have no "
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
            yield _finding(
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
    main = [r for r, label in zip(valid, labels, strict=True) if label == 0]
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
    return _finding(
        "mixed_orientation",
        uid,
        f"series {uid}: {len(odd)} of {len(main) + len(odd)} images ({named}) "
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
        yield _finding(
            "missing_slices",
            uid,
            f"series {uid}: {a.n_missing} slice(s) missing where the spacing is "
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
        yield _finding(
            "irregular_spacing",
            uid,
            f"series {uid}: spacing is {spacing:.3f} mm (median) but "
            f"{len(a.irregular)} step(s) differ by more than the tolerance: "
            + ", ".join(parts)
            + ". The slices are not on a regular grid; resample or treat as separate stacks.",
            [main[a.groups[g.after + 1][0]]["SOPInstanceUID"] for g in a.irregular],
            float(max(abs(g.size - spacing) for g in a.irregular)),
        )
    if a.tilt_deg > tol.tilt_deg:
        nominal = series["GantryDetectorTilt"].drop_nulls().unique().to_list()
        said = f"; GantryDetectorTilt says {_shown(nominal)}" if nominal else ""
        yield _finding(
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
        yield _finding(
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
            return _finding(
                "duplicate_position",
                uid,
                f"series {uid}: every one of the {len(a.positions)} positions holds "
                f"{a.repeats} images, told apart by {key} ({_shown(values)}): a clean 4-D "
                f"repeat. Split it by {key} (col.split_series(uid)) or load it as 4-D.",
                sops,
                float(a.repeats),
            )
    where = ", ".join(
        f"{a.positions[i]:.2f} mm" for i, g in enumerate(a.groups) if len(g) > 1
    )
    return _finding(
        "duplicate_position",
        uid,
        f"series {uid}: {len(a.duplicates)} position(s) hold more than one image ({where[:200]}) "
        "and they are not a clean repeat told apart by echo, time or acquisition; a volume "
        "cannot be built. Check for duplicated slices or split the series.",
        sops,
        float(len(a.duplicates)),
        severity="error",
    )


def _frame_axis(
    main: list[dict[str, Any]], a: geometry.SliceAnalysis
) -> tuple[str, list[Any]] | None:
    """The first attribute that takes ``repeats`` distinct values at every position."""
    for key in FRAME_AXIS_KEYS:
        if key not in main[0]:
            continue
        values: set[Any] = set()
        ok = True
        for group in a.groups:
            here = [_hashable(main[i][key]) for i in group]
            if None in here or len(set(here)) != len(group):
                ok = False
                break
            values.update(here)
        if ok and len(values) == a.repeats:
            return key, sorted(values, key=str)
    return None


def _hashable(value: Any) -> Any:
    """Lists (multi-valued attributes) as tuples; a single value as itself."""
    if isinstance(value, list):
        return value[0] if len(value) == 1 else tuple(value)
    return value


def _rescale(uid: str, volume: pl.DataFrame) -> Iterator[dict[str, Any]]:
    pairs = volume.select("RescaleSlope", "RescaleIntercept").unique()
    if pairs.height > 1:
        yield _finding(
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
        yield _finding(
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
        yield _finding(
            "instance_number_gaps",
            uid,
            f"series {uid}: {skipped} InstanceNumber(s) between {distinct[0]} and "
            f"{distinct[-1]} are absent (jumps before {', '.join(map(str, holes[:10]))}); "
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
            yield _finding(
                "instance_order_not_spatial",
                uid,
                f"series {uid}: InstanceNumber does not follow the slice position "
                f"(along the normal: {', '.join(map(str, known[:12]))}"
                f"{' …' if len(known) > 12 else ''}); sort by position, not by number.",
                [],
                None,
            )
