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
from collections.abc import Callable, Collection
from typing import Any, BinaryIO

import polars as pl

__all__ = [
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
    folder = os.path.dirname(os.path.abspath(target))
    # named before it exists (not mkstemp): a Ctrl-C just after the file is
    # created cannot leave it behind unnamed
    name = f"{prefix or temp_prefix()}{secrets.token_hex(8)}{suffix}"
    tmp = os.path.join(folder, name)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = -1
    try:
        fd = os.open(tmp, flags, 0o600)
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
