"""The incremental scan cache: a rescan stats every file and reads only what changed.

The *cache diff* stage of the scan pipeline (:func:`dicomkit.pipeline.run_scan`). A
:class:`~dicomkit.io.store.Store` is asked which of the walked files must be read
(``lookup``), sees every batch read (``checkpoint``), and keeps the result
(``save``). :class:`CacheStore` keeps every file's row in one parquet file
(:mod:`dicomkit.io.cache_file`), so that the next scan of the same source reads
only the files that were added or modified; :class:`~dicomkit.io.store.NoCache`
(``cache=False``) keeps nothing. :func:`open_store` picks one for
``dk.scan(cache=...)``. Every ``save`` returns the
:class:`~dicomkit.io.store.CacheStats` of the scan.

When the cache is used (``dk.scan(..., cache=...)``)
-----------------------------------------------------
``None`` (the default)
    For a folder source holding at least :data:`MIN_CACHE_FILES` regular files. Below
    that a scan takes under a second, so keeping a file in the user's cache folder
    gains little, and small scans (tests, demos, single files, lists of files)
    never touch it. The decision is made after the walk, which a scan does anyway.
``True``
    Always, whatever the source (a folder, a file or an iterable of paths).
``False``
    Never: nothing is read from or written to any cache.
a path (``str`` or ``os.PathLike``)
    That cache *file*, used as given (the user asked for it, even inside the
    scanned folder). The cache file itself and its temporary siblings are then left
    out of the scan, so a scan never indexes its own cache.

Where
-----
:func:`default_cache_dir`: ``$DICOMKIT_CACHE_DIR`` if set, else
``$XDG_CACHE_HOME/dicomkit``, else ``~/.cache/dicomkit``. One file per scanned
source: ``scan-<sha256[:16]>.parquet``, the hash of the absolute source path(s),
the ``recursive`` flag and the keyword list (:func:`cache_file_name`), so a scan
with other ``keywords=`` uses another file. The default location is never inside
the scanned folder: if it would be (scanning your home folder, say), the scan runs
without a cache (with a :class:`RuntimeWarning` when ``cache=True`` asked for one).
The files are safe to delete at any time.

What the file holds
-------------------
Plain parquet (never pickle), written atomically (a temporary file in the same
folder, then :func:`os.replace`), so a reader never sees half a file. One table of
per-file rows with a ``record`` column and the columns of every kind of row
(:func:`cache_schema`):

* ``instance`` and ``resend``: the resolved frames of the last complete scan (with
  ``resend``, ``replaced_by``, ``differs`` for resends and the ``content_hash`` of
  every repeated SOPInstanceUID), so an unchanged rescan returns them as they are,
  without running :func:`~dicomkit.hierarchy.resolve_resends` again;
* ``copy``: unresolved instance rows, in a checkpoint of an unfinished scan;
* ``error``: the files read that are not instances. Errors of the *walk* (broken
  links, FIFOs, unlistable folders) are not kept: they have no stable stat, and the
  walk that every rescan does finds them again.

The key-value metadata ``dicomkit-cache`` is JSON: ``format`` (:data:`FORMAT_VERSION`),
``dicomkit`` (the version that wrote it, from the package metadata), ``reader``
(:data:`READER_VERSION`), ``keywords``, ``source``, ``recursive``,
``complete`` (``false`` in a checkpoint), ``on_duplicate`` (the rule the stored
instance/resend split follows, ``null`` when none is stored) and ``started_ns``
(when the scan that wrote it began).

Trust
-----
A cached row is reused when the walk finds the same ``(path, file_size,
mtime_ns)``; cached paths the walk no longer finds are dropped; everything else is
read. On load the file must be a parquet file with ``dicomkit-cache`` metadata of a
known format, for the same keywords, source and recursive flag, with exactly the
expected columns and one row per path; anything else is ignored with a
:class:`RuntimeWarning` naming the file and the reason, and overwritten at the end of
the scan; except that a file the user named (``cache=path``) which is not a dicomkit
cache at all (not parquet, no ``dicomkit-cache`` metadata) is never overwritten: it
may be their own data, so the scan runs without a cache. A cache written by another
dicomkit version or reader version is rebuilt quietly (its rows may come from an
older reader). The
file is created readable by its owner only (it holds patient names). Rows are never
reused when:

* the file was modified after the scan that read it began (``mtime_ns >=
  started_ns``), or less than :data:`COARSE_MTIME_WINDOW_NS` before it on a
  file system with whole-second timestamps: such a file may change again without
  changing its size or timestamp ("racy" entries, as git calls them); it is read
  again by the next scan (and by every scan while its mtime lies in the future);
* the row is an ``unreadable`` error (permissions, which can change without
  touching ``mtime``): such files are read again on every scan (cheaply: the open
  fails), and when they fail the same way the unchanged fast path still holds.

Like ``make`` and ``rsync``, the cache cannot see a file rewritten with the same
size *and* the same ``mtime_ns`` (e.g. by a tool that restores timestamps); pass
``cache=False`` to read everything.

Rescan and checkpoints
----------------------
An unchanged rescan walks (one ``stat`` per file), compares the ``(path,
file_size, mtime_ns)`` keys with the cached ones, and returns the stored frames: no
file is opened and nothing is written. When files were read but every copy of an
instance is unchanged (only error rows changed), the stored instance/resend split
is still reused. Otherwise the cached copies and the new rows go through
:func:`~dicomkit.io.content.fill_content_hashes` (cached hashes are kept) and
:func:`~dicomkit.hierarchy.resolve_resends` exactly as in a scan without cache, so
the result always equals ``dk.scan(..., cache=False)``.

While files are read, the rows read so far are written as a checkpoint
(``complete: false``) every :data:`CHECKPOINT_FILES` files or
:data:`CHECKPOINT_SECONDS` seconds, whichever comes first, and once more when the
scan is interrupted (Ctrl-C or any exception). A killed process therefore loses at
most one checkpoint interval; the next scan reuses the checkpointed rows and reads
only the rest. A failed cache write (read-only folder, full disk) warns once and the
scan carries on without the cache.

:class:`CacheStats` (in the :class:`~dicomkit.pipeline.ScanResult` of a scan) tells
what the scan did with its cache (files reused, read, removed; whether the stored
split was reused, how many checkpoints were written and whether the file was), for
tests and benchmarks; the user is told nothing extra.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeAlias

import polars as pl

from dicomkit._warnings import warn
from dicomkit.io.cache_file import (
    FORMAT_VERSION,
    METADATA_KEY,
    READER_VERSION,
    TMP_PREFIX,
    TMP_SUFFIX,
    CacheFile,
    cache_file_name,
    cache_schema,
    default_cache_dir,
)
from dicomkit.io.store import CacheStats, Lookup, NoCache, Store
from dicomkit.io.walk import FileEntry, PathLike, text_path
from dicomkit.schema import ERROR_SCHEMA, RESEND_COLUMNS, instance_schema

__all__ = [
    "CHECKPOINT_FILES",
    "CHECKPOINT_SECONDS",
    "COARSE_MTIME_WINDOW_NS",
    "FORMAT_VERSION",
    "METADATA_KEY",
    "MIN_CACHE_FILES",
    "READER_VERSION",
    "CacheOption",
    "CacheStats",
    "CacheStore",
    "Lookup",
    "NoCache",
    "Store",
    "cache_file_name",
    "cache_schema",
    "default_cache_dir",
    "open_store",
]

#: What ``dk.scan(cache=...)`` accepts.
CacheOption: TypeAlias = bool | PathLike | None

#: ``cache=None`` uses the cache for a folder with at least this many files.
MIN_CACHE_FILES = 1000
#: A checkpoint is written after this many files read since the last one …
CHECKPOINT_FILES = 2000
#: … or after this many seconds, whichever comes first.
CHECKPOINT_SECONDS = 30.0
#: On file systems with whole-second timestamps (FAT: 2 s), a file modified this
#: close to a scan's start may change again without a new timestamp.
COARSE_MTIME_WINDOW_NS = 2_000_000_000

_KEYS = ["path", "file_size", "mtime_ns"]
_KEY_SCHEMA = {"path": pl.Utf8(), "file_size": pl.Int64(), "mtime_ns": pl.Int64()}
_VOLATILE_REASONS = ("unreadable",)


def open_store(
    cache: CacheOption,
    keywords: Sequence[str],
    *,
    sources: list[str],
    is_folder: bool,
    recursive: bool,
    started_ns: int | None = None,
) -> Store:
    """The store ``dk.scan(cache=...)`` asks for (module docstring).

    ``sources`` are the absolute paths scanned (the cache's key), ``is_folder``
    whether they are one folder; ``started_ns`` when the scan began (default:
    now). The store's ``skip`` leaves a cache file named inside the scanned folder
    out of the walk.
    """
    _check_cache_option(cache)
    started_ns = time.time_ns() if started_ns is None else started_ns
    keywords = tuple(keywords)
    target, explicit = _target(
        cache, keywords, sources=sources, is_folder=is_folder, recursive=recursive
    )
    if target is None:
        return NoCache(keywords)
    store = CacheStore(
        target,
        keywords,
        sources=sources,
        recursive=recursive,
        started_ns=started_ns,
        explicit=explicit,
        min_files=MIN_CACHE_FILES if cache is None else 0,
    )
    if explicit and _inside_any(target, sources):
        store.skip = _own_files(target)
    return store


class CacheStore:
    """The cache file of one scan: lookup, checkpoints, save (module docstring).

    ``min_files``: with fewer walked files than this the store keeps nothing and
    reads everything, like :class:`NoCache` (``cache=None`` on a small folder).
    """

    skip: Callable[[str], bool] | None = None

    def __init__(
        self,
        path: str,
        keywords: Sequence[str],
        *,
        sources: list[str],
        recursive: bool,
        started_ns: int,
        explicit: bool = False,
        min_files: int = 0,
    ) -> None:
        self.file = CacheFile(
            path,
            tuple(keywords),
            sources=sources,
            recursive=recursive,
            started_ns=started_ns,
            explicit=explicit,
        )
        self.keywords = tuple(keywords)
        self.min_files = min_files
        self.off: NoCache | None = None
        self.looked_up = False
        self.every_files = CHECKPOINT_FILES
        self.every_seconds = CHECKPOINT_SECONDS

    def lookup(self, entries: list[FileEntry]) -> Lookup:
        """The entries not cached unchanged, and the cached rows of the others.

        Called once: the cache diff needs the whole walk (a source that lists in
        chunks, as a scan straight to parquet does, runs without a cache).
        """
        if self.looked_up:
            msg = (
                "a CacheStore compares one whole walk with its file, and was given a "
                "second listing: scan a source that lists in chunks without a cache "
                "(cache=False / NoCache)"
            )
            raise RuntimeError(msg)
        self.looked_up = True
        if len(entries) < self.min_files:
            self.off = NoCache(self.keywords)
            return self.off.lookup(entries)
        # the frames hold paths as text (a name that is not UTF-8 with \xNN escapes)
        paths = [e.path if e.path.isascii() else text_path(e.path) for e in entries]
        walk_keys = pl.DataFrame(
            {
                "path": paths,
                "file_size": [e.file_size for e in entries],
                "mtime_ns": [e.mtime_ns for e in entries],
            },
            schema=_KEY_SCHEMA,
        )
        self.loaded = self.file.load()
        if self.loaded is None:
            self.table = pl.DataFrame(schema=self.file.schema)
            self.meta: dict[str, Any] = {}
        else:
            self.table, self.meta = self.loaded
        # Rows that may be reused, and of those the ones the walk found unchanged.
        trusted = self.table.filter(_trusted(self.meta.get("started_ns", 0)))
        kept = trusted.join(walk_keys, on=_KEYS, how="semi")
        if kept.height == len(entries):
            self.to_read: list[FileEntry] = []
        else:
            known = set(kept["path"].to_list())
            self.to_read = [
                e for e, p in zip(entries, paths, strict=True) if p not in known
            ]
        self.n_files, self.n_cached = len(entries), kept.height
        self.n_removed = (
            0
            if kept.height == self.table.height
            else self.table.join(walk_keys, on="path", how="anti").height
        )
        is_error = pl.col("record") == "error"
        self.kept_errors = kept.filter(is_error).select(list(ERROR_SCHEMA))
        kept_copies = kept.filter(~is_error).select(
            list(instance_schema(self.keywords))
        )
        self.copies, self.errors = [kept_copies], [self.kept_errors]
        self.n_new_copies = self.unsaved = self.n_checkpoints = 0
        self.reused = False
        self.last = time.monotonic()
        return Lookup(self.to_read, kept_copies, self.kept_errors)

    def checkpoint(self, copies: pl.DataFrame, errors: pl.DataFrame) -> None:
        """Keep the batch; write a checkpoint every so many files or seconds."""
        if self.off is not None:
            return
        self.copies.append(copies)
        self.errors.append(errors)
        self.n_new_copies += copies.height
        self.unsaved += copies.height + errors.height
        if (
            self.unsaved >= self.every_files
            or time.monotonic() - self.last >= self.every_seconds
        ):
            self._write_checkpoint()

    def interrupted(self) -> None:
        """Write what was read: the next scan resumes from it."""
        if self.off is None:
            self._write_checkpoint()

    def _write_checkpoint(self) -> None:
        if not self.unsaved:
            return
        self.file.write(
            [
                ("copy", pl.concat(self.copies, how="vertical")),
                ("error", pl.concat(self.errors, how="vertical")),
            ],
            complete=False,
            on_duplicate=None,
        )
        self.n_checkpoints += 1
        self.unsaved = 0
        self.last = time.monotonic()

    def stored_split(
        self, on_duplicate: str
    ) -> tuple[pl.DataFrame, pl.DataFrame] | None:
        """The stored split, if every copy it was made of is unchanged and no new
        copy came."""
        self.reused = False
        if self.off is not None:
            return None
        n_resolved = int(self.table["record"].is_in(["instance", "resend"]).sum())
        n_kept_copies = self.n_cached - self.kept_errors.height
        if (
            self.meta.get("on_duplicate") != on_duplicate
            or n_kept_copies != n_resolved
            or self.n_new_copies
        ):
            return None
        self.reused = True
        columns = list(instance_schema(self.keywords))
        instances = self.table.filter(pl.col("record") == "instance").select(columns)
        resends = self.table.filter(pl.col("record") == "resend").select(
            [*columns, *RESEND_COLUMNS]
        )
        return instances, resends

    def save_unresolved(self, copies: pl.DataFrame) -> None:
        """Keep every copy and error row read (a complete, unresolved cache)."""
        if self.off is None:
            self.file.write(
                [("copy", copies), ("error", self._read_errors())],
                complete=True,
                on_duplicate=None,
            )

    def save(
        self, instances: pl.DataFrame, resends: pl.DataFrame, *, on_duplicate: str
    ) -> CacheStats:
        """Write the resolved scan, unless nothing changed; say what was done."""
        if self.off is not None:
            return self.off.save(instances, resends, on_duplicate=on_duplicate)
        read_errors = self._read_errors()
        new_errors = (
            pl.concat(self.errors[1:], how="vertical") if self.to_read else None
        )
        unchanged = (
            self.loaded is not None
            and self.reused
            and self.n_removed == 0
            and _only_volatile_rereads(self.table, self.to_read, new_errors)
        )
        written = not unchanged and self.file.write(
            [("instance", instances), ("resend", resends), ("error", read_errors)],
            complete=True,
            on_duplicate=on_duplicate,
        )
        return CacheStats(
            path=self.file.path,
            n_files=self.n_files,
            n_cached=self.n_cached,
            n_read=len(self.to_read),
            n_removed=self.n_removed,
            reused_resolution=self.reused,
            n_checkpoints=self.n_checkpoints,
            written=written,
        )

    def _read_errors(self) -> pl.DataFrame:
        return pl.concat(self.errors, how="vertical").sort("path")


def _check_cache_option(cache: object) -> None:
    if not (cache is None or isinstance(cache, (bool, str, os.PathLike))):
        msg = f"cache must be None, True, False or a file path, not {type(cache).__name__}"
        raise TypeError(msg)


def _target(
    cache: CacheOption,
    keywords: tuple[str, ...],
    *,
    sources: list[str],
    is_folder: bool,
    recursive: bool,
) -> tuple[str | None, bool]:
    """The cache file to use, if any, and whether the user named it."""
    if cache is False or (cache is None and not is_folder):
        return None, False
    if cache is not None and cache is not True:
        return os.path.abspath(os.fspath(cache)), True
    path = str(
        default_cache_dir()
        / cache_file_name(sources, recursive=recursive, keywords=keywords)
    )
    if _inside_any(path, sources):
        if cache is True:
            warn(
                f"dicomkit: scanning without a cache: the cache folder "
                f"{os.path.dirname(path)!r} is inside the scanned folder; pass "
                "cache=<a file path> to keep the cache there anyway, or set "
                "DICOMKIT_CACHE_DIR to another folder"
            )
        return None, False
    return path, False


def _inside_any(path: str, sources: Iterable[str]) -> bool:
    """Whether ``path`` lies under one of the (absolute) ``sources``.

    Compared as text (the path as given and resolved), so that a list of thousands
    of files costs no system call per file.
    """
    candidates = {path, os.path.realpath(path)}
    for source in sources:
        top = source.rstrip(os.sep) + os.sep
        if any(candidate.startswith(top) for candidate in candidates):
            return True
    return False


def _own_files(target: str) -> Callable[[str], bool]:
    """``skip(path)`` for the cache file and its temporary siblings."""
    folder = os.path.dirname(target)

    def skip(path: str) -> bool:
        name = os.path.basename(path)
        return path == target or (
            os.path.dirname(path) == folder
            and name.startswith(TMP_PREFIX)
            and name.endswith(TMP_SUFFIX)
        )

    return skip


def _trusted(started_ns: int) -> pl.Expr:
    """Cached rows that may be reused if their key is unchanged (module docstring)."""
    whole_second = pl.col("mtime_ns") % 1_000_000_000 == 0
    limit = (
        pl.when(whole_second)
        .then(pl.lit(started_ns - COARSE_MTIME_WINDOW_NS))
        .otherwise(pl.lit(started_ns))
    )
    volatile = (pl.col("record") == "error") & pl.col("reason").is_in(_VOLATILE_REASONS)
    return (pl.col("mtime_ns") < limit) & ~volatile


def _only_volatile_rereads(
    table: pl.DataFrame, to_read: list[FileEntry], new_errors: pl.DataFrame | None
) -> bool:
    """Whether every file read was a cached ``unreadable`` row that came back the same."""
    if not to_read or new_errors is None:
        return True
    if len(to_read) != new_errors.height:
        return False
    error_columns = list(ERROR_SCHEMA)
    before = table.filter(
        (pl.col("record") == "error") & pl.col("reason").is_in(_VOLATILE_REASONS)
    ).select(error_columns)
    return before.join(new_errors, on=error_columns, how="semi").height == len(to_read)
