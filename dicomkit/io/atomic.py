"""Atomic output: a temporary name beside the target, fsync, then a rename.

Every file dicomkit writes (parquet indexes and their parts, the scan cache, new
DICOM files) goes through here or follows the same rules:

* the temporary file lives in the target's folder (a rename never crosses file
  systems) and is named ``.dicomkit-<host>-<pid>-…`` (:func:`temp_prefix`), so that
  one left behind by a killed writer can be told from a live writer's;
* its data reaches the disk (``fsync``) before :func:`os.replace` puts it in place:
  a reader, or a machine that crashed, sees the old file or the new one, never half;
* it gets the permissions of any new file under the umask, unless it is private
  (owner-only, as ``mkstemp`` makes it);
* :func:`remove_dead_temporaries` removes what writers on this host that no longer
  run left in a folder.

Many small files (de-identified copies) go through :class:`AtomicBatch`: the same
rules, but one sync for the whole batch instead of one ``fsync`` per file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import sys
from collections.abc import Callable, Collection, Iterable
from types import TracebackType
from typing import Any, BinaryIO

import polars as pl

__all__ = [
    "AtomicBatch",
    "file_mode",
    "remove_dead_temporaries",
    "temp_prefix",
    "write_file",
    "write_parquet",
]

_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_TEMP_NAME = re.compile(r"\.dicomkit-([0-9a-f]{8})-([0-9]+)-")


def temp_prefix() -> str:
    """``.dicomkit-<host hash>-<pid>-``: the start of this process's temporary names."""
    return f".dicomkit-{_HOST}-{os.getpid()}-"


def file_mode() -> int:
    """The permissions of a new file under this process's umask."""
    try:  # Linux tells the umask without changing it (no race with other threads)
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def write_file(
    target: str,
    fill: Callable[[BinaryIO], object],
    *,
    prefix: str | None = None,
    suffix: str = ".tmp",
    mode: int | None = None,
    overwrite: bool = True,
) -> None:
    """Write ``target`` atomically: ``fill(fp)`` writes a temporary file beside it,
    which is synced, given ``mode`` (else it stays owner-only) and renamed.

    With ``overwrite=False``, a ``target`` that appeared meanwhile is kept and
    :class:`FileExistsError` raised. The temporary file never outlives a failure.
    """
    tmp = _temporary_name(target, prefix, suffix)
    fd = -1
    try:
        fd = os.open(tmp, _CREATE, 0o600)
        with os.fdopen(fd, "wb") as fp:
            fill(fp)
            fp.flush()
            os.fsync(fp.fileno())  # on disk before the rename (a crash)
        if mode is not None:
            os.chmod(tmp, mode)
        if not overwrite and os.path.lexists(target):
            msg = f"{target} appeared while writing; pass overwrite=True to replace it"
            raise FileExistsError(msg)
        os.replace(tmp, target)
    except FileExistsError:
        if fd != -1:  # the target appeared: remove ours (else the name was taken)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class AtomicBatch:
    """Write many files atomically, with one sync for all of them.

    :meth:`add` writes each file to a temporary name beside its target (nothing
    appears under a final name yet); :meth:`commit` makes every temporary file's
    data durable at once (``syncfs`` of each file system on Linux, else one
    ``fsync`` per file), only then renames them into place, and syncs their
    folders, so that the names are durable too when it returns. A reader, or a
    machine that crashed, sees a whole file under a final name or none. Leaving
    the ``with`` block without committing (an exception) removes every
    temporary file.

    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with AtomicBatch(overwrite=False) as batch:
    ...     batch.add(os.path.join(folder, "a.txt"), lambda fp: fp.write(b"a"))
    ...     batch.add(os.path.join(folder, "b.txt"), lambda fp: fp.write(b"b"))
    ...     errors = batch.commit()
    >>> errors, sorted(os.listdir(folder))
    ({}, ['a.txt', 'b.txt'])
    """

    def __init__(
        self,
        *,
        mode: int | None = None,
        overwrite: bool = True,
        prefix: str | None = None,
        suffix: str = ".tmp",
    ) -> None:
        self.mode = mode
        self.overwrite = overwrite
        self.prefix = prefix
        self.suffix = suffix
        self._pending: list[tuple[str, str]] = []  # (temporary, target)

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, target: str, fill: Callable[[BinaryIO], object]) -> None:
        """Write ``fill(fp)`` to a temporary file beside ``target`` (not synced,
        not renamed yet). If ``fill`` raises, its temporary file is removed and
        the exception propagates; the batch's other files are unaffected."""
        tmp = _temporary_name(target, self.prefix, self.suffix)
        try:
            with os.fdopen(os.open(tmp, _CREATE, 0o600), "wb") as fp:
                fill(fp)
            if self.mode is not None:
                os.chmod(tmp, self.mode)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self._pending.append((tmp, target))

    def commit(self) -> dict[str, OSError]:
        """Sync every file added, then rename each into place and sync the folders.

        Returns the targets that could not be put in place, with why (with
        ``overwrite=False``, a target that appeared meanwhile is kept and
        reported as :class:`FileExistsError`); their temporary files are removed.
        A failed sync raises OSError and leaves no file in place.
        """
        pending, self._pending = self._pending, []
        try:
            _sync_all([tmp for tmp, _ in pending])
        except BaseException:
            _remove(tmp for tmp, _ in pending)
            raise
        errors: dict[str, OSError] = {}
        folders: set[str] = set()
        for index, (tmp, target) in enumerate(pending):
            try:
                if not self.overwrite and os.path.lexists(target):
                    msg = (
                        f"{target} appeared while writing; pass overwrite=True to "
                        "replace it"
                    )
                    raise FileExistsError(msg)
                os.replace(tmp, target)
                folders.add(os.path.dirname(os.path.abspath(target)))
            except OSError as exc:
                errors[target] = exc
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            except BaseException:
                _remove(tmp for tmp, _ in pending[index:])
                raise
        _sync_folders(folders)
        return errors

    def abort(self) -> None:
        """Remove every temporary file not committed yet."""
        pending, self._pending = self._pending, []
        _remove(tmp for tmp, _ in pending)

    def __enter__(self) -> AtomicBatch:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.abort()


