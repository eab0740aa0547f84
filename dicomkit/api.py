"""Entry points: a folder or a saved index in, a :class:`~dicomkit.Collection` out.

Thin wrappers: a scan is :mod:`dicomkit.pipeline`'s, an index is
:mod:`dicomkit.io.parquet`'s.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from dicomkit.collection import Collection
from dicomkit.hierarchy import OnDuplicate
from dicomkit.io.cache import CacheOption
from dicomkit.io.parquet import scan_index
from dicomkit.io.sink import DEFAULT_ROWS_PER_PART
from dicomkit.io.walk import PathLike
from dicomkit.lazy import LazyCollection
from dicomkit.pipeline import scan_files, scan_to_index
from dicomkit.schema import validate_keywords

if TYPE_CHECKING:
    from collections.abc import Mapping

    import requests

__all__ = ["read_parquet", "scan", "scan_dicomweb", "scan_parquet", "scan_to_parquet"]


def scan(
    source: PathLike | Iterable[PathLike],
    *,
    recursive: bool = True,
    workers: int | None = None,
    progress: bool | None = None,
    keywords: Iterable[str] | None = None,
    on_duplicate: OnDuplicate = "newest",
    cache: CacheOption = None,
    executor: Executor | None = None,
) -> Collection:
    """Scan DICOM files into a :class:`Collection` grouped by Patient → Study → Series.

    Every regular file is read, whatever its name or extension, header only. The
    hierarchy comes from the UIDs each file carries, never from folder or file
    names. One bad file never stops a scan: it becomes a row of ``col.errors``,
    and every file seen is accounted for (instances + resends + errors).

    Parameters
    ----------
    source
        A folder, a file, or an iterable of files and folders.
    recursive
        Descend into sub-folders (default ``True``).
    workers
        Processes to read with, this one included: ``N`` starts ``N - 1`` worker
        processes and reads in this one too. ``None`` (default) uses every core
        when there are enough files to gain from it
        (:data:`dicomkit.io.scan.MIN_PARALLEL_FILES`); ``1`` reads in this process
        only.
    progress
        ``None`` shows a progress bar (``tqdm.auto``: a widget in notebooks) once
        a scan has run for a second; ``True`` always, ``False`` never.
    keywords
        DICOM keywords to index beyond :data:`dicomkit.schema.DEFAULT_KEYWORDS`,
        e.g. ``["SequenceName", "ContrastBolusAgent"]``.
    on_duplicate
        What to do when several files carry one SOPInstanceUID: ``"newest"``
        (default; the later mtime, then the later path, is the instance, the
        others go to ``col.resends``), ``"first"`` (keep the oldest copy), or
        ``"error"`` (raise :class:`~dicomkit.exceptions.DuplicateInstanceError`).
    cache
        Keep an index of every file's row, keyed by ``(path, file_size,
        mtime_ns)``, so that the next scan of the same source only stats the files
        and reads just the added or modified ones (removed files drop out). The
        result is always the one a scan without cache gives.

        ``None`` (default): on for a folder of at least
        :data:`~dicomkit.io.cache.MIN_CACHE_FILES` (1,000) files, off for smaller
        folders, single files and lists of paths. ``True``: on for any source.
        ``False``: off; nothing is read or written. A path: use that cache file.

        The cache lives in ``$DICOMKIT_CACHE_DIR``, else
        ``$XDG_CACHE_HOME/dicomkit``, else ``~/.cache/dicomkit`` (one
        ``scan-<hash>.parquet`` per source, recursive flag and keyword list; never
        inside the scanned folder; safe to delete). It is plain parquet, written
        atomically, and checkpointed while files are read, so an interrupted
        scan resumes where it stopped. A damaged or foreign cache file is ignored
        with a :class:`RuntimeWarning` and rewritten. Details:
        :mod:`dicomkit.io.cache`.

    executor
        Any :class:`concurrent.futures.Executor` to read on instead of dicomkit's
        own processes: e.g. Dask's ``distributed.Client(...).get_executor()`` to
        read on a cluster (files are sent in batches; every worker must see the
        files at the same paths). ``workers`` is then ignored.

    Returns
    -------
    Collection

    See Also
    --------
    dicomkit.pipeline.scan_files : the same scan, returning its frames and stats
        (files read, taken from the cache) and taking a ``reader``
        (:mod:`dicomkit.io.scan`); :func:`dicomkit.pipeline.run_scan` runs any
        :class:`~dicomkit.io.source.Source` (README: Architecture).

    Raises
    ------
    FileNotFoundError
        If ``source`` is a single path that does not exist.
    ValueError
        For an unknown or unindexable keyword in ``keywords``, or an unknown
        ``on_duplicate``.
    KeyboardInterrupt
        On Ctrl-C, after the worker processes are stopped (and, with a cache, the
        rows read so far are saved).

    Examples
    --------
    >>> import dicomkit as dk
    >>> col = dk.scan("data/sample")   # doctest: +SKIP
    >>> col.errors.select("path", "reason")   # doctest: +SKIP
    >>> col = dk.scan("archive/", cache=True)   # doctest: +SKIP
    """
    columns = validate_keywords(keywords)
    result = scan_files(
        source,
        columns,
        recursive=recursive,
        workers=workers,
        progress=progress,
        on_duplicate=on_duplicate,
        cache=cache,
        executor=executor,
    )
    return Collection(*result.output)


def scan_to_parquet(
    source: PathLike | Iterable[PathLike],
    dest: str | os.PathLike[str],
    *,
    recursive: bool = True,
    workers: int | None = None,
    progress: bool | None = None,
    keywords: Iterable[str] | None = None,
    on_duplicate: OnDuplicate = "newest",
    executor: Executor | None = None,
    rows_per_part: int = DEFAULT_ROWS_PER_PART,
) -> LazyCollection:
    """Scan DICOM files straight into a partitioned parquet index, in bounded memory.

    For deliveries too big to hold as a :class:`Collection` (millions of files): the
    headers are read in batches as :func:`scan` reads them, and written to
    ``dest/part-00000.parquet``, ``part-00001.parquet`` … as they complete, about
    ``rows_per_part`` rows each, so memory does not grow with the number of files.
    Resends are then resolved as :func:`scan` resolves them, rewriting only the
    parts that hold a repeated SOPInstanceUID.

    Every part has the same columns: the instance columns, ``resend``,
    ``replaced_by``, ``differs``, ``reason``, ``message`` and ``record``
    (``instance | resend | error``), as in :meth:`Collection.write_parquet`. The
    folder holds nothing else, so any engine reads it as one table:
    ``pl.scan_parquet("index/")``, DuckDB ``read_parquet('index/*.parquet')``,
    ``dask.dataframe.read_parquet("index/")``, Spark ``spark.read.parquet("index/")``.

    The index is built in a hidden folder beside ``dest`` and renamed into place
    when complete: an interrupted or failed scan leaves ``dest`` as it was.

    Parameters
    ----------
    source, recursive, workers, progress, keywords, on_duplicate, executor
        As for :func:`scan` (there is no ``cache``: the index itself is the result).
    dest
        The index folder: new, empty, or an index this function wrote before
        (replaced). A folder holding anything else is refused.
    rows_per_part
        Rows gathered before a part is written (default 100,000).

    Returns
    -------
    LazyCollection
        The new index, opened lazily (:func:`scan_parquet`).

    Raises
    ------
    FileExistsError
        If ``dest`` is a file, or a folder holding files other than index parts.

    Examples
    --------
    >>> import dicomkit as dk
    >>> lazy = dk.scan_to_parquet("/archive", "archive-index/")   # doctest: +SKIP
    >>> lazy.series.collect(engine="streaming")                   # doctest: +SKIP
    >>> col = dk.read_parquet("archive-index/")   # all of it, in memory  # doctest: +SKIP
    """
    columns = validate_keywords(keywords)
    result = scan_to_index(
        source,
        dest,
        columns,
        recursive=recursive,
        workers=workers,
        progress=progress,
        on_duplicate=on_duplicate,
        executor=executor,
        rows_per_part=rows_per_part,
    )
    return scan_parquet(result.output)


def scan_parquet(path: str | os.PathLike[str]) -> LazyCollection:
    """Open an index lazily: a file from :meth:`Collection.write_parquet`, or a
    folder from :func:`scan_to_parquet`.

    Only the metadata is read; the frames and the level views of the
    :class:`~dicomkit.lazy.LazyCollection` are polars LazyFrames, computed when
    collected (``.collect(engine="streaming")`` for bounded memory).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    dicomkit.exceptions.IndexFormatError
        If it is not a dicomkit index.
    """
    table, meta = scan_index(path)
    return LazyCollection(table, meta, os.fspath(path))


def read_parquet(path: str | os.PathLike[str]) -> Collection:
    """Open an index written by :meth:`Collection.write_parquet` (a file) or by
    :func:`scan_to_parquet` (a folder of parts), into memory.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    dicomkit.exceptions.IndexFormatError
        If it is not a dicomkit index.
    """
    return scan_parquet(path).collect()


def scan_dicomweb(
    url: str,
    *,
    study: str | Iterable[str] | None = None,
    patient_id: str | None = None,
    modality: str | None = None,
    study_date: Any = None,
    search: Mapping[str, str] | None = None,
    session: requests.Session | None = None,
    headers: Mapping[str, str] | None = None,
    keywords: Iterable[str] | None = None,
    on_duplicate: OnDuplicate = "newest",
    max_workers: int = 4,
    page_size: int = 1000,
    timeout: float | tuple[float, float] = (10.0, 120.0),
    progress: bool | None = None,
) -> Collection:
    """Index a DICOMweb server (QIDO-RS + WADO-RS) into a :class:`Collection`.

    The same Collection a folder scan gives: the same columns and types, the same
    resend rule, ``verify``, plans and the explorer; ``path`` holds each
    instance's WADO-RS URL, and pixels (``col.volume``, the explorer,
    :func:`dicomkit.load_pixels`) are retrieved from it on demand. Needs the
    ``dicomweb`` extra: ``pip install "dicomkit[dicomweb]"``.

    Requests: one QIDO-RS study listing (skipped when ``study`` names the
    studies), one series listing per study, one WADO-RS series metadata call per
    series (never one per instance), paged with ``limit``/``offset`` and run
    ``max_workers`` at a time behind a progress bar. ``col.source_stats`` reports
    them, and ``complete``: false (with a :class:`RuntimeWarning`) when a listing
    was cut short (a server that ignores ``offset`` is detected, never looped on)
    or a study or series could not be read (its row in ``col.errors`` says why).

    Parameters
    ----------
    url
        The DICOMweb root, e.g. ``"http://127.0.0.1:8042/dicom-web"``. No
        credentials or query string in it (they would end up in every path).
    study
        One StudyInstanceUID or several: only these studies.
    patient_id, modality, study_date
        QIDO filters: ``PatientID``; ``ModalitiesInStudy`` for the studies and
        ``Modality`` for their series; ``StudyDate`` as ``"20230101-20231231"``,
        a :class:`datetime.date`, or a ``(start, end)`` pair (``None`` for an
        open end).
    search
        Further QIDO study-level matching keys, e.g. ``{"AccessionNumber": "A1"}``.
    session, headers
        Authentication: a ``requests.Session`` (``.auth``, cookies, certificates)
        and/or extra headers such as ``{"Authorization": "Bearer …"}``. Kept in
        memory for this process's pixel retrievals; never logged, never written
        into a frame or an index.
    keywords, on_duplicate
        As for :func:`scan`. A server holds one copy per SOPInstanceUID and
        series, so resends seen here are the same SOPInstanceUID in two series or
        studies (``conflict``).
    max_workers
        Requests in flight at most (default 4).
    page_size
        QIDO ``limit`` (default 1,000).
    timeout
        Seconds, ``(connect, read)`` or one number, for every request.
    progress
        As for :func:`scan`.

    Raises
    ------
    ValueError
        A URL that is not ``http(s)://…`` or holds credentials.
    dicomkit.exceptions.DicomwebConnectionError
        The server is unreachable, or a listing does not answer in time
        (:class:`~dicomkit.exceptions.DicomwebTimeoutError`; a series whose
        metadata times out is a row of ``col.errors`` instead).
    dicomkit.exceptions.DicomwebAuthError
        HTTP 401/403 (credentials missing or refused).
    dicomkit.exceptions.DicomwebError
        The study listing itself failed (an error status, an answer that is not
        DICOM JSON), or the ``requests`` package is missing.

    Examples
    --------
    >>> col = dk.scan_dicomweb("http://127.0.0.1:8042/dicom-web")   # doctest: +SKIP
    >>> col = dk.scan_dicomweb(url, study="1.2.840.113619.2.410.1")  # doctest: +SKIP
    >>> col.source_stats["requests"], col.source_stats["complete"]   # doctest: +SKIP
    (12, True)
    """
    from dicomkit.io.dicomweb import DicomwebSource
    from dicomkit.io.sink import MemorySink
    from dicomkit.pipeline import run_scan

    columns = validate_keywords(keywords)
    source = DicomwebSource(
        url,
        columns,
        study=study,
        patient_id=patient_id,
        modality=modality,
        study_date=study_date,
        search=search,
        session=session,
        headers=headers,
        max_workers=max_workers,
        page_size=page_size,
        timeout=timeout,
        progress=progress,
    )
    # the same pipeline as a folder's: the server's listing is the walk
    result = run_scan(
        source,
        columns,
        sink=MemorySink(columns),
        on_duplicate=on_duplicate,
        progress=False,
    )
    assert source.stats is not None  # set by the walk
    instances, resends, errors = result.output
    return Collection(instances, resends, errors, source_stats=source.stats.as_dict())
