"""Fuzz the scan with hostile and broken files: a small corpus built by a script.

    python -m benchmarks.fuzz /tmp/fuzz                 # build the corpus, scan, report
    python -m benchmarks.fuzz /tmp/fuzz --budget 60     # then 60 s of random mutants
    python -m benchmarks.fuzz /tmp/fuzz --seed 7 --report build/fuzz-report.json

The command line of :mod:`tests.fuzzing`, which builds the corpus (seeds, cuts,
patched lengths and VRs, bit flips, random bytes, made files, special files, names
that are not UTF-8), scans it, reads every file alone with both readers and then
random mutants for ``--budget`` seconds; its docstring says what each part holds
and what counts as a crash. The report is printed (and written as JSON with
``--report``); the exit status is 1 when anything crashed or differed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fuzzing import run_fuzz

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: build, scan, fuzz; exit status 1 when anything crashed."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.fuzz",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("dest", help="folder for the corpus (replaced if a corpus)")
    parser.add_argument(
        "--budget", type=float, default=0.0, help="seconds of random mutants"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the corpus")
    parser.add_argument("--report", help="also write the report as JSON here")
    parser.add_argument("--workers", type=int, default=None, help="scan processes")
    args = parser.parse_args(argv)
    report = run_fuzz(
        args.dest,
        budget=args.budget,
        seed=args.seed,
        workers=args.workers,
        log=lambda text: print(f"… {text}", file=sys.stderr, flush=True),
    )
    print(report.summary())
    if args.report:
        os.makedirs(os.path.dirname(os.path.abspath(args.report)), exist_ok=True)
        Path(args.report).write_text(report.to_json() + "\n", encoding="utf-8")
    return 1 if report.crashes or report.n_mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main())
