"""Small shared pieces of the widgets: deferred calls and the static HTML fallback."""

from __future__ import annotations

import asyncio
import base64
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["Deferred", "img_tag", "with_html_fallback"]


class Deferred:
    """Run a callback once soon, however often it is requested before it runs.

    In a kernel (a running asyncio loop) the call is scheduled, so a burst of
    slider events renders only the latest state. Without a loop (tests, scripts)
    it runs at once.
    """

    def __init__(self, callback: Callable[[], None]) -> None:
        self._callback = callback
        self._pending = False

    def __call__(self) -> None:
        loop = _kernel_loop()
        if loop is None:
            self._callback()
            return
        if not self._pending:
            self._pending = True
            loop.call_soon(self._run)

    def _run(self) -> None:
        self._pending = False
        self._callback()


def _kernel_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop of a running Jupyter kernel, or None (tests, scripts).

    Other libraries run loops too (Playwright's sync API, nest_asyncio) without
    serving callbacks in between; only a kernel's loop is trusted to run them.
    """
    kernelapp = sys.modules.get("ipykernel.kernelapp")
    if kernelapp is None or not kernelapp.IPKernelApp.initialized():
        return None
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def img_tag(png: bytes, *, alt: str = "", width: int | None = None) -> str:
    """An ``<img>`` with the PNG inline (for static HTML fallbacks)."""
    import html

    size = f' width="{width}"' if width else ""
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}"{size}>'


def with_html_fallback(bundle: Any, fallback: str) -> Any:
    """Add a ``text/html`` fallback to an ipywidgets mime bundle.

    Front ends that cannot show the live widget (GitHub, nbviewer, exported HTML,
    an untrusted notebook) show the HTML instead of "Error displaying widget".
    """
    if isinstance(bundle, tuple):
        data, metadata = bundle
    else:
        data, metadata = bundle, {}
    data = dict(data or {})
    data["text/html"] = fallback
    return data, metadata
