"""Scanning on a caller's executor: threads, processes, and a Dask cluster."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import dicomkit as dk
from tests.conftest import SAMPLE


def test_a_thread_pool_gives_the_same_collection() -> None:
    with ThreadPoolExecutor(2) as executor:
        col = dk.scan(SAMPLE, executor=executor, progress=False, cache=False)
    assert col == dk.scan(SAMPLE, workers=1, progress=False, cache=False)


@pytest.mark.slow
def test_a_dask_cluster_gives_the_same_collection(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            local_directory=str(tmp_path),
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        col = dk.scan(
            SAMPLE, executor=client.get_executor(), progress=False, cache=False
        )
        dk.scan_to_parquet(
            SAMPLE, tmp_path / "index", executor=client.get_executor(), progress=False
        )
    assert col == dk.scan(SAMPLE, workers=1, progress=False, cache=False)
    assert col.n_files == 219
    assert dk.read_parquet(tmp_path / "index") == col
