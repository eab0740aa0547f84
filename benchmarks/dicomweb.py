"""Benchmark dk.scan_dicomweb against dicomweb-client's plain loop, on one local Orthanc.

    python -m benchmarks.dicomweb               # the sample × 10 (2,130 instances), best of 3
    python -m benchmarks.dicomweb --copies 40   # the sample × 40
    python -m benchmarks.dicomweb --quick       # × 2, 1 repeat (development)

A throw-away Orthanc (Debian's ``orthanc`` + ``orthanc-dicomweb``, started by
:class:`tests.orthanc.OrthancServer` on a free port of 127.0.0.1) receives the 213
current instances of ``data/sample/`` ``--copies`` times, each copy with its own
PatientID and Study, Series, SOP Instance and Frame of Reference UIDs (derived
deterministically), through Orthanc's REST ``/instances``. Then, on that server,
in one run, round robin, best of ``--repeat``:

- **dicomkit**: ``dk.scan_dicomweb(url, progress=False)`` (QIDO-RS studies, series
  per study, WADO-RS metadata per series, 4 at a time) into the typed Collection;
- **dicomweb-client loop**: ``DICOMwebClient(url).search_for_instances(
  get_remaining=True)``, then ``retrieve_series_metadata`` for each series found,
  one after the other: lists of DICOM JSON dicts, no frame. Its timeout is set to
  dicomkit's, ``(10, 120)`` s: its default of 20 s is too short for Orthanc's
  instance-level listing of the sample × 40 (8,520 instances).

Reported: instances/s, requests (counted by a response hook on each session), and
requests per series. The ratio is what compares across machines. Orthanc 1.10 with
plugin 1.7 reads every instance file for a series' metadata (no metadata cache
before plugin 1.15), so the server's disk reads weigh in both measurements alike.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import urllib.request
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydicom import dcmread, dcmwrite
from pydicom.dataset import FileMetaDataset
from pydicom.uid import generate_uid

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
_UID_KEYWORDS = (
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "FrameOfReferenceUID",
)


@dataclass
class Measure:
    """One method's best run."""

    name: str
    seconds: float
    instances: int
    series: int
    requests: int

    @property
    def per_second(self) -> float:
        return self.instances / self.seconds if self.seconds else float("inf")

    @property
    def per_series(self) -> float:
        return self.requests / self.series if self.series else float("nan")


def copies_of_sample(copies: int) -> list[bytes]:
    """The sample's current instances, ``copies`` times, each copy with new UIDs."""
    import dicomkit as dk

    paths = dk.scan(SAMPLE, cache=False, progress=False).instances["path"].to_list()
    out: list[bytes] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        originals = [dcmread(p, force=True) for p in sorted(paths)]
        for k in range(copies):
            for ds in originals:
                copy = ds.copy()
                copy.file_meta = FileMetaDataset(ds.file_meta)
                for keyword in _UID_KEYWORDS:
                    if keyword in copy:
                        value = str(copy[keyword].value)
                        setattr(
                            copy, keyword, generate_uid(entropy_srcs=[value, str(k)])
                        )
                copy.file_meta.MediaStorageSOPInstanceUID = copy.SOPInstanceUID
                copy.PatientID = f"{ds.PatientID}-{k:03d}"
                buffer = BytesIO()
                dcmwrite(buffer, copy, enforce_file_format=True)
                out.append(buffer.getvalue())
    return out


def upload(url: str, files: Sequence[bytes]) -> None:
    """POST each file to Orthanc's REST ``/instances``."""
    for data in files:
        request = urllib.request.Request(
            f"{url}/instances",
            data=data,
            method="POST",
            headers={"Content-Type": "application/dicom"},
        )
        with urllib.request.urlopen(request, timeout=120):
            pass


