"""What every check shares: the findings schema, the catalogue, tolerances, wording."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from dicomkit import geometry

FINDING_SCHEMA: dict[str, pl.DataType] = {
    "severity": pl.Utf8(),
    "check": pl.Utf8(),
    "level": pl.Utf8(),
    "uid": pl.Utf8(),
    "message": pl.Utf8(),
    "sop_instance_uids": pl.List(pl.Utf8()),
    "value": pl.Float64(),
    "paths": pl.List(pl.Utf8()),
    # where the finding is, so that it reads without a join (null where the
    # instances concerned do not share one value)
    "PatientID": pl.Utf8(),
    "StudyDate": pl.Date(),
    "SeriesNumber": pl.Int64(),
    "SeriesDescription": pl.Utf8(),
    "Modality": pl.Utf8(),
}

#: The columns verify() fills from the instances a finding is about.
CONTEXT_COLUMNS = (
    "PatientID",
    "StudyDate",
    "SeriesNumber",
    "SeriesDescription",
    "Modality",
)

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}

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
    "unreadable_file": ("file", "error", "Files of the delivery that are not instances (one finding per reason: truncated, not DICOM, empty, unreadable …; paths in `paths`). A truncated or unparsable file is an image lost (error); a stray non-DICOM file or an empty one is a warning, a DICOMDIR (a media index) is info."),
    "no_instances": ("collection", "error", "The collection holds no instance at all: an empty folder, a wrong path, or only files that could not be read. There is nothing to verify, which is not the same as nothing wrong."),
    "mosaic": ("series", "info", "Siemens MOSAIC images hold a whole stack of slices as tiles of one image; dicomkit un-tiles them with the slice positions of the CSA header. Without those fields a mosaic cannot be placed in space, and volumes refuse it."),
    "rescale_varies": ("series", "warning", "RescaleSlope or RescaleIntercept differ between slices of one volume: apply them per instance (dicomkit does) or values will be wrong."),
}  # fmt: skip


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


def finding(
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
        "paths": [],
        **dict.fromkeys(CONTEXT_COLUMNS),
    }


def few(names: Sequence[str], limit: int = 6) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def shown(values: Sequence[Any]) -> str:
    return ", ".join("(empty)" if v is None else repr(str(v))[:80] for v in values)
