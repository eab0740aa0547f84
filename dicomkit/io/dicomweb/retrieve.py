"""One instance on demand by its WADO-RS URL, with the sessions and a memory cache.

:func:`read_dicomweb` registers how it reached a server (session, headers,
timeout); :func:`read_instance` reuses them for the pixel retrievals of the same
process and keeps the retrieved bytes (up to :data:`CACHE_BYTES`, least
recently used dropped first).
"""

from __future__ import annotations

import io
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from dicomkit.exceptions import DicomwebError, DicomwebNotFoundError
from dicomkit.io.dicomweb.client import DEFAULT_TIMEOUT, Client, shown
from dicomkit.io.dicomweb.multipart import split_parts

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["CACHE_BYTES", "clear_cache", "read_instance", "register"]

#: Bytes of retrieved instances kept in memory for pixels on demand.
CACHE_BYTES = 512 << 20

_ACCEPT_DICOM = 'multipart/related; type="application/dicom"; transfer-syntax=*'
_ACCEPT_DICOM_DEFAULT = 'multipart/related; type="application/dicom"'

_SESSIONS: dict[str, tuple[Any, dict[str, str], Any]] = {}
_CACHE: OrderedDict[str, bytes] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def register(base: str, session: Any, headers: Mapping[str, str], timeout: Any) -> None:
    """Remember how to reach ``base`` for the pixel retrievals of this process."""
    _SESSIONS[base] = (session, dict(headers), timeout)


def _client_for(url: str) -> Client:
    matches = [b for b in _SESSIONS if url.startswith(b + "/")]
    if matches:
        base = max(matches, key=len)
        session, headers, timeout = _SESSIONS[base]
        return Client(base, session, headers, timeout)
    return Client(url, None, None, DEFAULT_TIMEOUT)


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
        msg = f"the instance retrieved from {shown(url)} is not readable DICOM: {exc}"
        raise DicomwebError(msg) from exc
    expected = url.rstrip("/").rsplit("/", 1)[-1]
    if "/instances/" in url and str(ds.get("SOPInstanceUID", "")) != expected:
        msg = (
            f"the server answered {shown(url)} with another instance "
            f"(SOPInstanceUID {ds.get('SOPInstanceUID', 'missing')!s})"
        )
        raise DicomwebError(msg)
    return ds


def _retrieve(client: Client, url: str) -> bytes:
    try:
        parts = split_parts(_get_dicom(client, url), url)
        if not parts:
            msg = f"the DICOMweb server answered {shown(url)} with no instance"
            raise DicomwebNotFoundError(msg)
        return parts[0]
    except DicomwebNotFoundError:
        if "/instances/" not in url:
            raise
        return _from_series(client, url)


def _get_dicom(client: Client, url: str) -> Any:
    try:
        return client.get(url, {}, _ACCEPT_DICOM, "wado_instance")
    except DicomwebError as exc:
        if "HTTP 406" not in str(exc) and "HTTP 400" not in str(exc):
            raise
        return client.get(url, {}, _ACCEPT_DICOM_DEFAULT, "wado_instance")


def _from_series(client: Client, url: str) -> bytes:
    """The instance, out of its whole series.

    A server that holds one SOPInstanceUID twice (in two series: a uniqueness
    conflict) may find only one of them by UID: Orthanc answers 404 for the
    other's instance URL, but lists it in its series.
    """
    from pydicom import dcmread

    series_url, _, sop = url.partition("/instances/")
    for part in split_parts(_get_dicom(client, series_url), series_url):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = dcmread(io.BytesIO(part), stop_before_pixels=True, force=True)
        except Exception:  # noqa: BLE001 - another part may be the one
            continue
        if str(ds.get("SOPInstanceUID", "")) == sop.rstrip("/"):
            return part
    msg = f"the DICOMweb server has no {shown(url)} (HTTP 404), nor in its series"
    raise DicomwebNotFoundError(msg)
