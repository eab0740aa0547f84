"""A collection as one parquet file: instances, resends and errors, losslessly.

The three frames are stacked in one table with a ``record`` column
(``instance | resend | error``); the parquet key-value metadata ``dicomkit`` lists
each frame's columns, so reading gives back exactly the frames that were written,
dtypes included. Any parquet reader (polars, DuckDB, pandas, Spark) can query the
file directly: ``pl.scan_parquet("index.parquet").filter(pl.col("record") ==
"instance")``.

Writes are atomic: a temporary file in the destination folder, then a rename.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import polars as pl

from dicomkit.exceptions import IndexFormatError
from dicomkit.io.walk import PathLike

__all__ = ["FORMAT_VERSION", "read_index", "write_index"]

FORMAT_VERSION = 1
_KEY = "dicomkit"
_FRAMES = ("instance", "resend", "error")


def write_index(
    path: PathLike,
    frames: dict[str, pl.DataFrame],
    *,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write ``frames`` (keys ``instance``, ``resend``, ``error``) to ``path``.

    The file is replaced atomically; a reader never sees half of it.
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
    folder = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(prefix=".dicomkit-", suffix=".parquet.tmp", dir=folder)
    os.close(fd)
    try:
        table.write_parquet(tmp, metadata={_KEY: json.dumps(meta)})
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_index(path: PathLike) -> tuple[dict[str, pl.DataFrame], dict[str, Any]]:
    """Read a file written by :func:`write_index`: ``(frames, metadata)``.

    Raises
    ------
    IndexFormatError
        When ``path`` is not a parquet file that dicomkit wrote, or was written by
        a newer dicomkit.
    """
    target = os.fspath(path)
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
        msg = (
            f"{target!r} was written in index format {meta.get('format')!r}, newer than "
            f"this dicomkit reads ({FORMAT_VERSION}); upgrade dicomkit"
        )
        raise IndexFormatError(msg)
    table = pl.read_parquet(target)
    frames = {
        name: table.filter(pl.col("record") == name).select(meta["columns"][name])
        for name in _FRAMES
    }
    return frames, meta
