"""The benchmark corpus: :mod:`dicomkit.corpus` (tests and notebooks use it too)."""

from __future__ import annotations

from dicomkit.corpus import (
    PIXEL_BYTES,
    ROOT,
    SLICES_PER_SERIES,
    VERSION,
    corpus_path,
    header_bytes,
    is_implicit,
    write_corpus,
    write_files,
)

__all__ = [
    "PIXEL_BYTES",
    "ROOT",
    "SLICES_PER_SERIES",
    "VERSION",
    "corpus_path",
    "header_bytes",
    "is_implicit",
    "write_corpus",
    "write_files",
]
