"""dicomkit.io.pool: batches in worker processes, their errors, their deaths."""

from __future__ import annotations

import multiprocessing
import os

import pytest

from dicomkit.io.pool import run_batches


def in_a_worker() -> bool:
    return multiprocessing.parent_process() is not None


def tagged(batch: str) -> tuple[int, str]:
    """Which process ran ``batch``; a worker that gets "die" dies, "boom" raises."""
    if in_a_worker() and batch == "die":
        os._exit(3)
    if in_a_worker() and batch == "boom":
        msg = f"cannot run {batch}"
        raise ValueError(msg)
    return os.getpid(), batch


def recovered(batch: str) -> tuple[int, str]:
    return os.getpid(), f"recovered {batch}"


def test_every_batch_runs_once_some_in_the_workers() -> None:
    batches = [f"b{i}" for i in range(8)]
    results: dict[int, tuple[int, str]] = {}
    run_batches(batches, tagged, 2, results.__setitem__, eager=True)
    assert sorted(results) == list(range(8))
    assert [results[i][1] for i in range(8)] == batches
    assert {pid for pid, _ in results.values()} - {os.getpid()}  # workers ran some


def test_an_error_in_a_worker_is_raised_here() -> None:
    with pytest.raises(ValueError, match="cannot run boom"):
        run_batches(["boom"], tagged, 1, lambda *_: None, eager=True)
    assert multiprocessing.active_children() == []


def test_the_batches_of_a_dead_worker_are_recovered_here() -> None:
    results: dict[int, tuple[int, str]] = {}
    with pytest.warns(RuntimeWarning, match=r"exit code 3\)\); testing the remaining"):
        run_batches(
            ["die", "next"],
            tagged,
            1,
            results.__setitem__,
            recover=recovered,
            eager=True,
            verb="testing",
        )
    assert results == {
        0: (os.getpid(), "recovered die"),
        1: (os.getpid(), "recovered next"),
    }
    assert multiprocessing.active_children() == []
