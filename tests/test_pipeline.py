"""The scan pipeline's seams: a custom source, the stores, the sinks, the result."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import polars as pl
import pytest

import dicomkit as dk
from dicomkit.io.cache import NoCache
from dicomkit.io.rows import rows_to_frames
from dicomkit.io.scan import InProcessReader, OnBatch
from dicomkit.io.sink import Frames, MemorySink
from dicomkit.io.source import FileSource, Listing, Source
from dicomkit.io.walk import FileEntry
from dicomkit.pipeline import ScanResult, run_scan, scan_files
from dicomkit.schema import DEFAULT_KEYWORDS, ERROR_SCHEMA
from tests.conftest import SAMPLE

UID = "1.2.826.0.1.3680043.10.1234."


class Listed:
    """A source that is not files: rows made up per "URL", as DICOMweb would."""

    def __init__(self, copies: dict[str, tuple[str, int]], broken: list[str]) -> None:
        self.copies = copies  # url -> (SOPInstanceUID, mtime_ns)
        self.broken = broken
        self.hashed: list[str] = []

    def walk(self) -> Iterator[Listing]:
        entries = [FileEntry(url, 10, m) for url, (_, m) in self.copies.items()]
        entries += [FileEntry(url, 0, 0) for url in self.broken]
        yield entries, pl.DataFrame(schema=ERROR_SCHEMA)

    def read(
        self, entries: Sequence[FileEntry], keywords: tuple[str, ...], on_batch: OnBatch
    ) -> None:
        for entry in entries:  # one batch per entry: any batching is allowed
            row: tuple[str, dict[str, object]]
            if entry.path in self.copies:
                uid, _ = self.copies[entry.path]
                row = (
                    "instance",
                    {
                        "path": entry.path,
                        "file_size": entry.file_size,
                        "mtime_ns": entry.mtime_ns,
                        "SOPInstanceUID": uid,
                        "PatientID": "P1",
                        "StudyInstanceUID": UID + "1",
                        "SeriesInstanceUID": UID + "2",
                    },
                )
            else:
                row = (
                    "error",
                    {
                        "path": entry.path,
                        "file_size": 0,
                        "mtime_ns": 0,
                        "reason": "not_found",
                        "message": "the server said 404",
                    },
                )
            on_batch(*rows_to_frames([row], keywords))

    def content_hash(self, path: str) -> str | None:
        self.hashed.append(path)
        return "same"


def test_a_custom_source_goes_through_the_whole_pipeline() -> None:
    source = Listed(
        {
            "web://a": (UID + "3.1", 1),
            "web://b": (UID + "3.2", 1),
            "web://b-again": (UID + "3.2", 2),  # a resend of b, newer
        },
        broken=["web://gone"],
    )
    assert isinstance(source, Source)
    result = run_scan(source, DEFAULT_KEYWORDS, sink=MemorySink(DEFAULT_KEYWORDS))
    instances, resends, errors = result.output
    assert instances["path"].to_list() == ["web://a", "web://b-again"]
    assert resends["path"].to_list() == ["web://b"]
    assert resends["resend"].to_list() == ["identical"]  # the source's hashes agree
    assert sorted(source.hashed) == ["web://b", "web://b-again"]  # repeats only
    assert errors["reason"].to_list() == ["not_found"]
    col = dk.Collection(*result.output)
    assert col.n_files == 4  # every entry accounted for
    assert (result.stats.n_files, result.stats.n_read, result.stats.path) == (
        4,
        4,
        None,
    )


def test_dk_scan_is_the_pipeline(tmp_path: Path) -> None:
    result = scan_files(SAMPLE, DEFAULT_KEYWORDS, progress=False, cache=False)
    assert isinstance(result, ScanResult)
    assert isinstance(result.output, Frames)
    assert dk.Collection(*result.output) == dk.scan(SAMPLE, progress=False)
    assert result.stats.n_files == 219


def test_the_store_and_reader_are_passed_in() -> None:
    batches: list[int] = []

    class Counting:
        def read(
            self,
            entries: Sequence[FileEntry],
            keywords: tuple[str, ...],
            on_batch: OnBatch,
        ) -> None:
            def counted(copies: pl.DataFrame, errors: pl.DataFrame) -> None:
                batches.append(copies.height + errors.height)
                on_batch(copies, errors)

            InProcessReader(batch_size=100).read(entries, keywords, counted)

    source = FileSource(SAMPLE, reader=Counting())
    result = run_scan(
        source,
        DEFAULT_KEYWORDS,
        sink=MemorySink(DEFAULT_KEYWORDS),
        store=NoCache(DEFAULT_KEYWORDS),
        progress=False,
    )
    assert batches == [100, 100, 19]
    assert dk.Collection(*result.output) == dk.scan(SAMPLE, progress=False)


def test_a_bad_on_duplicate_fails_before_any_reading() -> None:
    source = Listed({}, broken=[])
    with pytest.raises(ValueError, match="on_duplicate must be"):
        run_scan(
            source,
            DEFAULT_KEYWORDS,
            sink=MemorySink(DEFAULT_KEYWORDS),
            on_duplicate="last",  # type: ignore[arg-type]
        )


def test_on_duplicate_error_raises_through_the_pipeline() -> None:
    source = Listed({"web://a": (UID + "3.1", 1), "web://a2": (UID + "3.1", 2)}, [])
    with pytest.raises(dk.DuplicateInstanceError, match="web://a, web://a2"):
        run_scan(
            source,
            DEFAULT_KEYWORDS,
            sink=MemorySink(DEFAULT_KEYWORDS),
            on_duplicate="error",
        )


def test_a_cache_store_refuses_a_walk_in_chunks(tmp_path: Path) -> None:
    from dicomkit.io.cache import CacheStore

    store = CacheStore(
        str(tmp_path / "cache.parquet"),
        DEFAULT_KEYWORDS,
        sources=[str(SAMPLE)],
        recursive=True,
        started_ns=0,
    )
    with pytest.raises(RuntimeError, match="one whole walk"):
        run_scan(
            FileSource(SAMPLE, chunk=100),
            DEFAULT_KEYWORDS,
            sink=MemorySink(DEFAULT_KEYWORDS),
            store=store,
            progress=False,
        )
