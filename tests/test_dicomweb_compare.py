"""dk.compare: the resend rule across two sources, per SOPInstanceUID, rolled up."""

from __future__ import annotations

import polars as pl
import pytest

import dicomkit as dk
from dicomkit.compare import Comparison, compare_frames, rollup
from tests.conftest import SAMPLE


@pytest.fixture(scope="module")
def sample() -> dk.Collection:
    return dk.scan(SAMPLE, cache=False)


def _status(diff: Comparison, sop: str) -> str:
    return str(diff.instances.filter(pl.col("SOPInstanceUID") == sop)["status"][0])


def test_a_collection_equals_itself(sample: dk.Collection) -> None:
    diff = dk.compare(sample, sample)
    assert diff.counts == {
        "identical": 213,
        "modified": 0,
        "conflict": 0,
        "only_in_a": 0,
        "only_in_b": 0,
    }
    assert diff.series.height == 9
    assert diff.studies.height == 5
    assert set(diff.series["status"]) == {"identical"}
    assert "213 SOPInstanceUIDs (213 identical)" in repr(diff)


def test_every_status(sample: dk.Collection) -> None:
    a = sample.instances
    sops = a.sort("SOPInstanceUID")["SOPInstanceUID"].to_list()
    gone, extra, changed, moved = sops[0], sops[1], sops[2], sops[3]
    b = a.filter(pl.col("SOPInstanceUID") != gone).with_columns(
        pl.when(pl.col("SOPInstanceUID") == changed)
        .then(pl.lit("CORRECTED"))
        .otherwise(pl.col("SeriesDescription"))
        .alias("SeriesDescription"),
        pl.when(pl.col("SOPInstanceUID") == moved)
        .then(pl.lit("9.9.9"))
        .otherwise(pl.col("SeriesInstanceUID"))
        .alias("SeriesInstanceUID"),
        pl.lit("http://127.0.0.1:1/x").alias("path"),  # own columns never count
        pl.lit(None, pl.Utf8).alias("TransferSyntaxUID"),  # ignored by default
    )
    a = a.filter(pl.col("SOPInstanceUID") != extra)
    diff = dk.compare(a, b)
    assert _status(diff, gone) == "only_in_a"
    assert _status(diff, extra) == "only_in_b"
    assert _status(diff, changed) == "modified"
    assert _status(diff, moved) == "conflict"
    assert diff.counts["identical"] == 213 - 4
    row = diff.instances.filter(pl.col("SOPInstanceUID") == changed).row(0, named=True)
    assert row["differs"] == ["SeriesDescription"]
    only_b = diff.instances.filter(pl.col("SOPInstanceUID") == extra).row(0, named=True)
    assert only_b["path_a"] is None
    assert only_b["SeriesInstanceUID_a"] is None
    assert only_b["path_b"] == "http://127.0.0.1:1/x"
    moved_row = diff.instances.filter(pl.col("SOPInstanceUID") == moved).row(
        0, named=True
    )
    assert moved_row["SeriesInstanceUID_b"] == "9.9.9"
    assert "SeriesInstanceUID" in moved_row["differs"]
    # rolled up: the conflicting instance counts under both series
    conflict_series = diff.series.filter(pl.col("n_conflict") > 0)
    assert set(conflict_series["SeriesInstanceUID"]) == {
        moved_row["SeriesInstanceUID_a"],
        "9.9.9",
    }
    assert diff.series["n_instances"].sum() == 213 + 1
    mixed = diff.series.filter(pl.col("status") == "mixed")
    assert mixed.height >= 1
    assert diff.studies["n_instances"].sum() == 213  # the same study on both sides
    # TransferSyntaxUID compared when asked
    strict = dk.compare(a, b, ignore=())
    assert strict.counts["identical"] == 0


def test_nulls_equal_nulls_and_frames_are_accepted(sample: dk.Collection) -> None:
    a = sample.instances.with_columns(pl.lit(None, pl.Utf8).alias("StationName"))
    diff = compare_frames(a, a)
    assert set(diff["status"]) == {"identical"}
    b = a.with_columns(pl.lit("X").alias("StationName"))
    assert set(compare_frames(a, b)["status"]) == {"modified"}


def test_rollup_of_one_side_only(sample: dk.Collection) -> None:
    empty = sample.instances.clear()
    diff = compare_frames(sample.instances, empty)
    studies = rollup(diff, "study")
    assert studies.height == 5
    assert set(studies["status"]) == {"only_in_a"}
    assert studies["n_only_in_a"].sum() == 213
    assert rollup(compare_frames(empty, sample.instances), "series")[
        "n_only_in_b"
    ].sum() == (213)


def test_unresolved_copies_are_refused(sample: dk.Collection) -> None:
    doubled = pl.concat([sample.instances, sample.instances.head(2)])
    with pytest.raises(ValueError, match="more than once in one side"):
        dk.compare(doubled, sample)
    with pytest.raises(ValueError, match="SOPInstanceUID column"):
        dk.compare(pl.DataFrame({"x": [1]}), sample)
