"""Find the files a scan must read: every regular file, whatever its name.

Walking never raises on what it meets. A path that cannot be a DICOM file (a FIFO,
a device, a broken link, a folder that cannot be listed) comes back as an error row,
so that every path seen is accounted for. Walks are deterministic (sorted names),
follow symbolic links, and visit each real folder once, so link loops end.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple, Union

__all__ = [
    "FileEntry",
    "NotRegularFileError",
    "WalkError",
    "open_regular",
    "os_path",
    "text_path",
    "walk",
]

PathLike = Union[str, "os.PathLike[str]"]


class FileEntry(NamedTuple):
    """A regular file to read, with the stat values the index keeps.

    A named tuple: a scan makes one per file, and these are the cheapest to make.
    """

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


class NotRegularFileError(OSError):
    """A path to read is no longer a regular file (e.g. replaced by a FIFO)."""


_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def open_regular(path: str, buffering: int = -1) -> BinaryIO:
    """Open ``path`` for reading in binary mode, if it is a regular file.

    The walk has seen a regular file, but it may have been replaced since (by a
    FIFO, whose ``open`` would wait for a writer forever). The file is opened
    without blocking and checked before anything is read.

    Raises
    ------
    NotRegularFileError
        If ``path`` is not a regular file now.
    OSError
        If it cannot be opened.
    """
    fd = os.open(path, os.O_RDONLY | _NONBLOCK)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            msg = f"not a regular file any more ({_special_kind(mode)})"
            raise NotRegularFileError(msg)
    except BaseException:
        os.close(fd)
        raise
    # not in the try: open() owns fd and closes it if it fails (a Ctrl-C inside
    # it); closing it again raised OSError(EBADF), which replaced the
    # KeyboardInterrupt, and the reader took that for an unreadable file
    return open(fd, "rb", buffering=buffering)


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


def text_path(path: str) -> str:
    """``path`` as valid UTF-8 text, for a frame: each undecodable byte as ``\\xNN``.

    The walk yields the operating system's names, where a byte that is not UTF-8
    is a surrogate escape (``os.fsdecode``); polars stores only valid UTF-8. A
    path that is valid UTF-8 is returned as it is; in one that is not, a literal
    backslash becomes ``\\x5c`` too, so that :func:`os_path` can always turn
    the text back into the name to open.
    """
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raw = os.fsencode(path).replace(b"\\", b"\\x5c")
        return raw.decode("utf-8", "backslashreplace")
    return path


_ESCAPE = re.compile(rb"\\x([0-9a-f]{2})")  # as text_path writes them


def os_path(text: str) -> str:
    """The path to open for a ``path`` taken from a frame (see :func:`text_path`).

    A path without ``\\x`` is returned as it is, at no cost, and so is one that
    exists as written (a valid UTF-8 name holding a literal ``\\x``). Otherwise
    each ``\\xNN`` becomes the byte it stands for, if that makes a name that is
    not UTF-8 (the only names :func:`text_path` escapes).
    """
    if "\\x" not in text or os.path.lexists(text):
        return text
    raw = _ESCAPE.sub(lambda m: bytes([int(m[1], 16)]), text.encode("utf-8"))
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return os.fsdecode(raw)
    return text  # valid UTF-8 either way: never escaped


def _walk_one(
    path: str, *, recursive: bool, seen_dirs: set[tuple[int, int]]
) -> Iterator[FileEntry | WalkError]:
    """Everything under one path, depth first, each folder's entries sorted.

    Iterative (a stack of folder listings), so deep trees cost no recursion.
    """
    item = _stat_path(path)
    if not isinstance(item, os.stat_result):
        yield item
        return
    if not stat.S_ISDIR(item.st_mode):
        yield _classify(path, item)
        return
    stack = [_listing(path, item, seen_dirs)]
    while stack:
        entries = stack[-1]
        if isinstance(entries, WalkError):
            stack.pop()
            yield entries
            continue
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        try:
            st = entry.stat()  # follows links, like os.stat
        except OSError:
            found = _stat_path(entry.path)  # says why: a broken link, a loop …
            if isinstance(found, WalkError):
                yield found
                continue
            st = found
        if stat.S_ISREG(st.st_mode):  # the common case: one stat, no joining
            yield FileEntry(entry.path, st.st_size, st.st_mtime_ns)
        elif stat.S_ISDIR(st.st_mode):
            if recursive:
                stack.append(_listing(entry.path, st, seen_dirs))
        else:
            yield _classify(entry.path, st)


def _stat_path(path: str) -> os.stat_result | WalkError:
    try:
        return os.stat(path)  # follows links
    except FileNotFoundError:
        if os.path.islink(path):
            return WalkError(
                path, "broken_link", "a symbolic link whose target does not exist"
            )
        return WalkError(path, "missing", "no such file or folder")
    except OSError as exc:  # e.g. a symbolic link loop, a name too long
        return WalkError(path, "unreadable", f"cannot stat: {exc.strerror or exc}")


def _classify(path: str, st: os.stat_result) -> FileEntry | WalkError:
    if stat.S_ISREG(st.st_mode):
        return FileEntry(path, st.st_size, st.st_mtime_ns)
    kind = _special_kind(st.st_mode)
    return WalkError(
        path,
        "not_regular_file",
        f"a {kind}, not a regular file: not opened, so the scan cannot block on it",
    )


def _listing(
    path: str, st: os.stat_result, seen_dirs: set[tuple[int, int]]
) -> Iterator[os.DirEntry[str]] | WalkError:
    """A folder's entries, sorted by name; empty for a folder already walked."""
    key = (st.st_dev, st.st_ino)
    if key in seen_dirs:  # a link loop, or the same folder reached twice
        return iter(())
    seen_dirs.add(key)
    try:
        with os.scandir(path) as it:
            return iter(sorted(it, key=lambda entry: entry.name))
    except OSError as exc:
        return WalkError(
            path, "unreadable_folder", f"cannot list folder: {exc.strerror or exc}"
        )


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
