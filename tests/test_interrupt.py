"""Ctrl-C stops a parallel scan cleanly and promptly; progress bars can be forced."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import dicomkit as dk
from dicomkit.corpus import write_corpus
from tests.conftest import ROOT, MakeFile


def test_ctrl_c_stops_a_parallel_scan(tmp_path: Path) -> None:
    originals = write_corpus(tmp_path / "files" / "original", 2500)
    # hard links: more files to read (a scan of 2,500 is over in well under a
    # second now) for no extra disk space or generation time
    for copy in range(5):
        folder = tmp_path / "files" / f"copy{copy}"
        folder.mkdir()
        for index, path in enumerate(originals):
            os.link(path, folder / f"{index:05d}")
    script = textwrap.dedent(
        f"""
        import sys, dicomkit as dk
        print("ready", flush=True)
        try:
            dk.scan({str(tmp_path / "files")!r}, workers=2, progress=False, cache=False)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            raise
        print("finished", flush=True)
        """
    )
    (tmp_path / "scan.py").write_text(script)
    proc = subprocess.Popen(
        [sys.executable, str(tmp_path / "scan.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(1.0)  # workers started, scan under way
    proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    out, err = proc.communicate(timeout=30)
    stopped_after = time.monotonic() - sent
    if "finished" in out:
        pytest.skip("the machine read 15,000 files before the signal arrived")
    assert "interrupted" in out
    assert proc.returncode != 0
    assert "KeyboardInterrupt" in err
    assert stopped_after < 10


def test_progress_bar_can_be_forced(
    tmp_path: Path, make_file: MakeFile, capsys: pytest.CaptureFixture[str]
) -> None:
    make_file("a.dcm")
    dk.scan(tmp_path, progress=True)
    assert "dicomkit scan" in capsys.readouterr().err
    dk.scan(tmp_path, progress=False)
    assert capsys.readouterr().err == ""
