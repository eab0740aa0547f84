"""Benchmark a dicomkit scan against pydicom and gdcm.Scanner on the same files.

    python -m benchmarks.scan              # 12,000 files, best of 3
    python -m benchmarks.scan 3000         # another corpus size
    python -m benchmarks.scan --quick      # 2,000 files, 1 repeat (development)

The corpus (:mod:`dicomkit.corpus`: synthetic 128×128 CT/MR, 3.6–5.2 KB headers
with private groups and sequences, 10% implicit VR) is generated once per size and
corpus version into ``<tmp>/dicomkit-corpus-<n>-v<version>`` (``--corpus DIR`` to
choose) and reused by later runs. Every file is read once before timing, so all
measurements run on a warm page cache. On the same files, in one run:

- **pydicom 1-process loop**: ``dcmread(stop_before_pixels=True)`` and the values
  of :data:`dicomkit.schema.DEFAULT_KEYWORDS` as plain str/int/float/lists.
- **gdcm.Scanner** (``pip install python-gdcm``; skipped when missing): the same
  tags, ``Scan`` then every file's values with ``GetValue``.
- **dicomkit first scan**: ``dk.scan(folder, cache=False, progress=False)``, all
  cores.
- **dicomkit rescan (unchanged)**: ``dk.scan(folder, cache=True)`` with a filled
  cache in a temporary ``DICOMKIT_CACHE_DIR`` (skipped until ``dk.scan`` takes
  ``cache``).
- **time to first progress update**: from the ``dk.scan(progress=True)`` call to
  the first ``tqdm.update``.
- **table build**: ``dicomkit.io.scan.rows_to_frames`` on the rows of every file
  read in-process, in µs per row: all rows at once, and in batches of 512 rows as
  the scan's workers build them.

Each timed run is a fresh subprocess (imports excluded from the time), so peak
memory is per run: ``main`` is the process's ``ru_maxrss``, ``worker`` the largest
worker's (``RUSAGE_CHILDREN``), and ``peak MB`` the process tree's memory sampled
every 20 ms (Linux; elsewhere main + cores × worker, an upper bound). Speeds are the
best of ``--repeat`` runs, taken round robin: the ratios are what to compare across
machines.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import importlib
import importlib.util
import inspect
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the benchmarks package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dicomkit.corpus import (
    SLICES_PER_SERIES,
    VERSION,
    corpus_path,
    header_bytes,
    is_implicit,
    write_files,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FILES = 12_000
QUICK_FILES = 2_000
#: Measurements that take longer than this are stopped (a hung worker pool).
RUN_TIMEOUT = 900

#: The issue's targets.
TARGET_VS_GDCM = 2.0
TARGET_VS_PYDICOM = 8.0
TARGET_RESCAN = 50.0
TARGET_TABLE_US = 5.0
TARGET_PEAK_MB = 500.0
TARGET_PEAK_FILES = 12_000


# --------------------------------------------------------------------------
# corpus


@dataclass
class Corpus:
    """A generated corpus: its files and what they look like."""

    root: Path
    files: Path
    paths: list[Path]
    generated_in: float
    reused: bool
    header_sizes: list[int] = field(default_factory=list)


def default_corpus_dir(n: int) -> Path:
    return Path(tempfile.gettempdir()) / f"dicomkit-corpus-{n}-v{VERSION}"


def ensure_corpus(root: Path, n: int, jobs: int) -> Corpus:
    """The corpus of ``n`` files under ``root/files``, generated unless cached.

    ``root/corpus.json`` records the size, the corpus version and whether
    generation finished; a corpus is reused only when all three match.
    """
    files, manifest = root / "files", root / "corpus.json"
    info = _read_manifest(manifest)
    paths = [corpus_path(files, i) for i in range(n)]
    if (
        info.get("n") == n
        and info.get("version") == VERSION
        and info.get("complete") is True
        and files.is_dir()
    ):
        return Corpus(root, files, paths, float(info.get("seconds", 0.0)), True)
    if files.exists():
        if not info:  # not a folder this benchmark wrote: never delete it
            raise SystemExit(
                f"{files} exists but is not a benchmark corpus: remove it or pass "
                "another --corpus"
            )
        shutil.rmtree(files)
    root.mkdir(parents=True, exist_ok=True)
    _write_manifest(manifest, {"n": n, "version": VERSION, "complete": False})
    partial = root / "files.partial"
    shutil.rmtree(partial, ignore_errors=True)
    start = time.perf_counter()
    _generate(partial, n, jobs)
    seconds = time.perf_counter() - start
    partial.rename(files)
    _write_manifest(
        manifest, {"n": n, "version": VERSION, "complete": True, "seconds": seconds}
    )
    return Corpus(root, files, paths, seconds, False)


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_manifest(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data) + "\n")


def _generate(dest: Path, n: int, jobs: int) -> None:
    """Write the corpus with ``jobs`` processes (series-aligned chunks)."""
    if jobs <= 1 or n < 1000:
        write_files(dest, range(n))
        return
    n_series = -(-n // SLICES_PER_SERIES)
    per_job = -(-n_series // jobs) * SLICES_PER_SERIES
    procs = [
        _start_child({"kind": "write", "dest": str(dest), "start": a, "stop": b})
        for a, b in ((a, min(a + per_job, n)) for a in range(0, n, per_job))
    ]
    for proc in procs:
        _finish_child(proc)


def warm(corpus: Corpus) -> None:
    """Read every file once (warm page cache) and record its header size."""
    sizes = []
    for path in corpus.paths:
        sizes.append(header_bytes(path.read_bytes()))
    corpus.header_sizes = sizes


# --------------------------------------------------------------------------
# measurements, each in a fresh subprocess


@dataclass
class Run:
    """One measured run (a child process)."""

    seconds: float
    files: int
    main_mb: float
    worker_mb: float
    tree_mb: float | None
    first_progress: float | None = None
    errors: int = 0

    @property
    def peak_mb(self) -> float:
        if self.tree_mb is not None:
            return self.tree_mb
        return self.main_mb + (os.cpu_count() or 1) * self.worker_mb


@dataclass
class Result:
    name: str
    runs: list[Run]

    @property
    def best(self) -> Run:
        return min(self.runs, key=lambda r: r.seconds)

    @property
    def seconds(self) -> float:
        return self.best.seconds

    @property
    def peak_mb(self) -> float:
        return max(r.peak_mb for r in self.runs)

    @property
    def first_progress(self) -> float | None:
        times = [r.first_progress for r in self.runs if r.first_progress is not None]
        return min(times, default=None)

    @property
    def main_mb(self) -> float:
        return max(r.main_mb for r in self.runs)

    @property
    def worker_mb(self) -> float:
        return max(r.worker_mb for r in self.runs)


def _child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p
    )
    env.update(extra or {})
    return env


def _start_child(
    spec: dict[str, Any], env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    code = "import sys; from benchmarks.scan import child; child(sys.argv[1])"
    return subprocess.Popen(
        [sys.executable, "-c", code, json.dumps(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=_child_env(env),
    )


def _finish_child(proc: subprocess.Popen[str]) -> dict[str, Any]:
    try:
        out, err = proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed ({proc.returncode}):\n{err}")
    lines = out.strip().splitlines()
    result: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    return result


def _run_child(spec: dict[str, Any], env: dict[str, str] | None = None) -> Run:
    data = _finish_child(_start_child(spec, env))
    return Run(
        seconds=data["seconds"],
        files=data["files"],
        main_mb=data["main_mb"],
        worker_mb=data["worker_mb"],
        tree_mb=data["tree_mb"],
        first_progress=data.get("first_progress"),
        errors=data.get("errors", 0),
    )


def gdcm_available() -> bool:
    """Whether python-gdcm is installed (imported only by the measuring child)."""
    return importlib.util.find_spec("gdcm") is not None


def scan_accepts_cache() -> bool:
    import dicomkit as dk

    return "cache" in inspect.signature(dk.scan).parameters


# --------------------------------------------------------------------------
# what the children run


def child(arg: str) -> None:
    """Entry point of a measurement subprocess: print one JSON line of results."""
    spec: dict[str, Any] = json.loads(arg)
    kind = spec["kind"]
    if kind == "write":
        write_files(Path(spec["dest"]), range(spec["start"], spec["stop"]))
        print("{}")
        return
    run: Callable[[], tuple[int, int]]
    first: list[float] = []
    if kind == "pydicom":
        paths = Path(spec["list"]).read_text().splitlines()
        run = _pydicom_runner(paths)
    elif kind == "gdcm":
        paths = Path(spec["list"]).read_text().splitlines()
        run = _gdcm_runner(paths)
    elif kind == "dicomkit":
        run = _dicomkit_runner(spec, first)
    elif kind == "stat":
        run = _stat_runner(spec["folder"])
    else:
        raise ValueError(f"unknown measurement {kind!r}")
    with _TreeSampler() as sampler:
        start = time.perf_counter()
        files, errors = run()
        seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "seconds": seconds,
                "files": files,
                "errors": errors,
                "main_mb": _maxrss_mb(children=False),
                "worker_mb": _maxrss_mb(children=True),
                "tree_mb": sampler.peak_mb,
                "first_progress": first[0] - start if first else None,
            }
        )
    )


def _pydicom_runner(paths: list[str]) -> Callable[[], tuple[int, int]]:
    from pydicom import dcmread
    from pydicom.datadict import tag_for_keyword
    from pydicom.multival import MultiValue

    from dicomkit.schema import DEFAULT_KEYWORDS

    def plain(value: object) -> object:
        if value is None or isinstance(value, (int, float)):  # IS, DSfloat too
            return value
        if isinstance(value, (list, MultiValue)):
            return [plain(v) for v in value]
        return str(value)

    meta = {kw for kw in DEFAULT_KEYWORDS if (tag_for_keyword(kw) or 0) >> 16 == 2}

    def run() -> tuple[int, int]:
        n = 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for path in paths:
                ds = dcmread(path, stop_before_pixels=True)
                row = {
                    kw: plain((ds.file_meta if kw in meta else ds).get(kw))
                    for kw in DEFAULT_KEYWORDS
                }
                n += row["SOPInstanceUID"] is not None
        return n, len(paths) - n

    return run


def _gdcm_runner(paths: list[str]) -> Callable[[], tuple[int, int]]:
    import gdcm  # type: ignore[import-untyped,import-not-found,unused-ignore]
    from pydicom.datadict import tag_for_keyword

    from dicomkit.schema import DEFAULT_KEYWORDS

    numbers = [tag_for_keyword(kw) for kw in DEFAULT_KEYWORDS]
    tags = [gdcm.Tag(t >> 16, t & 0xFFFF) for t in numbers if t is not None]
    sop = DEFAULT_KEYWORDS.index("SOPInstanceUID")

    def run() -> tuple[int, int]:
        scanner = gdcm.Scanner()
        for tag in tags:
            scanner.AddTag(tag)
        if not scanner.Scan(paths):
            raise RuntimeError("gdcm.Scanner.Scan failed")
        n = 0
        for path in paths:
            values = [scanner.GetValue(path, tag) for tag in tags]
            row = [None if v is None else v.rstrip(" \0") for v in values]
            n += row[sop] is not None
        return n, len(paths) - n

    return run


def _stat_runner(folder: str) -> Callable[[], tuple[int, int]]:
    """The floor of any rescan that notices modified files: list every folder and
    stat every file (``os.scandir`` + ``DirEntry.stat``), nothing else."""

    def run() -> tuple[int, int]:
        n = 0
        todo = [folder]
        while todo:
            with os.scandir(todo.pop()) as listing:
                for entry in listing:
                    if entry.is_dir(follow_symlinks=False):
                        todo.append(entry.path)
                    elif entry.stat().st_size >= 0:
                        n += 1
        return n, 0

    return run


def _dicomkit_runner(
    spec: dict[str, Any], first: list[float]
) -> Callable[[], tuple[int, int]]:
    import dicomkit as dk

    kwargs: dict[str, Any] = {"progress": spec["progress"], "workers": spec["workers"]}
    if spec["cache"] is not None:
        kwargs["cache"] = spec["cache"]
    if spec["progress"]:
        from tqdm.auto import tqdm

        update = tqdm.update

        def first_update(self: Any, n: float | None = 1) -> bool | None:
            if not first:
                first.append(time.perf_counter())
            result: bool | None = update(self, n)
            return result

        tqdm.update = first_update
    folder = spec["folder"]

    def run() -> tuple[int, int]:
        col = dk.scan(folder, **kwargs)
        return len(col), col.errors.height

    return run


def _maxrss_mb(*, children: bool) -> float:
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    kib = resource.getrusage(who).ru_maxrss
    return kib / (2**20 if sys.platform == "darwin" else 2**10)  # bytes on macOS


class _TreeSampler:
    """Sample the memory of this process and its descendants (Linux ``/proc``).

    A sample is every process's private resident memory (``statm`` resident minus
    shared) plus the largest shared resident set once: the libraries every worker
    maps (polars, numpy …) count once, as they do in the machine's memory. A
    process forked but not yet running its own program (same command line as its
    parent) is skipped: its pages are still its parent's.
    """

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.peak_mb: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def __enter__(self) -> _TreeSampler:
        if Path("/proc/self/statm").is_file():
            self._sample()
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
            self._sample()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        private, shared = 0, 0
        for pid in self._tree(os.getpid(), b""):
            resident, file_backed = self._statm(pid)
            private += resident - file_backed
            shared = max(shared, file_backed)
        mb = (private + shared) * self._page / 2**20
        if self.peak_mb is None or mb > self.peak_mb:
            self.peak_mb = mb

    @staticmethod
    def _tree(pid: int, parent_cmdline: bytes) -> Iterator[int]:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return
        if cmdline == parent_cmdline:
            return  # between fork and exec
        yield pid
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError):
                    text = Path(f"/proc/{pid}/task/{task}/children").read_text()
                    for child_pid in text.split():
                        yield from _TreeSampler._tree(int(child_pid), cmdline)

    @staticmethod
    def _statm(pid: int) -> tuple[int, int]:
        """Resident and shared (file-backed) resident pages of ``pid``."""
        try:
            fields = Path(f"/proc/{pid}/statm").read_text().split()
            return int(fields[1]), int(fields[2])
        except (OSError, IndexError, ValueError):
            return 0, 0


# --------------------------------------------------------------------------
# in-process: the table build


#: Rows per frame build in a scan's worker (the largest batch dicomkit sends).
BATCH_ROWS = 512


@dataclass
class TableBuild:
    """Best µs per row of ``rows_to_frames``: all rows at once (garbage collector
    running), and as a scan builds them (batches, collector paused)."""

    rows: int
    us_per_row: float
    us_per_row_batched: float


def table_build(folder: Path, repeat: int) -> TableBuild | str:
    """Time ``rows_to_frames`` on every file's row, or say why it was skipped."""
    try:
        from dicomkit.io import header as header_module
        from dicomkit.io import scan as scan_module
        from dicomkit.io.walk import walk
        from dicomkit.schema import DEFAULT_KEYWORDS
    except ImportError as exc:
        return f"skipped ({exc})"
    build = getattr(scan_module, "rows_to_frames", None)
    read = getattr(header_module, "read_batch", None)
    # where the walk is split into files and errors (io.scan, before io.source)
    source_module = importlib.util.find_spec("dicomkit.io.source")
    split = getattr(
        importlib.import_module("dicomkit.io.source") if source_module else scan_module,
        "split_walk",
        None,
    )
    if build is None or read is None or split is None:
        return "skipped (no rows_to_frames / read_batch in dicomkit.io)"
    entries, _ = split(walk(folder))
    rows = read(entries, DEFAULT_KEYWORDS)
    if not rows:
        return "skipped (no rows)"

    def best(size: int, *, paused: bool) -> float:
        """Best seconds to build all rows, ``size`` rows per call, with the garbage
        collector paused (as :func:`~dicomkit.io.scan.read_batch_frames` does) or
        running."""
        times = []
        for _ in range(repeat):
            # a fresh copy each time: the builder may edit the rows it gets
            batches = [
                [(kind, copy.copy(row)) for kind, row in rows[i : i + size]]
                for i in range(0, len(rows), size)
            ]
            if paused:
                gc.disable()
            try:
                start = time.perf_counter()
                for batch in batches:
                    build(batch, DEFAULT_KEYWORDS)
                times.append(time.perf_counter() - start)
            finally:
                gc.enable()
        return min(times)

    n = len(rows)
    return TableBuild(
        n,
        best(n, paused=False) / n * 1e6,
        best(BATCH_ROWS, paused=True) / n * 1e6,
    )


