"""Fixtures for the real-browser tests: JupyterLab on 127.0.0.1 and headless chromium.

Offline by construction: the browser is Debian's ``/usr/bin/chromium`` driven by
Playwright through ``executable_path`` (never ``playwright install``), the server
listens on 127.0.0.1 only, and every page blocks requests that are not loopback.

Missing chromium, playwright or jupyterlab skips the tests, unless
``DICOMKIT_REQUIRE_BROWSER=1`` is set (CI), in which case they fail.
``bash scripts/install_browser.sh`` installs all three.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Route

HERE = Path(__file__).resolve().parent
# The notebook the browser opens: the teaching notebook 04_explore, which calls
# col.explore() on data/sample. DICOMKIT_BROWSER_NOTEBOOK points the harness at
# another one (e.g. a stand-in while developing), served from its own folder.
NOTEBOOK = Path(
    os.environ.get(
        "DICOMKIT_BROWSER_NOTEBOOK",
        HERE.parent.parent / "notebooks" / "04_explore.ipynb",
    )
)
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
SERVER_START_TIMEOUT = 60.0
INSTALL_HINT = "run `bash scripts/install_browser.sh`"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: drives a real browser (chromium + JupyterLab)"
    )


def unavailable(reason: str) -> NoReturn:
    """Skip, or fail when DICOMKIT_REQUIRE_BROWSER=1 (so CI cannot skip silently)."""
    if os.environ.get("DICOMKIT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (DICOMKIT_REQUIRE_BROWSER=1; {INSTALL_HINT})")
    pytest.skip(f"{reason} ({INSTALL_HINT})")


@pytest.fixture(scope="session")
def browser_requirements() -> None:
    """Every missing piece at once, before anything is started."""
    missing = []
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"no chromium at {CHROMIUM}")
    if importlib.util.find_spec("playwright") is None:
        missing.append(f"playwright is not installed in {sys.executable}")
    if importlib.util.find_spec("jupyterlab") is None:
        missing.append(f"jupyterlab is not installed in {sys.executable}")
    if missing:
        unavailable("; ".join(missing))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # loopback only
        body: bytes = response.read()
        return body


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))


class LabServer:
    """A running JupyterLab: its base URL, log file and REST helpers."""

    def __init__(self, url: str, log: Path, notebook: str) -> None:
        self.url = url
        self.log = log
        self.notebook = notebook

    def log_tail(self, n: int = 40) -> str:
        lines = self.log.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])

    def kernels(self) -> list[dict[str, object]]:
        result: list[dict[str, object]] = json.loads(_get(self.url + "api/kernels"))
        return result


@pytest.fixture(scope="session")
def lab_server(
    browser_requirements: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LabServer]:
    """JupyterLab on 127.0.0.1:<free port>, no token, isolated Jupyter/IPython dirs.

    The server runs on ``sys.executable``, so its native ``python3`` kernel runs the
    same interpreter, with this dicomkit installed.
    """
    if not NOTEBOOK.is_file():
        pytest.fail(f"notebook under test not found: {NOTEBOOK}")
    tmp = tmp_path_factory.mktemp("jupyter")
    cfg, data = tmp / "config", tmp / "data"
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(cfg),
        JUPYTER_DATA_DIR=str(data),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        JUPYTER_PLATFORM_DIRS="1",
        IPYTHONDIR=str(tmp / "ipython"),
        MPLCONFIGDIR=str(tmp / "matplotlib"),
        PYDEVD_DISABLE_FILE_VALIDATION="1",
    )
    env.pop("JUPYTER_PATH", None)
    # No news/update toasts over the page, and never save the notebook under test.
    settings = cfg / "lab" / "user-settings" / "@jupyterlab"
    _write_json(
        settings / "apputils-extension" / "notification.jupyterlab-settings",
        {"fetchNews": "false", "checkForUpdates": False},
    )
    _write_json(
        settings / "docmanager-extension" / "plugin.jupyterlab-settings",
        {"autosave": False},
    )

    original = NOTEBOOK.read_bytes()
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    log = tmp / "jupyterlab.log"
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.ip=127.0.0.1",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        "--ServerApp.terminals_enabled=False",
        f"--ServerApp.root_dir={NOTEBOOK.parent}",
        # Lab checkpoints a notebook when it opens it: keep that out of the repo.
        f"--FileCheckpoints.checkpoint_dir={tmp / 'checkpoints'}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]
    with log.open("w") as log_file:
        proc = subprocess.Popen(
            command,
            env=env,
            cwd=tmp,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        server = LabServer(url, log, NOTEBOOK.name)
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"JupyterLab exited with {proc.returncode}:\n{server.log_tail()}"
                )
            try:
                _get(url + "api", timeout=2)
                break
            except (OSError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"JupyterLab did not answer in time:\n{server.log_tail()}"
                    )
                time.sleep(0.2)
        # ipykernel's own python3 spec starts "python", which jupyter_client
        # replaces by the server's sys.executable: the kernel sees this dicomkit.
        specs = json.loads(_get(url + "api/kernelspecs"))
        argv = specs["kernelspecs"]["python3"]["spec"]["argv"]
        assert argv[0] in ("python", sys.executable), f"python3 kernel: {argv}"
        yield server
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        rewritten = NOTEBOOK.read_bytes()
        if rewritten != original:  # autosave is off: this must not happen
            NOTEBOOK.write_bytes(original)
            diff = difflib.unified_diff(
                original.decode().splitlines(),
                rewritten.decode().splitlines(),
                lineterm="",
            )
            pytest.fail(
                f"JupyterLab rewrote {NOTEBOOK} (restored):\n" + "\n".join(diff)
            )


@pytest.fixture(scope="session")
def browser(browser_requirements: None) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _is_local(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme in ("data", "blob") or parts.hostname in LOOPBACK


@dataclass
class PageLog:
    """What an offline page did: requests it was refused, and its console errors."""

    blocked: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def unexpected(self) -> list[str]:
        """Console errors, less the "failed to load" of each request we aborted
        (whose location is the external URL: the offline guard working)."""
        return [
            e
            for e in self.console
            if not any(e.endswith(f" @ {url}") for url in self.blocked)
        ]


def offline_page(browser: Browser) -> tuple[Page, PageLog]:
    """A new page that aborts every request not to loopback and logs console errors."""
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    log = PageLog()

    def route(r: Route) -> None:
        if _is_local(r.request.url):
            r.continue_()
        else:
            log.blocked.append(r.request.url)
            r.abort()

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            log.console.append(f"{msg.text} @ {msg.location.get('url', '')}")

    page.route("**/*", route)
    page.on("console", on_console)
    page.on("pageerror", lambda exc: log.console.append(f"pageerror: {exc}"))
    return page, log
