"""Index a DICOMweb server: its listings run concurrently into ``(copies, errors, stats)``.

:func:`read_dicomweb` makes of a server what :func:`dicomkit.io.scan.read_files`
makes of a folder. The study and series listings and the metadata calls (see
:mod:`dicomkit.io.dicomweb.listing`) run ``max_workers`` at a time behind a
progress bar; the result is marked incomplete, with a warning, when a series
failed or a listing may have missed rows.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

import polars as pl

from dicomkit._warnings import warn
from dicomkit.io.dicomjson import kinds_of
from dicomkit.io.dicomweb.client import (
    DEFAULT_TIMEOUT,
    Client,
    DicomwebStats,
    normalize_url,
)
from dicomkit.io.dicomweb.listing import (
    DEFAULT_PAGE_SIZE,
    STUDY,
    list_series,
    paged,
    query_params,
    read_series,
    uid_of,
)
from dicomkit.io.dicomweb.retrieve import register
from dicomkit.io.header import Row
from dicomkit.io.progress import progress_bar
from dicomkit.io.scan import rows_to_frames

if TYPE_CHECKING:
    import requests

__all__ = ["read_dicomweb"]


def read_dicomweb(
    url: str,
    keywords: Sequence[str],
    *,
    study: str | Iterable[str] | None = None,
    patient_id: str | None = None,
    modality: str | None = None,
    study_date: Any = None,
    search: Mapping[str, str] | None = None,
    session: requests.Session | None = None,
    headers: Mapping[str, str] | None = None,
    max_workers: int = 4,
    page_size: int = DEFAULT_PAGE_SIZE,
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    progress: bool | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame, DicomwebStats]:
    """List and index a DICOMweb server's studies; ``(copies, errors, stats)``.

    ``copies`` holds one instance row per instance the server holds (the resend
    rule is applied by the caller, as for a folder); ``errors`` one row per
    study or series that could not be read. See the module docstring for the
    requests made and what fails how.
    """
    if max_workers < 1:
        msg = f"max_workers must be at least 1, not {max_workers}"
        raise ValueError(msg)
    if page_size < 1:
        msg = f"page_size must be at least 1, not {page_size}"
        raise ValueError(msg)
    base = normalize_url(url)
    started = time.perf_counter()
    stats = DicomwebStats(source=base)
    client = Client(base, session, headers, timeout, stats)
    register(base, client.session, client.headers, timeout)
    kinds = kinds_of(keywords)
    rows: list[Row] = []
    problems = stats.problems

    named = [study] if isinstance(study, str) else list(study or [])
    if named:
        study_uids = list(dict.fromkeys(s.strip() for s in named))  # once each
    else:
        items, found = paged(
            client,
            f"{base}/studies",
            query_params(patient_id, modality, study_date, search),
            STUDY,
            "qido_studies",
            page_size,
        )
        problems.extend(found)
        study_uids = [u for u in (uid_of(i, STUDY) for i in items) if u is not None]
    stats.studies = len(study_uids)
    series_params = {"Modality": modality} if modality is not None else {}
    if named and (patient_id or study_date or search):
        # named studies are not filtered by the server: filter their series
        series_params.update(query_params(patient_id, None, study_date, search))

    bar = progress_bar(
        progress=progress,
        total=len(study_uids),
        unit="series",
        desc="dicomkit dicomweb",
    )
    executor = ThreadPoolExecutor(max_workers, thread_name_prefix="dicomkit-dicomweb")
    # future → (task, study UID, series UID, the instances QIDO says it holds)
    pending: dict[Future[Any], tuple[str, str, str, int | None]] = {}
    job: Future[Any]
    try:
        for uid in study_uids:
            job = executor.submit(
                list_series,
                client,
                base,
                uid,
                series_params,
                page_size,
                named=bool(named),
            )
            pending[job] = ("series", uid, "", None)
        while pending:
            ready, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in ready:
                task, study_uid, series_uid, expected = pending.pop(future)
                if task == "series":
                    listed, error, found = future.result()
                    problems.extend(found)
                    if error is not None:
                        rows.append(error)
                    stats.series += len(listed)
                    if listed:  # the study's step becomes its series' steps
                        bar.total += len(listed) - 1
                    else:
                        bar.update(1)
                    for uid, count in listed:
                        job = executor.submit(
                            read_series, client, base, study_uid, uid, kinds
                        )
                        pending[job] = ("metadata", study_uid, uid, count)
                    continue
                series_rows, found = future.result()
                rows.extend(series_rows)
                failed = any(kind == "error" for kind, _ in series_rows)
                got = sum(1 for kind, _ in series_rows if kind == "instance")
                if expected is not None and got < expected and not failed:
                    found = [
                        f"series {series_uid}: the metadata lists {got} instances, "
                        f"QIDO said {expected}; the series may be incomplete"
                    ]
                problems.extend(found)
                bar.update(1)
    except BaseException:
        for future in pending:
            future.cancel()
        executor.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        bar.close()
    executor.shutdown(wait=True)

    copies, errors = rows_to_frames(rows, keywords)
    stats.instances = copies.height
    stats.errors = errors.height
    stats.complete = not problems and errors.is_empty()
    stats.seconds = time.perf_counter() - started
    if not stats.complete:
        detail = "; ".join(problems[:3]) or "; ".join(
            f"{r}: {m}" for r, m in errors.select("reason", "message").head(3).rows()
        )
        warn(
            f"dicomkit: the DICOMweb result from {base} is incomplete "
            f"({errors.height} study/series error(s), {len(problems)} problem(s); "
            f"see col.errors and col.source_stats): {detail}",
            RuntimeWarning,
        )
    return copies, errors.sort("path"), stats
