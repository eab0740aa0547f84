"""Partitioned indexes: dk.scan_to_parquet, dk.scan_parquet and dk.read_parquet(dir)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import dicomkit as dk
from tests.conftest import SAMPLE, MakeFile


@pytest.fixture(scope="module")
def sample() -> dk.Collection:
    return dk.scan(SAMPLE, workers=1, progress=False, cache=False)


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("index") / "sample-index"
    dk.scan_to_parquet(SAMPLE, dest, workers=2, progress=False, rows_per_part=40)
    return dest


def test_the_index_holds_the_collection_a_scan_gives(
    index: Path, sample: dk.Collection
) -> None:
    parts = sorted(os.listdir(index))
    assert len(parts) >= 2  # 219 rows in batches of 128, parts of at least 40 rows
    assert all(p.startswith("part-") and p.endswith(".parquet") for p in parts)
    assert dk.read_parquet(index) == sample
    assert dk.scan_parquet(index).collect() == sample


def test_the_lazy_views_equal_the_eager_ones(
    index: Path, sample: dk.Collection
) -> None:
    lazy = dk.scan_parquet(index)
    assert isinstance(lazy.series, pl.LazyFrame)
    for level in ("patients", "studies", "series"):
        got = getattr(lazy, level).collect(engine="streaming")
        assert_frame_equal(got, getattr(sample, level))
    assert_frame_equal(
        lazy.resends.collect().sort("path"), sample.resends, check_row_order=True
    )
    assert lazy.errors.collect().height == sample.errors.height == 3
    assert "sample-index" in repr(lazy)


def test_any_parquet_reader_sees_one_table(index: Path) -> None:
    table = pl.scan_parquet(index).collect()  # the folder, as polars reads it
    counts = dict(table.group_by("record").len().iter_rows())
    assert counts == {"instance": 213, "resend": 3, "error": 3}
    duckdb = pytest.importorskip("duckdb")
    rows = duckdb.sql(
        f"SELECT record, count(*) FROM read_parquet('{index}/*.parquet') "
        "GROUP BY record ORDER BY record"
    ).fetchall()
    assert rows == [("error", 3), ("instance", 213), ("resend", 3)]
    spacing = duckdb.sql(
        f"SELECT PixelSpacing FROM read_parquet('{index}/*.parquet') "
        "WHERE PixelSpacing IS NOT NULL LIMIT 1"
    ).fetchall()
    assert len(spacing[0][0]) == 2  # list columns stay lists


def test_resends_across_parts_are_resolved_and_hashed(
    tmp_path: Path, make_file: MakeFile
) -> None:
    uid = "1.2.826.0.1.3680043.10.1234.3."
    for i in range(30):
        make_file(f"src/a{i:02d}.dcm", SOPInstanceUID=f"{uid}{i}", mtime_ns=10**18)
    # the same image sent again later, identical; and a modified one
    make_file("src/z-again.dcm", SOPInstanceUID=f"{uid}0", mtime_ns=2 * 10**18)
    make_file(
        "src/z-fixed.dcm",
        SOPInstanceUID=f"{uid}1",
        PatientName="Fixed^Name",
        mtime_ns=2 * 10**18,
    )
    dest = tmp_path / "index"
    lazy = dk.scan_to_parquet(tmp_path / "src", dest, workers=1, rows_per_part=8)
    want = dk.scan(tmp_path / "src", workers=1, progress=False, cache=False)
    assert dk.read_parquet(dest) == want
    resends = lazy.resends.collect().sort("path")
    assert resends["resend"].to_list() == ["identical", "modified"]
    assert resends["content_hash"].null_count() == 0
    assert lazy.instances.collect().height == 30
    assert (tmp_path / "src" / "a00.dcm").exists()  # sources untouched


def test_the_walk_is_taken_in_chunks(tmp_path: Path, sample: dk.Collection) -> None:
    from dicomkit.io.source import FileSource
    from dicomkit.pipeline import scan_to_index
    from dicomkit.schema import DEFAULT_KEYWORDS

    chunks = list(FileSource(SAMPLE, chunk=50).walk())  # 219 paths: five chunks
    assert [len(e) + w.height for e, w in chunks] == [50, 50, 50, 50, 19]
    (tmp_path / "empty").mkdir()
    [(entries, errors)] = FileSource(tmp_path / "empty", chunk=50).walk()
    assert (entries, errors.height) == ([], 0)
    result = scan_to_index(
        SAMPLE,
        tmp_path / "index",
        DEFAULT_KEYWORDS,
        workers=1,
        rows_per_part=1,
        walk_chunk=50,
    )
    assert result.output == str(tmp_path / "index")
    assert (result.stats.n_files, result.stats.n_read) == (219, 219)
    assert dk.read_parquet(tmp_path / "index") == sample
    assert len(os.listdir(tmp_path / "index")) >= 5  # a part per batch


def test_on_duplicate_error_leaves_nothing_behind(
    tmp_path: Path, make_file: MakeFile
) -> None:
    make_file("src/a.dcm")
    make_file("src/b.dcm")  # the same SOPInstanceUID
    with pytest.raises(dk.DuplicateInstanceError):
        dk.scan_to_parquet(tmp_path / "src", tmp_path / "index", on_duplicate="error")
    assert sorted(os.listdir(tmp_path)) == ["src"]  # no index, no hidden folder


def test_an_earlier_index_is_replaced_and_other_folders_refused(
    tmp_path: Path, make_file: MakeFile
) -> None:
    make_file("src/a.dcm")
    dest = tmp_path / "index"
    dk.scan_to_parquet(tmp_path / "src", dest)
    make_file("src/b.dcm", SOPInstanceUID="1.2.826.0.1.3680043.10.1234.3.2")
    dk.scan_to_parquet(tmp_path / "src", dest)
    assert len(dk.read_parquet(dest)) == 2
    assert sorted(os.listdir(tmp_path)) == ["index", "src"]

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match=r"notes\.txt"):
        dk.scan_to_parquet(tmp_path / "src", mine)
    assert (mine / "notes.txt").read_text() == "keep me"
    with pytest.raises(FileExistsError, match="not a folder"):
        dk.scan_to_parquet(tmp_path / "src", mine / "notes.txt")


def test_an_index_inside_the_source_is_not_scanned(
    tmp_path: Path, make_file: MakeFile
) -> None:
    make_file("src/a.dcm")
    dest = tmp_path / "src" / "index"
    dk.scan_to_parquet(tmp_path / "src", dest)
    again = dk.scan_to_parquet(tmp_path / "src", dest).collect()
    assert again.n_files == 1
    assert again.errors.is_empty()


def test_an_empty_source_gives_an_empty_index_with_every_column(
    tmp_path: Path, sample: dk.Collection
) -> None:
    (tmp_path / "empty").mkdir()
    dk.scan_to_parquet(tmp_path / "empty", tmp_path / "i")
    col = dk.read_parquet(tmp_path / "i")
    assert col.n_files == 0
    assert col.instances.schema == sample.instances.schema


def test_a_thread_pool_executor_writes_the_same_index(
    tmp_path: Path, sample: dk.Collection
) -> None:
    with ThreadPoolExecutor(2) as executor:
        dk.scan_to_parquet(
            SAMPLE, tmp_path / "index", executor=executor, rows_per_part=100
        )
    assert dk.read_parquet(tmp_path / "index") == sample


def test_a_folder_that_is_not_an_index_is_refused(tmp_path: Path) -> None:
    (tmp_path / "nothing").mkdir()
    with pytest.raises(dk.IndexFormatError, match="without index parts"):
        dk.scan_parquet(tmp_path / "nothing")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    pl.DataFrame({"a": [1]}).write_parquet(mixed / "part-00000.parquet")
    with pytest.raises(dk.IndexFormatError, match="not a dicomkit index"):
        dk.read_parquet(mixed)
    with pytest.raises(FileNotFoundError):
        dk.scan_parquet(tmp_path / "missing.parquet")


def test_parts_of_two_indexes_are_refused(tmp_path: Path, make_file: MakeFile) -> None:
    make_file("src/a.dcm")
    dk.scan_to_parquet(tmp_path / "src", tmp_path / "one")
    dk.scan_to_parquet(tmp_path / "src", tmp_path / "two", keywords=["SequenceName"])
    os.replace(
        tmp_path / "two" / "part-00000.parquet", tmp_path / "one" / "part-00001.parquet"
    )
    with pytest.raises(dk.IndexFormatError, match="disagree on their columns"):
        dk.scan_parquet(tmp_path / "one")


def test_rows_per_part_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rows_per_part"):
        dk.scan_to_parquet(SAMPLE, tmp_path / "i", rows_per_part=0)
