"""A throw-away Orthanc with the DICOMweb plugin, on 127.0.0.1, for tests and benchmarks.

:class:`OrthancServer` starts Debian's ``/usr/sbin/Orthanc`` (package ``orthanc``)
with the plugin of ``orthanc-dicomweb`` on free ports, with its storage and a JSON
configuration in a temporary folder, and stops it (and removes the folder) on exit.

What the configuration guarantees:

* the DICOM (DIMSE) server is disabled (``DicomServerEnabled: false``): no DICOM
  port is opened at all;
* the HTTP server listens on a port picked free at start; Orthanc 1.10 has no
  option to bind one address, so ``RemoteAccessAllowed: false`` makes it refuse
  every connection that does not come from the loopback interface, and every
  client here talks to ``127.0.0.1`` only;
* no authentication, no Lua, no jobs saved, storage uncompressed; the DICOMweb
  root is ``/dicom-web/`` and the WADO-RS URLs it hands out name ``127.0.0.1``.

:func:`find_orthanc` says where Orthanc and the plugin are, or why they are not.
The pytest fixture ``orthanc`` (in :mod:`tests.test_dicomweb_orthanc`) skips when
they are absent, unless ``DICOMKIT_REQUIRE_ORTHANC`` is set (CI sets it: there a
missing Orthanc fails).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

__all__ = [
    "OrthancServer",
    "OrthancUnavailable",
    "find_orthanc",
    "require_orthanc",
    "upload_files",
]

_BINARIES = ("/usr/sbin/Orthanc", "/usr/bin/Orthanc")
_PLUGINS = (
    "/usr/share/orthanc/plugins/libOrthancDicomWeb.so",
    "/usr/lib/orthanc/libOrthancDicomWeb.so.1.7",
)
_START_TIMEOUT = 60.0


class OrthancUnavailable(RuntimeError):
    """Orthanc or its DICOMweb plugin is not installed."""


def find_orthanc() -> tuple[str, str]:
    """Return ``(Orthanc binary, DICOMweb plugin)`` or raise :class:`OrthancUnavailable`."""
    binary = shutil.which("Orthanc") or next(
        (b for b in _BINARIES if os.access(b, os.X_OK)), None
    )
    plugin = next((p for p in _PLUGINS if os.path.isfile(p)), None)
    if binary is None or plugin is None:
        missing = [
            name
            for name, found in (("orthanc", binary), ("orthanc-dicomweb", plugin))
            if found is None
        ]
        msg = (
            f"Debian package(s) {', '.join(missing)} not installed "
            "(apt-get install orthanc orthanc-dicomweb; .ci/run does it)"
        )
        raise OrthancUnavailable(msg)
    return binary, plugin


def require_orthanc() -> None:
    """In a test: skip when Orthanc is missing, or fail when CI requires it.

    ``DICOMKIT_REQUIRE_ORTHANC`` set (to anything but empty) turns the skip into
    a failure: ``.ci/run`` installs Orthanc and sets it.
    """
    import pytest

    try:
        find_orthanc()
    except OrthancUnavailable as exc:
        if os.environ.get("DICOMKIT_REQUIRE_ORTHANC"):
            pytest.fail(f"DICOMKIT_REQUIRE_ORTHANC is set but {exc}")
        pytest.skip(f"Orthanc is not installed: {exc}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class OrthancServer:
    """A running Orthanc, as a context manager.

    Attributes
    ----------
    url
        The REST root, ``http://127.0.0.1:<port>``.
    dicomweb
        The DICOMweb root, ``http://127.0.0.1:<port>/dicom-web``.

    Examples
    --------
    >>> with OrthancServer() as server:          # doctest: +SKIP
    ...     upload_files(server.url, paths)
    ...     col = dk.scan_dicomweb(server.dicomweb)
    """

    def __init__(self, *, extra_config: dict[str, object] | None = None) -> None:
        self.binary, self.plugin = find_orthanc()
        self.extra_config = dict(extra_config or {})
        self.port = 0
        self.url = ""
        self.dicomweb = ""
        self._folder: str | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def config(self, folder: str, port: int) -> dict[str, object]:
        """The configuration written to ``folder/orthanc.json``."""
        storage = os.path.join(folder, "storage")
        return {
            "Name": "dicomkit-test",
            "StorageDirectory": storage,
            "IndexDirectory": storage,
            "StorageCompression": False,
            "Plugins": [self.plugin],
            "HttpServerEnabled": True,
            "HttpPort": port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomServerEnabled": False,
            "ExecuteLuaEnabled": False,
            "SaveJobs": False,
            "OverwriteInstances": False,
            "OrthancExplorerEnabled": False,
            "HttpThreadsCount": 8,
            "DicomWeb": {
                "Enable": True,
                "Root": "/dicom-web/",
                "EnableWado": False,
                "Host": f"127.0.0.1:{port}",
                "Ssl": False,
            },
            **self.extra_config,
        }

    def __enter__(self) -> OrthancServer:
        self._folder = tempfile.mkdtemp(prefix="dicomkit-orthanc-")
        log = os.path.join(self._folder, "orthanc.log")
        for _attempt in range(3):  # a port taken between the pick and the bind
            self.port = _free_port()
            path = os.path.join(self._folder, "orthanc.json")
            Path(path).write_text(json.dumps(self.config(self._folder, self.port)))
            with open(log, "ab") as out:
                self._process = subprocess.Popen(
                    [self.binary, path],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=self._folder,
                )
            self.url = f"http://127.0.0.1:{self.port}"
            self.dicomweb = f"{self.url}/dicom-web"
            if self._wait_ready():
                return self
            self._stop_process()
        tail = Path(log).read_text(errors="replace")[-2000:]
        self.__exit__(None, None, None)
        msg = f"Orthanc did not start within {_START_TIMEOUT:.0f} s; its log:\n{tail}"
        raise RuntimeError(msg)

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + _START_TIMEOUT
        assert self._process is not None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/system", timeout=2) as reply:
                    if reply.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        return False

    def _stop_process(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop_process()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def clear(self) -> None:
        """Delete every patient (and so everything) the server holds."""
        for patient in _get_json(f"{self.url}/patients"):
            request = urllib.request.Request(
                f"{self.url}/patients/{patient}", method="DELETE"
            )
            with urllib.request.urlopen(request, timeout=30):
                pass


def _get_json(url: str) -> list[str]:
    with urllib.request.urlopen(url, timeout=30) as reply:
        data: list[str] = json.loads(reply.read())
        return data


def upload_files(url: str, paths: Iterable[str | os.PathLike[str]]) -> dict[str, int]:
    """POST every file to Orthanc's REST ``/instances``; count what it said.

    Returns ``{"Success": n, "AlreadyStored": n, "rejected": n}``: Orthanc
    answers 400 for a file it cannot parse as DICOM (junk, a truncated file).
    """
    counts = {"Success": 0, "AlreadyStored": 0, "rejected": 0}
    for path in paths:
        data = Path(path).read_bytes()
        request = urllib.request.Request(
            f"{url}/instances",
            data=data,
            method="POST",
            headers={"Content-Type": "application/dicom"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as reply:
                status = json.loads(reply.read()).get("Status", "Success")
        except urllib.error.HTTPError as exc:
            with contextlib.closing(exc):
                counts["rejected"] += 1
            continue
        counts[status] = counts.get(status, 0) + 1
    return counts
