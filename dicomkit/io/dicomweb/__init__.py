"""A DICOMweb server as a source: QIDO-RS to list, WADO-RS series metadata to index.

One job a module:

* :mod:`~dicomkit.io.dicomweb.client`: one bounded GET (timeouts, a total
  deadline, a size cap, HTTP errors as :class:`~dicomkit.exceptions.DicomwebError`),
  the URL rules and the request counts (:class:`DicomwebStats`);
* :mod:`~dicomkit.io.dicomweb.listing`: QIDO-RS query building and paging, and a
  series' WADO-RS metadata into rows (through :mod:`dicomkit.io.dicomjson`);
* :mod:`~dicomkit.io.dicomweb.read`: :func:`read_dicomweb`, the listing run
  concurrently behind a progress bar;
* :mod:`~dicomkit.io.dicomweb.source`: :class:`DicomwebSource`, the scan
  pipeline's source;
* :mod:`~dicomkit.io.dicomweb.retrieve`: one instance on demand
  (:func:`read_instance`), the sessions and the in-memory cache;
* :mod:`~dicomkit.io.dicomweb.multipart`: a ``multipart/related`` body into parts.

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

from dicomkit.io.dicomweb.client import (
    DEFAULT_TIMEOUT,
    DicomwebStats,
    is_url,
    normalize_url,
)
from dicomkit.io.dicomweb.listing import DEFAULT_PAGE_SIZE
from dicomkit.io.dicomweb.read import read_dicomweb
from dicomkit.io.dicomweb.retrieve import clear_cache, read_instance
from dicomkit.io.dicomweb.source import DicomwebSource

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
