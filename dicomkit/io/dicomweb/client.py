"""One bounded GET to a DICOMweb server, the URL rules and the request counts.

Every request has a timeout and a total deadline (connect + 4 × read timeout), so
a server that trickles bytes cannot hold a scan; an answer is read up to
:data:`MAX_ANSWER_BYTES`. HTTP and transport failures become
:class:`~dicomkit.exceptions.DicomwebError` (or a subclass) whose message names
the URL without its query string. A URL with credentials is refused
(:func:`normalize_url`): ``path`` values end up in frames and indexes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from dicomkit.exceptions import (
    DicomwebAuthError,
    DicomwebConnectionError,
    DicomwebError,
    DicomwebNotFoundError,
    DicomwebTimeoutError,
)

if TYPE_CHECKING:
    import requests

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_ANSWER_BYTES",
    "Answer",
    "Client",
    "DicomwebStats",
    "is_url",
    "normalize_url",
    "requests_module",
    "shown",
]

#: ``(connect, read)`` seconds for every request.
DEFAULT_TIMEOUT: tuple[float, float] = (10.0, 120.0)
#: Bytes one answer may hold at most (a series' metadata, an instance).
MAX_ANSWER_BYTES = 4 << 30

_EXTRA = 'pip install "dicomkit[dicomweb]"'
_DICOM_JSON = "application/dicom+json"


def requests_module() -> Any:
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


def shown(url: str) -> str:
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


class Client:
    """GETs with a timeout, errors mapped to DicomwebError, requests counted."""

    def __init__(
        self,
        base: str,
        session: requests.Session | None,
        headers: Mapping[str, str] | None,
        timeout: float | tuple[float, float],
        stats: DicomwebStats | None = None,
    ) -> None:
        requests = requests_module()
        self.base = base
        self.session = session if session is not None else requests.Session()
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.stats = stats
        self._lock = threading.Lock()

    def get(
        self, url: str, params: Mapping[str, Any], accept: str, kind: str
    ) -> Answer:
        """GET ``url``; the whole answer, read within :func:`_deadline` seconds."""
        requests = requests_module()
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
                f"the DICOMweb server did not answer {shown(url)} within the "
                f"timeout ({self.timeout} s); pass a larger timeout= or check the server"
            )
            raise DicomwebTimeoutError(msg) from exc
        except requests.ConnectionError as exc:
            msg = (
                f"cannot reach the DICOMweb server for {shown(url)}: "
                f"{type(exc).__name__}; check the URL and that the server runs"
            )
            raise DicomwebConnectionError(msg) from exc
        except requests.RequestException as exc:
            msg = f"the request {shown(url)} failed: {type(exc).__name__}"
            raise DicomwebError(msg) from exc
        return Answer(int(reply.status_code), reply.headers, content)

    def get_json(self, url: str, params: Mapping[str, Any], kind: str) -> Any:
        reply = self.get(url, params, _DICOM_JSON, kind)
        if reply.status_code == 204 or not reply.content.strip():
            return [], reply.headers  # QIDO: no match
        try:
            return json.loads(reply.content), reply.headers
        except ValueError as exc:
            msg = (
                f"the DICOMweb server's answer to {shown(url)} is not JSON "
                f"({reply.headers.get('Content-Type', 'no content type')}, "
                f"{len(reply.content)} bytes): {exc}"
            )
            raise DicomwebError(msg) from exc


@dataclass(frozen=True)
class Answer:
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
                f"the DICOMweb server did not finish answering {shown(url)} within "
                "the timeout; pass a larger timeout= or check the server"
            )
            raise DicomwebTimeoutError(msg)
        if size > MAX_ANSWER_BYTES:
            msg = (
                f"the DICOMweb server's answer to {shown(url)} exceeds "
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
    where = shown(url)
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
