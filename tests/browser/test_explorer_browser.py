"""The explorer in a real browser: JupyterLab + headless chromium, offline.

Relies only on the explorer's DOM contract (CSS classes set with ``add_class``):
``dk-explorer``, ``dk-series-select`` (Select), ``dk-slice`` (IntSlider),
``dk-preset`` (Dropdown), ``dk-image`` (Image) and ``dk-status`` (Label), whose
text Python sets *after* each render to
``rendered <SeriesInstanceUID> slice <index> WW <width> WL <center>``.
Every input is followed by a wait on that sentinel before the next one.
"""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import offline_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from tests.browser.conftest import LabServer

pytestmark = pytest.mark.browser

FIRST_RENDER_TIMEOUT = 60_000  # ms: UI load + kernel start + first render
STEP_TIMEOUT = 30_000  # ms: one input -> one render
IMAGE = "img.dk-image, .dk-image img"  # ipywidgets 8: the Image view *is* the <img>
STATUS_RE = re.compile(r"^rendered (\S+) slice (\d+) WW (\S+) WL (\S+)$")

STATUS_JS = "() => (document.querySelector('.dk-status')?.textContent ?? '').trim()"
# Waits until the status is a render sentinel that matches every given field.
WAIT_JS = r"""
([want, notWant]) => {
  const t = (document.querySelector('.dk-status')?.textContent ?? '').trim();
  const m = t.match(/^rendered (\S+) slice (\d+) WW (\S+) WL (\S+)$/);
  if (!m) return false;
  const got = {uid: m[1], slice: m[2], ww: m[3], wl: m[4]};
  for (const [k, v] of Object.entries(want)) if (got[k] !== v) return false;
  if (notWant && Object.entries(notWant).every(([k, v]) => got[k] === v)) return false;
  return t;
}
"""


@dataclass(frozen=True)
class Status:
    uid: str
    slice: int
    ww: str
    wl: str

    @classmethod
    def parse(cls, text: str) -> Status:
        m = STATUS_RE.match(text.strip())
        assert m, f"not a render sentinel: {text!r}"
        return cls(m[1], int(m[2]), m[3], m[4])


