"""Run batches in worker processes; Ctrl-C or a dead worker stops them all promptly.

:func:`run_batches` is the one process pool of dicomkit: the scan
(:mod:`dicomkit.io.scan`) reads headers with it, the de-identified write
(:mod:`dicomkit.io.deid_write`) writes copies with it. It takes a list of
batches and a picklable function; workers (``"spawn"`` processes, started
as the call begins) run batches from the front, this process runs them from the
back whenever no result is waiting, so the call never waits for the workers to
start (~0.3 s: they import polars and pydicom). Each result is handed to
``done(index, result)`` in this process, in completion order.

How it stops, and why it cannot hang
------------------------------------
The pool is built on plain pipes, two a worker (tasks in, results out), and this
process runs no thread of its own: no ``concurrent.futures`` manager thread, no
queue feeder thread, nothing the interpreter joins at exit. The cases:

* **Ctrl-C** (or any error in this process): every worker's task pipe is closed.
  A worker notices within one step of its work (:func:`stop_requested`, checked
  by the batch function; the scan checks every 32 files, the write every file),
  and exits; one that has not exited after :data:`STOP_GRACE_SECONDS` is
  terminated, then killed. Its result pipe is closed too, so a worker writing a
  large result gets ``BrokenPipeError`` instead of waiting for a reader. Then the
  exception goes on. A second Ctrl-C while waiting still ends every worker
  (``finally``), and the workers are daemonic: if all else fails,
  :mod:`multiprocessing` terminates them at exit.
* **A worker dies or cannot start** (a script without an
  ``if __name__ == "__main__":`` guard, which ``"spawn"`` re-runs): the others are
  stopped as above, a :class:`RuntimeWarning` says so, and every batch not done
  yet is run in this process (``recover`` for those a worker had taken: it may
  have done part of one).
* **The end**: the workers hold no batch; they are told to exit (a worker still
  starting is terminated: it has nothing to lose), and the call returns.

A worker takes its tasks off the pipe in a thread of its own, so a task sent to
a busy worker never blocks this process, and no two processes ever wait on each
other: this process only writes to a worker that reads, and only reads from one
that may write.

Examples
--------
>>> from dicomkit.io.pool import run_batches
>>> results = {}
>>> run_batches([[1, 2], [3], [4, 5, 6]], sum, 1, results.__setitem__)
>>> sorted(results.items())
[(0, 3), (1, 3), (2, 15)]
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, TypeVar

from dicomkit._warnings import warn

__all__ = [
    "STOP_GRACE_SECONDS",
    "Stopped",
    "can_spawn",
    "check_stop",
    "run_batches",
    "stop_requested",
]

B = TypeVar("B")
R = TypeVar("R")

#: A stopped worker that has not exited this many seconds later is killed.
STOP_GRACE_SECONDS = 3.0
#: Tasks handed to a worker at a time: one to run, one waiting (no idle gap).
TASKS_PER_WORKER = 2

_READY = "ready"  # a worker's first message: it has started and takes tasks
_stopping: threading.Event | None = None  # in a worker: set once its pool stops


class Stopped(Exception):
    """Raised by :func:`check_stop` in a worker whose pool has stopped."""


def stop_requested() -> bool:
    """Whether this process is a worker whose pool has stopped (False elsewhere).

    A batch function checks it now and then (or calls :func:`check_stop`) and
    leaves its batch early; the result is not wanted any more.
    """
    return _stopping is not None and _stopping.is_set()


def check_stop() -> None:
    """Raise :class:`Stopped` when :func:`stop_requested`: the worker then exits."""
    if stop_requested():
        raise Stopped


def can_spawn() -> bool:
    """Whether "spawn" workers can start: they re-import the main script by path."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    return main_file is None or os.path.exists(main_file)


def run_batches(
    batches: Sequence[B],
    work: Callable[[B], R],
    n_workers: int,
    done: Callable[[int, R], None],
    *,
    here: Callable[[B], R] | None = None,
    recover: Callable[[B], R] | None = None,
    eager: bool = False,
    verb: str = "running",
) -> None:
    """Run every batch, with ``n_workers`` worker processes and this one.

    ``work(batch)`` runs in the workers: a picklable module-level function (or a
    :func:`functools.partial` of one), sent to each worker once; it may call
    :func:`check_stop`. ``here(batch)`` runs a batch in this process (default
    ``work``); ``recover(batch)`` one that a dead worker had taken and may have
    done in part (default ``here``). ``done(index, result)`` is called here once
    per batch, in completion order.

    Batches go to a worker once it has started (it then never waits: two at a
    time); with ``eager`` the first ones go at once, so the workers run them even
    when this process could have. ``verb`` names the work in the warning shown
    when the workers fail (``"reading"``: "…; reading the remaining files in this
    process"). ``n_workers=0`` runs everything here.

    Raises what ``work`` raised (the workers are stopped first), and
    KeyboardInterrupt on Ctrl-C, once no worker is left. See the module docstring.
    """
    here = work if here is None else here
    recover = here if recover is None else recover
    front, back = 0, len(batches)
    workers: list[_Worker] = []
    try:
        context = multiprocessing.get_context("spawn")
        # "spawn": forking a process that already runs polars' thread pool can
        # deadlock, and a notebook kernel always has threads.
        for _ in range(n_workers if front < back else 0):
            workers.append(_Worker.start(context, work))  # each one ended below
        if eager:
            for worker in workers:
                front = _hand_out(worker, batches, front, back)
        while workers and (front < back or any(w.taken for w in workers)):
            if any(w.dead for w in workers):
                lost = sorted(index for w in workers for index in w.taken)
                reason = next(w.death for w in workers if w.dead)
                _end(workers, STOP_GRACE_SECONDS)
                workers = []
                warn(
                    f"dicomkit: worker processes failed ({reason}); {verb} the "
                    "remaining files in this process. Pass workers=1 to skip the "
                    "attempt."
                )
                for index in lost:
                    done(index, recover(batches[index]))
                break
            ready = wait([w.results for w in workers], timeout=0)
            if not ready and front < back:
                back -= 1
                done(back, here(batches[back]))
                continue
            if not ready:
                ready = wait([w.results for w in workers])
            for worker in workers:
                if worker.results not in ready:
                    continue
                message = worker.receive()
                if message is None:
                    continue  # dead: handled above, after the others' results
                if message != _READY:
                    index, result = message
                    worker.taken.remove(index)
                    done(index, result)
                front = _hand_out(worker, batches, front, back)
        for index in range(front, back):  # no worker (any more)
            done(index, here(batches[index]))
    except BaseException:
        _end(workers, STOP_GRACE_SECONDS)
        raise
    _end(workers, 0.0)  # they hold no batch: no need to wait for any


