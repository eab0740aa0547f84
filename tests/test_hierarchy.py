"""Resends and level views, on frames built in memory (no disk)."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from dicomkit.exceptions import DuplicateInstanceError
from dicomkit.hierarchy import concat_frames, level_view, resolve_resends
from tests.frames import frame, stack


def row(sop: str, **values: Any) -> dict[str, Any]:
    """One instance of the shared builder (:func:`tests.frames.stack`), SOP ``sop``."""
    attrs: dict[str, Any] = {
        "StudyInstanceUID": "1.1",
        "SOPInstanceUID": sop,
        "path": f"/d/{sop}",
        "file_size": 100,
        **values,
    }
    return stack(1, uid="1.1.1", **attrs)[0]


def test_no_duplicates_means_no_resends() -> None:
    instances, resends = resolve_resends(frame([row("1"), row("2")]))
    assert instances["SOPInstanceUID"].to_list() == ["1", "2"]
    assert resends.is_empty()
    assert {"resend", "replaced_by", "differs"} <= set(resends.columns)


def test_identical_resend_newest_wins() -> None:
    old = row("1", path="/a/old", mtime_ns=1, content_hash="h")
    new = row("1", path="/a/new", mtime_ns=2, content_hash="h")
    instances, resends = resolve_resends(frame([new, old]))
    assert instances["path"].to_list() == ["/a/new"]
    assert resends.select("path", "resend", "replaced_by").rows() == [
        ("/a/old", "identical", "/a/new")
    ]


def test_same_mtime_later_path_wins() -> None:
    a = row("1", path="/a/1", content_hash="h")
    b = row("1", path="/a/2", content_hash="h")
    instances, _ = resolve_resends(frame([b, a]))
    assert instances["path"].to_list() == ["/a/2"]


def test_modified_resend_lists_what_differs() -> None:
    old = row("1", path="/o", mtime_ns=1, PatientName="Doe^Jon", content_hash="h1")
    new = row("1", path="/n", mtime_ns=2, content_hash="h2")
    instances, resends = resolve_resends(frame([old, new]))
    assert instances["PatientName"].to_list() == ["Doe^John"]
    assert resends.select("resend", "differs").rows() == [("modified", ["PatientName"])]


def test_modified_outside_indexed_attributes() -> None:
    old = row("1", path="/o", mtime_ns=1, content_hash="h1")
    new = row("1", path="/n", mtime_ns=2, content_hash="h2")
    _, resends = resolve_resends(frame([old, new]))
    assert resends.select("resend", "differs").rows() == [("modified", [])]


@pytest.mark.parametrize(
    "column", ["SeriesInstanceUID", "StudyInstanceUID", "PatientID"]
)
def test_conflict_when_the_uid_chain_differs(column: str) -> None:
    old = row("1", path="/o", mtime_ns=1, content_hash="h")
    new = row("1", path="/n", mtime_ns=2, content_hash="h", **{column: "9.9"})
    _, resends = resolve_resends(frame([old, new]))
    assert resends["resend"].to_list() == ["conflict"]
    assert column in resends["differs"][0]


def test_without_hashes_the_indexed_attributes_decide() -> None:
    same = resolve_resends(frame([row("1", path="/o"), row("1", path="/n")]))[1]
    assert same["resend"].to_list() == ["identical"]
    changed = resolve_resends(
        frame([row("1", path="/o"), row("1", path="/n", SeriesNumber=5)])
    )[1]
    assert changed["resend"].to_list() == ["modified"]


def test_first_keeps_the_oldest() -> None:
    old = row("1", path="/o", mtime_ns=1, content_hash="h")
    new = row("1", path="/n", mtime_ns=2, content_hash="h")
    instances, resends = resolve_resends(frame([old, new]), on_duplicate="first")
    assert instances["path"].to_list() == ["/o"]
    assert resends["replaced_by"].to_list() == ["/o"]


def test_error_policy_raises_and_names_the_files() -> None:
    with pytest.raises(
        DuplicateInstanceError, match=r"1 SOPInstanceUID.*\n  1: /n, /o|/o, /n"
    ):
        resolve_resends(
            frame([row("1", path="/o"), row("1", path="/n")]), on_duplicate="error"
        )
    resolve_resends(
        frame([row("1"), row("2")]), on_duplicate="error"
    )  # no duplicate: fine


def test_rank_beats_file_times() -> None:
    newer_scan = row("1", path="/b", mtime_ns=1, content_hash="h")
    older_scan = row("1", path="/a", mtime_ns=5, content_hash="h")
    copies = frame([older_scan, newer_scan]).with_columns(pl.Series("_rank", [0, 1]))
    instances, _ = resolve_resends(copies)
    assert instances["path"].to_list() == ["/b"]


def test_bad_policy() -> None:
    with pytest.raises(ValueError, match="on_duplicate must be"):
        resolve_resends(frame([row("1")]), on_duplicate="last")  # type: ignore[arg-type]


def test_accounting_is_preserved() -> None:
    rows = [row(str(i % 7), path=f"/p/{i}", mtime_ns=i) for i in range(30)]
    instances, resends = resolve_resends(frame(rows))
    assert instances.height == 7
    assert instances.height + resends.height == 30


# -- level views ------------------------------------------------------------------


def sample() -> pl.DataFrame:
    return frame(
        [
            row("1", SeriesInstanceUID="s1", SeriesNumber=2, StudyInstanceUID="st1"),
            row("2", SeriesInstanceUID="s1", SeriesNumber=2, StudyInstanceUID="st1"),
            row(
                "3",
                SeriesInstanceUID="s2",
                SeriesNumber=1,
                StudyInstanceUID="st1",
                n_frames=10,
            ),
            row(
                "4",
                SeriesInstanceUID="s3",
                StudyInstanceUID="st2",
                PatientName="Doe^J",
                Modality="MR",
            ),
            row("5", PatientID="P2", StudyInstanceUID="st3", SeriesInstanceUID="s4"),
        ]
    )


def test_series_view_counts_and_order() -> None:
    view = level_view(sample(), "series")
    assert view["SeriesInstanceUID"].to_list() == ["s2", "s1", "s3", "s4"]
    assert view.filter(pl.col("SeriesInstanceUID") == "s1")["n_instances"].item() == 2
    assert view.filter(pl.col("SeriesInstanceUID") == "s2")["n_frames"].item() == 10
    assert view["varying"].to_list() == [[], [], [], []]


def test_patient_view_marks_varying_name_and_hides_it() -> None:
    view = level_view(sample(), "patient")
    p1 = view.filter(pl.col("PatientID") == "P1").row(0, named=True)
    assert (p1["n_studies"], p1["n_series"], p1["n_instances"]) == (2, 3, 4)
    assert p1["varying"] == ["PatientName"]
    assert p1["PatientName"] is None  # never one of the differing values
    assert p1["modalities"] == ["CT", "MR"]


def test_study_view() -> None:
    view = level_view(sample(), "study")
    st1 = view.filter(pl.col("StudyInstanceUID") == "st1").row(0, named=True)
    assert (st1["n_series"], st1["n_instances"], st1["n_frames"]) == (2, 3, 12)
    assert st1["PatientID"] == "P1"


def test_a_series_in_two_studies_is_shown_as_varying() -> None:
    df = frame([row("1", StudyInstanceUID="a"), row("2", StudyInstanceUID="b")])
    view = level_view(df, "series")
    assert view["varying"].to_list() == [["StudyInstanceUID"]]
    assert view["StudyInstanceUID"].to_list() == [None]


def test_missing_value_versus_value_varies() -> None:
    df = frame([row("1", SeriesDescription="Axial"), row("2", SeriesDescription=None)])
    assert level_view(df, "series")["varying"].to_list() == [["SeriesDescription"]]


def test_empty_frame_views() -> None:
    empty = frame([])
    for level in ("patient", "study", "series"):
        assert level_view(empty, level).is_empty()


# -- instances that are in no envelope (issue 11, item 5) ------------------------------


def unfiled() -> pl.DataFrame:
    """One real series of two instances, plus three unrelated instances without a
    StudyInstanceUID or SeriesInstanceUID (as 4 of pydicom's own test files)."""
    return frame(
        [
            row("1"),
            row("2"),
            row("3", StudyInstanceUID=None, SeriesInstanceUID=None, Modality="OT"),
            row("4", StudyInstanceUID=None, SeriesInstanceUID=None, Modality="US"),
            row("5", SeriesInstanceUID=None, Modality="SR"),  # in the study, no series
        ]
    )


def test_instances_without_uids_are_never_grouped_into_one_study_or_series() -> None:
    studies = level_view(unfiled(), "study")
    series = level_view(unfiled(), "series")
    assert studies["StudyInstanceUID"].to_list() == ["1.1"]  # no null "study"
    assert series["SeriesInstanceUID"].to_list() == ["1.1.1"]  # no null "series"
    assert studies["n_series"].to_list() == [1]
    assert studies["n_instances"].to_list() == [3]  # "5" is in the study
    patient = level_view(unfiled(), "patient").row(0, named=True)
    assert (patient["n_studies"], patient["n_series"]) == (1, 1)
    assert patient["n_instances"] == 5  # every instance stays accounted for


def test_unfiled_instances_stay_out_of_lazy_views_too() -> None:
    lazy = level_view(unfiled().lazy(), "series").collect()
    assert lazy["SeriesInstanceUID"].to_list() == ["1.1.1"]


# -- concat: the logic of dk.concat and Collection.add ----------------------------


def parts(*rows: dict[str, Any], errors: tuple[str, ...] = ()) -> Any:
    """A collection's frames (instances, resends, errors) in memory."""
    instances, resends = resolve_resends(frame(list(rows)))
    error_frame = pl.DataFrame(
        {"path": list(errors), "reason": ["not_dicom"] * len(errors)},
        schema={"path": pl.Utf8(), "reason": pl.Utf8()},
    )
    return instances, resends, error_frame


def test_concat_frames_a_later_part_is_newer_whatever_the_file_times() -> None:
    first = parts(row("1", path="/new", mtime_ns=9, content_hash="h"), row("2"))
    second = parts(row("1", path="/old", mtime_ns=1, content_hash="h"))
    instances, resends, _ = concat_frames([first, second])
    assert instances["path"].to_list() == ["/d/2", "/old"]
    assert resends.select("path", "resend", "replaced_by").rows() == [
        ("/new", "identical", "/old")
    ]
    kept, _, _ = concat_frames([first, second], on_duplicate="first")
    assert kept["path"].to_list() == ["/d/2", "/new"]


def test_concat_frames_counts_a_file_once_and_keeps_every_resend() -> None:
    one = parts(row("1", path="/a", mtime_ns=1), row("1", path="/b", mtime_ns=2))
    instances, resends, _ = concat_frames([one, one])  # the same scan twice
    assert instances["path"].to_list() == ["/b"]
    assert resends["path"].to_list() == ["/a"]  # not four rows: each file once


def test_concat_frames_hashes_only_through_the_function_passed_in() -> None:
    seen: list[int] = []

    def hash_copies(copies: pl.DataFrame) -> pl.DataFrame:
        seen.append(copies.height)
        return copies.with_columns(content_hash=pl.col("path"))  # all differ

    a, b = parts(row("1", path="/a")), parts(row("1", path="/b"))
    assert concat_frames([a, b])[1]["resend"].to_list() == ["identical"]
    _, resends, _ = concat_frames([a, b], hash_copies=hash_copies)
    assert seen == [2]
    assert resends["resend"].to_list() == ["modified"]


def test_concat_frames_keeps_one_error_row_per_path_sorted() -> None:
    a = parts(row("1"), errors=("/z", "/x"))
    b = parts(row("2"), errors=("/x",))
    _, _, errors = concat_frames([a, b])
    assert errors["path"].to_list() == ["/x", "/z"]
    with pytest.raises(ValueError, match="at least one collection"):
        concat_frames([])