# --------------------------------------------------------------------------
# the report


FIRST = "dicomkit first scan"
RESCAN = "dicomkit rescan (unchanged)"
PROGRESS = "dicomkit scan, progress bar"
PYDICOM = "pydicom 1-process loop"
STAT = "stat every file (rescan floor)"
GDCM = "gdcm.Scanner"


def report(
    corpus: Corpus,
    results: dict[str, Result | str],
    table: TableBuild | str,
    repeat: int,
    workers: int | None,
) -> None:
    """Print the corpus, the measurements and the targets."""
    n = len(corpus.paths)
    _print_corpus(corpus, repeat, workers)
    print()
    _print_measurements(n, results, table)
    print()
    got = {k: v for k, v in results.items() if isinstance(v, Result)}
    _print_targets(n, got, table)


def _print_corpus(corpus: Corpus, repeat: int, workers: int | None) -> None:
    n = len(corpus.paths)
    sizes = corpus.header_sizes
    implicit = sum(is_implicit(i) for i in range(n))
    print(f"dicomkit scan benchmark: {n:,} files, corpus v{VERSION} in {corpus.files}")
    print(
        f"cpu cores: {os.cpu_count()}, dicomkit workers: "
        f"{'all' if workers is None else workers}, best of {repeat}, warm page cache"
    )
    print(f"versions: {_versions()}")
    how = "reused (generated" if corpus.reused else "generated"
    print(f"corpus: {how} in {corpus.generated_in:.1f} s{')' if corpus.reused else ''}")
    if sizes:
        print(
            f"header bytes before PixelData: min {min(sizes):,}  median "
            f"{statistics.median(sizes):,.0f}  max {max(sizes):,};  implicit VR: "
            f"{implicit:,} files ({implicit / n:.0%})"
        )


