"""A collection as parquet: instances, resends and errors, losslessly.

The three frames are stacked in one table with a ``record`` column
(``instance | resend | error``); the parquet key-value metadata ``dicomkit`` lists
each frame's columns, so reading gives back exactly the frames that were written,
dtypes included. Any parquet reader (polars, DuckDB, pandas, Spark) can query the
file directly: ``pl.scan_parquet("index.parquet").filter(pl.col("record") ==
"instance")``.

An index is one file (:func:`write_index`, from ``col.write_parquet``) or a folder of
parts ``part-00000.parquet``, ``part-00001.parquet`` … (:func:`write_part`, from
``dk.scan_to_parquet``), every part with the same columns (:func:`index_schema`) and
the same metadata; the folder holds nothing else, so ``pl.scan_parquet("index/")``,
DuckDB's ``read_parquet('index/*.parquet')``, Dask and Spark read it as one table.
:func:`scan_index` opens either form lazily.

Writes are atomic: a temporary file in the destination folder, then a rename.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Sequence
from typing import Any

import polars as pl

from dicomkit._version import dicomkit_version
from dicomkit.exceptions import IndexFormatError
from dicomkit.io.atomic import remove_dead_temporaries, write_parquet
from dicomkit.io.walk import PathLike
from dicomkit.schema import ERROR_SCHEMA, RESEND_COLUMNS, instance_schema

__all__ = [
    "FORMAT_VERSION",
    "PART_GLOB",
    "dicomkit_version",
    "index_columns",
    "index_schema",
    "scan_index",
    "split_records",
    "write_index",
    "write_part",
]

FORMAT_VERSION = 1
_KEY = "dicomkit"
_FRAMES = ("instance", "resend", "error")
#: The file names of the parts of a partitioned index, as a glob pattern.
PART_GLOB = "part-*.parquet"


def index_schema(keywords: Sequence[str]) -> dict[str, pl.DataType]:
    """Every column of an index table: instance, resend and error columns, ``record``."""
    schema = dict(instance_schema(keywords))
    schema.update(RESEND_COLUMNS)
    schema.update({k: v for k, v in ERROR_SCHEMA.items() if k not in schema})
    schema["record"] = pl.Utf8()
    return schema


def index_columns(keywords: Sequence[str]) -> dict[str, list[str]]:
    """The columns of each frame (``instance``, ``resend``, ``error``), for metadata."""
    instance = list(instance_schema(keywords))
    return {
        "instance": instance,
        "resend": [*instance, *RESEND_COLUMNS],
        "error": list(ERROR_SCHEMA),
    }


def write_index(
    path: PathLike,
    frames: dict[str, pl.DataFrame],
    *,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write ``frames`` (keys ``instance``, ``resend``, ``error``) to ``path``.

    The file is replaced atomically; a reader never sees half of it. Temporary
    files that killed writers left in the folder are removed first.
    """
    tables = [
        frames[name].with_columns(pl.lit(name).alias("record")) for name in _FRAMES
    ]
    table = pl.concat(tables, how="diagonal_relaxed")
    meta = {
        "format": FORMAT_VERSION,
        "columns": {name: frames[name].columns for name in _FRAMES},
        **(extra or {}),
    }
    target = os.fspath(path)
    remove_dead_temporaries(os.path.dirname(os.path.abspath(target)))
    write_parquet(table, target, {_KEY: meta})


def write_part(
    folder: PathLike, number: int, table: pl.DataFrame, meta: dict[str, Any]
) -> str:
    """Write part ``number`` of a partitioned index into ``folder``, atomically.

    ``table`` must have the columns of :func:`index_schema`; ``meta`` is the
    metadata every part carries (``columns`` included). Returns the part's path.
    """
    target = os.path.join(os.fspath(folder), f"part-{number:05d}.parquet")
    write_parquet(table, target, {_KEY: {"format": FORMAT_VERSION, **meta}})
    return target


def scan_index(path: PathLike) -> tuple[pl.LazyFrame, dict[str, Any]]:
    """Open an index file or a partitioned index folder lazily: ``(table, metadata)``.

    ``table`` has every row with its ``record`` column; ``metadata["columns"]``
    names each frame's columns. Nothing but the metadata is read until the table
    is collected.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    IndexFormatError
        When ``path`` is not an index dicomkit wrote (or a newer dicomkit did), or
        the parts of a folder disagree on their columns.
    """
    target = os.fspath(path)
    if os.path.isdir(target):
        parts = sorted(glob.glob(os.path.join(glob.escape(target), PART_GLOB)))
        if not parts:
            msg = (
                f"{target!r} is a folder without index parts ({PART_GLOB}); expected "
                "an index written by dk.scan_to_parquet(source, folder)"
            )
            raise IndexFormatError(msg)
        metas = [_read_meta(part) for part in parts]
        meta = metas[0]
        for part, other in zip(parts[1:], metas[1:], strict=True):
            if other.get("columns") != meta.get("columns"):
                msg = (
                    f"the parts of {target!r} disagree on their columns "
                    f"({os.path.basename(parts[0])} and {os.path.basename(part)}); "
                    "a folder must hold the parts of one index only: scan again "
                    "into an empty folder"
                )
                raise IndexFormatError(msg)
        return pl.scan_parquet(parts), meta
    if not os.path.exists(target):
        msg = f"no index at {target!r}"
        raise FileNotFoundError(msg)
    return pl.scan_parquet(target), _read_meta(target)


def _read_meta(target: str) -> dict[str, Any]:
    try:
        meta_text = pl.read_parquet_metadata(target).get(_KEY)
    except FileNotFoundError:
        raise
    except Exception as exc:
        msg = f"{target!r} is not a parquet file ({exc}); expected an index written by col.write_parquet()"
        raise IndexFormatError(msg) from exc
    if meta_text is None:
        msg = (
            f"{target!r} is a parquet file but not a dicomkit index (no 'dicomkit' "
            "metadata); write one with col.write_parquet(path), or scan the folder "
            "with dk.scan()"
        )
        raise IndexFormatError(msg)
    meta = json.loads(meta_text)
    if not isinstance(meta, dict) or meta.get("format", 0) > FORMAT_VERSION:
        found = meta.get("format") if isinstance(meta, dict) else meta
        msg = (
            f"{target!r} was written in index format {found!r}, newer than "
            f"this dicomkit reads ({FORMAT_VERSION}); upgrade dicomkit"
        )
        raise IndexFormatError(msg)
    return meta


def split_records(
    table: pl.DataFrame, meta: dict[str, Any], *, partitioned: bool
) -> dict[str, pl.DataFrame]:
    """An index table as its frames ``{"instance": …, "resend": …, "error": …}``.

    The frames of a partitioned index are sorted by path (its parts come in the
    order the scan's batches finished), as :func:`dicomkit.scan` sorts them.
    """
    frames = {
        name: table.filter(pl.col("record") == name).select(meta["columns"][name])
        for name in _FRAMES
    }
    if partitioned:
        frames = {name: frame.sort("path") for name, frame in frames.items()}
    return frames
