"""Stores: the *cache diff* stage's seam (what to read, what to keep), and NoCache.

A :class:`Store` is one object per scan, used by
:func:`dicomkit.pipeline.run_scan` in this order: ``lookup(entries)`` (the cache
diff: which entries to read, and the cached rows of the others), ``checkpoint``
with every batch read (``interrupted`` if reading stops), ``stored_split`` (the
last scan's resolution, when it still holds), then ``save`` (or
``save_unresolved``), which returns the scan's :class:`CacheStats`.
:class:`NoCache` keeps nothing (``cache=False``); the incremental cache is
:class:`dicomkit.io.cache.CacheStore`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import polars as pl

from dicomkit.io.rows import empty_frames
from dicomkit.io.walk import FileEntry

__all__ = ["CacheStats", "Lookup", "NoCache", "Store"]


@dataclass(frozen=True, kw_only=True)
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
    #: Checkpoints (partial caches) written while files were read.
    n_checkpoints: int = 0
    #: The cache file was (re)written at the end of the scan.
    written: bool


@dataclass(frozen=True)
class Lookup:
    """The cache diff of a walk: what to read, and the rows kept for the rest."""

    #: The entries whose headers must be read.
    to_read: list[FileEntry]
    #: The cached instance rows (unresolved copies) of the other entries.
    copies: pl.DataFrame
    #: The cached error rows of the other entries.
    errors: pl.DataFrame


class Store(Protocol):
    """The cache stage of a scan: one object per scan, used in this order."""

    #: ``skip(path)``: leave the store's own files out of the walk (or ``None``).
    skip: Callable[[str], bool] | None

    def lookup(self, entries: list[FileEntry]) -> Lookup:
        """Which of the walked ``entries`` to read; the cached rows of the others."""
        ...

    def checkpoint(self, copies: pl.DataFrame, errors: pl.DataFrame) -> None:
        """See one batch as it is read (and write a checkpoint when one is due)."""
        ...

    def interrupted(self) -> None:
        """Reading stopped (Ctrl-C, an error): keep what was read."""
        ...

    def stored_split(
        self, on_duplicate: str
    ) -> tuple[pl.DataFrame, pl.DataFrame] | None:
        """``(instances, resends)`` stored by the last scan, if they still hold."""
        ...

    def save_unresolved(self, copies: pl.DataFrame) -> None:
        """Keep the copies when resolving them failed (``on_duplicate='error'``)."""
        ...

    def save(
        self, instances: pl.DataFrame, resends: pl.DataFrame, *, on_duplicate: str
    ) -> CacheStats:
        """Keep the resolved scan; say what the scan did."""
        ...


class NoCache:
    """A store that keeps nothing: every file is read (``cache=False``)."""

    skip: Callable[[str], bool] | None = None

    def __init__(self, keywords: Sequence[str]) -> None:
        self.keywords = tuple(keywords)
        self.n_files = 0

    def lookup(self, entries: list[FileEntry]) -> Lookup:
        """Read every entry."""
        self.n_files += len(entries)
        return Lookup(entries, *empty_frames(self.keywords))

    def checkpoint(self, copies: pl.DataFrame, errors: pl.DataFrame) -> None:
        """Nothing to keep."""

    def interrupted(self) -> None:
        """Nothing to keep."""

    def stored_split(
        self, on_duplicate: str
    ) -> tuple[pl.DataFrame, pl.DataFrame] | None:
        """Nothing stored."""
        return None

    def save_unresolved(self, copies: pl.DataFrame) -> None:
        """Nothing to keep."""

    def save(
        self, instances: pl.DataFrame, resends: pl.DataFrame, *, on_duplicate: str
    ) -> CacheStats:
        """Every file was read; nothing written."""
        return CacheStats(
            path=None,
            n_files=self.n_files,
            n_cached=0,
            n_read=self.n_files,
            n_removed=0,
            reused_resolution=False,
            written=False,
        )