def _versions() -> str:
    """Python and package versions, and the repository's commit."""
    from importlib.metadata import PackageNotFoundError, version

    parts = [f"python {sys.version.split()[0]}"]
    for package in ("dicomkit", "pydicom", "polars", "python-gdcm"):
        with contextlib.suppress(PackageNotFoundError):
            parts.append(f"{package} {version(package)}")
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        parts.append(f"commit {commit}")
    return ", ".join(parts)


def _print_measurements(
    n: int, results: dict[str, Result | str], table: TableBuild | str
) -> None:
    head = (
        f"{'measurement':<30}{'files/s':>10}{'seconds':>10}{'peak MB':>9}"
        f"{'main/worker MB':>16}{'1st progress':>14}"
    )
    print(head)
    print("-" * len(head))
    for name, result in results.items():
        if isinstance(result, str):
            print(f"{name:<30}{result}")
            continue
        best = result.best
        first = result.first_progress
        shown = "-" if first is None else f"{first * 1e3:,.0f} ms"
        mem = f"{result.main_mb:,.0f} / {result.worker_mb:,.0f}"
        print(
            f"{name:<30}{n / best.seconds:>10,.0f}{best.seconds:>10.3f}"
            f"{result.peak_mb:>9,.0f}{mem:>16}{shown:>14}"
        )
        if best.files != n or best.errors:
            print(f"{'':<30}! {best.files:,} files read, {best.errors:,} errors")
    if isinstance(table, str):
        print(f"{'table build':<30}{table}")
        return
    print(
        f"{'table build, all rows at once':<30}{table.us_per_row:>10.2f} µs/row "
        f"({table.rows:,} rows, rows_to_frames)"
    )
    print(
        f"{'table build, batches of ' + str(BATCH_ROWS):<30}"
        f"{table.us_per_row_batched:>10.2f} µs/row (as in a scan: GC paused)"
    )