@dataclass(eq=False)
class _Worker:
    """One worker process, seen from this process: its pipes and batches."""

    process: Any
    tasks: Connection  # this process writes, the worker reads
    results: Connection  # the worker writes, this process reads
    taken: list[int] = field(default_factory=list)  # batches sent, not returned
    death: str = ""  # why it died; empty while alive

    @property
    def dead(self) -> bool:
        return bool(self.death)

    @classmethod
    def start(cls, context: Any, work: Callable[[Any], Any]) -> _Worker:
        task_reader, task_writer = context.Pipe(duplex=False)
        result_reader, result_writer = context.Pipe(duplex=False)
        try:
            process = context.Process(
                target=_serve,
                args=(task_reader, result_writer, work),
                name="dicomkit-worker",
                daemon=True,  # terminated at exit, whatever happens
            )
            process.start()
        except BaseException:
            task_writer.close()
            result_reader.close()
            raise
        finally:
            # the worker's ends are its own now: once it is gone, a write to its
            # tasks fails (EPIPE) and a read of its results ends (EOF)
            task_reader.close()
            result_writer.close()
        return cls(process, task_writer, result_reader)

    def send(self, index: int, batch: Any) -> bool:
        """Send one batch; False (and marked dead) when the worker is gone."""
        try:
            self.tasks.send((index, batch))
        except OSError as exc:  # BrokenPipeError: it died
            self._died(f"cannot send it a batch: {exc}")
            return False
        self.taken.append(index)
        return True

    def receive(self) -> Any:
        """The worker's next message (a result or ``_READY``); None once it died."""
        try:
            message = self.results.recv()
        except (EOFError, OSError):
            self._died("")
            return None
        if isinstance(message, _Failure):
            raise message.error
        return message

    def _died(self, why: str) -> None:
        self.process.join(1.0)  # it closed its pipe: it is ending
        code = self.process.exitcode
        self.death = why or (
            "a worker process ended unexpectedly"
            + (f" (exit code {code})" if code is not None else "")
        )


def _hand_out(worker: _Worker, batches: Sequence[Any], front: int, back: int) -> int:
    """Send ``worker`` batches from ``front`` until it holds TASKS_PER_WORKER."""
    while front < back and len(worker.taken) < TASKS_PER_WORKER and not worker.dead:
        if worker.send(front, batches[front]):
            front += 1
    return front


def _end(workers: list[_Worker], grace: float) -> None:
    """Stop every worker and wait until none is left: closing its pipes tells it
    to stop; one still running after ``grace`` seconds is terminated, then killed."""
    try:
        for worker in workers:
            with contextlib.suppress(OSError):
                worker.tasks.close()  # the worker's stop signal
            with contextlib.suppress(OSError):
                worker.results.close()  # its writes fail rather than wait
        deadline = time.monotonic() + grace
        for worker in workers:
            worker.process.join(max(deadline - time.monotonic(), 0.0))
    finally:  # a second Ctrl-C while waiting still ends them
        alive = [w.process for w in workers if w.process.is_alive()]
        for process in alive:
            with contextlib.suppress(OSError):
                process.terminate()
        for process in alive:
            process.join(1.0)
            if process.is_alive():
                with contextlib.suppress(OSError):
                    process.kill()
                process.join()


@dataclass
class _Failure:
    """An exception raised by ``work`` in a worker, re-raised in this process."""

    error: BaseException


def _serve(
    tasks: Connection, results: Connection, work: Callable[[Any], Any]
) -> None:  # pragma: no cover - runs in worker processes
    """A worker's life: take batches, send results, until the pool stops."""
    global _stopping
    # Ctrl-C reaches the whole process group; the parent alone decides to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stopping = _stopping = threading.Event()
    inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def take() -> None:  # reads tasks as they come: the parent never waits
        with contextlib.suppress(EOFError, OSError):
            while True:
                inbox.put(tasks.recv())
        stopping.set()  # the parent closed the pipe: stop
        inbox.put(None)

    threading.Thread(target=take, name="dicomkit-tasks", daemon=True).start()
    try:
        results.send(_READY)
        while (task := inbox.get()) is not None and not stopping.is_set():
            index, batch = task
            try:
                message: Any = (index, work(batch))
            except Stopped:
                return
            except Exception as exc:  # noqa: BLE001 - the parent re-raises it
                message = _Failure(exc)
            try:
                results.send(message)
            except (pickle.PicklingError, TypeError, AttributeError) as exc:
                results.send(_Failure(RuntimeError(f"unpicklable result: {exc}")))
    except OSError:  # the parent closed the results pipe: stopped
        return
