"""The incremental scan cache: a rescan stats every file and reads only what changed.

:func:`scan_frames` is :func:`dicomkit.scan` without the :class:`Collection`: it walks
the source, reads headers and resolves resends, and with a cache it keeps every
file's row in one parquet file so that the next scan of the same source reads only
the files that were added or modified.

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
:func:`~dicomkit.io.scan.fill_content_hashes` (cached hashes are kept) and
:func:`~dicomkit.hierarchy.resolve_resends` exactly as in a scan without cache, so
the result always equals ``dk.scan(..., cache=False)``.

While files are read, the rows read so far are written as a checkpoint
(``complete: false``) every :data:`CHECKPOINT_FILES` files or
:data:`CHECKPOINT_SECONDS` seconds, whichever comes first, and once more when the
scan is interrupted (Ctrl-C or any exception). A killed process therefore loses at
most one checkpoint interval; the next scan reuses the checkpointed rows and reads
only the rest. A failed cache write (read-only folder, full disk) warns once and the
scan carries on without the cache.

:data:`last_stats` tells what the last :func:`scan_frames` that returned did (files
reused, read, removed; whether the stored split was reused and the file written),
for tests and benchmarks; the user is told nothing extra.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import polars as pl

from dicomkit.exceptions import DuplicateInstanceError
from dicomkit.hierarchy import RESEND_COLUMNS, OnDuplicate, resolve_resends
from dicomkit.io.atomic import remove_dead_temporaries, temp_prefix, write_parquet
from dicomkit.io.parquet import dicomkit_version, index_schema
from dicomkit.io.scan import fill_content_hashes, read_entries, split_walk
from dicomkit.io.walk import FileEntry, PathLike, WalkError, text_path, walk
from dicomkit.schema import ERROR_SCHEMA, instance_schema

__all__ = [
    "CHECKPOINT_FILES",
    "CHECKPOINT_SECONDS",
    "COARSE_MTIME_WINDOW_NS",
    "FORMAT_VERSION",
    "METADATA_KEY",
    "MIN_CACHE_FILES",
    "CacheOption",
    "CacheStats",
    "cache_file_name",
    "cache_schema",
    "default_cache_dir",
    "last_stats",
    "scan_frames",
]

#: What ``dk.scan(cache=...)`` accepts.
CacheOption: TypeAlias = bool | PathLike | None

#: ``cache=None`` uses the cache for a folder with at least this many files.
MIN_CACHE_FILES = 1000
#: A checkpoint is written after this many files read since the last one …
CHECKPOINT_FILES = 2000
#: … or after this many seconds, whichever comes first.
CHECKPOINT_SECONDS = 30.0
#: The version of the file layout; a file of another version is ignored.
FORMAT_VERSION = 1
#: The version of what a cached row holds for a file. Bump it with any change to
#: the header reader (io/header.py, io/fastread.py) or to the instance and error
#: schema that can change a row: rows written under another reader version (or
#: by another dicomkit release, whose version comes from the package metadata)
#: are read again. 2: ZIP/gzip/tar files are ``archive`` errors, not ``not_dicom``.
READER_VERSION = 2
#: The parquet key-value metadata key of a cache file.
METADATA_KEY = "dicomkit-cache"
#: On file systems with whole-second timestamps (FAT: 2 s), a file modified this
#: close to a scan's start may change again without a new timestamp.
COARSE_MTIME_WINDOW_NS = 2_000_000_000

_KEYS = ["path", "file_size", "mtime_ns"]
_KEY_SCHEMA = {"path": pl.Utf8(), "file_size": pl.Int64(), "mtime_ns": pl.Int64()}
_RECORDS = ("instance", "resend", "copy", "error")
_TMP_PREFIX = ".dicomkit-"  # then host, pid and "cache-" (dicomkit.io.atomic)
_TMP_SUFFIX = ".parquet.tmp"
_VOLATILE_REASONS = ("unreadable",)

Frames = tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]
_Loaded = tuple[pl.DataFrame, dict[str, Any]]


@dataclass(frozen=True)
class CacheStats:
    """What one scan did with its cache (for tests and benchmarks)."""

    #: The cache file, or ``None`` when the scan ran without a cache.
    path: str | None
    #: Regular files the walk found.
    n_files: int
    #: Files whose rows came from the cache.
    n_cached: int
    #: Files whose headers were read.
    n_read: int
    #: Cached files the walk no longer found.
    n_removed: int
    #: The stored instance/resend split was returned without resolving again.
    reused_resolution: bool
    #: The cache file was (re)written at the end of the scan.
    written: bool


#: What the last :func:`scan_frames` call did.
last_stats: CacheStats | None = None


def default_cache_dir() -> Path:
    """``$DICOMKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/dicomkit``, else ``~/.cache/dicomkit``."""
    configured = os.environ.get("DICOMKIT_CACHE_DIR")
    if configured:
        return Path(configured).expanduser().absolute()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "dicomkit"
    return Path.home() / ".cache" / "dicomkit"


def cache_file_name(
    sources: Sequence[str], recursive: bool, keywords: Sequence[str]
) -> str:
    """``scan-<hash>.parquet`` for these absolute sources, flag and keywords."""
    key = json.dumps(
        {"source": list(sources), "recursive": recursive, "keywords": list(keywords)},
        separators=(",", ":"),
    )
    return f"scan-{hashlib.sha256(key.encode()).hexdigest()[:16]}.parquet"


def cache_schema(keywords: Sequence[str]) -> dict[str, pl.DataType]:
    """The columns of a cache file: those of an index (instance, resend and error
    columns, ``record``)."""
    return index_schema(keywords)


def scan_frames(
    source: PathLike | Iterable[PathLike],
    keywords: Sequence[str],
    *,
    recursive: bool = True,
    workers: int | None = None,
    progress: bool | None = None,
    on_duplicate: OnDuplicate = "newest",
    cache: CacheOption = None,
    executor: Executor | None = None,
) -> Frames:
    """Scan ``source`` into ``(instances, resends, errors)``, with the cache as asked.

    ``keywords`` are validated keywords (:func:`dicomkit.schema.validate_keywords`).
    The other parameters are those of :func:`dicomkit.scan`; see the module
    docstring for ``cache``. Sets :data:`last_stats`.
    """
    global last_stats
    if on_duplicate not in ("newest", "first", "error"):
        msg = f"on_duplicate must be 'newest', 'first' or 'error', not {on_duplicate!r}"
        raise ValueError(msg)
    _check_cache_option(cache)
    started_ns = time.time_ns()
    keywords = tuple(keywords)
    if isinstance(source, (str, os.PathLike)):
        walked: PathLike | list[str] = source
        sources = [os.path.abspath(os.fspath(source))]
        folder = os.path.isdir(sources[0])
    else:
        walked = [os.fspath(item) for item in source]  # an iterator is read once
        sources = [os.path.abspath(item) for item in walked]
        folder = False
    target, explicit = _target(cache, sources, folder, recursive, keywords)
    items: Iterable[FileEntry | WalkError] = walk(walked, recursive=recursive)
    if target is not None and explicit and _inside_any(target, sources):
        items = _without_cache_files(items, target)
    entries, walk_errors = split_walk(items)
    if cache is None and len(entries) < MIN_CACHE_FILES:
        target = None
    if target is None:
        copies, errors = read_entries(
            entries, keywords, workers=workers, progress=progress, executor=executor
        )
        instances, resends = resolve_resends(
            fill_content_hashes(copies), on_duplicate=on_duplicate
        )
        last_stats = CacheStats(None, len(entries), 0, len(entries), 0, False, False)
        return instances, resends, pl.concat([walk_errors, errors]).sort("path")
    store = _Store(target, keywords, sources, recursive, started_ns, explicit)
    frames, last_stats = _cached_scan(
        store, entries, walk_errors, workers, progress, on_duplicate, executor
    )
    return frames


def _check_cache_option(cache: object) -> None:
    if not (cache is None or isinstance(cache, (bool, str, os.PathLike))):
        msg = f"cache must be None, True, False or a file path, not {type(cache).__name__}"
        raise TypeError(msg)


def _target(
    cache: CacheOption,
    sources: list[str],
    folder: bool,
    recursive: bool,
    keywords: tuple[str, ...],
) -> tuple[str | None, bool]:
    """The cache file to use, if any, and whether the user named it."""
    if cache is False or (cache is None and not folder):
        return None, False
    if cache is not None and cache is not True:
        return os.path.abspath(os.fspath(cache)), True
    path = str(default_cache_dir() / cache_file_name(sources, recursive, keywords))
    if _inside_any(path, sources):
        if cache is True:
            _warn(
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


def _without_cache_files(
    items: Iterable[FileEntry | WalkError], target: str
) -> Iterable[FileEntry | WalkError]:
    """Leave the cache file and its temporary siblings out of the walk."""
    folder = os.path.dirname(target)
    for item in items:
        name = os.path.basename(item.path)
        if item.path == target or (
            os.path.dirname(item.path) == folder
            and name.startswith(_TMP_PREFIX)
            and name.endswith(_TMP_SUFFIX)
        ):
            continue
        yield item


def _cached_scan(
    store: _Store,
    entries: list[FileEntry],
    walk_errors: pl.DataFrame,
    workers: int | None,
    progress: bool | None,
    on_duplicate: OnDuplicate,
    executor: Executor | None = None,
) -> tuple[Frames, CacheStats]:
    keywords = store.keywords
    columns = list(instance_schema(keywords))
    error_columns = list(ERROR_SCHEMA)
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
    loaded = store.load()
    if loaded is None:
        table = pl.DataFrame(schema=cache_schema(keywords))
        meta: dict[str, Any] = {}
    else:
        table, meta = loaded
    # Rows that may be reused, and of those the ones the walk found unchanged.
    trusted = table.filter(_trusted(meta.get("started_ns", 0)))
    kept = trusted.join(walk_keys, on=_KEYS, how="semi")
    if kept.height == len(entries):
        to_read: list[FileEntry] = []
    else:
        known = set(kept["path"].to_list())
        to_read = [e for e, p in zip(entries, paths, strict=True) if p not in known]
    n_removed = (
        0
        if kept.height == table.height
        else table.join(walk_keys, on="path", how="anti").height
    )
    is_error = pl.col("record") == "error"
    kept_errors = kept.filter(is_error).select(error_columns)
    n_resolved = int(table["record"].is_in(["instance", "resend"]).sum())
    # The stored split still holds if every copy it was made of is still there
    # (and, checked after reading, no new copy came).
    same_copies = (
        meta.get("on_duplicate") == on_duplicate
        and kept.height - kept_errors.height == n_resolved
    )

    def kept_copies() -> pl.DataFrame:
        return kept.filter(~is_error).select(columns)

    new_copies: pl.DataFrame | None = None
    if to_read:
        checkpoint = _Checkpoint(store, kept_copies(), kept_errors)
        try:
            new_copies, new_errors = read_entries(
                to_read,
                keywords,
                workers=workers,
                progress=progress,
                on_batch=checkpoint.add,
                executor=executor,
            )
        except BaseException:
            checkpoint.save()  # keep what was read: the next scan resumes from it
            raise
        reuse = same_copies and new_copies.is_empty()
    else:
        new_errors = pl.DataFrame(schema=ERROR_SCHEMA)
        reuse = same_copies
    if reuse:
        # Every copy of every instance is unchanged: so is the split.
        instances = table.filter(pl.col("record") == "instance").select(columns)
        resends = table.filter(pl.col("record") == "resend").select(
            [*columns, *RESEND_COLUMNS]
        )
    else:
        copies = kept_copies()
        if new_copies is not None:
            copies = pl.concat([copies, new_copies], how="vertical")
        # A fresh scan hashes only the copies whose SOPInstanceUID repeats; a
        # cached hash of a UID that no longer repeats must not survive.
        copies = fill_content_hashes(
            copies.with_columns(
                pl.when(pl.col("SOPInstanceUID").is_duplicated())
                .then(pl.col("content_hash"))
                .alias("content_hash")
            )
        )
        try:
            instances, resends = resolve_resends(copies, on_duplicate=on_duplicate)
        except DuplicateInstanceError:
            store.write(
                [("copy", copies), ("error", pl.concat([kept_errors, new_errors]))],
                complete=True,
                on_duplicate=None,
            )
            raise
    read_errors = pl.concat([kept_errors, new_errors], how="vertical").sort("path")
    errors = pl.concat([walk_errors, read_errors], how="vertical").sort("path")

    unchanged = (
        loaded is not None
        and reuse
        and n_removed == 0
        and _only_volatile_rereads(table, to_read, new_errors, error_columns)
    )
    written = False
    if not unchanged:
        written = store.write(
            [("instance", instances), ("resend", resends), ("error", read_errors)],
            complete=True,
            on_duplicate=on_duplicate,
        )
    stats = CacheStats(
        store.path,
        len(entries),
        kept.height,
        len(to_read),
        n_removed,
        reuse,
        written,
    )
    return (instances, resends, errors), stats


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
    table: pl.DataFrame,
    to_read: list[FileEntry],
    new_errors: pl.DataFrame,
    error_columns: list[str],
) -> bool:
    """Whether every file read was a cached ``unreadable`` row that came back the same."""
    if not to_read:
        return True
    if len(to_read) != new_errors.height:
        return False
    before = table.filter(
        (pl.col("record") == "error") & pl.col("reason").is_in(_VOLATILE_REASONS)
    ).select(error_columns)
    return before.join(new_errors, on=error_columns, how="semi").height == len(to_read)


class _Checkpoint:
    """Collects the batches of a read and writes a partial cache now and then."""

    def __init__(
        self, store: _Store, copies: pl.DataFrame, errors: pl.DataFrame
    ) -> None:
        self.store = store
        self.copies = [copies]
        self.errors = [errors]
        self.unsaved = 0
        self.every_files = CHECKPOINT_FILES
        self.every_seconds = CHECKPOINT_SECONDS
        self.last = time.monotonic()

    def add(self, copies: pl.DataFrame, errors: pl.DataFrame) -> None:
        self.copies.append(copies)
        self.errors.append(errors)
        self.unsaved += copies.height + errors.height
        if (
            self.unsaved >= self.every_files
            or time.monotonic() - self.last >= self.every_seconds
        ):
            self.save()

    def save(self) -> None:
        if not self.unsaved:
            return
        self.store.write(
            [
                ("copy", pl.concat(self.copies, how="vertical")),
                ("error", pl.concat(self.errors, how="vertical")),
            ],
            complete=False,
            on_duplicate=None,
        )
        self.unsaved = 0
        self.last = time.monotonic()


class _Store:
    """One cache file: validated loading and atomic writing."""

    def __init__(
        self,
        path: str,
        keywords: tuple[str, ...],
        sources: list[str],
        recursive: bool,
        started_ns: int,
        explicit: bool = False,
    ) -> None:
        self.path = path
        self.explicit = explicit
        self.keywords = keywords
        self.sources = sources
        self.recursive = recursive
        self.started_ns = started_ns
        self.schema = cache_schema(keywords)
        self.failed = False
        self.cleaned = False

    def load(self) -> _Loaded | None:
        """The cached table and its metadata; ``None`` when absent or not usable."""
        if not os.path.isfile(self.path):
            return None
        try:
            text = pl.read_parquet_metadata(self.path).get(METADATA_KEY)
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 - any unreadable file is ignored
            return self._foreign(f"it is not a parquet file ({exc})")
        if text is None:
            return self._foreign(f"it has no {METADATA_KEY!r} metadata")
        try:
            meta = json.loads(text)
        except ValueError:
            return self._foreign(f"its {METADATA_KEY!r} metadata is not JSON")
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
            found = meta.get("format") if isinstance(meta, dict) else None
            return self._ignore(
                f"it is in cache format {found!r}; this dicomkit reads {FORMAT_VERSION}"
            )
        if (
            meta.get("dicomkit") != dicomkit_version()
            or meta.get("reader") != READER_VERSION
        ):
            return None  # rows of another reader version: rebuilt, quietly
        for field, expected in (
            ("keywords", list(self.keywords)),
            ("source", self.sources),
            ("recursive", self.recursive),
        ):
            if meta.get(field) != expected:
                return self._ignore(f"it was written for another {field}")
        if not isinstance(meta.get("started_ns"), int) or meta.get(
            "on_duplicate"
        ) not in (None, "newest", "first", "error"):
            return self._ignore("its metadata is incomplete")
        try:
            if dict(pl.read_parquet_schema(self.path)) != self.schema:
                return self._ignore("its columns are not those of this scan")
            table = pl.read_parquet(self.path).select(list(self.schema))
        except Exception as exc:  # noqa: BLE001 - any unreadable file is ignored
            return self._ignore(f"it cannot be read ({exc})")
        if not (
            table["record"].is_in(_RECORDS).all()
            and table["path"].null_count() == 0
            and table["path"].is_unique().all()
        ):
            return self._ignore("its rows are not one per file")
        return table, meta

    def _ignore(self, why: str) -> _Loaded | None:
        _warn(f"dicomkit: ignoring the scan cache {self.path!r}: {why}; rebuilding it")
        return None

    def _foreign(self, why: str) -> _Loaded | None:
        """A file that is not a dicomkit cache: replaced only in the cache folder."""
        if not self.explicit:
            return self._ignore(why)
        # A path the user named may hold their own data (an index written by
        # col.write_parquet, say): never overwrite it.
        self.failed = True
        _warn(
            f"dicomkit: {self.path!r} is not a dicomkit scan cache ({why}); it is "
            "left as it is and this scan runs without a cache: pass another path, "
            "or delete the file"
        )
        return None

    def write(
        self,
        parts: list[tuple[str, pl.DataFrame]],
        *,
        complete: bool,
        on_duplicate: OnDuplicate | None,
    ) -> bool:
        """Replace the cache file atomically; ``False`` if writing failed."""
        if self.failed:
            return False
        table = pl.concat(
            [
                pl.DataFrame(schema=self.schema),
                *(
                    frame.with_columns(pl.lit(record).alias("record"))
                    for record, frame in parts
                ),
            ],
            how="diagonal",
        ).select(list(self.schema))
        meta = {
            "format": FORMAT_VERSION,
            "dicomkit": dicomkit_version(),
            "reader": READER_VERSION,
            "keywords": list(self.keywords),
            "source": self.sources,
            "recursive": self.recursive,
            "complete": complete,
            "on_duplicate": on_duplicate,
            "started_ns": self.started_ns,
        }
        folder = os.path.dirname(self.path)
        try:
            os.makedirs(folder, exist_ok=True)
            if not self.cleaned:  # what killed scans left behind
                remove_dead_temporaries(folder)
                self.cleaned = True
            write_parquet(
                table,
                self.path,
                {METADATA_KEY: meta},
                prefix=temp_prefix() + "cache-",
                suffix=_TMP_SUFFIX,
                private=True,
            )
        except OSError as exc:
            self.failed = True
            _warn(
                f"dicomkit: cannot write the scan cache {self.path!r} ({exc}); "
                "scanning without it"
            )
            return False
        return True


def _warn(message: str) -> None:
    """Warn at the caller's line outside dicomkit (the ``dk.scan`` call)."""
    level = 2
    frame = sys._getframe(1)
    while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith(
        "dicomkit"
    ):
        frame = frame.f_back
        level += 1
    warnings.warn(message, RuntimeWarning, stacklevel=level)