def _print_targets(n: int, got: dict[str, Result], table: TableBuild | str) -> None:
    first, rescan = got.get(FIRST), got.get(RESCAN)

    def ratio(slow: Result | None, fast: Result | None) -> float | None:
        return None if slow is None or fast is None else slow.seconds / fast.seconds

    progress = got.get(PROGRESS)
    first_s = None if progress is None else progress.first_progress
    first_ms = None if first_s is None else first_s * 1e3
    peak_judged = n >= TARGET_PEAK_FILES
    # (label, measured, unit, goal as text, whether the goal is met, None: unjudged)
    lines: list[tuple[str, float | None, str, str, bool | None]] = []

    def add(
        label: str, value: float | None, unit: str, goal: str, met: bool | None
    ) -> None:
        lines.append((label, value, unit, goal, None if value is None else met))

    for name, label, target in (
        (GDCM, "speed: first scan / gdcm", TARGET_VS_GDCM),
        (PYDICOM, "speed: first scan / pydicom loop", TARGET_VS_PYDICOM),
        (FIRST, "speed: rescan / first scan", TARGET_RESCAN),
    ):
        fast = rescan if name == FIRST else first
        value = ratio(got.get(name), fast)
        add(label, value, "x", f">= {target:g}x", value is not None and value >= target)
    # what 50x would leave a rescan, against the floor of listing and stat-ing
    floor = ratio(got.get(FIRST), got.get(STAT))
    add("ceiling: first scan / stat only", floor, "x", "(rescan max)", None)
    us = None if isinstance(table, str) else table.us_per_row_batched
    add(
        "table build, as in a scan",
        us,
        " µs/row",
        f"<= {TARGET_TABLE_US:g}",
        (us or 0) <= TARGET_TABLE_US,
    )
    for name, result in ((FIRST, first), (RESCAN, rescan)):
        peak = None if result is None else result.peak_mb
        met = (peak or 0) < TARGET_PEAK_MB if peak_judged else None
        add(
            f"peak memory, {name.removeprefix('dicomkit ')}",
            peak,
            " MB",
            f"< {TARGET_PEAK_MB:g}",
            met,
        )
    add("time to first progress update", first_ms, " ms", "", None)
    print(f"{'target':<34}{'measured':>16}  {'goal':<10}")
    print("-" * 68)
    for label, value, unit, goal, met in lines:
        shown = (
            "-"
            if value is None
            else f"{value:,.{0 if unit in (' ms', ' MB') else 2}f}{unit}"
        )
        mark = "" if met is None else ("ok" if met else "MISSED")
        print(f"{label:<34}{shown:>16}  {goal:<10}{mark}")
    if not peak_judged:
        print(
            f"(the peak memory goal is for {TARGET_PEAK_FILES:,} files: not judged here)"
        )


