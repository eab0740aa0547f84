"""verify(): every check, and the ten real-world cases of split-verify-rules.md §4."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import dicomkit as dk
from dicomkit.cli import main
from dicomkit.exceptions import VerificationError
from dicomkit.geometry import normal
from dicomkit.hierarchy import resolve_resends
from dicomkit.ops import suggest_merges
from dicomkit.verify import CHECKS, describe_checks, verify
from tests.conftest import MakeFile
from tests.frames import AXIAL, CORONAL, frame, stack


def checks(findings: pl.DataFrame) -> list[str]:
    return findings["check"].to_list()


def test_a_clean_series_has_no_finding() -> None:
    assert verify(frame(stack(20))).is_empty()


def test_findings_schema_and_catalogue() -> None:
    f = verify(frame(stack(3, PatientName=lambda k: f"N{k}")))
    assert f.schema["sop_instance_uids"] == pl.List(pl.Utf8())
    assert set(describe_checks()["check"]) == set(CHECKS)
    levels = ("file", "collection", "patient", "study", "series", "instance")
    for check, (level, severity, doc) in CHECKS.items():
        assert level in levels, check
        assert severity in ("error", "warning", "info")
        assert len(doc) > 40


def test_strict_raises_with_a_summary() -> None:
    rows = stack(3, StudyInstanceUID=lambda k: "1.2.3.1" if k else "1.2.3.9")
    with pytest.raises(VerificationError, match="series_in_multiple_studies") as info:
        verify(frame(rows), strict=True)
    assert info.value.findings.height >= 1
    verify(frame(stack(3)), strict=True)  # no error: no raise


# -- identity ------------------------------------------------------------------------


def test_invalid_uid() -> None:
    rows = stack(2)
    rows[0]["SOPInstanceUID"] = "1.2.03.4"
    f = verify(frame(rows))
    assert checks(f) == ["invalid_uid"]
    assert "leading zero" in f["message"][0]


def test_missing_uid() -> None:
    rows = stack(2)
    rows[1]["SeriesInstanceUID"] = None
    f = verify(frame(rows))
    assert "missing_uid" in checks(f)


def test_conflict_and_modified_resend_findings() -> None:
    a = stack(2)
    b = stack(1, uid="1.2.3.2.9")
    b[0]["SOPInstanceUID"] = a[0]["SOPInstanceUID"]
    b[0]["mtime_ns"] = 5
    changed = dict(a[1], path="/d/resent", mtime_ns=9, SeriesDescription="corrected")
    copies = frame([*a, *b, changed]).with_columns(pl.lit("h").alias("content_hash"))
    copies = copies.with_columns(
        pl.when(pl.col("path") == "/d/resent")
        .then(pl.lit("h2"))
        .otherwise("content_hash")
        .alias("content_hash")
    )
    instances, resends = resolve_resends(copies)
    f = verify(instances, resends)
    assert sorted(checks(f)) == ["modified_resend", "sop_uid_conflict"]
    conflict = f.filter(pl.col("check") == "sop_uid_conflict").row(0, named=True)
    assert conflict["severity"] == "error"
    assert "SeriesInstanceUID" in conflict["message"]


def test_series_in_two_studies_and_study_in_two_patients() -> None:
    two_studies = stack(2) + stack(1, start=5, StudyInstanceUID="1.2.3.7")
    assert "series_in_multiple_studies" in checks(verify(frame(two_studies)))
    two_patients = stack(2) + stack(1, uid="1.2.3.2.8", PatientID="P2")
    f = verify(frame(two_patients))
    assert checks(f) == ["study_in_multiple_patients"]
    assert "'P1', 'P2'" in f["message"][0]


def test_patient_mismatch_normalises_names() -> None:
    padded = stack(3, PatientName=lambda k: "DOE^JOHN^^" if k else "Doe^John ")
    assert "patient_mismatch" not in checks(verify(frame(padded)))
    different = stack(3, PatientName=lambda k: "DOE^JON" if k else "DOE^JOHN")
    f = verify(frame(different))
    assert "patient_mismatch" in checks(f)
    assert "'DOE^JON'" in f.filter(pl.col("check") == "patient_mismatch")["message"][0]


def test_study_attribute_mismatch() -> None:
    f = verify(frame(stack(3, AccessionNumber=lambda k: "A1" if k else "A2")))
    assert checks(f) == ["study_attribute_mismatch"]


def test_mixed_modality_for_and_pixel_format() -> None:
    f = verify(
        frame(
            stack(
                4,
                Modality=lambda k: "CT" if k else "PT",
                FrameOfReferenceUID=lambda k: "1.2.3.4" if k < 2 else "1.2.3.5",
                BitsStored=lambda k: 12 if k else 16,
            )
        )
    )
    assert {"mixed_modality", "mixed_frame_of_reference", "mixed_pixel_format"} <= set(
        checks(f)
    )


def test_frame_of_reference_per_instance_is_a_warning() -> None:
    f = verify(frame(stack(3, FrameOfReferenceUID=lambda k: f"1.2.3.{k + 10}")))
    row = f.filter(pl.col("check") == "mixed_frame_of_reference").row(0, named=True)
    assert row["severity"] == "warning"


# -- geometry ---------------------------------------------------------------------------


def test_missing_geometry() -> None:
    rows = stack(4)
    rows[3]["ImagePositionPatient"] = None
    f = verify(frame(rows))
    assert checks(f) == ["missing_geometry"]
    assert f["sop_instance_uids"][0].to_list() == [rows[3]["SOPInstanceUID"]]


def test_projection_images_without_geometry_are_fine() -> None:
    rows = stack(
        2, modality="CR", ImagePositionPatient=None, ImageOrientationPatient=None
    )
    assert verify(frame(rows)).is_empty()


def test_invalid_orientation() -> None:
    rows = stack(3)
    rows[1]["ImageOrientationPatient"] = [1.0, 0.0, 0.0, 0.5, 0.5, 0.0]
    assert "invalid_orientation" in checks(verify(frame(rows)))


def test_irregular_spacing_and_instance_order() -> None:
    rows = stack(10)
    rows[6]["ImagePositionPatient"][2] += 0.7
    f = verify(frame(rows))
    assert checks(f) == ["irregular_spacing"]
    shuffled = stack(10, InstanceNumber=lambda k: [3, 1, 2, 4, 5, 6, 7, 8, 9, 10][k])
    assert checks(verify(frame(shuffled))) == ["instance_order_not_spatial"]
    reversed_ = stack(10, InstanceNumber=lambda k: 10 - k)
    assert verify(frame(reversed_)).is_empty()  # descending numbers are a valid order


def test_instance_number_gaps_and_duplicates() -> None:
    assert checks(
        verify(frame(stack(5, InstanceNumber=lambda k: [1, 2, 3, 5, 6][k])))
    ) == ["instance_number_gaps"]
    assert checks(verify(frame(stack(4, InstanceNumber=1)))) == [
        "instance_number_duplicates"
    ]


def test_rescale_varies() -> None:
    f = verify(frame(stack(4, RescaleIntercept=lambda k: -1024.0 if k else -1000.0)))
    assert checks(f) == ["rescale_varies"]


# -- the ten real-world cases (split-verify-rules.md §4) ------------------------------------


def test_case1_gantry_tilt_is_measured_not_an_error() -> None:
    theta = math.radians(20)
    iop = [1.0, 0.0, 0.0, 0.0, math.cos(theta), math.sin(theta)]
    rows = stack(25, orientation=iop, GantryDetectorTilt=20.0)
    for k, row in enumerate(rows):
        row["ImagePositionPatient"] = [0.0, 0.0, 3.0 * k]
    f = verify(frame(rows))
    assert checks(f) == ["gantry_tilt"]
    assert f["severity"][0] == "warning"
    assert f["value"][0] == pytest.approx(20.0, abs=1e-3)
    assert "'20.0'" in f["message"][0]


def test_case2_localizer_in_the_series_is_named_and_split_off() -> None:
    rows = stack(30)
    scout = dict(
        stack(1, orientation=CORONAL)[0],
        SOPInstanceUID="1.2.3.2.1.99",
        InstanceNumber=31,
        ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"],
    )
    f = verify(frame([*rows, scout]))
    assert checks(f) == ["mixed_orientation"]
    assert f["sop_instance_uids"][0].to_list() == ["1.2.3.2.1.99"]
    assert "localizer" in f["message"][0]
    col = dk.Collection(frame([*rows, scout]))
    plan = col.split_series("1.2.3.2.1", key="k")
    sizes = sorted(plan.summary()["n_instances"].to_list())
    assert sizes == [1, 30]
    assert plan.apply().verify().is_empty()


def test_case3_enhanced_multiframe_three_plane_localizer() -> None:
    rows = stack(1, NumberOfFrames=9, n_frames=9)
    planes = [AXIAL, CORONAL, [0.0, 1.0, 0.0, 0.0, 0.0, -1.0]]
    frames = pl.DataFrame(
        [
            {
                "SOPInstanceUID": rows[0]["SOPInstanceUID"],
                "frame": i + 1,
                "ImagePositionPatient": list(
                    map(float, (i % 3) * 5.0 * normal(planes[i // 3]))
                ),
                "ImageOrientationPatient": planes[i // 3],
            }
            for i in range(9)
        ]
    )
    f = verify(frame(rows), frames=frames)
    assert "mixed_orientation" in checks(f)
    assert "frame" in f.filter(pl.col("check") == "mixed_orientation")["message"][0]


def test_case4_duplicates_resend_versus_multiphase() -> None:
    # the same slice twice with different SOPInstanceUIDs and nothing to tell them apart
    rows = stack(10) + stack(2, start=20)
    f = verify(frame(rows))
    dup = f.filter(pl.col("check") == "duplicate_position").row(0, named=True)
    assert dup["severity"] == "error"
    # two phases of one CT told apart by AcquisitionNumber: a clean repeat, a warning
    phases = stack(10, AcquisitionNumber=1) + stack(10, start=10, AcquisitionNumber=2)
    f = verify(frame(phases))
    row = f.filter(pl.col("check") == "duplicate_position").row(0, named=True)
    assert row["severity"] == "warning"
    assert "AcquisitionNumber" in row["message"]


def test_case5_repeats_that_do_not_divide_and_offset_volumes() -> None:
    uneven = stack(10, TemporalPositionIdentifier=1) + stack(
        7, start=10, TemporalPositionIdentifier=2
    )
    f = verify(frame(uneven))
    assert f.filter(pl.col("check") == "duplicate_position")["severity"].to_list() == [
        "error"
    ]
    offset = stack(10, spacing=5.0) + [
        dict(r, ImagePositionPatient=[0.0, 0.0, r["ImagePositionPatient"][2] + 3.5])
        for r in stack(10, spacing=5.0, start=10)
    ]
    assert "irregular_spacing" in checks(verify(frame(offset)))


def test_case6_cardiac_phases_by_trigger_time() -> None:
    rows = [
        row
        for phase in range(4)
        for row in stack(8, start=phase * 8, TriggerTime=float(phase * 100))
    ]
    f = verify(frame(rows))
    assert checks(f) == ["duplicate_position"]
    assert "TriggerTime" in f["message"][0]
    assert f["value"][0] == 4
    plan = dk.Collection(frame(rows)).split_series(by=["TriggerTime"], key="k")
    assert plan.summary()["n_instances"].to_list() == [8, 8, 8, 8]
    four_d = dk.Collection(frame(rows)).split_series(
        "1.2.3.2.1", repeats="4d", by=["TriggerTime"], key="k"
    )
    assert four_d.summary()["n_instances"].to_list() == [32]
    assert four_d.frame["volume"].drop_nulls().unique().sort().to_list() == [1, 2, 3, 4]


def test_case7_missing_slice_versus_variable_spacing() -> None:
    rows = stack(12, spacing=1.6)
    del rows[5]  # one 3.2 mm gap among 1.6 mm (dcmstack #55)
    f = verify(frame(rows))
    assert checks(f) == [
        "missing_slices"
    ]  # the InstanceNumber gap is explained, not repeated
    assert "index 5 of 12" in f["message"][0]
    wobbly = stack(12, spacing=1.6)
    wobbly[5]["ImagePositionPatient"][2] += 0.8  # 2.4 mm: not a multiple
    assert "irregular_spacing" in checks(verify(frame(wobbly)))


def test_case8_header_spacing_is_not_trusted() -> None:
    tof = stack(20, spacing=0.5, SpacingBetweenSlices=16.0, SliceThickness=1.0)
    f = verify(frame(tof))
    assert checks(f) == ["slice_thickness_vs_spacing"]
    assert f["severity"][0] == "info"
    overlapping = stack(20, spacing=4.0, SliceThickness=5.0)  # overlap: normal for CT
    assert verify(frame(overlapping)).is_empty()


def test_case9_vendor_split_series_are_suggested_for_merge() -> None:
    # Canon classic: one SeriesInstanceUID per slice
    canon = [
        dict(
            stack(1, uid=f"1.2.3.2.{k + 10}", SeriesDescription="Body", SeriesNumber=3)[
                0
            ],
            ImagePositionPatient=[0.0, 0.0, 2.0 * k],
            InstanceNumber=k + 1,
        )
        for k in range(6)
    ]
    merges = suggest_merges(frame(canon))
    assert merges.height == 1
    assert len(merges["series_uids"][0]) == 6
    # Siemens XA: one run over series 16001, 16002 (interleaved halves)
    xa = stack(5, uid="1.2.3.2.7", spacing=4.0, SeriesNumber=16001) + [
        dict(r, ImagePositionPatient=[0.0, 0.0, r["ImagePositionPatient"][2] + 2.0])
        for r in stack(5, uid="1.2.3.2.8", spacing=4.0, SeriesNumber=16002)
    ]
    merges = suggest_merges(frame(xa))
    assert merges["series_numbers"].to_list() == [[16001, 16002]]
    assert "interleaved" in merges["reason"][0]
    # unrelated series of another orientation are never suggested
    assert suggest_merges(
        frame(stack(5) + stack(5, uid="1.2.3.2.9", orientation=CORONAL))
    ).is_empty()


def test_case10_ordering_hazards() -> None:
    constant = stack(8, InstanceNumber=1)
    assert checks(verify(frame(constant))) == ["instance_number_duplicates"]
    rows = stack(12)
    shuffled = [rows[i] for i in np.random.default_rng(1).permutation(12)]
    assert verify(frame(shuffled)).equals(verify(frame(rows)))


# -- unreadable files and an empty delivery are findings (issue 11, item 7) ----------------


def truncated_copy(make_file: MakeFile, name: str) -> Path:
    """A DICOM file cut short in its pixel data, as an interrupted copy leaves it."""
    whole = make_file(name)
    data = whole.read_bytes()
    whole.write_bytes(data[:-10])
    return whole


def test_a_folder_of_one_truncated_file_is_not_clean(
    tmp_path: Path, make_file: MakeFile, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = truncated_copy(make_file, "cd/IM000001")
    col = dk.scan(tmp_path, progress=False)
    assert col.errors["reason"].to_list() == ["truncated"]
    f = col.verify()
    assert sorted(checks(f)) == ["no_instances", "unreadable_file"]
    unreadable = f.filter(pl.col("check") == "unreadable_file").row(0, named=True)
    assert unreadable["severity"] == "error"
    assert unreadable["paths"] == [str(bad)]
    assert unreadable["value"] == 1
    assert "1 file could not be read (truncated): IM000001" in unreadable["message"]
    with pytest.raises(VerificationError, match="unreadable_file"):
        col.verify(strict=True)
    # the command line sees them: --strict fails (exit 1, as documented)
    assert main(["verify", str(tmp_path), "--strict", "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("1 file, 0 instances: 2 errors")
    assert "unreadable_file" in out
    assert "no_instances" in out


def test_an_empty_delivery_is_a_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    col = dk.scan(tmp_path, progress=False)
    f = col.verify()
    assert checks(f) == ["no_instances"]
    assert f["severity"].to_list() == ["error"]
    assert "no file was found" in f["message"][0]
    assert main(["verify", str(tmp_path), "--strict"]) == 1
    assert "0 files, 0 instances: 1 error" in capsys.readouterr().out
    assert main(["verify", str(tmp_path)]) == 0  # without --strict: a report


def test_one_unreadable_file_finding_per_reason_with_severities(
    tmp_path: Path, make_file: MakeFile
) -> None:
    make_file("good.dcm")
    truncated_copy(make_file, "cut1")
    truncated_copy(make_file, "cut2")
    (tmp_path / "README.txt").write_text("delivery notes")
    (tmp_path / "empty").write_bytes(b"")
    col = dk.scan(tmp_path, progress=False)
    f = col.verify().filter(pl.col("check") == "unreadable_file")
    by_severity = {
        s: sorted(p.rsplit("/", 1)[-1] for ps in g["paths"] for p in ps)
        for (s,), g in f.group_by("severity")
    }
    assert by_severity == {
        "error": ["cut1", "cut2"],
        "warning": ["README.txt", "empty"],
    }
    assert f.height == 3  # truncated, not_dicom, empty
    cut = f.filter(pl.col("severity") == "error").row(0, named=True)
    assert cut["message"].startswith(
        "2 files could not be read (truncated): cut1, cut2"
    )
    # a user filters severities: warnings alone never fail --strict
    assert main(["verify", str(tmp_path), "--strict"]) == 1
    for name in ("cut1", "cut2"):
        (tmp_path / name).unlink()
    assert main(["verify", str(tmp_path), "--strict"]) == 0
    assert set(checks(dk.scan(tmp_path, progress=False).verify())) == {
        "unreadable_file"
    }


def test_a_dicomdir_is_info() -> None:
    errors = pl.DataFrame(
        {"path": ["/cd/DICOMDIR"], "reason": ["dicomdir"], "message": ["a DICOMDIR"]}
    )
    f = verify(frame(stack(3)), errors=errors)
    assert f.select("severity", "check").rows() == [("info", "unreadable_file")]


def test_new_checks_are_in_the_catalogue() -> None:
    catalogue = describe_checks()
    for check, level in (("unreadable_file", "file"), ("no_instances", "collection")):
        row = catalogue.filter(pl.col("check") == check).row(0, named=True)
        assert (row["level"], row["severity"]) == (level, "error")


# -- findings a user reads without a join (issue 11, item 10) -------------------------


def test_findings_say_where_they_are() -> None:
    import datetime as dt

    rows = stack(12, SeriesNumber=7, SeriesDescription="Thorax 3.0", StudyDate=None)
    for row in rows:
        row["StudyDate"] = dt.date(2023, 9, 19)
    del rows[5]  # one slice missing
    f = verify(frame(rows))
    row = f.row(0, named=True)
    assert row["check"] == "missing_slices"
    assert (row["PatientID"], row["StudyDate"], row["SeriesNumber"]) == (
        "P1",
        dt.date(2023, 9, 19),
        7,
    )
    assert (row["SeriesDescription"], row["Modality"]) == ("Thorax 3.0", "CT")
    # the series by number and description before the UID; "1 slice", not "slice(s)"
    assert row["message"].startswith(
        'series 7 "Thorax 3.0" (1.2.3.2.1): 1 slice missing where the spacing'
    )
    assert f.schema["StudyDate"] == pl.Date()


def test_context_is_null_where_the_instances_differ() -> None:
    two_patients = stack(2) + stack(1, uid="1.2.3.2.8", PatientID="P2")
    row = verify(frame(two_patients)).row(0, named=True)
    assert row["check"] == "study_in_multiple_patients"
    assert row["PatientID"] is None  # two of them: never one picked
    assert row["Modality"] == "CT"  # shared by all


def test_a_series_without_number_or_description_keeps_its_uid() -> None:
    rows = stack(
        4,
        SeriesNumber=None,
        SeriesDescription=None,
        RescaleIntercept=lambda k: -1000.0 * (k % 2),
    )
    message = verify(frame(rows))["message"][0]
    assert message.startswith("series 1.2.3.2.1: 2 different RescaleSlope")
