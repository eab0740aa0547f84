"""What a scan asks a DICOMweb server: QIDO-RS listings, then series metadata as rows.

:func:`paged` reads every page of a QIDO-RS listing (``limit``/``offset``; a page
shorter than ``limit`` ends it unless the server flagged a cap with an HTTP
``Warning`` header; a server that ignores ``offset`` is detected after one
repeated page). :func:`list_series` lists one study's series, :func:`read_series`
turns one WADO-RS series metadata answer into instance rows (through
:func:`dicomkit.io.dicomjson.json_to_row`). A failing series listing or
metadata call becomes an error row (``path`` is the request's URL); an
unreachable server or refused credentials raise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from dicomkit.exceptions import (
    DicomwebAuthError,
    DicomwebConnectionError,
    DicomwebError,
    DicomwebNotFoundError,
    DicomwebTimeoutError,
)
from dicomkit.io.dicomjson import element_value, json_to_row
from dicomkit.io.dicomweb.client import Client, shown
from dicomkit.io.header import Row

if TYPE_CHECKING:
    import datetime as dt

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGES",
    "SERIES",
    "STUDY",
    "list_series",
    "paged",
    "query_params",
    "read_series",
    "uid_of",
]

#: ``limit`` of each QIDO page.
DEFAULT_PAGE_SIZE = 1000
#: Pages read at most from one listing: a bound, whatever a server answers.
MAX_PAGES = 10_000

STUDY = "0020000D"
SERIES = "0020000E"
SOP = "00080018"
_N_SERIES_INSTANCES = "00201209"


def uid_of(item: Any, key: str) -> str | None:
    if not isinstance(item, Mapping):
        return None
    value = element_value(item.get(key)) if key in item else None
    return value.strip("\0 ") if isinstance(value, str) and value.strip() else None


def paged(
    client: Client,
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
                f"the DICOMweb server's answer to {shown(url)} is not a JSON array "
                f"of data sets but a JSON {type(data).__name__}"
            )
            raise DicomwebError(msg)
        uids = [uid_of(item, key) for item in data]
        if page > 0 and data and any(u in seen for u in uids if u is not None):
            problems.append(
                f"the server ignores offset: page {page + 1} of {shown(url)} "
                f"(offset={offset}) repeats rows already listed; the listing stops "
                f"at {len(items)} rows and may be incomplete (ask the server's "
                "administrator, or narrow the query so one page holds it all)"
            )
            break
        for item, uid in zip(data, uids, strict=True):
            if uid is None:
                problems.append(
                    f"an item of {shown(url)} has no UID ({key}); it is left out"
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
            f"{shown(url)} has more than {MAX_PAGES} pages of {page_size}; the "
            "listing stops there and is incomplete"
        )
    return items, problems


def query_params(
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


def _error_row(url: str, reason: str, message: str) -> Row:
    return "error", {
        "path": shown(url),
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


def list_series(
    client: Client,
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
        items, problems = paged(client, url, params, SERIES, "qido_series", page_size)
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
        uid = uid_of(item, SERIES)
        assert uid is not None  # paged left out items without one
        count = element_value(item.get(_N_SERIES_INSTANCES))
        listed.append((uid, count if isinstance(count, int) else None))
    return listed, None, problems


def read_series(
    client: Client,
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
        (uid_of(item, STUDY), uid_of(item, SERIES))
        for item in data
        if isinstance(item, Mapping)
        and (uid_of(item, SERIES), uid_of(item, STUDY)) != (series_uid, study_uid)
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
        sop = uid_of(item, SOP)
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