# --------------------------------------------------------------------------
# main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scan",
        description="Time dicomkit's scan against pydicom and gdcm on one corpus.",
    )
    parser.add_argument(
        "files", nargs="?", type=int, help=f"corpus size (default {DEFAULT_FILES:,})"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_FILES:,} files (unless given) and 1 repeat, for development",
    )
    parser.add_argument("--repeat", type=int, help="runs per measurement (default 3)")
    parser.add_argument(
        "--corpus",
        type=Path,
        help="corpus cache folder (default <tmp>/dicomkit-corpus-<n>-v<version>)",
    )
    parser.add_argument(
        "--workers", type=int, help="dicomkit scan workers (default: all cores)"
    )
    args = parser.parse_args(argv)
    if args.files is None:
        args.files = QUICK_FILES if args.quick else DEFAULT_FILES
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.files < 1 or args.repeat < 1:
        parser.error("files and --repeat must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    n, repeat = args.files, args.repeat
    root = args.corpus if args.corpus is not None else default_corpus_dir(n)
    print(f"corpus: {root} ...", flush=True)
    corpus = ensure_corpus(root, n, os.cpu_count() or 1)
    warm(corpus)
    results: dict[str, Result | str] = {}
    with tempfile.TemporaryDirectory(prefix="dicomkit-bench-") as tmp:
        plans = _plans(corpus, Path(tmp), args.workers, results)
        runs: dict[str, list[Run]] = {name: [] for name, _, _ in plans}
        # Round robin, so that a busy moment of a shared machine slows one run of
        # each measurement rather than all runs of one.
        failed: dict[str, str] = {}
        for r in range(repeat):
            for name, spec, env in plans:
                if name in failed:
                    continue
                print(f"run {r + 1}/{repeat}: {name}", flush=True)
                try:
                    runs[name].append(_run_child(spec, env))
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    print(exc, file=sys.stderr)
                    failed[name] = f"failed: {str(exc).strip().splitlines()[-1]}"
        for name, _, _ in plans:
            results[name] = failed.get(name) or Result(name, runs[name])
    print("table build", flush=True)
    table = table_build(corpus.files, repeat)
    print(flush=True)
    report(corpus, results, table, repeat, args.workers)


Plan = tuple[str, dict[str, Any], dict[str, str]]


def _plans(
    corpus: Corpus, tmp: Path, workers: int | None, results: dict[str, Result | str]
) -> list[Plan]:
    """What to run (name, child spec, environment); ``results`` gets the skips."""
    listing = tmp / "files.txt"
    listing.write_text("".join(f"{p}\n" for p in corpus.paths))
    plans: list[Plan] = [(PYDICOM, {"kind": "pydicom", "list": str(listing)}, {})]
    results[PYDICOM] = "-"  # keeps the report's order
    results[GDCM] = "gdcm: not installed (pip install python-gdcm)"  # or replaced
    if gdcm_available():
        plans.append((GDCM, {"kind": "gdcm", "list": str(listing)}, {}))
    has_cache = scan_accepts_cache()
    scan: dict[str, Any] = {
        "kind": "dicomkit",
        "folder": str(corpus.files),
        "workers": workers,
        "progress": False,
        "cache": False if has_cache else None,
    }
    # never the user's cache, even by mistake
    no_cache = {"DICOMKIT_CACHE_DIR": str(tmp / "unused-cache")}
    plans.append((FIRST, scan, no_cache))
    results[FIRST] = "-"
    results[RESCAN] = "skipped: dk.scan has no cache parameter yet"
    if has_cache:
        cache_env = {"DICOMKIT_CACHE_DIR": str(tmp / "cache")}
        cached = {**scan, "cache": True}
        print("filling the cache for the rescan", flush=True)
        _run_child(cached, cache_env)
        plans.append((RESCAN, cached, cache_env))
        plans.append((STAT, {"kind": "stat", "folder": str(corpus.files)}, {}))
        results[STAT] = "-"
    plans.append((PROGRESS, {**scan, "progress": True}, no_cache))
    results[PROGRESS] = "-"
    return plans


if __name__ == "__main__":
    main()
