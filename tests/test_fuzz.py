"""Hostile and broken files: the header reader and the scan keep their promises.

For any bytes: the header reader returns an instance row or an error row with a
documented reason, never an exception, in bounded time and memory; the fast
reader and pydicom give the same row. A scan of the fuzz corpus
(:mod:`tests.fuzzing`: truncations, patched lengths, nested sequences, FIFOs,
devices, link loops, names that are not UTF-8 …) accounts for every path. And a
short fuzzing session runs with a fixed budget (``DICOMKIT_FUZZ_SECONDS``,
default 15), its report in ``build/fuzz-report.json``.
"""

from __future__ import annotations

import contextlib
import os
import random
import struct
import time
import tracemalloc
import warnings
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dicomkit.io import fastread
from dicomkit.io.content import content_hash
from dicomkit.io.fastread import ReadPlan, TooLarge, read_fast
from dicomkit.io.header import Row, read_batch
from dicomkit.io.scan import rows_to_frames
from dicomkit.io.walk import FileEntry
from dicomkit.schema import DEFAULT_KEYWORDS
from tests.conftest import ROOT
from tests.fuzzing import (
    HANG_SECONDS,
    LONG_LENGTHS,
    REASONS,
    SHORT_LENGTHS,
    Report,
    Seed,
    build_corpus,
    check_row,
    check_scan,
    compare_rows,
    elements,
    flip_bits,
    made_files,
    mutate,
    part10,
    patch_length,
    run_mutants,
    seed_files,
    shrink,
)

KEYWORDS = DEFAULT_KEYWORDS
PLAN = ReadPlan.build(KEYWORDS)
#: Seconds one file may take to read (both readers), on the slowest CI machine.
BOUND = 5.0


@cache
def seeds() -> tuple[Seed, ...]:
    """The fuzz seeds, their pixel data cut to 64 bytes (the header is what counts)."""
    return tuple(Seed(s.name, shrink(s.data, elements(s.data))) for s in seed_files())


@cache
def made() -> dict[str, bytes]:
    """The corpus's hand-made hostile files, by name."""
    return made_files(random.Random(0), seeds())


def read_everything(path: Path) -> tuple[Row, Row]:
    """Read ``path`` every way a scan may; check the promises; return both rows."""
    st_ = path.stat()
    entry = FileEntry(str(path), st_.st_size, st_.st_mtime_ns)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's warnings on broken files
        (fast,) = read_batch([entry], KEYWORDS)
        (slow,) = read_batch([entry], KEYWORDS, reader="pydicom")
        with contextlib.suppress(TooLarge):  # the walker alone: a row or None
            read_fast(entry, PLAN)
    elapsed = time.perf_counter() - start
    assert check_row(fast) is None, fast
    assert check_row(slow) is None, slow
    assert compare_rows(fast, slow, KEYWORDS) is None
    rows_to_frames([fast, slow], KEYWORDS)  # the typed columns build
    assert elapsed < BOUND
    return fast, slow


