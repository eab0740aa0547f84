"""Find the files a scan must read: every regular file, whatever its name.

Walking never raises on what it meets. A path that cannot be a DICOM file (a FIFO,
a device, a broken link, a folder that cannot be listed) comes back as an error row,
so that every path seen is accounted for. Walks are deterministic (sorted names),
follow symbolic links, and visit each real folder once, so link loops end.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Union

__all__ = ["FileEntry", "WalkError", "walk"]

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class FileEntry:
    """A regular file to read, with the stat values the index keeps."""

    path: str
    file_size: int
    mtime_ns: int


@dataclass(frozen=True)
class WalkError:
    """A path met while walking that is not a readable regular file."""

    path: str
    reason: str
    message: str
    file_size: int | None = None
    mtime_ns: int | None = None


def walk(
    source: PathLike | Iterable[PathLike], *, recursive: bool = True
) -> Iterator[FileEntry | WalkError]:
    """Yield every file under ``source``, once, in a stable order.

    Parameters
    ----------
    source
        A folder, a file, or an iterable of files and folders.
    recursive
        Descend into sub-folders (the default). With ``False`` only the files
        directly inside a folder are read.

    Raises
    ------
    FileNotFoundError
        When ``source`` is a single path that does not exist. Inside an iterable
        a missing path becomes a ``missing`` error row instead.
    """
    if isinstance(source, (str, os.PathLike)):
        top = os.path.abspath(os.fspath(source))
        if not os.path.lexists(top):
            msg = f"cannot scan {os.fspath(source)!r}: no such file or folder"
            raise FileNotFoundError(msg)
        sources: Iterable[PathLike] = [top]
    else:
        sources = source
    seen_files: set[str] = set()
    seen_dirs: set[tuple[int, int]] = set()
    for item in sources:
        path = os.path.abspath(os.fspath(item))
        for entry in _walk_one(path, recursive=recursive, seen_dirs=seen_dirs):
            if entry.path in seen_files:
                continue
            seen_files.add(entry.path)
            yield entry


def _walk_one(
    path: str, *, recursive: bool, seen_dirs: set[tuple[int, int]]
) -> Iterator[FileEntry | WalkError]:
    try:
        st = os.stat(path)  # follows links
    except FileNotFoundError:
        if os.path.islink(path):
            yield WalkError(
                path, "broken_link", "a symbolic link whose target does not exist"
            )
        else:
            yield WalkError(path, "missing", "no such file or folder")
        return
    except OSError as exc:  # e.g. a symbolic link loop, a name too long
        yield WalkError(path, "unreadable", f"cannot stat: {exc.strerror or exc}")
        return
    if stat.S_ISDIR(st.st_mode):
        yield from _walk_dir(path, st, recursive=recursive, seen_dirs=seen_dirs)
    elif stat.S_ISREG(st.st_mode):
        yield FileEntry(path, st.st_size, st.st_mtime_ns)
    else:
        kind = _special_kind(st.st_mode)
        yield WalkError(
            path,
            "not_regular_file",
            f"a {kind}, not a regular file: not opened, so the scan cannot block on it",
        )


def _walk_dir(
    path: str, st: os.stat_result, *, recursive: bool, seen_dirs: set[tuple[int, int]]
) -> Iterator[FileEntry | WalkError]:
    key = (st.st_dev, st.st_ino)
    if key in seen_dirs:  # a link loop, or the same folder reached twice
        return
    seen_dirs.add(key)
    try:
        with os.scandir(path) as it:
            names = sorted(entry.name for entry in it)
    except OSError as exc:
        yield WalkError(
            path, "unreadable_folder", f"cannot list folder: {exc.strerror or exc}"
        )
        return
    for name in names:
        child = os.path.join(path, name)
        if not recursive and os.path.isdir(child):
            continue
        yield from _walk_one(child, recursive=recursive, seen_dirs=seen_dirs)


def _special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    return "special file"
