"""A DICOMweb server as a source: QIDO-RS to list, WADO-RS series metadata to index.

:func:`read_dicomweb` makes of a server what :func:`dicomkit.io.scan.read_files`
makes of a folder: ``(copies, errors)`` frames of instance rows and error rows
(through :func:`dicomkit.io.dicomjson.json_to_row` and
:func:`dicomkit.io.scan.rows_to_frames`), plus the statistics of the requests it
made. :func:`read_instance` retrieves one instance (pixels on demand).

Requests, for a query that matches S studies holding N series:

* QIDO-RS ``/studies?…`` (skipped when the studies are named): ⌈S / page⌉ pages;
* QIDO-RS ``/studies/{study}/series?…`` per study: ⌈n / page⌉ pages each;
* WADO-RS ``/studies/{study}/series/{series}/metadata``: one per series.

Never one request per instance. The study and series listings and the metadata
calls run concurrently (``max_workers`` at a time) behind a progress bar; every
request has a timeout. Paging follows ``limit``/``offset``; a page shorter than
``limit`` ends a listing unless the server flagged it with an HTTP ``Warning``
header (a server cap, PS3.18 8.3.4.5). A server that ignores ``offset`` (returns
rows already seen) is detected after one repeated page: the listing stops there,
the result is marked incomplete and a warning says so; it is never looped on.

Attributes come from the series metadata, never from QIDO's ``includefield``, so a
server that does not implement ``includefield=all`` (Orthanc's plugin up to its
current version) and one that does give the same rows.

Failures: an unreachable server, 401/403 on any request, a timeout of a listing,
or a failing top-level study listing raise
(:class:`~dicomkit.exceptions.DicomwebError` and its subclasses): nothing partial
is presented. A failing series listing or metadata call (404, 500, malformed
JSON, instances of another series; a metadata call that times out) becomes an
error row of that study or series (``path`` is the request's URL), the result is
marked incomplete (``stats["complete"]`` false) and a warning is issued. Every
answer is read within a total deadline (connect + 4 × read timeout), so a server
that trickles bytes cannot hold a scan either.

Credentials: pass a ``requests.Session`` (``session.auth``, cookies, client
certificates) or ``headers`` (``{"Authorization": "Bearer …"}``). They are kept in
memory only, for the pixel retrievals of the same process, never logged, never
put in a message, a frame or an index. A URL with a user name, password or query
string is refused, since ``path`` (the instance's WADO-RS URL) ends up in frames
and indexes.
"""

from __future__ import annotations

import io
import json
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import polars as pl

from dicomkit._warnings import warn
from dicomkit.exceptions import (
    DicomwebAuthError,
    DicomwebConnectionError,
    DicomwebError,
    DicomwebNotFoundError,
    DicomwebTimeoutError,
)
from dicomkit.io.dicomjson import element_value, json_to_row, kinds_of
from dicomkit.io.header import Row
from dicomkit.io.scan import rows_to_frames
from dicomkit.io.walk import FileEntry

if TYPE_CHECKING:
    import datetime as dt

    import requests
    from pydicom.dataset import Dataset

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_TIMEOUT",
    "DicomwebSource",
    "DicomwebStats",
    "clear_cache",
    "is_url",
    "normalize_url",
    "read_dicomweb",
    "read_instance",
]

#: ``(connect, read)`` seconds for every request.
DEFAULT_TIMEOUT: tuple[float, float] = (10.0, 120.0)
#: ``limit`` of each QIDO page.
DEFAULT_PAGE_SIZE = 1000
#: Pages read at most from one listing: a bound, whatever a server answers.
MAX_PAGES = 10_000
#: Bytes one answer may hold at most (a series' metadata, an instance).
MAX_ANSWER_BYTES = 4 << 30
#: Bytes of retrieved instances kept in memory for pixels on demand.
CACHE_BYTES = 512 << 20