_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


def _temporary_name(target: str, prefix: str | None, suffix: str) -> str:
    """A new temporary name beside ``target``, chosen before the file exists (not
    ``mkstemp``): a Ctrl-C just after the file is created cannot leave it behind
    unnamed, since the caller knows the name to remove."""
    folder = os.path.dirname(os.path.abspath(target))
    return os.path.join(
        folder, f"{prefix or temp_prefix()}{secrets.token_hex(8)}{suffix}"
    )


def _remove(paths: Iterable[str]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _syncfs() -> Callable[[int], int] | None:
    """Linux's ``syncfs(fd)`` (one call makes a whole file system durable), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        function: Callable[[int], int] = libc.syncfs
    except (OSError, AttributeError):
        return None
    return function


_SYNCFS = _syncfs()


def _sync_all(paths: list[str]) -> None:
    """Make the data of ``paths`` durable: one ``syncfs`` per file system if the
    platform has it, else an ``fsync`` of each file."""
    if not paths:
        return
    if _SYNCFS is not None and len(paths) > 1:
        devices: dict[int, str] = {}
        for path in paths:
            devices.setdefault(os.stat(path).st_dev, path)
        if all(_syncfs_ok(path) for path in devices.values()):
            return
    for path in paths:  # no syncfs, or it failed: one file at a time
        fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _syncfs_ok(path: str) -> bool:
    assert _SYNCFS is not None
    fd = os.open(path, os.O_RDONLY)
    try:
        return _SYNCFS(fd) == 0
    finally:
        os.close(fd)


def _sync_folders(folders: Collection[str]) -> None:
    """fsync each folder, so that the renames in it are durable (POSIX; Windows
    cannot open a folder, and its renames are durable with the file system's log)."""
    if os.name == "nt":
        return
    for folder in sorted(folders):
        with contextlib.suppress(OSError):  # e.g. a file system that refuses it
            fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def write_parquet(
    table: pl.DataFrame,
    target: str,
    metadata: dict[str, Any],
    *,
    prefix: str | None = None,
    suffix: str = ".parquet.tmp",
    private: bool = False,
) -> None:
    """Write ``table`` to ``target`` atomically (:func:`write_file`), with key-value
    ``metadata`` (each value JSON-encoded).

    The file gets the umask's permissions, or the owner's only if ``private``
    (the scan cache, kept in a shared cache folder, holds patient data).
    """
    encoded = {key: json.dumps(value) for key, value in metadata.items()}
    write_file(
        target,
        lambda fp: table.write_parquet(fp, metadata=encoded),
        prefix=prefix,
        suffix=suffix,
        mode=None if private else file_mode(),
    )


def remove_dead_temporaries(folder: str, *, keep: Collection[str] = ()) -> None:
    """Remove the temporary files and folders that killed dicomkit writers on this
    host left in ``folder`` (a running writer's, another host's, and the paths in
    ``keep`` stay)."""
    try:
        names = os.listdir(folder)
    except OSError:  # not there yet: nothing was left
        return
    for name in names:
        match = _TEMP_NAME.match(name)
        path = os.path.join(folder, name)
        if match is None or match[1] != _HOST or path in keep:
            continue
        if _running(int(match[2])):
            continue
        with contextlib.suppress(OSError):  # gone meanwhile, or not ours to remove
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (a reused pid counts as running)."""
    if pid == os.getpid() or os.name == "nt":  # Windows' os.kill terminates
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists, under another user
        return True
    return True