def _counting_session() -> tuple[Any, list[int]]:
    import requests

    count = [0]
    session = requests.Session()

    def hook(response: Any, *args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return response

    session.hooks["response"].append(hook)
    return session, count


def run_dicomkit(url: str) -> Measure:
    import dicomkit as dk

    session, count = _counting_session()
    started = time.perf_counter()
    col = dk.scan_dicomweb(url, session=session, progress=False)
    seconds = time.perf_counter() - started
    stats = col.source_stats or {}
    assert stats.get("requests") == count[0], (stats, count)
    return Measure("dicomkit", seconds, col.n_files, col.series.height, count[0])


def run_dicomweb_client(url: str) -> Measure:
    try:
        from dicomweb_client.api import DICOMwebClient
    except ImportError as exc:
        msg = 'the baseline needs dicomweb-client: pip install "dicomkit[bench]"'
        raise SystemExit(msg) from exc

    session, count = _counting_session()
    started = time.perf_counter()
    client = DICOMwebClient(url, session=session, timeout=(10.0, 120.0))  # as ours
    found = client.search_for_instances(get_remaining=True)
    series = sorted(
        {(i["0020000D"]["Value"][0], i["0020000E"]["Value"][0]) for i in found}
    )
    instances = 0
    for study_uid, series_uid in series:
        instances += len(client.retrieve_series_metadata(study_uid, series_uid))
    seconds = time.perf_counter() - started
    return Measure("dicomweb-client loop", seconds, instances, len(series), count[0])


def run(copies: int, repeat: int) -> dict[str, Any]:
    """Start Orthanc, upload, measure; the results as a dict."""
    from tests.orthanc import OrthancServer

    files = copies_of_sample(copies)
    with OrthancServer() as server:
        started = time.perf_counter()
        upload(server.url, files)
        upload_seconds = time.perf_counter() - started
        runs: dict[str, list[Measure]] = {"dicomkit": [], "dicomweb-client loop": []}
        for _ in range(repeat):
            for method in (run_dicomkit, run_dicomweb_client):
                measure = method(server.dicomweb)
                runs[measure.name].append(measure)
    best = {name: min(ms, key=lambda m: m.seconds) for name, ms in runs.items()}
    ours, theirs = best["dicomkit"], best["dicomweb-client loop"]
    return {
        "copies": copies,
        "instances_uploaded": len(files),
        "upload_seconds": round(upload_seconds, 2),
        "repeat": repeat,
        "results": {
            name: {
                "seconds": round(m.seconds, 3),
                "median_seconds": round(
                    statistics.median(x.seconds for x in runs[name]), 3
                ),
                "instances": m.instances,
                "series": m.series,
                "instances_per_second": round(m.per_second, 1),
                "requests": m.requests,
                "requests_per_series": round(m.per_series, 3),
            }
            for name, m in best.items()
        },
        "speedup": round(theirs.seconds / ours.seconds, 2) if ours.seconds else None,
    }


def report(result: dict[str, Any]) -> str:
    lines = [
        f"Orthanc on 127.0.0.1: the sample × {result['copies']} = "
        f"{result['instances_uploaded']:,} instances "
        f"(uploaded in {result['upload_seconds']:.1f} s); best of {result['repeat']}",
        f"{'method':<22} {'seconds':>8} {'inst/s':>9} {'requests':>9} {'req/series':>11}",
    ]
    for name, r in result["results"].items():
        lines.append(
            f"{name:<22} {r['seconds']:>8.3f} {r['instances_per_second']:>9,.0f} "
            f"{r['requests']:>9} {r['requests_per_series']:>11.3f}"
        )
    lines.append(
        f"dicomkit is {result['speedup']}× the dicomweb-client loop "
        "(and builds the typed Collection)"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dicomweb")
    parser.add_argument("--copies", type=int, default=10, help="sample copies (10)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per method (3)")
    parser.add_argument("--quick", action="store_true", help="× 2, 1 repeat")
    parser.add_argument("--json", action="store_true", help="print JSON too")
    args = parser.parse_args(argv)
    copies, repeat = (2, 1) if args.quick else (args.copies, args.repeat)
    result = run(copies, repeat)
    print(report(result))
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
