"""Walking folders: every path accounted for, nothing blocks, loops end."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dicomkit.io.walk import FileEntry, WalkError, walk


def paths(entries: list[FileEntry | WalkError]) -> list[str]:
    return [os.path.relpath(e.path) for e in entries]


def test_walk_is_sorted_and_recursive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("b/2", "a/1", "a/c/3", "0"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    assert paths(list(walk(tmp_path))) == ["0", "a/1", "a/c/3", "b/2"]
    assert paths(list(walk(tmp_path, recursive=False))) == ["0"]


def test_special_files_are_error_rows_and_never_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # opening it for reading would block forever
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    got = {os.path.basename(e.path): e for e in walk(tmp_path)}
    assert isinstance(got["pipe"], WalkError)
    assert got["pipe"].reason == "not_regular_file"
    assert "FIFO" in got["pipe"].message
    assert isinstance(got["dangling"], WalkError)
    assert got["dangling"].reason == "broken_link"


def test_symlink_loops_end(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f").write_bytes(b"x")
    (tmp_path / "a" / "loop").symlink_to(tmp_path)
    (tmp_path / "self").symlink_to(tmp_path / "self")  # a link to itself
    got = list(walk(tmp_path))
    files = [e for e in got if isinstance(e, FileEntry)]
    assert [os.path.basename(f.path) for f in files] == ["f"]
    assert [e.reason for e in got if isinstance(e, WalkError)] == ["unreadable"]


def test_iterable_source_with_missing_and_repeated_paths(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"x")
    got = list(walk([f, str(f), tmp_path / "missing"]))
    assert len(got) == 2
    assert isinstance(got[0], FileEntry)
    assert got[0].file_size == 1
    assert isinstance(got[1], WalkError)
    assert got[1].reason == "missing"


def test_missing_single_source_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        list(walk(tmp_path / "nope"))