_PREFIXES = (
    b"",
    b"\0" * 128 + b"DICM",
    part10(b""),  # a valid file meta group, explicit VR little endian
    part10(b"", "1.2.840.10008.1.2"),  # implicit VR
    part10(b"", "1.2.840.10008.1.2.2"),  # big endian
    b"\x08\x00\x05\x00CS\x0a\x00",  # a first element, explicit VR, no preamble
    b"\x08\x00\x05\x00\x0a\x00\x00\x00",  # implicit VR
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(prefix=st.sampled_from(_PREFIXES), body=st.binary(max_size=2048))
def test_random_bytes_become_a_row(
    tmp_path_factory: pytest.TempPathFactory, prefix: bytes, body: bytes
) -> None:
    path = tmp_path_factory.getbasetemp() / "random.bin"
    path.write_bytes(prefix + body)
    fast, _ = read_everything(path)
    if not prefix + body:
        assert fast[1]["reason"] == "empty"


_LENGTHS = st.sampled_from([*LONG_LENGTHS, *SHORT_LENGTHS, 2, 3, 0x10000, 1 << 24])
_VRS = st.sampled_from([b"SQ", b"UN", b"OB", b"OW", b"UT", b"US", b"FD", b"UI"])
_OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("cut"), st.integers(0, 1 << 16), st.just(0)),
        st.tuples(st.just("flip"), st.integers(0, 1 << 16), st.integers(1, 16)),
        st.tuples(st.just("length"), st.integers(0, 1 << 16), _LENGTHS),
        st.tuples(
            st.just("vr"),
            st.integers(0, 1 << 16),
            st.one_of(_VRS, st.binary(min_size=2, max_size=2)),
        ),
    ),
    min_size=1,
    max_size=3,
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(which=st.integers(0, 1 << 16), operations=_OPERATIONS)
def test_damaged_real_headers_become_a_row(
    tmp_path_factory: pytest.TempPathFactory,
    which: int,
    operations: list[tuple[str, int, object]],
) -> None:
    seed = seeds()[which % len(seeds())]
    data, found = seed.data, elements(seed.data)
    for kind, at, value in operations:
        inside = [e for e in found if e.length_at + e.length_size <= len(data)]
        if kind == "cut":
            data = data[: at % max(len(data), 1)]
        elif kind == "flip":
            assert isinstance(value, int)
            data = flip_bits(random.Random(at), data, value, len(data))
        elif inside and kind == "length":
            assert isinstance(value, int)
            data = patch_length(data, inside[at % len(inside)], value)
        elif inside and kind == "vr":
            assert isinstance(value, bytes)
            element = inside[at % len(inside)]
            data = data[: element.start + 4] + value + data[element.start + 6 :]
    path = tmp_path_factory.getbasetemp() / "damaged.dcm"
    path.write_bytes(data)
    read_everything(path)


def test_the_seeds_themselves_read_the_same_either_way(tmp_path: Path) -> None:
    for seed in seeds():
        path = tmp_path / seed.name
        path.write_bytes(seed.data)
        read_everything(path)


