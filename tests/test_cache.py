"""The incremental scan cache: rescans read only what changed, and equal fresh scans.

Every test keeps both the data and the cache folder under ``tmp_path``
(``DICOMKIT_CACHE_DIR``), never the user's cache folder.
"""

from __future__ import annotations

import builtins
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import dicomkit as dk
from dicomkit import pipeline
from dicomkit.corpus import write_corpus
from dicomkit.io import cache
from dicomkit.io.cache import CacheStats
from dicomkit.io.scan import InProcessReader, OnBatch
from dicomkit.io.walk import FileEntry
from dicomkit.schema import validate_keywords
from tests.conftest import UID_ROOT, MakeFile, make_dataset, write_dataset

T0 = 1_700_000_000_123_456_789  # a fixed past mtime (ns), not a whole second


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("DICOMKIT_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def data(make_file: MakeFile, tmp_path: Path) -> Path:
    """Instances, an identical resend, a non-DICOM file and a broken link."""
    for i in range(4):
        make_file(
            f"data/s{i // 2}/im{i}.dcm",
            SOPInstanceUID=f"{UID_ROOT}3.{i}",
            SeriesInstanceUID=f"{UID_ROOT}2.{i // 2}",
            InstanceNumber=i + 1,
            mtime_ns=T0 + i,
        )
    make_file(  # an identical resend of im0
        "data/again/im0",
        SOPInstanceUID=f"{UID_ROOT}3.0",
        SeriesInstanceUID=f"{UID_ROOT}2.0",
        InstanceNumber=1,
        mtime_ns=T0 + 10,
    )
    (tmp_path / "data" / "notes.txt").write_text("not an image")
    (tmp_path / "data" / "dangling").symlink_to(tmp_path / "nowhere")
    return tmp_path / "data"


#: The stats of the last scan() below.
_last: list[CacheStats] = []


def scan(source: Any, **kwargs: Any) -> dk.Collection:
    """``dk.scan(source, **kwargs)``, through the pipeline it runs, keeping its stats."""
    keywords = validate_keywords(kwargs.pop("keywords", None))
    result = pipeline.scan_files(source, keywords, progress=False, **kwargs)
    _last[:] = [result.stats]
    return dk.Collection(*result.output)


def stats() -> CacheStats:
    """What the last scan() did with its cache."""
    return _last[-1]


def assert_same(got: dk.Collection, want: dk.Collection) -> None:
    """Equal collections, schemas and row order included."""
    assert got == want
    for a, b in (
        (got.instances, want.instances),
        (got.resends, want.resends),
        (got.errors, want.errors),
    ):
        assert_frame_equal(a, b)


def cache_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.parquet")) if folder.exists() else []


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def metadata(path: Path) -> dict[str, Any]:
    meta = json.loads(pl.read_parquet_metadata(path)[cache.METADATA_KEY])
    assert isinstance(meta, dict)
    return meta


# -- first scan, unchanged rescan ----------------------------------------------


def test_first_scan_writes_the_cache_outside_the_folder(
    data: Path, cache_dir: Path
) -> None:
    before = listing(data)
    first = scan(data, cache=True)
    assert stats().n_read == 6
    assert stats().written
    assert listing(data) == before  # nothing written into the scanned folder
    [written] = cache_files(cache_dir)
    assert stats().path == str(written)
    assert written.name.startswith("scan-")
    meta = metadata(written)
    assert meta["complete"] is True
    assert meta["source"] == [str(data)]
    assert meta["on_duplicate"] == "newest"
    assert_same(first, scan(data, cache=False))
    assert (len(first), first.resends.height, first.errors.height) == (4, 1, 2)


def test_unchanged_rescan_reads_nothing(data: Path, cache_dir: Path) -> None:
    scan(data, cache=True)
    [written] = cache_files(cache_dir)
    stamp = written.stat().st_mtime_ns
    again = scan(data, cache=True)
    assert stats() == CacheStats(
        path=str(written),
        n_files=6,
        n_cached=6,
        n_read=0,
        n_removed=0,
        reused_resolution=True,
        written=False,
    )
    assert written.stat().st_mtime_ns == stamp  # not rewritten
    assert_same(again, scan(data, cache=False))


def test_the_cache_is_plain_parquet(data: Path, cache_dir: Path) -> None:
    scan(data, cache=True)
    [written] = cache_files(cache_dir)
    table = pl.read_parquet(written)
    assert sorted(table["record"].unique()) == ["error", "instance", "resend"]
    assert table.height == 6  # walk errors (the broken link) are not kept
    assert oct(written.stat().st_mode & 0o777) == "0o600"  # it holds patient data


# -- changes between scans -----------------------------------------------------


def test_added_file_is_the_only_one_read(data: Path, make_file: MakeFile) -> None:
    scan(data, cache=True)
    make_file("data/s9/new.dcm", SOPInstanceUID=UID_ROOT + "3.9", mtime_ns=T0)
    again = scan(data, cache=True)
    assert (stats().n_read, stats().n_cached, stats().n_removed) == (1, 6, 0)
    assert not stats().reused_resolution
    assert_same(again, scan(data, cache=False))
    assert len(again) == 5


def test_removed_file_is_dropped(data: Path) -> None:
    scan(data, cache=True)
    (data / "s1" / "im3.dcm").unlink()
    again = scan(data, cache=True)
    assert (stats().n_read, stats().n_cached, stats().n_removed) == (0, 5, 1)
    assert_same(again, scan(data, cache=False))
    assert len(again) == 3


def test_modified_file_is_read_again(data: Path, make_file: MakeFile) -> None:
    scan(data, cache=True)
    make_file(
        "data/s1/im2.dcm",
        SOPInstanceUID=f"{UID_ROOT}3.2",
        SeriesInstanceUID=f"{UID_ROOT}2.1",
        SeriesDescription="Corrected",
        mtime_ns=T0 - 10**9,
    )
    again = scan(data, cache=True)
    assert (stats().n_read, stats().n_cached, stats().n_removed) == (1, 5, 0)
    assert_same(again, scan(data, cache=False))
    assert "Corrected" in again.instances["SeriesDescription"].to_list()


def test_same_size_new_mtime_is_read_again(data: Path) -> None:
    scan(data, cache=True)
    junk = data / "notes.txt"
    junk.write_text("NOT an image")  # same size
    os.utime(junk, ns=(T0, T0))
    again = scan(data, cache=True)
    assert stats().n_read == 1
    assert stats().reused_resolution  # only an error row changed
    assert_same(again, scan(data, cache=False))


def test_added_modified_and_removed_together(
    data: Path, make_file: MakeFile, tmp_path: Path
) -> None:
    scan(data, cache=True)
    make_file("data/s9/new.dcm", SOPInstanceUID=UID_ROOT + "3.9", mtime_ns=T0)
    make_file("data/s0/im1.dcm", SOPInstanceUID=UID_ROOT + "3.1", PatientID="P7")
    os.utime(data / "s0" / "im1.dcm", ns=(T0 - 5, T0 - 5))
    (data / "again" / "im0").unlink()
    (tmp_path / "data" / "empty").write_bytes(b"")
    again = scan(data, cache=True)
    assert (stats().n_read, stats().n_removed) == (3, 1)
    assert_same(again, scan(data, cache=False))
    assert again.resends.is_empty()


def test_resends_follow_changes(data: Path) -> None:
    """Content hashes are kept for repeated UIDs only, as a fresh scan has them."""
    first = scan(data, cache=True)
    assert first.resends["resend"].to_list() == ["identical"]
    (data / "again" / "im0").unlink()  # the UID no longer repeats
    once = scan(data, cache=True)
    assert once.instances["content_hash"].null_count() == len(once)
    assert_same(once, scan(data, cache=False))
    shutil.copy2(data / "s0" / "im1.dcm", data / "copy-of-im1")  # now this one does
    twice = scan(data, cache=True)
    assert stats().n_read == 1
    assert twice.resends["resend"].to_list() == ["identical"]
    assert_same(twice, scan(data, cache=False))


def test_other_on_duplicate_resolves_again_without_reading(data: Path) -> None:
    scan(data, cache=True)
    first = scan(data, cache=True, on_duplicate="first")
    assert stats().n_read == 0
    assert not stats().reused_resolution
    assert_same(first, scan(data, cache=False, on_duplicate="first"))
    with pytest.raises(dk.DuplicateInstanceError):
        scan(data, cache=True, on_duplicate="error")
    scan(data, cache=True)
    assert stats().n_read == 0  # the copies survived the error


def test_a_file_newer_than_the_scan_is_not_trusted(
    data: Path, make_file: MakeFile
) -> None:
    future = make_file("data/later.dcm", SOPInstanceUID=UID_ROOT + "3.8")
    stamp = future.stat().st_mtime_ns + 3600 * 10**9
    os.utime(future, ns=(stamp, stamp))  # it may still change within its tick
    scan(data, cache=True)
    again = scan(data, cache=True)
    assert stats().n_read == 1
    assert_same(again, scan(data, cache=False))


def test_a_recent_whole_second_mtime_is_read_once_more(
    data: Path, make_file: MakeFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    recent = make_file("data/recent.dcm", SOPInstanceUID=UID_ROOT + "3.7")
    stamp = recent.stat().st_mtime_ns // 10**9 * 10**9  # as on FAT, ext3, HFS+
    os.utime(recent, ns=(stamp, stamp))
    scan(data, cache=True)
    scan(data, cache=True)
    assert stats().n_read == 1  # within the window before the first scan began
    monkeypatch.setattr(cache, "COARSE_MTIME_WINDOW_NS", 0)  # as if much later
    again = scan(data, cache=True)
    assert stats().n_read == 0
    assert_same(again, scan(data, cache=False))


Step = tuple[str, int, int]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.lists(
            st.tuples(
                st.sampled_from(["write", "remove", "junk", "touch"]),
                st.integers(0, 3),  # which file
                st.integers(0, 1),  # which SOPInstanceUID (copies repeat)
            ),
            max_size=4,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_any_history_of_changes_equals_a_fresh_scan(
    history: list[list[Step]],
) -> None:
    """After any sequence of writes, removals and touches, cached == fresh."""
    with tempfile.TemporaryDirectory() as tmp:
        folder, target = Path(tmp) / "data", Path(tmp) / "cache.parquet"
        folder.mkdir()
        clock = T0
        for changes in history:
            for action, which, uid in changes:
                path = folder / f"f{which}"
                clock += 1_000_003
                if action == "remove":
                    path.unlink(missing_ok=True)
                    continue
                if action == "touch" and not path.exists():
                    continue
                if action == "write":
                    write_dataset(
                        path,
                        make_dataset(
                            SOPInstanceUID=f"{UID_ROOT}3.{uid}",
                            SeriesDescription=f"v{clock % 7}",
                        ),
                    )
                elif action == "junk":
                    path.write_bytes(b"junk %d" % clock)
                os.utime(path, ns=(clock, clock))
            got = scan(folder, cache=target)
            assert_same(got, scan(folder, cache=False))
        scan(folder, cache=target)
        assert stats().n_read == 0


# -- what is not trusted -------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"\x00garbage, not parquet" * 20, "not a parquet file"),
        (None, "no 'dicomkit-cache' metadata"),
    ],
    ids=["garbage", "foreign-parquet"],
)
def test_a_damaged_or_foreign_cache_is_ignored(
    data: Path, cache_dir: Path, content: bytes | None, why: str
) -> None:
    scan(data, cache=True)
    [written] = cache_files(cache_dir)
    if content is None:
        pl.DataFrame({"a": [1]}).write_parquet(written)
    else:
        written.write_bytes(content)
    with pytest.warns(RuntimeWarning, match=why) as record:
        again = scan(data, cache=True)
    assert str(written) in str(record[0].message)
    assert stats().n_read == 6
    assert stats().written
    assert_same(again, scan(data, cache=False))
    scan(data, cache=True)  # rewritten: trusted again, no warning
    assert stats().n_read == 0


def rewrite(
    path: Path, change: Callable[[pl.DataFrame, dict[str, Any]], pl.DataFrame]
) -> None:
    """Rewrite a cache file after ``change(table, meta)`` edits it."""
    table = pl.read_parquet(path)
    meta = metadata(path)
    table = change(table, meta)
    table.write_parquet(path, metadata={cache.METADATA_KEY: json.dumps(meta)})


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        (lambda t, m: m.update(format=99) or t, "cache format 99"),
        (lambda t, m: m.update(source=["/elsewhere"]) or t, "another source"),
        (lambda t, m: m.update(recursive=False) or t, "another recursive"),
        (lambda t, m: t.drop("differs"), "columns"),
        (lambda t, m: t.with_columns(pl.col("mtime_ns").cast(pl.Utf8)), "columns"),
        (lambda t, m: pl.concat([t, t.head(1)]), "one per file"),
        (lambda t, m: t.with_columns(pl.lit("pickle").alias("record")), "one per"),
    ],
    ids=["format", "source", "recursive", "column", "dtype", "dupe", "record"],
)
def test_an_inconsistent_cache_is_ignored(
    data: Path, cache_dir: Path, edit: Any, why: str
) -> None:
    scan(data, cache=True)
    [written] = cache_files(cache_dir)
    rewrite(written, edit)
    with pytest.warns(RuntimeWarning, match=why):
        again = scan(data, cache=True)
    assert stats().n_read == 6
    assert_same(again, scan(data, cache=False))


