"""Content hashes: tell an identical resend from a modified one.

Two files with one SOPInstanceUID are copies of one image. Whether the later copy
changed anything is decided on the *data set content*: every element outside the
file meta (group 0002, which a sending station rewrites), pixel data included. The
hash covers each element's tag and its value bytes as stored, so the same content
in implicit or explicit VR little endian hashes the same, and sequences are hashed
item by item.

Hashing reads the whole file, so a scan only hashes the files that share a
SOPInstanceUID with another file (:func:`fill_content_hashes`, the *content hashes*
stage of :func:`dicomkit.pipeline.run_scan`).
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from typing import Any

import polars as pl
from pydicom import dcmread
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

from dicomkit.io.fastread import MAX_ELEMENTS
from dicomkit.io.header import BoundedReader
from dicomkit.io.walk import os_path

__all__ = ["content_hash", "fill_content_hashes"]


def content_hash(path: str) -> str | None:
    """Return a hex digest of the data set content of ``path``, or ``None``.

    ``None`` means the file could not be read (it vanished, or pydicom cannot
    parse it); the caller then compares the indexed attributes instead. A copy cut
    short is not an instance (the scan makes it an error row), so it is never
    hashed. ``path`` may
    be a frame's text path (:func:`dicomkit.io.walk.os_path` finds the file).
    """
    digest = hashlib.blake2b(digest_size=16)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # bounded: no 4 GB read for a hostile length, no endless headers
            with BoundedReader(os_path(path), max_reads=MAX_ELEMENTS) as fp:
                ds = dcmread(fp, force=True)
                _feed(digest, ds)
    except Exception:  # noqa: BLE001 - an unreadable copy has no content hash
        return None
    return digest.hexdigest()


def _feed(digest: Any, ds: Dataset) -> None:
    for tag in list(ds.keys()):
        if tag.group == 0x0002:
            continue
        raw = ds.get_item(tag)  # before conversion: the value bytes as stored
        stored = raw.value if isinstance(raw, RawDataElement) else None
        element = ds[tag]
        digest.update(int(tag).to_bytes(4, "little"))
        if element.VR == "SQ":  # hash the items' content, not their encoding
            digest.update(len(element.value).to_bytes(4, "little"))
            for item in element.value:
                _feed(digest, item)
            continue
        if not isinstance(stored, bytes):
            stored = repr(element.value).encode("utf-8", "surrogatepass")
        digest.update(len(stored).to_bytes(4, "little"))
        digest.update(stored)


def fill_content_hashes(
    copies: pl.DataFrame, hasher: Callable[[str], str | None] = content_hash
) -> pl.DataFrame:
    """Hash the copies whose SOPInstanceUID is carried by more than one row.

    Rows that already have a ``content_hash`` keep it (a cached one) as long as
    their UID still repeats; the rows of a UID that does not repeat are left
    null, as a fresh scan leaves them. ``hasher(path)`` hashes one copy
    (:func:`content_hash` for files; a source that is not files passes its own).
    """
    repeated = pl.col("SOPInstanceUID").is_duplicated()
    copies = copies.with_columns(
        pl.when(repeated).then(pl.col("content_hash")).alias("content_hash")
    )
    todo = copies.filter(repeated & pl.col("content_hash").is_null())["path"]
    if todo.is_empty():
        return copies
    paths = todo.to_list()
    hashes = pl.DataFrame(
        {"path": paths, "_hash": [hasher(p) for p in paths]},
        schema={"path": pl.Utf8(), "_hash": pl.Utf8()},
    )
    return (
        copies.join(hashes, on="path", how="left")
        .with_columns(pl.coalesce("content_hash", "_hash").alias("content_hash"))
        .drop("_hash")
    )
