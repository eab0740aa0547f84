"""Time ``dk.scan`` against a plain pydicom loop on the same files, in one run.

    python -m benchmarks.scan_baseline            # 3,000 files
    python -m benchmarks.scan_baseline 12000

The baseline reads every file with ``pydicom.dcmread(stop_before_pixels=True)`` in
one process and pulls the same attributes dicomkit indexes. Both run on the same
warm files; the ratio is what to compare across machines, not the seconds.
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from pathlib import Path

from pydicom import dcmread

import dicomkit as dk
from benchmarks.corpus import write_corpus
from dicomkit.schema import DEFAULT_KEYWORDS


def pydicom_loop(paths: list[Path]) -> int:
    """The baseline: header-only dcmread and attribute access, one process."""
    n = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in paths:
            ds = dcmread(path, stop_before_pixels=True)
            row = {kw: ds.get(kw) for kw in DEFAULT_KEYWORDS}
            n += row["SOPInstanceUID"] is not None
    return n


def best_of(repeat: int, func: object, *args: object) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func(*args)  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv else 3000
    with tempfile.TemporaryDirectory(prefix="dicomkit-bench-") as tmp:
        paths = write_corpus(Path(tmp), n)
        pydicom_loop(paths)  # warm the page cache
        base = best_of(3, pydicom_loop, paths)
        serial = best_of(3, lambda: dk.scan(tmp, workers=1, progress=False))
        default = best_of(3, lambda: dk.scan(tmp, progress=False))
        col = dk.scan(tmp, progress=False)
        assert len(col) == n
        assert col.errors.is_empty()
    print(f"files: {n}")
    print(f"pydicom loop, 1 process : {n / base:8.0f} files/s")
    print(
        f"dk.scan workers=1       : {n / serial:8.0f} files/s  ratio {base / serial:.2f}x"
    )
    print(
        f"dk.scan default workers : {n / default:8.0f} files/s  ratio {base / default:.2f}x"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
