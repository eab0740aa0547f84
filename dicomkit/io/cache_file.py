"""The scan cache's file: where it lives, its name, validated loading, atomic writing.

The format is described in :mod:`dicomkit.io.cache` (the store that uses it).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from dicomkit._warnings import warn
from dicomkit.io.atomic import remove_dead_temporaries, temp_prefix, write_parquet
from dicomkit.io.parquet import dicomkit_version, index_schema

__all__ = [
    "FORMAT_VERSION",
    "METADATA_KEY",
    "READER_VERSION",
    "TMP_PREFIX",
    "TMP_SUFFIX",
    "CacheFile",
    "cache_file_name",
    "cache_schema",
    "default_cache_dir",
]

#: The version of the file layout; a file of another version is ignored.
FORMAT_VERSION = 1
#: The version of what a cached row holds for a file. Bump it with any change to
#: the header reader (io/header.py, io/fastread.py) or to the instance and error
#: schema that can change a row: rows written under another reader version (or
#: by another dicomkit release, whose version comes from the package metadata)
#: are read again. 2: ZIP/gzip/tar files are ``archive`` errors, not ``not_dicom``.
READER_VERSION = 2
#: The parquet key-value metadata key of a cache file.
METADATA_KEY = "dicomkit-cache"
#: A temporary cache file's name: this, host, pid, "cache-", …, this suffix.
TMP_PREFIX = ".dicomkit-"
TMP_SUFFIX = ".parquet.tmp"

_RECORDS = ("instance", "resend", "copy", "error")
_Loaded = tuple[pl.DataFrame, dict[str, Any]]


def default_cache_dir() -> Path:
    """``$DICOMKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/dicomkit``, else ``~/.cache/dicomkit``."""
    configured = os.environ.get("DICOMKIT_CACHE_DIR")
    if configured:
        return Path(configured).expanduser().absolute()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "dicomkit"
    return Path.home() / ".cache" / "dicomkit"


def cache_file_name(
    sources: Sequence[str], *, recursive: bool, keywords: Sequence[str]
) -> str:
    """``scan-<hash>.parquet`` for these absolute sources, flag and keywords."""
    key = json.dumps(
        {"source": list(sources), "recursive": recursive, "keywords": list(keywords)},
        separators=(",", ":"),
    )
    return f"scan-{hashlib.sha256(key.encode()).hexdigest()[:16]}.parquet"


def cache_schema(keywords: Sequence[str]) -> dict[str, pl.DataType]:
    """The columns of a cache file: those of an index (instance, resend and error
    columns, ``record``)."""
    return index_schema(keywords)


class CacheFile:
    """One cache file: validated loading and atomic writing."""

    def __init__(
        self,
        path: str,
        keywords: tuple[str, ...],
        *,
        sources: list[str],
        recursive: bool,
        started_ns: int,
        explicit: bool = False,
    ) -> None:
        self.path = path
        self.explicit = explicit
        self.keywords = keywords
        self.sources = sources
        self.recursive = recursive
        self.started_ns = started_ns
        self.schema = cache_schema(keywords)
        self.failed = False
        self.cleaned = False

    def load(self) -> _Loaded | None:
        """The cached table and its metadata; ``None`` when absent or not usable."""
        if not os.path.isfile(self.path):
            return None
        try:
            text = pl.read_parquet_metadata(self.path).get(METADATA_KEY)
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 - any unreadable file is ignored
            return self._foreign(f"it is not a parquet file ({exc})")
        if text is None:
            return self._foreign(f"it has no {METADATA_KEY!r} metadata")
        try:
            meta = json.loads(text)
        except ValueError:
            return self._foreign(f"its {METADATA_KEY!r} metadata is not JSON")
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
            found = meta.get("format") if isinstance(meta, dict) else None
            return self._ignore(
                f"it is in cache format {found!r}; this dicomkit reads {FORMAT_VERSION}"
            )
        if (
            meta.get("dicomkit") != dicomkit_version()
            or meta.get("reader") != READER_VERSION
        ):
            return None  # rows of another reader version: rebuilt, quietly
        for field, expected in (
            ("keywords", list(self.keywords)),
            ("source", self.sources),
            ("recursive", self.recursive),
        ):
            if meta.get(field) != expected:
                return self._ignore(f"it was written for another {field}")
        if not isinstance(meta.get("started_ns"), int) or meta.get(
            "on_duplicate"
        ) not in (None, "newest", "first", "error"):
            return self._ignore("its metadata is incomplete")
        try:
            if dict(pl.read_parquet_schema(self.path)) != self.schema:
                return self._ignore("its columns are not those of this scan")
            table = pl.read_parquet(self.path).select(list(self.schema))
        except Exception as exc:  # noqa: BLE001 - any unreadable file is ignored
            return self._ignore(f"it cannot be read ({exc})")
        if not (
            table["record"].is_in(_RECORDS).all()
            and table["path"].null_count() == 0
            and table["path"].is_unique().all()
        ):
            return self._ignore("its rows are not one per file")
        return table, meta

    def _ignore(self, why: str) -> _Loaded | None:
        warn(f"dicomkit: ignoring the scan cache {self.path!r}: {why}; rebuilding it")
        return None

    def _foreign(self, why: str) -> _Loaded | None:
        """A file that is not a dicomkit cache: replaced only in the cache folder."""
        if not self.explicit:
            return self._ignore(why)
        # A path the user named may hold their own data (an index written by
        # col.write_parquet, say): never overwrite it.
        self.failed = True
        warn(
            f"dicomkit: {self.path!r} is not a dicomkit scan cache ({why}); it is "
            "left as it is and this scan runs without a cache: pass another path, "
            "or delete the file"
        )
        return None

    def write(
        self,
        parts: list[tuple[str, pl.DataFrame]],
        *,
        complete: bool,
        on_duplicate: str | None,
    ) -> bool:
        """Replace the cache file atomically; ``False`` if writing failed."""
        if self.failed:
            return False
        table = pl.concat(
            [
                pl.DataFrame(schema=self.schema),
                *(
                    frame.with_columns(pl.lit(record).alias("record"))
                    for record, frame in parts
                ),
            ],
            how="diagonal",
        ).select(list(self.schema))
        meta = {
            "format": FORMAT_VERSION,
            "dicomkit": dicomkit_version(),
            "reader": READER_VERSION,
            "keywords": list(self.keywords),
            "source": self.sources,
            "recursive": self.recursive,
            "complete": complete,
            "on_duplicate": on_duplicate,
            "started_ns": self.started_ns,
        }
        folder = os.path.dirname(self.path)
        try:
            os.makedirs(folder, exist_ok=True)
            if not self.cleaned:  # what killed scans left behind
                remove_dead_temporaries(folder)
                self.cleaned = True
            write_parquet(
                table,
                self.path,
                {METADATA_KEY: meta},
                prefix=temp_prefix() + "cache-",
                suffix=TMP_SUFFIX,
                private=True,
            )
        except OSError as exc:
            self.failed = True
            warn(
                f"dicomkit: cannot write the scan cache {self.path!r} ({exc}); "
                "scanning without it"
            )
            return False
        return True