class Explorer:
    """Drives the explorer on a JupyterLab page; one input, then one render."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def status(self) -> Status:
        return Status.parse(self.page.evaluate(STATUS_JS))

    def wait(
        self,
        want: dict[str, str],
        not_want: dict[str, str] | None = None,
        timeout: float = STEP_TIMEOUT,
    ) -> Status:
        """Wait for a matching sentinel, then until it stays put for 0.3 s."""
        self.page.wait_for_function(WAIT_JS, arg=[want, not_want], timeout=timeout)
        text, stable_since = self.page.evaluate(STATUS_JS), time.monotonic()
        while time.monotonic() - stable_since < 0.3:
            time.sleep(0.05)
            now = self.page.evaluate(STATUS_JS)
            if now != text:
                text, stable_since = now, time.monotonic()
        return Status.parse(text)

    def image(self) -> bytes:
        img = self.page.locator(IMAGE)
        assert img.count() == 1, f"expected one dk-image <img>, found {img.count()}"
        width = img.evaluate("el => el.decode().then(() => el.naturalWidth)")
        assert width > 0, "the dk-image <img> is empty"
        return img.screenshot()

    def slider_range(self) -> tuple[float, float]:
        handle = self.page.locator(".dk-slice .noUi-handle")
        now = handle.get_attribute("aria-valuenow")
        top = handle.get_attribute("aria-valuemax")
        assert now is not None, "noUiSlider handle has no aria-valuenow"
        assert top is not None, "noUiSlider handle has no aria-valuemax"
        return float(now), float(top)

    def options(self, widget: str) -> list[str]:
        return self.page.locator(f".{widget} select option").all_inner_texts()

    def selected_index(self, widget: str) -> int:
        index: int = self.page.locator(f".{widget} select").evaluate(
            "s => s.selectedIndex"
        )
        return index


def _open_and_run(page: Page, server: LabServer) -> None:
    page.goto(f"{server.url}lab/tree/{server.notebook}?reset")
    page.wait_for_function(
        """name => {
          const w = window.jupyterapp?.shell?.currentWidget;
          return w?.context?.path?.endsWith(name)
              && w?.sessionContext?.session?.kernel?.status === 'idle';
        }""",
        arg=server.notebook,
        timeout=FIRST_RENDER_TIMEOUT,
    )
    page.evaluate(
        "() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }"
    )


def _shutdown_kernel(page: Page, server: LabServer) -> None:
    page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()"
    )
    deadline = time.monotonic() + 10
    while server.kernels() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert server.kernels() == [], "the kernel is still running"


def test_explorer_in_jupyterlab(
    lab_server: LabServer, browser: Browser, tmp_path: Path
) -> None:
    t0 = time.monotonic()
    page, log = offline_page(browser)
    try:
        ex = Explorer(page)
        _open_and_run(page, lab_server)
        a = ex.wait({}, timeout=FIRST_RENDER_TIMEOUT)
        t_first = time.monotonic() - t0
        for widget in ("dk-explorer", "dk-series-select", "dk-slice", "dk-preset"):
            assert page.locator(f".{widget}").count() == 1, f"no single .{widget}"
        img_a = ex.image()
        # the static copy (for HTML exports) is in the page, hidden by the widget
        static = page.locator(".dk-static-fallback")
        assert static.count() == 1, "no static copy of the explorer"
        assert static.is_hidden(), "the static copy shows beside the live widget"
        assert page.locator(".dk-status").is_hidden(), "the test hook shows"

        # 1. another series (one with at least two slices, so step 2 can move).
        series = ex.options("dk-series-select")
        assert len(series) >= 2, f"need two series to switch, got {series}"
        current = ex.selected_index("dk-series-select")
        b = a
        for index in [i for i in range(len(series)) if i != current]:
            page.locator(".dk-series-select select").select_option(index=index)
            b = ex.wait({}, not_want={"uid": b.uid})
            now, top = ex.slider_range()
            if now < top:
                break
        else:
            pytest.fail("no series with a next slice to step to")
        assert b.uid != a.uid
        img_b = ex.image()
        same = img_b == img_a
        assert not same, "the image did not change with the series"

        # 2. next slice, from the keyboard on the slider handle.
        handle = page.locator(".dk-slice .noUi-handle")
        handle.focus()
        handle.press("ArrowRight")
        c = ex.wait({"uid": b.uid, "slice": str(b.slice + 1)})
        readout = page.locator(".dk-slice .widget-readout").inner_text().strip()
        assert readout == str(c.slice)
        img_c = ex.image()
        same = img_c == img_b
        assert not same, "the image did not change with the slice"

        # 3. another window preset (lung first: far from any brain/soft default).
        presets = ex.options("dk-preset")
        current = ex.selected_index("dk-preset")
        order = sorted(
            (i for i in range(len(presets)) if i != current),
            key=lambda i: presets[i].strip().lower() != "lung",
        )
        d = c
        for index in order:
            page.locator(".dk-preset select").select_option(index=index)
            d = ex.wait(
                {"uid": c.uid, "slice": str(c.slice)},
                not_want={"ww": d.ww, "wl": d.wl},
            )
            if (d.ww, d.wl) != (c.ww, c.wl):
                break
        else:
            pytest.fail(f"no preset in {presets} changed WW/WL from {c}")
        img_d = ex.image()
        same = img_d == img_c
        assert not same, "the image did not change with the window preset"

        for name, png in zip("abcd", (img_a, img_b, img_c, img_d), strict=True):
            (tmp_path / f"{name}.png").write_bytes(png)
        page.screenshot(path=tmp_path / "page.png", full_page=True)
        _shutdown_kernel(page, lab_server)
    except BaseException:
        # pytest shows this output for a failed test: where to look, and why.
        shot = tmp_path / "failure.png"
        with contextlib.suppress(Exception):  # the page may be gone
            page.screenshot(path=shot, full_page=True)
            print(f"\npage screenshot: {shot}\nstatus: {page.evaluate(STATUS_JS)!r}")
        print("console errors:", *log.console, sep="\n  ")
        print(f"JupyterLab log ({lab_server.log}):\n{lab_server.log_tail()}")
        raise
    finally:
        page.close()

    unexpected = log.unexpected()
    assert unexpected == [], "JS console errors:\n" + "\n".join(unexpected)
    print(
        f"\nbrowser: first render {t_first:.1f} s, whole test {time.monotonic() - t0:.1f} s; "
        f"{len(log.blocked)} external request(s) blocked; screenshots in {tmp_path}\n"
        f"  {a}\n  {b}\n  {c}\n  {d}"
    )
