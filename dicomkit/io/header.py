"""Read one file's DICOM header into an index row, or say why it is not an instance.

Only this module (with :mod:`dicomkit.io.content`) opens DICOM files during a scan.
It reads the header and stops before the pixel data; it never raises for a bad file:
:func:`read_header` returns either an instance row or an error row.

How a file is told from junk, and what pydicom's parse is checked for, is in
:mod:`dicomkit.io.filecheck` (no preamble accepted only for a data set that starts
like one, archives named, deflate bombs refused, files cut short found); how the
values become a row is in :mod:`dicomkit.io.values`. This module opens the file
(bounded: :class:`BoundedReader`), runs the fast walker or pydicom, and those.

A data set without SOPInstanceUID is ``missing_sop_instance_uid``; a DICOMDIR (a
media index, not an image) is ``dicomdir``; a header cut short, or a PixelData
element that declares more bytes than the file holds, is ``truncated``.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Sequence
from typing import BinaryIO, Literal

from pydicom import dcmread
from pydicom.dataset import Dataset

from dicomkit.io import fastread
from dicomkit.io.dicom import DEFLATED_VR_LE
from dicomkit.io.fastread import ReadPlan, TooLarge, read_fast
from dicomkit.io.filecheck import archive_kind, check_complete, inflates_too_far, sniff
from dicomkit.io.values import (
    Row,
    Unreadable,
    dataset_row,
    decoded_syntax,
    error_row,
    instance_row,
    safe_get,
)
from dicomkit.io.walk import FileEntry, NotRegularFileError, open_regular
from dicomkit.schema import Kind, kind_of

__all__ = [
    "BoundedReader",
    "Parser",
    "Row",
    "Unreadable",
    "archive_kind",
    "decoded_syntax",
    "instance_row",
    "read_batch",
    "read_header",
    "sniff",
]

_META_PEEK = 8192  # bytes read first: the preamble and (nearly always) the file meta


#: Which header parser reads: the fast element walker (with pydicom for what it
#: hands back), or pydicom always (the reference the fast one is tested against).
Parser = Literal["fast", "pydicom"]


def read_batch(
    entries: Sequence[FileEntry], keywords: Sequence[str], *, reader: Parser = "fast"
) -> list[Row]:
    """Read many files (one task of a parallel scan); see :func:`read_header`.

    ``reader="fast"`` (the default) tries :mod:`dicomkit.io.fastread` first and
    reads with pydicom only what it hands back; ``"pydicom"`` always uses pydicom
    (the reference the fast reader is tested against).
    """
    kinds = [(kw, kind_of(kw)) for kw in keywords]
    plan = ReadPlan.build(keywords) if reader == "fast" else None
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # see _read
        for entry in entries:
            row = _read_fast(entry, plan) if plan is not None else None
            rows.append(row if row is not None else _read_quietly(entry, kinds))
    return rows


def _read_fast(entry: FileEntry, plan: ReadPlan) -> Row | None:
    base = {
        "path": entry.path,
        "file_size": entry.file_size,
        "mtime_ns": entry.mtime_ns,
    }
    try:
        row = read_fast(entry, plan)
    except TooLarge as exc:
        return error_row(
            base, "header_too_large", f"the header is too large to index: {exc}"
        )
    except OSError:
        return None  # the pydicom path reports the reason
    except Exception:  # noqa: BLE001 - a walker bug must not end a scan: use pydicom
        return None
    return None if row is None else ("instance", row)


def read_header(entry: FileEntry, keywords: Sequence[str]) -> Row:
    """Read ``entry``'s header and return an instance row or an error row.

    Instance rows hold one value per keyword (converted by
    :func:`dicomkit.schema.convert_value`) plus ``path``, ``file_size``,
    ``mtime_ns``, ``n_frames`` and ``bad_values``. Error rows hold ``path``,
    ``file_size``, ``mtime_ns``, ``reason`` (a stable code) and ``message``.
    """
    return _read(entry, [(kw, kind_of(kw)) for kw in keywords])


def _read(entry: FileEntry, kinds: Sequence[tuple[str, Kind]]) -> Row:
    # pydicom warns about values it finds invalid; dicomkit reports those itself
    # (bad_values, and later verify), so its warnings must not reach the user.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _read_quietly(entry, kinds)


def _read_quietly(entry: FileEntry, kinds: Sequence[tuple[str, Kind]]) -> Row:
    base = {
        "path": entry.path,
        "file_size": entry.file_size,
        "mtime_ns": entry.mtime_ns,
    }
    try:
        # pydicom keeps every element it reads: bounds on its reads (one to three
        # an element) and bytes bound its memory, as they bound the fast walker
        with BoundedReader(
            entry.path,
            max_reads=fastread.MAX_ELEMENTS,
            max_bytes=fastread.MAX_HEADER_BYTES,
        ) as fp:
            problem = sniff(fp, entry.file_size)
            if problem is not None:
                return error_row(base, *problem)
            ds, problem, has_pixels = _parse(fp, entry.file_size)
    except NotRegularFileError as exc:
        return error_row(base, "not_regular_file", f"{exc}: it is never opened")
    except OSError as exc:
        return error_row(
            base, "unreadable", f"cannot read the file: {exc.strerror or exc}"
        )
    except Exception as exc:  # noqa: BLE001 - the last net: a row, never a crash
        return error_row(
            base, "invalid_dicom", f"pydicom cannot read the header: {exc}"
        )
    if problem is not None:
        return error_row(base, *problem)
    assert ds is not None
    try:
        return dataset_row(ds, {**base, "has_pixel_data": has_pixels}, kinds)
    except Exception as exc:  # noqa: BLE001 - the last net: a row, never a crash
        return error_row(
            base, "invalid_dicom", f"pydicom cannot read the header: {exc}"
        )


#: Reads larger than this check the file's size first (see BoundedReader).
_LARGE_READ = 1 << 20


class BoundedReader(io.BufferedReader):
    """A file opened for reading whose reads never ask for more than it holds.

    pydicom reads a value with one ``read(length)``, and Python allocates
    ``length`` bytes before it reads: a length of 0xFFFFFFFE declared in a file
    of a few hundred bytes would cost 4 GB of memory (or a ``MemoryError`` where
    memory is limited). Only reads of more than 1 MB pay for the check.

    With ``max_reads``, the read after that many raises :class:`TooLarge`: a
    bound on the work (and the memory) a header of millions of tiny elements
    can cost pydicom. With ``max_bytes``, so does a read of more than 1 MB that
    would end past that offset: a bound on the memory of one huge value.
    """

    def __init__(
        self,
        path: str,
        *,
        max_reads: int | None = None,
        max_bytes: int | None = None,
    ) -> None:
        raw = open_regular(path, buffering=0)
        super().__init__(raw)  # type: ignore[arg-type]
        # counts down to 0; from -1 (no bound) it never gets there
        self._reads_left = -1 if max_reads is None else max_reads + 1
        self._max_reads = max_reads
        self._max_bytes = max_bytes

    def read(self, size: int | None = -1, /) -> bytes:
        """Read up to ``size`` bytes (all that is left with -1 or None)."""
        self._reads_left -= 1
        if self._reads_left == 0:
            msg = f"more than {self._max_reads:,} reads"
            raise TooLarge(msg)
        if size is not None and size > _LARGE_READ:
            at = self.tell()
            size = min(size, max(os.fstat(self.fileno()).st_size - at, 0))
            if self._max_bytes is not None and at + size > self._max_bytes:
                msg = f"more than {self._max_bytes:,} header bytes"
                raise TooLarge(msg)
        return _BUFFERED_READ(self, size)  # faster than super().read


_BUFFERED_READ = io.BufferedReader.read


def _parse(
    fp: BinaryIO, size: int
) -> tuple[Dataset | None, tuple[str, str] | None, bool | None]:
    """Read the header; return ``(data set, problem, whether PixelData follows)``."""
    head = fp.read(_META_PEEK)
    fp.seek(0)
    part10 = head[128:132] == b"DICM"
    if part10 and DEFLATED_VR_LE.encode() in head:
        bomb = inflates_too_far(fp, head)
        if bomb is not None:
            return None, bomb, None
    try:
        ds = dcmread(fp, stop_before_pixels=True, force=not part10)
    except TooLarge as exc:  # from BoundedReader
        return (
            None,
            ("header_too_large", f"the header is too large to index: {exc}"),
            None,
        )
    except EOFError as exc:
        return None, ("truncated", f"the header is cut short: {exc}"), None
    except Exception as exc:  # noqa: BLE001 - any parser failure is a row, not a crash
        return None, ("invalid_dicom", f"pydicom cannot parse the header: {exc}"), None
    if safe_get(ds.file_meta, "TransferSyntaxUID") == DEFLATED_VR_LE:
        return ds, None, None  # positions are in the compressed stream: unchecked
    problem, has_pixels = check_complete(ds, fp, fp.tell(), size)
    if problem is not None:
        return None, problem, None
    return ds, None, has_pixels


def file_identity(path: str) -> FileEntry:
    """Stat ``path`` into a :class:`FileEntry` (for reading single files)."""
    st = os.stat(path)
    return FileEntry(os.path.abspath(path), st.st_size, st.st_mtime_ns)
