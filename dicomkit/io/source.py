"""Sources: where a scan's rows come from (files today, a DICOMweb server next).

A :class:`Source` is the first extension point of the scan pipeline
(:func:`dicomkit.pipeline.run_scan`). It does three things:

``walk()``
    Lists what there is to read, in chunks: the *entries* (a
    :class:`~dicomkit.io.walk.FileEntry`: ``path``, ``file_size``, ``mtime_ns``,
    the key the scan cache compares) and an errors frame of what was met but
    cannot be read (broken links, unlistable folders).
``read(entries, keywords, on_batch)``
    Reads the headers of some entries, calling ``on_batch(copies, errors)`` with
    typed frames (:func:`~dicomkit.io.rows.rows_to_frames` builds them from the
    rows :mod:`dicomkit.io.header` makes): one instance row or one error row per
    entry. This is the :class:`~dicomkit.io.scan.Reader` protocol, so a source
    that reads files delegates to a reader (in-process, parallel, an executor).
``content_hash(path)``
    The hash of one copy's data set, asked only for copies whose SOPInstanceUID
    repeats (:mod:`dicomkit.io.content`); ``None`` when it cannot be had.

:class:`FileSource` is the files' source: :func:`~dicomkit.io.walk.walk`, then a
reader. Anything else with these three methods plugs in the same way.

Examples
--------
A source of made-up instances (a DICOMweb source would ask a server for their
attributes instead):

>>> import polars as pl
>>> from dicomkit.io.rows import rows_to_frames
>>> from dicomkit.io.sink import MemorySink
>>> from dicomkit.io.walk import FileEntry
>>> from dicomkit.pipeline import run_scan
>>> from dicomkit.schema import DEFAULT_KEYWORDS, ERROR_SCHEMA
>>> class Listed:
...     def __init__(self, uids):
...         self.uids = uids
...     def walk(self):
...         entries = [FileEntry(f"memory://{u}", 0, 0) for u in self.uids]
...         yield entries, pl.DataFrame(schema=ERROR_SCHEMA)
...     def read(self, entries, keywords, on_batch):
...         rows = [
...             ("instance", {"path": e.path, "file_size": 0, "mtime_ns": 0,
...                           "SOPInstanceUID": e.path.split("/")[-1]})
...             for e in entries
...         ]
...         on_batch(*rows_to_frames(rows, keywords))
...     def content_hash(self, path):
...         return None
>>> result = run_scan(Listed(["1.2.3", "1.2.4"]), DEFAULT_KEYWORDS,
...                   sink=MemorySink(DEFAULT_KEYWORDS))
>>> result.output.instances["SOPInstanceUID"].to_list()
['1.2.3', '1.2.4']
>>> result.stats.n_files, result.stats.n_read
(2, 2)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

import polars as pl

from dicomkit.io.content import content_hash
from dicomkit.io.rows import rows_to_frames
from dicomkit.io.scan import AutoReader, OnBatch, Reader
from dicomkit.io.walk import FileEntry, PathLike, WalkError, walk

__all__ = ["FileSource", "Listing", "Source", "split_walk"]

#: One chunk of a source's listing: the entries to read, and the errors frame of
#: what cannot be read.
Listing = tuple[list[FileEntry], pl.DataFrame]


@runtime_checkable
class Source(Protocol):
    """Where a scan's header rows and error rows come from (module docstring)."""

    def walk(self) -> Iterator[Listing]:
        """What there is to read, in chunks: ``(entries, errors)``."""
        ...

    def read(
        self,
        entries: Sequence[FileEntry],
        keywords: tuple[str, ...],
        on_batch: OnBatch,
    ) -> None:
        """Read ``entries``' headers, calling ``on_batch(copies, errors)`` per batch."""
        ...

    def content_hash(self, path: str) -> str | None:
        """The content hash of the copy at ``path`` (``None``: compare attributes)."""
        ...


class FileSource:
    """Every regular file under a folder, a file, or a list of them.

    Parameters
    ----------
    source
        A folder, a file, or an iterable of files and folders (read once).
    recursive
        Descend into sub-folders.
    reader
        How the headers are read (default :class:`~dicomkit.io.scan.AutoReader`).
    chunk
        List at most this many paths at a time (``None``: all at once). A scan
        straight to parquet walks in chunks so that its memory stays bounded.
    skip
        ``skip(path)`` leaves a path out of the walk (a scan's own cache or index).
    """

    def __init__(
        self,
        source: PathLike | Iterable[PathLike],
        *,
        recursive: bool = True,
        reader: Reader | None = None,
        chunk: int | None = None,
        skip: Callable[[str], bool] | None = None,
    ) -> None:
        if chunk is not None and chunk < 1:
            msg = f"chunk must be None or at least 1, not {chunk}"
            raise ValueError(msg)
        self.paths: PathLike | list[str]
        if isinstance(source, (str, os.PathLike)):
            self.paths = source
            #: The absolute paths named (the key of a scan cache).
            self.sources = [os.path.abspath(os.fspath(source))]
            #: Whether the source is one folder.
            self.is_folder = os.path.isdir(self.sources[0])
        else:
            self.paths = [os.fspath(item) for item in source]  # an iterator, once
            self.sources = [os.path.abspath(item) for item in self.paths]
            self.is_folder = False
        self.recursive = recursive
        self.reader: Reader = AutoReader() if reader is None else reader
        self.chunk = chunk
        self.skip = skip

    def walk(self) -> Iterator[Listing]:
        """Walk the files: one listing, or one per ``chunk`` paths (at least one)."""
        items: Iterable[FileEntry | WalkError] = walk(
            self.paths, recursive=self.recursive
        )
        if self.skip is not None:
            skip = self.skip
            items = (item for item in items if not skip(item.path))
        if self.chunk is None:
            yield split_walk(items)
            return
        chunk: list[FileEntry | WalkError] = []
        yielded = False
        for item in items:
            chunk.append(item)
            if len(chunk) >= self.chunk:
                yield split_walk(chunk)
                chunk, yielded = [], True
        if chunk or not yielded:
            yield split_walk(chunk)

    def read(
        self, entries: Sequence[FileEntry], keywords: tuple[str, ...], on_batch: OnBatch
    ) -> None:
        """Read the files' headers with this source's reader."""
        self.reader.read(entries, keywords, on_batch)

    def content_hash(self, path: str) -> str | None:
        """:func:`dicomkit.io.content.content_hash` of the file at ``path``."""
        return content_hash(path)


def split_walk(items: Iterable[FileEntry | WalkError]) -> Listing:
    """The files to read, and an errors frame of the paths that are not files."""
    entries: list[FileEntry] = []
    errors: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, WalkError):
            errors.append(_walk_error_row(item))
        else:
            entries.append(item)
    return entries, rows_to_frames([("error", e) for e in errors], ())[1]


def _walk_error_row(error: WalkError) -> dict[str, Any]:
    return {
        "path": error.path,
        "file_size": error.file_size,
        "mtime_ns": error.mtime_ns,
        "reason": error.reason,
        "message": error.message,
    }
