"""Scanning folders built in code into Collections: lookups, resends, parquet, display."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import dicomkit as dk
from dicomkit.io.scan import ParallelReader
from dicomkit.pipeline import scan_files
from dicomkit.render import Limits
from dicomkit.schema import DEFAULT_KEYWORDS
from tests.conftest import UID_ROOT, MakeFile

# every file make_file wrote is byte-identical at the end of each test
pytestmark = pytest.mark.usefixtures("sources_unchanged")

STUDY_A, STUDY_B = UID_ROOT + "10", UID_ROOT + "20"


@pytest.fixture
def folder(tmp_path: Path, make_file: MakeFile) -> Path:
    """Two patients, three studies, four series; one resend; two junk files."""
    for i in range(3):  # patient 1, study A, series 1 (3 slices)
        make_file(
            f"x/{i}",
            SOPInstanceUID=f"{UID_ROOT}1.{i}",
            StudyInstanceUID=STUDY_A,
            SeriesInstanceUID=STUDY_A + ".1",
            InstanceNumber=i + 1,
            mtime_ns=10**18,
        )
    make_file(
        "y/scout.dcm",
        SOPInstanceUID=UID_ROOT + "2.1",
        StudyInstanceUID=STUDY_A,
        SeriesInstanceUID=STUDY_A + ".2",
        SeriesNumber=1,
        SeriesDescription="Scout",
    )
    make_file(  # patient 1, study B (a follow-up), MR
        "z/mr",
        SOPInstanceUID=UID_ROOT + "3.1",
        StudyInstanceUID=STUDY_B,
        SeriesInstanceUID=STUDY_B + ".1",
        StudyDate="20250101",
        Modality="MR",
    )
    make_file(  # patient 2
        "p2/img",
        SOPInstanceUID=UID_ROOT + "4.1",
        PatientID="P2",
        PatientName="Other^Person",
        StudyInstanceUID=UID_ROOT + "30",
        SeriesInstanceUID=UID_ROOT + "30.1",
    )
    make_file(  # a corrected copy of x/0, sent later
        "zz/x0-corrected",
        SOPInstanceUID=f"{UID_ROOT}1.0",
        StudyInstanceUID=STUDY_A,
        SeriesInstanceUID=STUDY_A + ".1",
        SeriesDescription="Axial corrected",
        mtime_ns=2 * 10**18,
    )
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "empty").write_bytes(b"")
    return tmp_path


@pytest.fixture
def col(folder: Path) -> dk.Collection:
    return dk.scan(folder, progress=False)


def test_counts_and_accounting(col: dk.Collection) -> None:
    assert len(col) == 6
    assert (col.patients.height, col.studies.height, col.series.height) == (2, 3, 4)
    assert col.resends.height == 1
    assert sorted(col.errors["reason"]) == ["empty", "not_dicom"]
    assert col.n_files == 9  # every file seen is accounted for


def test_modified_resend_is_classified(col: dk.Collection) -> None:
    resend = col.resends.row(0, named=True)
    assert resend["path"].endswith("x/0")
    assert resend["resend"] == "modified"
    assert resend["replaced_by"].endswith("zz/x0-corrected")
    assert resend["differs"] == ["SeriesDescription"]
    series = col[STUDY_A + ".1"].series
    assert series["varying"].to_list() == [["SeriesDescription"]]


def test_identical_resend(folder: Path) -> None:
    shutil.copy2(folder / "y/scout.dcm", folder / "zz/scout-again")
    col = dk.scan(folder, progress=False)
    resends = col.resends.filter(pl.col("resend") == "identical")
    assert resends["path"].to_list() == [str(folder / "y/scout.dcm")]


def test_conflict(folder: Path, make_file: MakeFile) -> None:
    make_file(  # patient 2 reuses patient 1's scout UID
        "zz/conflict",
        SOPInstanceUID=UID_ROOT + "2.1",
        PatientID="P2",
        StudyInstanceUID=UID_ROOT + "30",
        SeriesInstanceUID=UID_ROOT + "30.1",
    )
    col = dk.scan(folder, progress=False)
    conflict = col.resends.filter(pl.col("resend") == "conflict").row(0, named=True)
    assert conflict["path"].endswith("y/scout.dcm")
    assert {"PatientID", "StudyInstanceUID", "SeriesInstanceUID"} <= set(
        conflict["differs"]
    )


def test_on_duplicate_policies(folder: Path) -> None:
    first = dk.scan(folder, progress=False, on_duplicate="first")
    assert first[UID_ROOT + "1.0"].instances["path"].item().endswith("x/0")
    with pytest.raises(dk.DuplicateInstanceError, match="x0-corrected"):
        dk.scan(folder, progress=False, on_duplicate="error")


def test_lookups(col: dk.Collection) -> None:
    assert len(col[STUDY_A]) == 4
    assert len(col[STUDY_A + ".2"]) == 1
    assert len(col[UID_ROOT + "4.1"]) == 1
    assert len(col.patient("P2")) == 1
    assert col[STUDY_A].resends.height == 1  # the resend follows its instance
    assert col[STUDY_A].errors.is_empty()


def test_unknown_uid_names_the_closest(col: dk.Collection) -> None:
    with pytest.raises(KeyError) as info:
        col[STUDY_A + "9"]
    assert isinstance(info.value, dk.UnknownUIDError)
    assert STUDY_A in info.value.candidates
    assert "closest present" in str(info.value)
    with pytest.raises(dk.UnknownUIDError, match="closest present: P2, P1"):
        col.patient("P3")


def test_filter(col: dk.Collection) -> None:
    mr = col.filter(pl.col("Modality") == "MR")
    assert isinstance(mr, dk.Collection)
    assert mr.series["Modality"].to_list() == ["MR"]
    assert len(col.filter(PatientID="P1")) == 5


def test_series_are_ordered_by_patient_date_and_number(col: dk.Collection) -> None:
    series = col.series.filter(pl.col("PatientID") == "P1")
    assert series["SeriesInstanceUID"].to_list() == [
        STUDY_A + ".2",  # SeriesNumber 1
        STUDY_A + ".1",  # SeriesNumber 2
        STUDY_B + ".1",  # the follow-up study, a year later
    ]


def test_parquet_round_trip(col: dk.Collection, tmp_path: Path) -> None:
    target = tmp_path / "out" / "index.parquet"
    target.parent.mkdir()
    col.write_parquet(target)
    again = dk.read_parquet(target)
    assert again == col
    for a, b in ((again.instances, col.instances), (again.resends, col.resends)):
        assert_frame_equal(a, b)
    assert_frame_equal(again.errors, col.errors)
    assert [p.name for p in target.parent.iterdir()] == [
        "index.parquet"
    ]  # no temp left


def test_read_parquet_refuses_foreign_files(tmp_path: Path) -> None:
    pl.DataFrame({"a": [1]}).write_parquet(tmp_path / "other.parquet")
    with pytest.raises(dk.IndexFormatError, match="not a dicomkit index"):
        dk.read_parquet(tmp_path / "other.parquet")
    (tmp_path / "junk.parquet").write_bytes(b"junk")
    with pytest.raises(dk.IndexFormatError, match="not a parquet file"):
        dk.read_parquet(tmp_path / "junk.parquet")


def test_add_and_concat(folder: Path, tmp_path: Path, make_file: MakeFile) -> None:
    base = dk.scan(folder / "x", progress=False)
    later = dk.scan(folder / "zz", progress=False)
    both = base.add(later)
    assert len(both) == 3
    assert both.resends["path"].to_list() == [str(folder / "x/0")]
    assert both.resends["resend"].to_list() == ["modified"]
    # the later collection counts as newer, whatever the file times
    reverse = dk.concat([later, base])
    assert reverse.resends["path"].to_list() == [str(folder / "zz/x0-corrected")]
    # combining a scan with itself changes nothing
    assert dk.concat([base, base]) == base


def test_parallel_scan_equals_serial(folder: Path) -> None:
    # the workers read their batches even when this process could read them all
    reader = ParallelReader(workers=2, steal_from_cold_workers=False)
    serial = dk.scan(folder, workers=1, progress=False)
    result = scan_files(folder, DEFAULT_KEYWORDS, reader=reader, progress=False)
    assert dk.Collection(*result.output) == serial
    assert dk.scan(folder, workers=2, progress=False) == serial


def test_keywords_add_columns(folder: Path) -> None:
    col = dk.scan(folder, keywords=["HighBit", "PatientAge"], progress=False)
    assert col.instances["HighBit"].to_list() == [15] * 6
    assert col.instances.schema["HighBit"] == pl.Int64()
    with pytest.raises(ValueError, match="did you mean"):
        dk.scan(folder, keywords=["Higbit"])


def test_single_file_and_list_sources(folder: Path) -> None:
    assert len(dk.scan(folder / "z" / "mr", progress=False)) == 1
    col = dk.scan(
        [folder / "x", folder / "y" / "scout.dcm", folder / "gone"], progress=False
    )
    assert len(col) == 4
    assert col.errors["reason"].to_list() == ["missing"]


def test_missing_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        dk.scan(tmp_path / "nope")


def test_text_repr(col: dk.Collection) -> None:
    text = repr(col)
    assert text.startswith(
        "dicomkit.Collection: 2 patients, 3 studies, 4 series, 6 instances"
    )
    assert "9 files = 6 instances + 1 resend + 2 errors" in text  # plural
    assert "Patient P1  Test^Patient" in text
    assert "└─ Series 2  CT  Axial" in text
    assert "[varies: SeriesDescription]" in text
    assert "errors: 1 empty, 1 not_dicom (see .errors)" in text


def test_html_repr_escapes_hostile_values(tmp_path: Path, make_file: MakeFile) -> None:
    make_file(
        "evil",
        PatientName="<script>alert(1)</script>",
        SeriesDescription="<img src=x onerror=alert(2)>" + "A" * 5000,
    )
    col = dk.scan(tmp_path, progress=False)
    page = col._repr_html_()
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img" not in page
    assert "A" * 100 not in page  # long values are clipped
    assert "A" * 100 not in repr(col)


def test_repr_truncates_thousands_of_series(
    tmp_path: Path, make_file: MakeFile
) -> None:
    from dicomkit.render import Limits, text_summary

    rows = [
        {
            "PatientID": "P",
            "StudyInstanceUID": "1",
            "SeriesInstanceUID": f"1.{i}",
            "SOPInstanceUID": f"1.{i}.1",
            "SeriesNumber": i,
            "n_frames": 1,
        }
        for i in range(3000)
    ]
    from dicomkit.schema import DEFAULT_KEYWORDS, instance_schema

    instances = pl.DataFrame(rows, schema=instance_schema(DEFAULT_KEYWORDS))
    col = dk.Collection(instances)
    text = repr(col)
    assert "3,000 series" in text
    assert "… 2,975 more series" in text
    assert len(text.splitlines()) < 40
    assert len(col._repr_html_()) < 50_000
    small = text_summary(
        col.instances,
        col.resends,
        col.errors,
        (col.patients, col.studies, col.series),
        limits=Limits(total_series=3),
    )
    assert "… 2,997 more series" in small


# -- the tree: every instance drawn, none in a false envelope (issue 11, items 5, 6) ----


def test_instances_without_study_or_series_uid_are_shown_not_filed(
    tmp_path: Path, make_file: MakeFile
) -> None:
    make_file("ok/1", SOPInstanceUID=UID_ROOT + "9.1")
    for i, modality in enumerate(("OT", "US", "MR")):  # unrelated, no Study/Series UID
        make_file(
            f"loose/{i}",
            SOPInstanceUID=f"{UID_ROOT}8.{i}",
            StudyInstanceUID=None,
            SeriesInstanceUID=None,
            Modality=modality,
        )
    make_file("loose/sr", SOPInstanceUID=UID_ROOT + "7.1", SeriesInstanceUID=None)
    col = dk.scan(tmp_path, progress=False)
    assert (col.studies.height, col.series.height, len(col)) == (1, 1, 5)
    text = repr(col)
    assert text.startswith("dicomkit.Collection: 1 patient, 1 study, 1 series, 5 inst")
    assert "not filed: 3 instances with no StudyInstanceUID" in text
    assert "not filed: 1 instance with no SeriesInstanceUID" in text
    assert "Study (no date)" not in text  # no made-up study of unrelated images
    assert "Series ?" not in text
    page = col._repr_html_()
    assert "not filed: 3 instances with no StudyInstanceUID" in page
    assert "<th>studies</th><td>1</td>" in page
    assert sorted(col.verify().filter(pl.col("check") == "missing_uid")["value"]) == [
        3.0,
        4.0,
    ]


def test_pydicom_files_without_uids_are_not_one_study() -> None:
    from tests.conftest import pydicom_test_files

    col = dk.scan(pydicom_test_files(), progress=False)
    loose = col.instances.filter(pl.col("StudyInstanceUID").is_null())
    assert loose.height >= 4  # e.g. JPEGLSNearLossless_08.dcm, SC_rgb_jls_lossy_*
    assert col.studies["StudyInstanceUID"].null_count() == 0
    assert col.series["SeriesInstanceUID"].null_count() == 0
    assert col.studies.height == col.instances["StudyInstanceUID"].n_unique() - 1
    text = col.to_text(limits=Limits(10**9, 10**9, 10**9, 10**9))
    assert f"not filed: {loose.height} instances with no StudyInstanceUID" in text
    assert f", {col.studies.height} studies, {col.series.height} series," in text
    assert "missing_uid" in col.verify()["check"].to_list()


def test_a_study_under_two_patients_is_drawn_under_each(
    tmp_path: Path, make_file: MakeFile
) -> None:
    make_file("a", SOPInstanceUID=UID_ROOT + "9.1", PatientID="P1")
    make_file(  # the same study, another patient, another series
        "b",
        SOPInstanceUID=UID_ROOT + "9.2",
        PatientID="P2",
        PatientName="Other^Person",
        SeriesInstanceUID=UID_ROOT + "2.2",
        SeriesNumber=7,
        SeriesDescription="Other",
    )
    col = dk.scan(tmp_path, progress=False)
    lines = repr(col).splitlines()
    p1 = next(i for i, line in enumerate(lines) if line.startswith("Patient P1"))
    p2 = next(i for i, line in enumerate(lines) if line.startswith("Patient P2"))
    under_p1, under_p2 = lines[p1 + 1 : p2], lines[p2 + 1 :]
    for under, other in ((under_p1, "P2"), (under_p2, "P1")):
        study = next(line for line in under if "Study " in line)
        assert f"[also under PatientID {other}]" in study
        assert any("Series 2  CT  Axial" in line for line in under)
        assert any("Series 7  CT  Other" in line for line in under)
    page = col._repr_html_()
    assert page.count("also under PatientID") == 2
    assert page.count("Series 7  CT  Other") == 2


def test_a_series_in_two_studies_is_drawn_under_each(
    tmp_path: Path, make_file: MakeFile
) -> None:
    make_file("a", SOPInstanceUID=UID_ROOT + "9.1")
    make_file(
        "b",
        SOPInstanceUID=UID_ROOT + "9.2",
        StudyInstanceUID=UID_ROOT + "1.9",
        StudyDate="20250101",
    )
    text = repr(dk.scan(tmp_path, progress=False))
    assert text.count("Series 2  CT  Axial") == 2
    assert text.count("[also in study") == 2


# -- what a user reads (issue 11, item 10) ---------------------------------------------


def test_instances_are_in_hierarchy_order(col: dk.Collection, folder: Path) -> None:
    # patient, study date, series number, instance number; never the path order
    assert [p[len(str(folder)) + 1 :] for p in col.instances["path"]] == [
        "y/scout.dcm",  # P1, study A, series 1
        "zz/x0-corrected",  # P1, study A, series 2, InstanceNumber 1
        "x/1",
        "x/2",
        "z/mr",  # P1, the follow-up study
        "p2/img",  # P2
    ]
    assert (
        col.filter(pl.col("Modality") == "CT")
        .instances["path"][0]
        .endswith("scout.dcm")
    )


def test_without_instance_numbers_instances_follow_the_slice_position() -> None:
    from dicomkit.schema import DEFAULT_KEYWORDS, instance_schema

    rows = [
        {
            "PatientID": "P",
            "StudyInstanceUID": "1.1",
            "SeriesInstanceUID": "1.1.1",
            "SOPInstanceUID": f"1.1.1.{k}",
            "ImageOrientationPatient": [-1.0, 0.0, 0.0, 0.0, 0.0, -1.0],  # normal -y
            "ImagePositionPatient": [0.0, float(y), 0.0],
            "path": f"/d/{k}",
            "n_frames": 1,
        }
        for k, y in enumerate([3.0, -1.0, 7.0, 0.0])
    ]
    col = dk.Collection(pl.DataFrame(rows, schema=instance_schema(DEFAULT_KEYWORDS)))
    ys = [p[1] for p in col.instances["ImagePositionPatient"]]
    assert ys == [7.0, 3.0, 0.0, -1.0]  # along the normal (0, -1, 0): ascending


def test_identical_resends_are_not_listed_as_wrong(folder: Path) -> None:
    shutil.copy2(folder / "y/scout.dcm", folder / "zz/scout-again")
    col = dk.scan(folder, progress=False)
    assert sorted(col.resends["resend"]) == ["identical", "modified"]
    problems = col.problems()
    assert not [line for line in problems if "identical" in line]
    assert [line for line in problems if line.startswith("warning  modified_resend")]
    assert "resends: 1 identical, 1 modified (see .resends)" in repr(col)


def test_messages_quote_paths_relative_to_the_scanned_folder(
    folder: Path, make_file: MakeFile
) -> None:
    make_file(  # patient 2 reuses patient 1's scout UID
        "zz/conflict",
        SOPInstanceUID=UID_ROOT + "2.1",
        PatientID="P2",
        StudyInstanceUID=UID_ROOT + "30",
        SeriesInstanceUID=UID_ROOT + "30.1",
    )
    col = dk.scan(folder, progress=False)
    findings = col.verify()
    assert not findings.filter(
        pl.col("message").str.contains(str(folder), literal=True)
    ).height
    conflict = findings.filter(pl.col("check") == "sop_uid_conflict")["message"].item()
    assert 'y/scout.dcm (patient P1, series 1 "Scout" (' in conflict
    assert "and zz/conflict, which was kept" in conflict
    lines = col.problems()
    assert "warning  not_dicom: notes.txt: " in "\n".join(lines)
    assert not [line for line in lines if str(folder) in line]


def test_plurals_are_right(tmp_path: Path, make_file: MakeFile) -> None:
    from dicomkit.cli import main

    make_file("a.dcm")
    col = dk.scan(tmp_path, progress=False)
    text = repr(col)
    assert text.startswith(
        "dicomkit.Collection: 1 patient, 1 study, 1 series, 1 instance\n"
    )
    assert "1 file = 1 instance + 0 resends + 0 errors" in text
    assert "Series 2  CT  Axial  1 instance  " in text
    assert main(["verify", str(tmp_path)]) == 0
    plan = col.split_series(by=["SeriesNumber"], key="k")
    assert "1 instance" in repr(plan) or "nothing to do" in repr(plan)
    from dicomkit.text import plural

    assert [
        plural(n, w) for n, w in ((1, "study"), (2, "study"), (2, "more series"))
    ] == [
        "1 study",
        "2 studies",
        "2 more series",
    ]
    assert plural(3, "info") == "3 info"
    assert plural(2, "unreadable file") == "2 unreadable files"
