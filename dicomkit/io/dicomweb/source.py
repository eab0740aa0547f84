"""A DICOMweb server as a :class:`~dicomkit.io.source.Source` of the scan pipeline."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import polars as pl

from dicomkit.io.dicomweb.client import DicomwebStats
from dicomkit.io.dicomweb.read import read_dicomweb
from dicomkit.io.scan import rows_to_frames
from dicomkit.io.walk import FileEntry

__all__ = ["DicomwebSource"]


class DicomwebSource:
    """A DICOMweb server as a :class:`~dicomkit.io.source.Source` of the scan pipeline.

    ``walk()`` runs the listing of :func:`read_dicomweb` (QIDO-RS, then one WADO-RS
    metadata call per series: the metadata *is* the listing, so this is where the
    requests are made) and lists one entry per instance, its WADO-RS URL as the
    path; the series that could not be read are its errors. ``read`` hands back
    the rows the metadata gave; ``content_hash`` is None (a server keeps one copy
    per SOPInstanceUID and series, so a repeat is a conflict, told by its UIDs).
    After ``walk``, :attr:`stats` holds the request counts.

    >>> from dicomkit.pipeline import run_scan             # doctest: +SKIP
    >>> source = DicomwebSource(url, keywords, study=uid)   # doctest: +SKIP
    >>> run_scan(source, keywords, sink=MemorySink(keywords)).output  # doctest: +SKIP
    """

    def __init__(self, url: str, keywords: Sequence[str], **query: Any) -> None:
        self.url = url
        self.keywords = tuple(keywords)
        self.query = query
        self.stats: DicomwebStats | None = None
        self._rows: dict[str, pl.DataFrame] = {}

    def walk(self) -> Iterator[tuple[list[FileEntry], pl.DataFrame]]:
        """One chunk: every instance the query finds, and the series' error rows."""
        copies, errors, self.stats = read_dicomweb(
            self.url, self.keywords, **self.query
        )
        self._rows = {
            str(key[0]): part
            for key, part in copies.partition_by("path", as_dict=True).items()
        }
        yield [FileEntry(path, 0, 0) for path in self._rows], errors

    def read(
        self,
        entries: Sequence[FileEntry],
        keywords: Sequence[str],
        on_batch: Callable[[pl.DataFrame, pl.DataFrame], None],
    ) -> None:
        """The rows the series metadata gave for ``entries``, as one batch."""
        copies, errors = rows_to_frames([], keywords)
        parts = [self._rows[e.path] for e in entries if e.path in self._rows]
        on_batch(
            pl.concat([copies, *parts], how="vertical") if parts else copies, errors
        )

    def content_hash(self, path: str) -> str | None:
        """None: a server's copies are told apart by their UIDs."""
        return None
