"""Content hashes: tell an identical resend from a modified one.

Two files with one SOPInstanceUID are copies of one image. Whether the later copy
changed anything is decided on the *data set content*: every element outside the
file meta (group 0002, which a sending station rewrites), pixel data included. The
hash covers each element's tag and its value bytes as stored, so the same content
in implicit or explicit VR little endian hashes the same, and sequences are hashed
item by item.

Hashing reads the whole file, so a scan only hashes the files that share a
SOPInstanceUID with another file.
"""

from __future__ import annotations

import hashlib
import warnings
from typing import Any

from pydicom import dcmread
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

from dicomkit.io.fastread import MAX_ELEMENTS
from dicomkit.io.header import BoundedReader
from dicomkit.io.walk import os_path

__all__ = ["content_hash"]


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