def test_a_cache_of_another_dicomkit_version_is_rebuilt_quietly(
    data: Path, cache_dir: Path
) -> None:
    scan(data, cache=True)
    [written] = cache_files(cache_dir)
    rewrite(written, lambda t, m: m.update(dicomkit="0.0.1") or t)
    scan(data, cache=True)  # filterwarnings = error: no warning
    assert stats().n_read == 6
    assert metadata(written)["dicomkit"] == dk.__version__


def test_a_cache_of_another_reader_version_is_rebuilt_quietly(
    data: Path, cache_dir: Path
) -> None:
    scan(data, cache=True)
    [written] = cache_files(cache_dir)
    assert metadata(written)["reader"] == cache.READER_VERSION
    # rows an older header reader wrote
    rewrite(written, lambda t, m: m.update(reader=cache.READER_VERSION - 1) or t)
    again = scan(data, cache=True)  # filterwarnings = error: no warning
    assert stats().n_read == 6  # a reader fix reaches the rows of a cached scan
    assert metadata(written)["reader"] == cache.READER_VERSION
    assert_same(again, scan(data, cache=False))


def test_the_cache_carries_the_installed_package_version(
    data: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.metadata

    scan(data, cache=True)
    [written] = cache_files(cache_dir)
    assert metadata(written)["dicomkit"] == importlib.metadata.version("dicomkit")
    real = importlib.metadata.version
    monkeypatch.setattr(
        importlib.metadata,
        "version",
        lambda name: "9.9.9" if name == "dicomkit" else real(name),
    )
    scan(data, cache=True)  # as after `pip install -U dicomkit`
    assert stats().n_read == 6
    assert metadata(written)["dicomkit"] == "9.9.9"


def test_an_unreadable_row_is_always_read_again(data: Path, cache_dir: Path) -> None:
    scan(data, cache=True)
    [written] = cache_files(cache_dir)

    def unreadable(table: pl.DataFrame, meta: dict[str, Any]) -> pl.DataFrame:
        return table.with_columns(
            pl.when(pl.col("reason") == "not_dicom")
            .then(pl.lit("unreadable"))
            .otherwise(pl.col("reason"))
            .alias("reason")
        )

    rewrite(written, unreadable)  # as if permissions had been fixed since
    again = scan(data, cache=True)
    assert stats().n_read == 1
    assert again.errors["reason"].to_list() == ["broken_link", "not_dicom"]
    assert_same(again, scan(data, cache=False))


def test_unreadable_files_do_not_defeat_the_fast_path(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = data / "locked.dcm"
    shutil.copy2(data / "s0" / "im0.dcm", locked)
    real_open, real_os_open = builtins.open, os.open

    def refusing(opener: Any) -> Any:
        def refusing_open(file: Any, *args: Any, **kwargs: Any) -> Any:
            if not isinstance(file, int) and os.fspath(file) == str(locked):
                # as chmod 0 would, even for root
                raise PermissionError(13, "Permission denied", str(locked))
            return opener(file, *args, **kwargs)

        return refusing_open

    monkeypatch.setattr(builtins, "open", refusing(real_open))
    monkeypatch.setattr(os, "open", refusing(real_os_open))
    scan(data, cache=True)
    again = scan(data, cache=True)
    assert (stats().n_read, stats().reused_resolution) == (1, True)
    assert not stats().written  # read again, found unchanged
    assert "unreadable" in again.errors["reason"].to_list()
    assert_same(again, scan(data, cache=False))
    monkeypatch.setattr(builtins, "open", real_open)  # permissions fixed
    monkeypatch.setattr(os, "open", real_os_open)
    fixed = scan(data, cache=True)
    assert stats().n_read == 1
    assert_same(fixed, scan(data, cache=False))
    assert fixed.resends.height == 2


def test_other_keywords_use_another_cache(data: Path, cache_dir: Path) -> None:
    scan(data, cache=True)
    more = scan(data, cache=True, keywords=["HighBit"])
    assert stats().n_read == 6
    assert len(cache_files(cache_dir)) == 2
    assert_same(more, scan(data, cache=False, keywords=["HighBit"]))
    scan(data, cache=True, keywords=["HighBit"])
    assert stats().n_read == 0


def test_an_explicit_cache_of_other_keywords_is_not_reused(
    data: Path, tmp_path: Path
) -> None:
    target = tmp_path / "mine.parquet"
    scan(data, cache=target)
    with pytest.warns(RuntimeWarning, match="another keywords"):
        more = scan(data, cache=target, keywords=["HighBit"])
    assert stats().n_read == 6
    assert_same(more, scan(data, cache=False, keywords=["HighBit"]))


def test_a_foreign_file_at_a_cache_path_is_never_overwritten(
    data: Path, tmp_path: Path
) -> None:
    index = tmp_path / "index.parquet"
    scan(data, cache=False).write_parquet(index)  # cache= confused with the index
    before = index.read_bytes()
    with pytest.warns(RuntimeWarning, match="not a dicomkit scan cache") as record:
        col = scan(data, cache=index)
    assert "left as it is" in str(record[0].message)
    assert index.read_bytes() == before
    assert stats().n_read == 6
    assert not stats().written
    assert_same(col, scan(data, cache=False))


# -- interrupted scans -----------------------------------------------------------


class Interrupt:
    """A reader of batches of 10 that stops with Ctrl-C after ``stop`` batches.

    ``on_stop`` runs just before the interrupt (e.g. to snapshot the cache file).
    """

    def __init__(self, stop: int, on_stop: Callable[[], None] = lambda: None) -> None:
        self.stop = stop
        self.on_stop = on_stop

    def read(
        self, entries: Sequence[FileEntry], keywords: tuple[str, ...], on_batch: OnBatch
    ) -> None:
        for n, start in enumerate(range(0, len(entries), 10)):
            if n == self.stop:
                self.on_stop()
                raise KeyboardInterrupt
            InProcessReader().read(entries[start : start + 10], keywords, on_batch)


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "corpus"
    write_corpus(folder, 100)
    monkeypatch.setattr(cache, "CHECKPOINT_FILES", 20)
    monkeypatch.setattr(cache, "CHECKPOINT_SECONDS", 3600.0)
    return folder


def test_ctrl_c_saves_what_was_read(
    corpus: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(KeyboardInterrupt):
        scan(corpus, cache=True, reader=Interrupt(stop=5))
    [partial] = cache_files(cache_dir)
    meta = metadata(partial)
    assert (meta["complete"], meta["on_duplicate"]) == (False, None)
    assert pl.read_parquet(partial)["record"].unique().to_list() == ["copy"]
    resumed = scan(corpus, cache=True)
    assert (stats().n_cached, stats().n_read) == (50, 50)
    assert_same(resumed, scan(corpus, cache=False))
    assert metadata(partial)["complete"] is True
    scan(corpus, cache=True)
    assert stats().n_read == 0


def test_a_killed_scan_resumes_from_its_last_checkpoint(
    corpus: Path, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot = tmp_path / "snapshot.parquet"

    def take_snapshot() -> None:  # the cache as a SIGKILL would leave it
        [partial] = cache_files(cache_dir)
        shutil.copy2(partial, snapshot)

    with pytest.raises(KeyboardInterrupt):
        scan(corpus, cache=True, reader=Interrupt(5, take_snapshot))
    [partial] = cache_files(cache_dir)
    shutil.copy2(snapshot, partial)  # undo the save on interrupt
    assert pl.read_parquet(partial).height == 40  # checkpoints after 20 and 40 files
    resumed = scan(corpus, cache=True)
    assert (stats().n_cached, stats().n_read) == (40, 60)
    assert_same(resumed, scan(corpus, cache=False))


def test_a_rescan_interrupted_keeps_the_unchanged_rows(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scan(corpus, cache=True)
    for path in sorted(corpus.rglob("IM*"))[:30]:  # 30 files modified
        os.utime(path, ns=(T0, T0))
    with pytest.raises(KeyboardInterrupt):
        scan(corpus, cache=True, reader=Interrupt(stop=2))
    resumed = scan(corpus, cache=True)
    assert (stats().n_cached, stats().n_read) == (90, 10)
    assert_same(resumed, scan(corpus, cache=False))


def test_a_time_checkpoint(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "CHECKPOINT_FILES", 10**9)
    monkeypatch.setattr(cache, "CHECKPOINT_SECONDS", 0.0)
    scan(corpus, cache=True, reader=InProcessReader(batch_size=10))
    assert stats().n_checkpoints == 10  # one checkpoint per batch
    assert stats().written  # then the end


# -- when the cache is used, and where -------------------------------------------


def test_cache_false_writes_nothing(data: Path, cache_dir: Path) -> None:
    before = listing(data.parent)
    scan(data, cache=False)
    assert stats().path is None
    assert stats().n_read == 6
    assert listing(data.parent) == before
    assert not cache_dir.exists()


def test_a_cache_path_is_used_as_given(
    data: Path, cache_dir: Path, tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere" / "index-cache.parquet"
    first = scan(data, cache=target)
    assert target.is_file()
    assert stats().path == str(target)
    assert not cache_dir.exists()
    again = scan(data, cache=str(target))
    assert stats().n_read == 0
    assert_same(again, first)


def test_a_cache_path_inside_the_folder_is_not_scanned(data: Path) -> None:
    target = data / "cache.parquet"
    (data / ".dicomkit-cache-left-over.parquet.tmp").write_bytes(b"half a write")
    first = scan(data, cache=target)
    assert target.is_file()
    again = scan(data, cache=target)
    assert stats().n_read == 0
    paths = [*again.instances["path"], *again.resends["path"], *again.errors["path"]]
    assert not [p for p in paths if "cache" in os.path.basename(p)]
    assert_same(again, first)


def test_default_is_off_for_small_folders_files_and_lists(
    data: Path, cache_dir: Path
) -> None:
    scan(data)
    scan(data / "s0" / "im0.dcm")
    scan([data / "s0", data / "s1"])
    assert stats().path is None
    assert not cache_dir.exists()


def test_default_is_on_for_large_folders(
    data: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache, "MIN_CACHE_FILES", 6)
    scan(data)
    assert len(cache_files(cache_dir)) == 1
    again = scan(data)
    assert stats().n_read == 0
    assert_same(again, scan(data, cache=False))


def test_cache_true_for_a_list_and_a_file(data: Path, cache_dir: Path) -> None:
    sources = [data / "s0", data / "notes.txt"]
    first = scan(iter(sources), cache=True)
    again = scan(iter(sources), cache=True)
    assert stats().n_read == 0
    assert_same(again, first)
    scan(data / "s1" / "im2.dcm", cache=True)
    scan(data / "s1" / "im2.dcm", cache=True)
    assert stats().n_read == 0
    assert len(cache_files(cache_dir)) == 2


def test_default_cache_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DICOMKIT_CACHE_DIR", str(tmp_path / "a"))
    assert cache.default_cache_dir() == tmp_path / "a"
    monkeypatch.delenv("DICOMKIT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.default_cache_dir() == tmp_path / "xdg" / "dicomkit"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.default_cache_dir() == tmp_path / "home" / ".cache" / "dicomkit"


def test_the_cache_folder_inside_the_scanned_folder(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DICOMKIT_CACHE_DIR", str(data / ".cache"))
    monkeypatch.setattr(cache, "MIN_CACHE_FILES", 1)
    scan(data)  # the default: quietly without a cache
    with pytest.warns(RuntimeWarning, match="inside the scanned folder"):
        scan(data, cache=True)
    assert stats().path is None
    assert not (data / ".cache").exists()


def test_an_unwritable_cache_warns_and_the_scan_goes_on(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("DICOMKIT_CACHE_DIR", str(tmp_path / "a-file" / "cache"))
    with pytest.warns(RuntimeWarning, match="cannot write the scan cache"):
        col = scan(data, cache=True)
    assert not stats().written
    assert_same(col, scan(data, cache=False))


def test_bad_arguments(data: Path) -> None:
    with pytest.raises(TypeError, match="cache must be"):
        scan(data, cache=3)
    with pytest.raises(ValueError, match="on_duplicate"):
        scan(data, cache=True, on_duplicate="last")
    with pytest.raises(FileNotFoundError):
        scan(data / "nope", cache=True)


def test_an_unchanged_rescan_shows_no_progress_bar(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dk.scan(data, cache=True, progress=False)
    dk.scan(data, cache=True, progress=True)  # nothing to read
    assert "dicomkit scan" not in capsys.readouterr().err
    (data / "s0" / "im0.dcm").touch()
    dk.scan(data, cache=True, progress=True)  # one file to read: a bar
    assert "dicomkit scan" in capsys.readouterr().err