@pytest.mark.parametrize(
    "name",
    [
        "huge-pixel-data-4gb",
        "huge-private-ob-fffffffe",
        "huge-text-ut-fffffffe",
        "huge-private-un-2gb",
        "huge-implicit-fffffffe",
        "huge-meta-element",
    ],
)
def test_huge_declared_lengths_cost_no_memory(tmp_path: Path, name: str) -> None:
    """A length of 4 GB in a file of a few hundred bytes: nothing near that is
    allocated (Python's ``read(n)`` allocates ``n`` bytes before reading)."""
    path = tmp_path / name
    path.write_bytes(made()[name])
    tracemalloc.start()
    try:
        fast, _ = read_everything(path)
        content_hash(str(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20
    assert fast[0] == "error"


@pytest.mark.parametrize("preamble", [True, False])
def test_endless_tiny_elements_are_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, preamble: bool
) -> None:
    """Millions of empty elements would cost pydicom ~300 bytes each: both readers
    stop at MAX_ELEMENTS (the fast walker) or as many reads (pydicom)."""
    monkeypatch.setattr(fastread, "MAX_ELEMENTS", 1000)
    tiny = b"".join(struct.pack("<HHI", 0x0009, e, 0) for e in range(0x1000, 0x2800))
    body = struct.pack("<HHI", 0x0008, 0x0018, 8) + b"1.2.3.4\0" + tiny
    path = tmp_path / "tiny.dcm"
    path.write_bytes(part10(body, "1.2.840.10008.1.2") if preamble else body)
    fast, slow = read_everything(path)
    assert fast[1]["reason"] == slow[1]["reason"] == "header_too_large"
    monkeypatch.setattr(fastread, "MAX_ELEMENTS", 100_000)
    fast, _ = read_everything(path)
    assert fast[0] == "instance"


def test_a_huge_value_is_bounded_on_the_pydicom_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A value of 3 MB that the file does hold, past a 2 MB header bound."""
    value = b"A" * (3 << 20)
    body = (
        struct.pack("<HHI", 0x0008, 0x0018, 8)
        + b"1.2.3.4\0"
        + struct.pack("<HHI", 0x0008, 0x1030, len(value))  # StudyDescription
        + value
    )
    path = tmp_path / "bare.dcm"  # no preamble: only pydicom reads it
    path.write_bytes(body)
    monkeypatch.setattr(fastread, "MAX_HEADER_BYTES", 2 << 20)
    fast, _ = read_everything(path)
    assert fast[1]["reason"] == "header_too_large"
    monkeypatch.setattr(fastread, "MAX_HEADER_BYTES", 4 << 20)
    fast, _ = read_everything(path)
    assert fast[0] == "instance"


def test_a_deflate_bomb_is_refused_unread(tmp_path: Path) -> None:
    """64 KB that inflate to 64 MB of empty elements (13 s of pydicom's time)."""
    path = tmp_path / "bomb.dcm"
    path.write_bytes(made()["deflate-bomb"])
    start = time.perf_counter()
    fast, _ = read_everything(path)
    assert fast[1]["reason"] == "header_too_large"
    assert time.perf_counter() - start < 2


def test_deep_nesting_is_read_without_recursion(tmp_path: Path) -> None:
    files = made()
    for name in ("nested-explicit-5000", "nested-implicit-3000", "nested-defined-2000"):
        path = tmp_path / name
        path.write_bytes(files[name])
        fast, _ = read_everything(path)
        assert fast[0] == "instance"
    for name in ("nested-explicit-5000-unclosed", "nested-implicit-3000-unclosed"):
        path = tmp_path / name
        path.write_bytes(files[name])
        fast, _ = read_everything(path)
        assert fast[0] == "error"


def test_the_corpus_is_deterministic() -> None:
    rng_a, rng_b = random.Random(5), random.Random(5)
    assert made_files(rng_a, seeds()) == made_files(rng_b, seeds())
    seed = seeds()[0]
    found = elements(seed.data)
    assert [mutate(rng_a, seed, found) for _ in range(20)] == [
        mutate(rng_b, seed, found) for _ in range(20)
    ]


def test_the_corpus_never_replaces_a_folder_it_did_not_build(tmp_path: Path) -> None:
    (tmp_path / "mine.dcm").write_bytes(b"x")
    with pytest.raises(FileExistsError, match="not a fuzz corpus"):
        build_corpus(tmp_path)
    assert (tmp_path / "mine.dcm").read_bytes() == b"x"


def test_a_scan_of_the_fuzz_corpus_accounts_for_every_file(tmp_path: Path) -> None:
    """FIFOs, devices, loops and all: the scan ends (an alarm would stop a
    blocked one), never raises, and every path is one row with a known reason."""
    corpus = build_corpus(tmp_path / "fuzz", seed=0)
    assert corpus.n_files > 3000
    report = Report()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_scan(corpus, report, timeout=240)
    assert report.crashes == [], report.summary()
    assert report.instances + report.resends + report.errors == corpus.n_files
    assert set(report.reasons) <= REASONS
    for reason in ("empty", "not_dicom", "truncated", "broken_link", "dicomdir"):
        assert report.reasons.get(reason, 0) > 0, reason
    specials = {"fifo", "fifo.dcm", "dev-zero", "dev-null", "char-device", "socket"}
    made = {os.path.basename(p) for p in corpus.expected} & specials
    assert {"fifo", "dev-zero"} <= made
    assert report.reasons["not_regular_file"] == len(made)
    assert report.reasons["unreadable"] >= 3  # the three link loops


@pytest.mark.slow
def test_a_short_fuzzing_session(tmp_path: Path) -> None:
    """Random mutants for a fixed time (``DICOMKIT_FUZZ_SECONDS``, default 15 s):
    any crash, hang or difference between the readers fails, with the mutant
    kept to reproduce and the report in build/fuzz-report.json."""
    seconds = float(os.environ.get("DICOMKIT_FUZZ_SECONDS", "15"))
    report = run_mutants(tmp_path / "fuzz", seconds, seed=0)
    out = ROOT / "build" / "fuzz-report.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(report.to_json() + "\n", encoding="utf-8")
    assert report.mutants_tried > 10 * seconds
    assert report.crashes == [], report.summary()
    assert report.mismatches == [], report.summary()
    assert report.longest_seconds < min(BOUND, HANG_SECONDS)
