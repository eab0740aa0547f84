"""Benchmark dicomkit's de-identification against dicognito on the same files.

    python -m benchmarks.deidentify             # 2,000 files, best of 2
    python -m benchmarks.deidentify 500 --repeat 1

The corpus is the scan benchmark's (:mod:`benchmarks.corpus`: synthetic 128×128
CT/MR, 3.6–5.2 KB headers with private groups and nested sequences, 10% implicit
VR), generated once into ``<tmp>/dicomkit-deid-corpus-<n>`` (``--corpus DIR``)
and read once before timing (warm page cache). In one run, on the same files,
each writing every file to a fresh folder:

- **dicognito** (the reference; PyPI, in the dev extra): its documented loop, one
  process — ``dcmread``, ``Anonymizer(seed=…).anonymize(ds)``, ``save_as``.
- **dicomkit, 1 process**: ``col.deidentify(key).write(dest, workers=1)`` on a
  collection scanned beforehand (the scan is timed separately).
- **dicomkit, all cores**: the same with ``workers=None`` (batches over a
  ``ProcessPoolExecutor``, like the scan).
- **dicomkit scan + de-identify**: ``dk.scan`` then the parallel write, the whole
  job a user runs.

Speeds are files/s, best of ``--repeat``; the ratios against dicognito are what
to compare across machines (target: at least 3× for the parallel write).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the benchmarks package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.scan import ensure_corpus

DEFAULT_FILES = 2_000
TARGET = 3.0
KEY = "benchmark key"


def run_dicognito(paths: list[Path], dest: Path) -> None:
    """dicognito's loop, one process (its command line does the same)."""
    import pydicom
    from dicognito.anonymizer import Anonymizer

    anonymizer = Anonymizer(seed="benchmark")
    dest.mkdir(parents=True)
    for index, path in enumerate(paths):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path)
            anonymizer.anonymize(ds)
            ds.save_as(dest / f"{index}.dcm")


def timed(name: str, job: Callable[[Path], None], out: Path, repeat: int) -> float:
    """The best time of ``repeat`` runs of ``job(fresh folder)``."""
    best = float("inf")
    for attempt in range(repeat):
        target = out / f"{name}-{attempt}"
        shutil.rmtree(target, ignore_errors=True)
        start = time.perf_counter()
        job(target)
        best = min(best, time.perf_counter() - start)
        shutil.rmtree(target, ignore_errors=True)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=DEFAULT_FILES)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--corpus", type=Path, default=None)
    args = parser.parse_args(argv)

    import dicomkit as dk

    root = args.corpus or Path(tempfile.gettempdir()) / f"dicomkit-deid-corpus-{args.n}"
    corpus = ensure_corpus(root, args.n, jobs=os.cpu_count() or 1)
    paths = corpus.paths
    for path in paths:  # warm the page cache
        path.read_bytes()
    out = Path(tempfile.mkdtemp(prefix="dicomkit-deid-bench-"))
    try:
        start = time.perf_counter()
        col = dk.scan(corpus.files, progress=False, cache=False)
        scan_seconds = time.perf_counter() - start
        assert len(col) == args.n, (len(col), args.n)

        def dicomkit_write(workers: int | None) -> Callable[[Path], None]:
            def job(dest: Path) -> None:
                new = col.deidentify(key=KEY).write(
                    dest, workers=workers, progress=False
                )
                assert len(new) == args.n

            return job

        def whole(dest: Path) -> None:
            fresh = dk.scan(corpus.files, progress=False, cache=False)
            fresh.deidentify(key=KEY).write(dest, progress=False)

        results = {
            "dicognito (1 process)": timed(
                "dicognito", lambda d: run_dicognito(paths, d), out, args.repeat
            ),
            "dicomkit write, 1 process": timed(
                "one", dicomkit_write(1), out, args.repeat
            ),
            "dicomkit write, all cores": timed(
                "all", dicomkit_write(None), out, args.repeat
            ),
            "dicomkit scan + write, all cores": timed("whole", whole, out, args.repeat),
        }
    finally:
        shutil.rmtree(out, ignore_errors=True)
    reference = results["dicognito (1 process)"]
    print(f"{args.n:,} files ({os.cpu_count()} cores), best of {args.repeat}; "
          f"scan alone {scan_seconds:.2f} s")  # fmt: skip
    print(f"{'':<34} {'seconds':>8} {'files/s':>9} {'vs dicognito':>13}")
    for name, seconds in results.items():
        ratio = reference / seconds
        print(f"{name:<34} {seconds:>8.2f} {args.n / seconds:>9.0f} {ratio:>12.2f}×")
    ratio = reference / results["dicomkit write, all cores"]
    verdict = "met" if ratio >= TARGET else "NOT met"
    print(f"target ≥{TARGET:.0f}× dicognito (parallel write): {verdict} ({ratio:.2f}×)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
