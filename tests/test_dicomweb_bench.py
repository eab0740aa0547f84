"""benchmarks/dicomweb.py keeps working (a tiny run against Orthanc, not a measurement)."""

from __future__ import annotations

from benchmarks import dicomweb as bench
from tests.orthanc import require_orthanc


def test_the_benchmark_runs_and_both_methods_see_everything() -> None:
    require_orthanc()
    result = bench.run(copies=1, repeat=1)
    ours = result["results"]["dicomkit"]
    theirs = result["results"]["dicomweb-client loop"]
    assert result["instances_uploaded"] == 213
    assert ours["instances"] == theirs["instances"] == 213
    assert ours["series"] == theirs["series"] == 9
    assert ours["requests"] == 1 + 5 + 9  # studies, series per study, metadata
    assert theirs["requests"] == 2 + 9  # one page, one empty page, metadata
    assert "inst/s" in bench.report(result)