_STUDY = "0020000D"
_SERIES = "0020000E"
_SOP = "00080018"
_N_SERIES_INSTANCES = "00201209"
_EXTRA = 'pip install "dicomkit[dicomweb]"'
_DICOM_JSON = "application/dicom+json"
_ACCEPT_DICOM = 'multipart/related; type="application/dicom"; transfer-syntax=*'
_ACCEPT_DICOM_DEFAULT = 'multipart/related; type="application/dicom"'


def _requests() -> Any:
    try:
        import requests
    except ImportError as exc:
        msg = f"reading a DICOMweb server needs the requests package: {_EXTRA}"
        raise DicomwebError(msg) from exc
    return requests


def is_url(path: object) -> bool:
    """Whether a ``path`` value is an ``http(s)://`` URL (a DICOMweb instance)."""
    return isinstance(path, str) and path.startswith(("http://", "https://"))


def normalize_url(url: str) -> str:
    """The DICOMweb root without a trailing slash; refuse credentials in it.

    Raises
    ------
    ValueError
        Not ``http(s)://host…``, or a user name, password, query or fragment in
        the URL (credentials go in ``session=`` or ``headers=``).
    """
    parts = urlsplit(str(url).strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        msg = (
            f"a DICOMweb URL starts with http:// or https:// and names a host, "
            f"e.g. http://127.0.0.1:8042/dicom-web; got {url!r}"
        )
        raise ValueError(msg)
    if parts.username is not None or parts.password is not None:
        msg = (
            "the DICOMweb URL holds a user name or password, which would be copied "
            "into every instance's path and index: pass session= (with .auth) or "
            "headers= instead"
        )
        raise ValueError(msg)
    if parts.query or parts.fragment:
        msg = (
            "the DICOMweb URL has a query string or fragment (a token?), which "
            "would be copied into every instance's path: pass headers= instead"
        )
        raise ValueError(msg)
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def _shown(url: str) -> str:
    """A URL as a message shows it (never with a query string)."""
    return url.split("?", 1)[0]


@dataclass
class DicomwebStats:
    """What one :func:`read_dicomweb` did: requests, counts, completeness."""

    source: str
    requests: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    studies: int = 0
    series: int = 0
    instances: int = 0
    errors: int = 0
    complete: bool = True
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    rows_from: str = "WADO-RS series metadata"

    def as_dict(self) -> dict[str, Any]:
        """A plain dict (what ``Collection.source_stats`` holds)."""
        return {
            "source": self.source,
            "requests": self.requests,
            "requests_by_kind": dict(self.by_kind),
            "studies": self.studies,
            "series": self.series,
            "instances": self.instances,
            "errors": self.errors,
            "requests_per_series": (
                round(self.requests / self.series, 3) if self.series else None
            ),
            "complete": self.complete,
            "problems": list(self.problems),
            "rows_from": self.rows_from,
            "seconds": round(self.seconds, 3),
        }


class _Client:
    """GETs with a timeout, errors mapped to DicomwebError, requests counted."""

    def __init__(
        self,
        base: str,
        session: requests.Session | None,
        headers: Mapping[str, str] | None,
        timeout: float | tuple[float, float],
        stats: DicomwebStats | None = None,
    ) -> None:
        requests = _requests()
        self.base = base
        self.session = session if session is not None else requests.Session()
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.stats = stats
        self._lock = threading.Lock()

    def get(
        self, url: str, params: Mapping[str, Any], accept: str, kind: str
    ) -> _Answer:
        """GET ``url``; the whole answer, read within :func:`_deadline` seconds."""
        requests = _requests()
        with self._lock:
            if self.stats is not None:
                self.stats.requests += 1
                self.stats.by_kind[kind] = self.stats.by_kind.get(kind, 0) + 1
        deadline = time.monotonic() + _deadline(self.timeout)
        try:
            reply = self.session.get(
                url,
                params=dict(params),
                headers={**self.headers, "Accept": accept},
                timeout=self.timeout,
                stream=True,
            )
            try:
                _check_status(reply, url)
                content = _read_body(reply, url, deadline)
            finally:
                reply.close()
        except requests.Timeout as exc:
            msg = (
                f"the DICOMweb server did not answer {_shown(url)} within the "
                f"timeout ({self.timeout} s); pass a larger timeout= or check the server"
            )
            raise DicomwebTimeoutError(msg) from exc
        except requests.ConnectionError as exc:
            msg = (
                f"cannot reach the DICOMweb server for {_shown(url)}: "
                f"{type(exc).__name__}; check the URL and that the server runs"
            )
            raise DicomwebConnectionError(msg) from exc
        except requests.RequestException as exc:
            msg = f"the request {_shown(url)} failed: {type(exc).__name__}"
            raise DicomwebError(msg) from exc
        return _Answer(int(reply.status_code), reply.headers, content)

    def get_json(self, url: str, params: Mapping[str, Any], kind: str) -> Any:
        reply = self.get(url, params, _DICOM_JSON, kind)
        if reply.status_code == 204 or not reply.content.strip():
            return [], reply.headers  # QIDO: no match
        try:
            return json.loads(reply.content), reply.headers
        except ValueError as exc:
            msg = (
                f"the DICOMweb server's answer to {_shown(url)} is not JSON "
                f"({reply.headers.get('Content-Type', 'no content type')}, "
                f"{len(reply.content)} bytes): {exc}"
            )
            raise DicomwebError(msg) from exc


@dataclass(frozen=True)
class _Answer:
    status_code: int
    headers: Mapping[str, str]
    content: bytes


def _deadline(timeout: float | tuple[float, float]) -> float:
    """Seconds one request may take in all: the timeouts bound each wait only."""
    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    return connect + 4 * read


def _read_body(reply: Any, url: str, deadline: float) -> bytes:
    """The body, in chunks: a server that trickles bytes cannot hold us past the
    deadline, nor one that sends without end past :data:`MAX_ANSWER_BYTES`."""
    chunks: list[bytes] = []
    size = 0
    for chunk in _chunks(reply):
        chunks.append(chunk)
        size += len(chunk)
        if time.monotonic() > deadline:
            msg = (
                f"the DICOMweb server did not finish answering {_shown(url)} within "
                "the timeout; pass a larger timeout= or check the server"
            )
            raise DicomwebTimeoutError(msg)
        if size > MAX_ANSWER_BYTES:
            msg = (
                f"the DICOMweb server's answer to {_shown(url)} exceeds "
                f"{MAX_ANSWER_BYTES:,} bytes; it is not read further"
            )
            raise DicomwebError(msg)
    return b"".join(chunks)


def _chunks(reply: Any) -> Iterator[bytes]:
    """The body as it arrives: urllib3 2's ``read1`` returns what one socket read
    gives (``iter_content`` waits for each whole chunk, past any deadline)."""
    read1 = getattr(reply.raw, "read1", None)
    if read1 is None:  # urllib3 1.x
        yield from reply.iter_content(1 << 16)
        return
    while True:
        chunk = read1(1 << 16, decode_content=True)
        if not chunk:
            return
        yield chunk


def _check_status(reply: Any, url: str) -> None:
    status = int(reply.status_code)
    if status < 400:
        return
    where = _shown(url)
    if status in (401, 403):
        msg = (
            f"the DICOMweb server refused {where} (HTTP {status}): pass credentials "
            "with session= (a requests.Session with .auth or cookies) or headers= "
            '(e.g. {"Authorization": "Bearer …"})'
        )
        raise DicomwebAuthError(msg)
    if status == 404:
        msg = f"the DICOMweb server has no {where} (HTTP 404)"
        raise DicomwebNotFoundError(msg)
    reason = f" {reply.reason}" if reply.reason else ""
    msg = f"the DICOMweb server failed on {where} (HTTP {status}{reason})"
    raise DicomwebError(msg)


# -- listings ------------------------------------------------------------------


def _uid(item: Any, key: str) -> str | None:
    if not isinstance(item, Mapping):
        return None
    value = element_value(item.get(key)) if key in item else None
    return value.strip("\0 ") if isinstance(value, str) and value.strip() else None


def _paged(
    client: _Client,
    url: str,
    params: Mapping[str, Any],
    key: str,
    kind: str,
    page_size: int,
) -> tuple[list[Mapping[str, Any]], list[str]]:
    """Every item of a QIDO listing; ``(items, problems)``.

    Problems make the listing incomplete: a server that ignores ``offset``, an
    item without its UID, more than :data:`MAX_PAGES` pages.
    """
    items: list[Mapping[str, Any]] = []
    seen: set[str] = set()
    problems: list[str] = []
    offset = 0
    for page in range(MAX_PAGES):
        data, headers = client.get_json(
            url, {**params, "limit": page_size, "offset": offset}, kind
        )
        if not isinstance(data, list):
            msg = (
                f"the DICOMweb server's answer to {_shown(url)} is not a JSON array "
                f"of data sets but a JSON {type(data).__name__}"
            )
            raise DicomwebError(msg)
        uids = [_uid(item, key) for item in data]
        if page > 0 and data and any(u in seen for u in uids if u is not None):
            problems.append(
                f"the server ignores offset: page {page + 1} of {_shown(url)} "
                f"(offset={offset}) repeats rows already listed; the listing stops "
                f"at {len(items)} rows and may be incomplete (ask the server's "
                "administrator, or narrow the query so one page holds it all)"
            )
            break
        for item, uid in zip(data, uids, strict=True):
            if uid is None:
                problems.append(
                    f"an item of {_shown(url)} has no UID ({key}); it is left out"
                )
            elif uid not in seen:
                seen.add(uid)
                items.append(item)
        capped = "Warning" in headers  # PS3.18: results cut at a server limit
        if not data or (len(data) != page_size and not capped):
            break  # the end, or a server that ignores limit and sent all
        offset += len(data)
    else:
        problems.append(
            f"{_shown(url)} has more than {MAX_PAGES} pages of {page_size}; the "
            "listing stops there and is incomplete"
        )
    return items, problems


def _query(
    patient_id: str | None,
    modality: str | None,
    study_date: Any,
    search: Mapping[str, str] | None,
) -> dict[str, str]:
    params: dict[str, str] = dict(search or {})
    if patient_id is not None:
        params["PatientID"] = patient_id
    if modality is not None:
        params["ModalitiesInStudy"] = modality
    if study_date is not None:
        params["StudyDate"] = _date_range(study_date)
    return params


def _date_range(value: Any) -> str:
    """``"20230101-20231231"`` from a string, a date or a ``(start, end)`` pair."""
    if isinstance(value, str):
        return value
    if isinstance(value, tuple) and len(value) == 2:
        start, end = (_da(v) for v in value)
        return f"{start}-{end}"
    return _da(value)


def _da(value: dt.date | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("-", "")
    return value.strftime("%Y%m%d")


# -- the scan -------------------------------------------------------------------


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
    client = _Client(base, session, headers, timeout, stats)
    _register(base, client.session, client.headers, timeout)
    kinds = kinds_of(keywords)
    rows: list[Row] = []
    problems = stats.problems

    named = [study] if isinstance(study, str) else list(study or [])
    if named:
        study_uids = list(dict.fromkeys(s.strip() for s in named))  # once each
    else:
        items, found = _paged(
            client,
            f"{base}/studies",
            _query(patient_id, modality, study_date, search),
            _STUDY,
            "qido_studies",
            page_size,
        )
        problems.extend(found)
        study_uids = [u for u in (_uid(i, _STUDY) for i in items) if u is not None]
    stats.studies = len(study_uids)
    series_params = {"Modality": modality} if modality is not None else {}
    if named and (patient_id or study_date or search):
        # named studies are not filtered by the server: filter their series
        series_params.update(_query(patient_id, None, study_date, search))

    from tqdm.auto import tqdm  # imported here: only scans need it

    bar = tqdm(
        total=len(study_uids),
        unit="series",
        desc="dicomkit dicomweb",
        delay=1.0 if progress is None else 0.0,
        disable=progress is False,
        leave=progress is True,
    )
    executor = ThreadPoolExecutor(max_workers, thread_name_prefix="dicomkit-dicomweb")
    # future → (task, study UID, series UID, the instances QIDO says it holds)
    pending: dict[Future[Any], tuple[str, str, str, int | None]] = {}
    job: Future[Any]
    try:
        for uid in study_uids:
            job = executor.submit(
                _list_series,
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
                            _read_series, client, base, study_uid, uid, kinds
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


def _error_row(url: str, reason: str, message: str) -> Row:
    return "error", {
        "path": _shown(url),
        "file_size": None,
        "mtime_ns": None,
        "reason": reason,
        "message": message,
    }


def _failure(exc: DicomwebError) -> str:
    if isinstance(exc, DicomwebNotFoundError):
        return "not_found"
    text = str(exc)
    if "not JSON" in text or "not a JSON" in text:
        return "malformed_json"
    return "server_error"


def _list_series(
    client: _Client,
    base: str,
    study_uid: str,
    params: Mapping[str, str],
    page_size: int,
    *,
    named: bool,
) -> tuple[list[tuple[str, int | None]], Row | None, list[str]]:
    """The series of one study: ``([(uid, instance count), …], error, problems)``."""
    url = f"{base}/studies/{quote(study_uid, safe='')}/series"
    try:
        items, problems = _paged(client, url, params, _SERIES, "qido_series", page_size)
    except (DicomwebAuthError, DicomwebConnectionError):
        raise
    except DicomwebError as exc:
        return [], _error_row(url, _failure(exc), f"cannot list the series: {exc}"), []
    if not items and named and not params:
        message = (
            f"the server has no study {study_uid!r} (its series listing is empty); "
            "check the StudyInstanceUID"
        )
        return [], _error_row(url, "not_found", message), []
    listed = []
    for item in items:
        uid = _uid(item, _SERIES)
        assert uid is not None  # _paged left out items without one
        count = element_value(item.get(_N_SERIES_INSTANCES))
        listed.append((uid, count if isinstance(count, int) else None))
    return listed, None, problems


def _read_series(
    client: _Client,
    base: str,
    study_uid: str,
    series_uid: str,
    kinds: Sequence[tuple[str, Any]],
) -> tuple[list[Row], list[str]]:
    """One WADO-RS series metadata call into rows (or one error row)."""
    study_part = quote(study_uid, safe="")
    series_part = quote(series_uid, safe="")
    series_url = f"{base}/studies/{study_part}/series/{series_part}"
    url = f"{series_url}/metadata"
    try:
        data, _ = client.get_json(url, {}, "wado_metadata")
    except DicomwebTimeoutError as exc:  # this series is slow: the others may not be
        return [
            _error_row(url, "timeout", f"cannot read the series metadata: {exc}")
        ], []
    except (DicomwebAuthError, DicomwebConnectionError):
        raise
    except DicomwebError as exc:
        return [
            _error_row(url, _failure(exc), f"cannot read the series metadata: {exc}")
        ], []
    if not isinstance(data, list):
        message = (
            "the series metadata is not a JSON array of data sets but a JSON "
            f"{type(data).__name__}"
        )
        return [_error_row(url, "malformed_json", message)], []
    wrong = [
        (_uid(item, _STUDY), _uid(item, _SERIES))
        for item in data
        if isinstance(item, Mapping)
        and (_uid(item, _SERIES), _uid(item, _STUDY)) != (series_uid, study_uid)
    ]
    if wrong:
        message = (
            f"the server answered the metadata of series {series_uid} with "
            f"{len(wrong)} of {len(data)} instance(s) of another series or study "
            f"(e.g. series {wrong[0][1]} of study {wrong[0][0]}); none of the "
            "answer is used"
        )
        return [_error_row(url, "wrong_series", message)], []
    rows: list[Row] = []
    for index, item in enumerate(data):
        sop = _uid(item, _SOP)
        path = (
            f"{series_url}/instances/{quote(sop, safe='')}"
            if sop is not None
            else f"{url}#{index}"
        )
        rows.append(
            json_to_row(
                item, {"path": path, "file_size": None, "mtime_ns": None}, kinds
            )
        )
    return rows, []


# -- instances on demand ------------------------------------------------------------

_SESSIONS: dict[str, tuple[Any, dict[str, str], Any]] = {}
_CACHE: OrderedDict[str, bytes] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def _register(
    base: str, session: Any, headers: Mapping[str, str], timeout: Any
) -> None:
    """Remember how to reach ``base`` for the pixel retrievals of this process."""
    _SESSIONS[base] = (session, dict(headers), timeout)


def _client_for(url: str) -> _Client:
    matches = [b for b in _SESSIONS if url.startswith(b + "/")]
    if matches:
        base = max(matches, key=len)
        session, headers, timeout = _SESSIONS[base]
        return _Client(base, session, headers, timeout)
    return _Client(url, None, None, DEFAULT_TIMEOUT)


def clear_cache() -> None:
    """Forget the retrieved instances kept for pixels on demand."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _cached(url: str, fetch: Callable[[], bytes]) -> bytes:
    with _CACHE_LOCK:
        data = _CACHE.get(url)
        if data is not None:
            _CACHE.move_to_end(url)
            return data
    data = fetch()
    with _CACHE_LOCK:
        _CACHE[url] = data
        total = sum(map(len, _CACHE.values()))
        while total > CACHE_BYTES and len(_CACHE) > 1:
            _, dropped = _CACHE.popitem(last=False)
            total -= len(dropped)
    return data


def read_instance(url: str, *, stop_before_pixels: bool = False) -> Dataset:
    """Retrieve one instance by its WADO-RS URL (a ``path`` of a DICOMweb scan).

    The transfer syntax is negotiated: the instance as stored
    (``transfer-syntax=*``), else the server's default. The bytes are kept in
    memory (up to :data:`CACHE_BYTES`, least recently used dropped first), so
    the explorer and ``col.volume`` fetch each instance once per process. The
    session or headers given to the scan of the same server are used.

    Raises
    ------
    DicomwebError
        (or a subclass) when the server cannot be reached, refuses, has no such
        instance, or answers with something that is not that DICOM instance.
    """
    from pydicom import dcmread

    client = _client_for(url)
    data = _cached(url, lambda: _retrieve(client, url))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = dcmread(
                io.BytesIO(data), stop_before_pixels=stop_before_pixels, force=True
            )
    except Exception as exc:
        msg = f"the instance retrieved from {_shown(url)} is not readable DICOM: {exc}"
        raise DicomwebError(msg) from exc
    expected = url.rstrip("/").rsplit("/", 1)[-1]
    if "/instances/" in url and str(ds.get("SOPInstanceUID", "")) != expected:
        msg = (
            f"the server answered {_shown(url)} with another instance "
            f"(SOPInstanceUID {ds.get('SOPInstanceUID', 'missing')!s})"
        )
        raise DicomwebError(msg)
    return ds


def _retrieve(client: _Client, url: str) -> bytes:
    try:
        parts = _parts(_get_dicom(client, url), url)
        if not parts:
            msg = f"the DICOMweb server answered {_shown(url)} with no instance"
            raise DicomwebNotFoundError(msg)
        return parts[0]
    except DicomwebNotFoundError:
        if "/instances/" not in url:
            raise
        return _from_series(client, url)


def _get_dicom(client: _Client, url: str) -> Any:
    try:
        return client.get(url, {}, _ACCEPT_DICOM, "wado_instance")
    except DicomwebError as exc:
        if "HTTP 406" not in str(exc) and "HTTP 400" not in str(exc):
            raise
        return client.get(url, {}, _ACCEPT_DICOM_DEFAULT, "wado_instance")


def _from_series(client: _Client, url: str) -> bytes:
    """The instance, out of its whole series.

    A server that holds one SOPInstanceUID twice (in two series: a uniqueness
    conflict) may find only one of them by UID: Orthanc answers 404 for the
    other's instance URL, but lists it in its series.
    """
    from pydicom import dcmread

    series_url, _, sop = url.partition("/instances/")
    for part in _parts(_get_dicom(client, series_url), series_url):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = dcmread(io.BytesIO(part), stop_before_pixels=True, force=True)
        except Exception:  # noqa: BLE001 - another part may be the one
            continue
        if str(ds.get("SOPInstanceUID", "")) == sop.rstrip("/"):
            return part
    msg = f"the DICOMweb server has no {_shown(url)} (HTTP 404), nor in its series"
    raise DicomwebNotFoundError(msg)


def _parts(reply: Any, url: str) -> list[bytes]:
    """The body parts of a ``multipart/related`` answer (or the whole body)."""
    content_type = str(reply.headers.get("Content-Type", ""))
    body: bytes = reply.content
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/dicom":
        return [body]
    if kind != "multipart/related":
        msg = (
            f"the server answered {_shown(url)} with {content_type or 'no content type'}, "
            "not multipart/related DICOM"
        )
        raise DicomwebError(msg)
    boundary = ""
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "boundary":
            boundary = value.strip().strip('"')
    if not boundary:
        msg = f"the multipart answer to {_shown(url)} names no boundary"
        raise DicomwebError(msg)
    marker = b"--" + boundary.encode("latin-1")
    parts: list[bytes] = []
    start = body.find(marker)
    while start >= 0:
        after = start + len(marker)
        if body[after : after + 2] == b"--":  # the closing delimiter: all read
            return parts
        head_end = body.find(b"\r\n\r\n", after)
        end = body.find(b"\r\n" + marker, head_end) if head_end >= 0 else -1
        if end < 0:
            break
        parts.append(body[head_end + 4 : end])
        start = end + 2
    msg = f"the multipart answer to {_shown(url)} is cut short or malformed"
    raise DicomwebError(msg)


class DicomwebSource:
    """A DICOMweb server as a :class:`~dicomkit.io.source.Source` of the scan pipeline.

    ``walk()`` runs the listing of :func:`read_dicomweb` (QIDO-RS, then one WADO-RS
    metadata call per series: the metadata *is* the listing, so this is where the
    requests are made) and lists one entry per instance, its WADO-RS URL as the
    path; the series that could not be read are its errors. ``read`` hands back
    the rows the metadata gave; ``content_hash`` is None (a server keeps one copy
    per SOPInstanceUID and series, so a repeat is a conflict, told by its UIDs).
    After ``walk``, :attr:`stats` holds the request counts.

    >>> from dicomkit.pipeline import run_scan             # doctest: +SKIP
    >>> source = DicomwebSource(url, keywords, study=uid)   # doctest: +SKIP
    >>> run_scan(source, keywords, sink=MemorySink(keywords)).output  # doctest: +SKIP
    """

    def __init__(self, url: str, keywords: Sequence[str], **query: Any) -> None:
        self.url = url
        self.keywords = tuple(keywords)
        self.query = query
        self.stats: DicomwebStats | None = None
        self._rows: dict[str, pl.DataFrame] = {}

    def walk(self) -> Iterator[tuple[list[FileEntry], pl.DataFrame]]:
        """One chunk: every instance the query finds, and the series' error rows."""
        copies, errors, self.stats = read_dicomweb(
            self.url, self.keywords, **self.query
        )
        self._rows = {
            str(key[0]): part
            for key, part in copies.partition_by("path", as_dict=True).items()
        }
        yield [FileEntry(path, 0, 0) for path in self._rows], errors

    def read(
        self,
        entries: Sequence[FileEntry],
        keywords: Sequence[str],
        on_batch: Callable[[pl.DataFrame, pl.DataFrame], None],
    ) -> None:
        """The rows the series metadata gave for ``entries``, as one batch."""
        copies, errors = rows_to_frames([], keywords)
        parts = [self._rows[e.path] for e in entries if e.path in self._rows]
        on_batch(
            pl.concat([copies, *parts], how="vertical") if parts else copies, errors
        )

    def content_hash(self, path: str) -> str | None:
        """None: a server's copies are told apart by their UIDs."""
        return None
