"""Ctrl-C stops a parallel scan cleanly and promptly; progress bars can be forced."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pydicom
import pytest

import dicomkit as dk
from dicomkit.corpus import write_corpus
from dicomkit.io import walk
from dicomkit.io.atomic import write_file
from dicomkit.io.scan import read_batch_frames
from dicomkit.io.walk import FileEntry
from dicomkit.schema import DEFAULT_KEYWORDS
from tests.conftest import ROOT, MakeFile


@pytest.fixture(scope="module")
def many_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("interrupt") / "files"
    originals = write_corpus(root / "original", 2500)
    # hard links: more files to read (a scan of 2,500 is over in well under a
    # second now) for no extra disk space or generation time
    for copy in range(5):
        folder = root / f"copy{copy}"
        folder.mkdir()
        for index, path in enumerate(originals):
            os.link(path, folder / f"{index:05d}")
    return root


def processes_marked(marker: str) -> list[int]:
    """The processes whose environment holds ``marker`` (Linux ``/proc``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone, or not ours
            continue
        if marker.encode() in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def run_to_the_end(
    args: list[str], marker: str, *, signal_after: float | None
) -> tuple[str, str, float]:
    """Run ``args`` (``ready`` on its first line), Ctrl-C it after ``signal_after``
    seconds, and return its output and how long it took to end after the signal.
    Fails (after killing them) when it hangs or leaves a process behind."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {
        **os.environ,
        "PYTHONPATH": path,  # this checkout's dicomkit, whatever is installed
        "DICOMKIT_INTERRUPT_TEST": marker.split("=", 1)[1],
    }
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
        start_new_session=True,  # a hung run is killed with all its processes
    )
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "ready"
        if signal_after is not None:
            time.sleep(signal_after)
            proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - sent
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # workers hold the pipes open too
        out, err = proc.communicate()
        pytest.fail(f"the process hung (killed after 30 s); stderr:\n{err[-3000:]}")
    finally:
        # the resource tracker ends when its parent does; anything else is an orphan
        deadline = time.monotonic() + 5
        while (left := processes_marked(marker)) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left behind: {left}"
    return out, err, took


pytestmark = pytest.mark.skipif(
    not Path("/proc/self/environ").exists(), reason="finds orphans through /proc"
)


@pytest.mark.parametrize(
    "workers_start", [True, False], ids=["workers-read", "workers-cannot-start"]
)
def test_ctrl_c_stops_a_parallel_scan(
    many_files: Path, tmp_path: Path, workers_start: bool
) -> None:
    # Without the __main__ guard the "spawn" workers cannot re-import the script:
    # the pool breaks and this process reads alone (the case that hung on 3.10).
    body = textwrap.dedent(
        f"""
        print("ready", flush=True)
        try:
            dk.scan({str(many_files)!r}, workers=2, progress=False, cache=False)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            print("children", len(multiprocessing.active_children()), flush=True)
            raise
        print("finished", flush=True)
        """
    )
    if workers_start:
        body = "if __name__ == '__main__':\n" + textwrap.indent(body, "    ")
    script = "import multiprocessing, warnings, dicomkit as dk\n"
    script += "warnings.simplefilter('ignore')\n" + body
    (tmp_path / "scan.py").write_text(script)
    marker = f"DICOMKIT_INTERRUPT_TEST={uuid.uuid4().hex}"
    out, err, stopped_after = run_to_the_end(
        [sys.executable, str(tmp_path / "scan.py")], marker, signal_after=1.0
    )
    if "finished" in out:
        pytest.skip("the machine read 15,000 files before the signal arrived")
    assert "interrupted" in out
    # no worker outlives the process (run_to_the_end checks /proc); one killed
    # a moment ago may not be reaped yet when the error reaches the script
    assert "KeyboardInterrupt" in err
    assert stopped_after < 10


def test_a_worker_that_does_not_stop_is_killed_without_a_hang(tmp_path: Path) -> None:
    """A worker stuck in one batch (it never checks the stop), more queued for it
    than a pipe holds: Ctrl-C must still end it (killed after the grace period)
    and the process, promptly (what hung Python 3.10 at exit)."""
    script = textwrap.dedent(
        """
        import multiprocessing, time
        from dicomkit.io import pool

        def work(data):
            if multiprocessing.parent_process() is not None:
                time.sleep(120)  # a worker: stuck, deaf to the stop
            return len(data)

        if __name__ == "__main__":
            pool.STOP_GRACE_SECONDS = 0.5
            print("ready", flush=True)
            batches = [bytes(4_000_000)] * 4  # 4 MB each: more than a pipe holds
            try:
                pool.run_batches(batches, work, 1, print, eager=True)
            except KeyboardInterrupt:
                print("interrupted", flush=True)
                print("children", multiprocessing.active_children(), flush=True)
                raise
        """
    )
    (tmp_path / "stuck.py").write_text(script)
    marker = f"DICOMKIT_INTERRUPT_TEST={uuid.uuid4().hex}"
    out, err, took = run_to_the_end(
        [sys.executable, str(tmp_path / "stuck.py")], marker, signal_after=3.0
    )
    assert "interrupted" in out, err  # none is left at exit (run_to_the_end)
    assert "children []" in out
    assert "KeyboardInterrupt" in err
    assert took < 10


@pytest.fixture(scope="module")
def deid_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("deid-interrupt") / "sources"
    write_corpus(root, 1500)
    return root


def deid_script(sources: Path, dest: Path, *, guard: bool) -> str:
    """A script that de-identifies ``sources`` into ``dest`` with 2 workers; without
    the ``__main__`` guard the "spawn" workers cannot start."""
    body = textwrap.dedent(
        f"""
        warnings.simplefilter("ignore")
        col = dk.scan({str(sources)!r}, workers=1, progress=False, cache=False)
        plan = col.deidentify(key="interrupt-test-key")
        print("ready", flush=True)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                plan.write({str(dest)!r}, workers=2, progress=False)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            print("children", len(multiprocessing.active_children()), flush=True)
            raise
        print("finished", [str(w.message)[:40] for w in caught], flush=True)
        """
    )
    if guard:
        body = "if __name__ == '__main__':\n" + textwrap.indent(body, "    ")
    return "import multiprocessing, warnings, dicomkit as dk\n" + body


def whole_files(dest: Path) -> list[Path]:
    """The files in ``dest``; fails on a temporary or a partial (unreadable) one."""
    written = [p for p in dest.rglob("*") if p.is_file()] if dest.exists() else []
    assert not [p for p in written if p.name.startswith(".dicomkit-")]
    for path in written:
        assert pydicom.dcmread(path).SOPInstanceUID
    return written


@pytest.mark.parametrize(
    ("guard", "after"),
    [(True, 0.5), (True, 1.0), (True, 2.0), (False, 1.0)],
    ids=["workers-starting", "workers-write", "later", "workers-cannot-start"],
)
def test_ctrl_c_stops_a_parallel_deidentified_write(
    deid_sources: Path, tmp_path: Path, guard: bool, after: float
) -> None:
    # whenever it comes: no hang, no process left, and every file in the
    # destination is a whole DICOM file (no temporary, no partial one)
    dest = tmp_path / "out"
    (tmp_path / "deid.py").write_text(deid_script(deid_sources, dest, guard=guard))
    marker = f"DICOMKIT_INTERRUPT_TEST={uuid.uuid4().hex}"
    out, err, took = run_to_the_end(
        [sys.executable, str(tmp_path / "deid.py")], marker, signal_after=after
    )
    if "finished" in out:
        pytest.skip("the machine wrote 1,500 files before the signal arrived")
    assert "interrupted" in out, err
    assert "children 0" in out
    assert "KeyboardInterrupt" in err
    assert took < 10
    whole_files(dest)  # (all 1,500 when the signal came during the rescan)


def test_a_write_whose_workers_cannot_start_finishes_here(tmp_path: Path) -> None:
    sources, dest = tmp_path / "sources", tmp_path / "out"
    write_corpus(sources, 300)
    (tmp_path / "deid.py").write_text(deid_script(sources, dest, guard=False))
    marker = f"DICOMKIT_INTERRUPT_TEST={uuid.uuid4().hex}"
    out, err, _ = run_to_the_end(
        [sys.executable, str(tmp_path / "deid.py")], marker, signal_after=None
    )
    finished = [line for line in out.splitlines() if line.startswith("finished")]
    assert finished, err
    # The workers fail (they re-run the script, whose write finds its targets
    # taken): either this process took over from them, with a warning, or it had
    # written every batch itself before any worker came up (batched writes are
    # fast), with no warning at all. Nothing else may be said.
    assert finished[0] == "finished []" or (
        finished[0].startswith("finished ['dicomkit: worker processes failed")
        and finished[0].count("', '") == 0  # that one warning only
    ), err
    assert len(whole_files(dest)) == 300  # each once: none refused, none failed


def test_a_scan_that_outruns_its_workers_leaves_none_behind(
    many_files: Path, tmp_path: Path
) -> None:
    # 1,100 files: this process reads them all before the workers have started
    # (on most machines); they are then stopped in the background and must still
    # end, without a word on stderr.
    folder = tmp_path / "some"
    folder.mkdir()
    files = sorted(p for p in (many_files / "original").rglob("*") if p.is_file())
    for index, path in enumerate(files[:1100]):
        shutil.copyfile(path, folder / f"{index:05d}")
    script = textwrap.dedent(
        f"""
        import multiprocessing, dicomkit as dk
        if __name__ == "__main__":
            print("ready", flush=True)
            col = dk.scan({str(folder)!r}, workers=3, progress=False, cache=False)
            print("files", col.n_files, flush=True)
        """
    )
    (tmp_path / "outrun.py").write_text(script)
    marker = f"DICOMKIT_INTERRUPT_TEST={uuid.uuid4().hex}"
    out, err, _ = run_to_the_end(
        [sys.executable, str(tmp_path / "outrun.py")], marker, signal_after=None
    )
    assert "files 1100" in out
    assert err == ""


def test_progress_bar_can_be_forced(
    tmp_path: Path, make_file: MakeFile, capsys: pytest.CaptureFixture[str]
) -> None:
    make_file("a.dcm")
    dk.scan(tmp_path, progress=True)
    assert "dicomkit scan" in capsys.readouterr().err
    dk.scan(tmp_path, progress=False)
    assert capsys.readouterr().err == ""


def test_a_ctrl_c_as_a_temporary_file_is_made_leaves_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the signal arrives just after the temporary file is created, before its
    # name is known to the writer (what left one in a stopped parallel write)
    real_open = os.open

    def interrupted(*args: Any, **kwargs: Any) -> int:
        os.close(real_open(*args, **kwargs))
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "open", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_file(str(tmp_path / "new.dcm"), lambda fp: fp.write(b"data"))
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_a_ctrl_c_inside_open_is_not_taken_for_an_unreadable_file(
    make_file: MakeFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Ctrl-C inside open(fd) makes it close fd; closing it again raised
    # OSError(EBADF) in place of the KeyboardInterrupt, which the reader took
    # for an unreadable file: the scan went on (the "hang" of the
    # workers-cannot-start case above, about 1 run in 30 under load).
    path = make_file("a.dcm")
    stat = path.stat()
    entry = FileEntry(str(path), stat.st_size, stat.st_mtime_ns)

    def interrupted(fd: int, *args: Any, **kwargs: Any) -> Any:
        os.close(fd)  # what open() does with a descriptor when it fails
        raise KeyboardInterrupt

    monkeypatch.setattr(walk, "open", interrupted, raising=False)
    with pytest.raises(KeyboardInterrupt):
        read_batch_frames([entry], DEFAULT_KEYWORDS)
