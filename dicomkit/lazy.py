"""LazyCollection: an index too big for memory, as polars LazyFrames.

``dk.scan_parquet(path)`` opens an index (one file, or a folder of parts written by
``dk.scan_to_parquet``) without reading it. The frames and the level views are lazy
queries, the same ones :class:`~dicomkit.Collection` runs eagerly
(:func:`dicomkit.hierarchy.level_view`), so polars reads only the columns a query
needs and its streaming engine keeps memory bounded:
``lazy.series.collect(engine="streaming")``.
"""

from __future__ import annotations

import os
from typing import Any

import polars as pl

from dicomkit.collection import Collection
from dicomkit.hierarchy import ViewLevel, level_view
from dicomkit.io.parquet import split_records

__all__ = ["LazyCollection"]


class LazyCollection:
    """The instances, resends, errors and level views of an index, lazily.

    Build one with :func:`dicomkit.scan_parquet` (or get one back from
    :func:`dicomkit.scan_to_parquet`). Every attribute is a
    :class:`polars.LazyFrame`; nothing is read until it is collected.

    Examples
    --------
    >>> import dicomkit as dk, polars as pl
    >>> lazy = dk.scan_parquet("index/")                       # doctest: +SKIP
    >>> lazy.series.collect(engine="streaming")                # doctest: +SKIP
    >>> lazy.instances.filter(pl.col("Modality") == "MR").select(
    ...     "SeriesInstanceUID", "path").collect()             # doctest: +SKIP
    >>> col = lazy.collect()    # a Collection, if it fits in memory  # doctest: +SKIP
    """

    def __init__(self, table: pl.LazyFrame, meta: dict[str, Any], source: str) -> None:
        self._table = table
        self._meta = meta
        self._source = source

    def _records(self, record: str) -> pl.LazyFrame:
        return self._table.filter(pl.col("record") == record).select(
            self._meta["columns"][record]
        )

    @property
    def instances(self) -> pl.LazyFrame:
        """One row per current instance (``record == "instance"``)."""
        return self._records("instance")

    @property
    def resends(self) -> pl.LazyFrame:
        """Superseded copies, with ``resend``, ``replaced_by`` and ``differs``."""
        return self._records("resend")

    @property
    def errors(self) -> pl.LazyFrame:
        """Files that are not instances: ``path``, ``reason``, ``message``."""
        return self._records("error")

    def view(self, level: ViewLevel) -> pl.LazyFrame:
        """The patient, study or series view, as :attr:`Collection.series` etc."""
        return level_view(self.instances, level)

    @property
    def patients(self) -> pl.LazyFrame:
        """One row per PatientID, with counts and ``varying`` attributes."""
        return self.view("patient")

    @property
    def studies(self) -> pl.LazyFrame:
        """One row per StudyInstanceUID, sorted by patient, date and time."""
        return self.view("study")

    @property
    def series(self) -> pl.LazyFrame:
        """One row per SeriesInstanceUID, sorted by patient, study, SeriesNumber."""
        return self.view("series")

    def collect(self, **kwargs: Any) -> Collection:
        """Read everything into a :class:`~dicomkit.Collection` (it must fit in memory).

        Keyword arguments go to :meth:`polars.LazyFrame.collect`.
        """
        table = self._table.collect(**kwargs)
        frames = split_records(
            table, self._meta, partitioned=os.path.isdir(self._source)
        )
        return Collection(frames["instance"], frames["resend"], frames["error"])

    def __repr__(self) -> str:
        return f"LazyCollection({self._source!r})"
