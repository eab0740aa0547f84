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
    assert "9 files = 6 instances + 1 resends + 2 errors" in text
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
