"""Header rows → typed frames: the one place rows become polars columns.

A reader (:mod:`dicomkit.io.header`, or any :class:`~dicomkit.io.source.Source`)
makes one :data:`~dicomkit.io.header.Row` per file: ``("instance", values)`` or
``("error", {column: value})``. :func:`rows_to_frames` stacks a batch of them into
the typed ``(copies, errors)`` frames a scan is made of, column by column.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import polars as pl

from dicomkit.io.header import Row
from dicomkit.io.walk import text_path
from dicomkit.schema import ERROR_SCHEMA, instance_schema

__all__ = ["Batch", "empty_frames", "rows_to_frames"]

#: One batch of a scan: ``(copies, errors)``, the typed frames of its instance rows
#: (copies of one SOPInstanceUID included) and of its error rows.
Batch = tuple[pl.DataFrame, pl.DataFrame]


def empty_frames(keywords: Sequence[str]) -> Batch:
    """Empty ``(copies, errors)`` frames with every column, typed.

    Building the ~40 typed columns takes a few milliseconds; a scan needs empty
    frames several times (nothing cached, nothing to read), so they are built once
    per keyword list and handed out as clones (which share nothing mutable).
    """
    copies, errors = _empty_frames(tuple(keywords))
    return copies.clone(), errors.clone()


@lru_cache(maxsize=8)
def _empty_frames(keywords: tuple[str, ...]) -> Batch:
    return pl.DataFrame(schema=instance_schema(keywords)), pl.DataFrame(
        schema=ERROR_SCHEMA
    )


def rows_to_frames(rows: Iterable[Row], keywords: Sequence[str]) -> Batch:
    """Build the typed ``(copies, errors)`` frames from header rows, column by column.

    An instance row is a tuple of values in the column order of
    :func:`dicomkit.schema.instance_schema` (the fast reader's) or a dict by column
    name, where a missing column is null (pydicom's path, and other sources). An
    error row is a dict of ``path``, ``file_size``, ``mtime_ns``, ``reason`` and
    ``message``.

    Instance rows are stacked into one Python list per column, and each column
    becomes a typed polars Series in one call. List columns, which polars builds
    slowly from nested Python lists, are shaped in Rust: numbers from one flat
    list (PixelSpacing …), text by numbering the distinct lists (ImageType …).
    """
    rows = rows if isinstance(rows, list) else list(rows)
    if not rows:
        return empty_frames(keywords)
    schema = instance_schema(keywords)
    names = list(schema)
    stacked = [row for kind, row in rows if kind == "instance"]
    error_rows = [row for kind, row in rows if kind != "instance"]
    if not all(type(row) is tuple for row in stacked):  # rows by column name
        stacked = [
            row if type(row) is tuple else tuple(row.get(n) for n in names)
            for row in stacked
        ]
    for row in error_rows:
        row["path"] = text_path(row["path"])
    columns: list[tuple[Any, ...]] = (
        list(zip(*stacked, strict=True)) if stacked else [()] * len(names)
    )
    path_index = names.index("path")
    if not all(map(str.isascii, columns[path_index])):
        columns[path_index] = tuple(map(text_path, columns[path_index]))
    copies = pl.DataFrame(
        [
            _column(name, schema[name], values)
            for name, values in zip(names, columns, strict=True)
        ]
    )
    errors = pl.DataFrame(error_rows, schema=ERROR_SCHEMA)
    return copies, errors


def _numeric_lists(name: str, dtype: pl.List, values: Sequence[Any]) -> pl.Series:
    """Lists of numbers: one flat Series, shaped into rows in Rust.

    Lists of one length (ImagePositionPatient, PixelSpacing …) are reshaped;
    others are grouped by row.
    """
    same = _same_length_lists(name, dtype, values)
    if same is not None:
        return same
    flat: list[Any] = []
    rows: list[int] = []
    for index, value in enumerate(values):
        if value:
            flat.extend(value)
            rows.extend([index] * len(value))
    items = pl.DataFrame(
        [
            pl.Series("row", rows, dtype=pl.Int64),
            pl.Series("v", flat, dtype=dtype.inner),
        ]
    )
    grouped = items.group_by("row", maintain_order=True).agg("v")
    every = pl.DataFrame(pl.Series("row", range(len(values)), dtype=pl.Int64))
    column: pl.Series = every.join(
        grouped, on="row", how="left", maintain_order="left"
    )["v"]
    typed: pl.Series = column.cast(dtype).alias(name)
    return typed


def _same_length_lists(
    name: str, dtype: pl.List, values: Sequence[Any]
) -> pl.Series | None:
    flat: list[Any] = []
    present: list[int] = []
    width = -1
    for index, value in enumerate(values):
        if value is None:
            continue
        if len(value) != width:
            if width != -1 or not value:
                return None  # lists of several lengths (or empty): group instead
            width = len(value)
        flat.extend(value)
        present.append(index)
    if width < 1:
        return None
    shaped: pl.Series = (
        pl.Series(name, flat, dtype=dtype.inner)
        .reshape((len(present), width))
        .cast(dtype)
    )
    if len(present) == len(values):
        return shaped
    rows = pl.DataFrame([pl.Series("row", present, dtype=pl.Int64), shaped.alias("v")])
    every = pl.DataFrame(pl.Series("row", range(len(values)), dtype=pl.Int64))
    column: pl.Series = every.join(rows, on="row", how="left", maintain_order="left")[
        "v"
    ]
    return column.alias(name)


def _column(name: str, dtype: pl.DataType, values: Sequence[Any]) -> pl.Series:
    if dtype in (pl.Date, pl.Time):  # few distinct values, slow to convert one by one
        return _factorized(name, dtype, values)
    if not isinstance(dtype, pl.List):
        return pl.Series(name, values, dtype=dtype)
    if dtype.inner != pl.Utf8:
        return _numeric_lists(name, dtype, values)
    return _factorized(name, dtype, values)


def _factorized(name: str, dtype: pl.DataType, values: Sequence[Any]) -> pl.Series:
    """Each distinct value built once, then gathered in Rust.

    A batch holds few distinct ImageType or SpecificCharacterSet lists (which
    polars builds from Python slowly, ~0.5 µs each) and few distinct dates and
    times, so numbering the distinct values is faster.
    """
    codes: dict[Any, int] = {}
    numbers: list[int] = []
    lists = isinstance(dtype, pl.List)
    for value in values:
        key = tuple(value) if lists and value is not None else value
        number = codes.get(key)
        if number is None:
            number = codes[key] = len(codes)
        numbers.append(number)
    distinct = [list(key) if lists and key is not None else key for key in codes]
    column: pl.Series = pl.Series(name, distinct, dtype=dtype).gather(
        pl.Series(numbers, dtype=pl.UInt32)
    )
    return column
