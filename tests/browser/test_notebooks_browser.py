"""Every notebook, opened in JupyterLab in a real browser, runs clean.

For each ``notebooks/*.ipynb``: open it, run all cells, wait until every code cell
has run, then fail on any error output, any ``<img>`` in an output that did not
load, or any JS console error (requests to non-loopback hosts are aborted, as in
the explorer test, and their "failed to load" messages are not counted).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import offline_page
from tests.browser.test_explorer_browser import _shutdown_kernel

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from tests.browser.conftest import LabServer

pytestmark = pytest.mark.browser

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
OPEN_TIMEOUT = 60_000  # ms: UI load + kernel start
RUN_TIMEOUT = 300.0  # s: the slowest notebook (05 writes and scans 3,000 files)

# Progress of run-all, from JupyterLab's own models: how many code cells have run,
# how many there are, and every error output so far (so a failure ends the wait).
PROGRESS_JS = """
() => {
  const w = window.jupyterapp.shell.currentWidget;
  const cells = w.content.widgets.map(c => c.model).filter(m => m.type === 'code');
  const errors = [];
  cells.forEach((m, i) => {
    for (const o of m.outputs.toJSON()) {
      if (o.output_type === 'error') errors.push(`cell ${i}: ${o.ename}: ${o.evalue}`);
    }
  });
  return {
    done: cells.filter(m => m.executionCount !== null).length,
    total: cells.length,
    idle: w.sessionContext.session?.kernel?.status === 'idle',
    errors,
  };
}
"""
# Every image in an output area, and whether it decoded.
IMAGES_JS = """
async () => {
  const imgs = [...document.querySelectorAll('.jp-OutputArea img')];
  await Promise.all(imgs.map(i => i.decode().catch(() => null)));
  return imgs.map(i => ({src: i.src.slice(0, 60), ok: i.complete && i.naturalWidth > 0}));
}
"""


def _run_all(page: Page, server: LabServer, name: str) -> dict[str, object]:
    page.goto(f"{server.url}lab/tree/{name}?reset")
    page.wait_for_function(
        """name => {
          const w = window.jupyterapp?.shell?.currentWidget;
          return w?.context?.path?.endsWith(name)
              && w?.sessionContext?.session?.kernel?.status === 'idle';
        }""",
        arg=name,
        timeout=OPEN_TIMEOUT,
    )
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        progress: dict[str, object] = page.evaluate(PROGRESS_JS)
        finished = progress["done"] == progress["total"] and progress["idle"]
        if finished or progress["errors"]:
            return progress
        if time.monotonic() > deadline:
            pytest.fail(
                f"{name}: run-all did not finish in {RUN_TIMEOUT} s: {progress}"
            )
        time.sleep(0.5)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_in_jupyterlab(
    notebook: Path, lab_server: LabServer, browser: Browser, tmp_path: Path
) -> None:
    page, log = offline_page(browser)
    try:
        progress = _run_all(page, lab_server, notebook.name)
        assert progress["errors"] == [], f"{notebook.name}: error outputs"
        images = page.evaluate(IMAGES_JS)
        broken = [i for i in images if not i["ok"]]
        assert broken == [], f"{notebook.name}: images that did not load: {broken}"
        _shutdown_kernel(page, lab_server)
    except BaseException:
        shot = tmp_path / "failure.png"
        with contextlib.suppress(Exception):
            page.screenshot(path=shot, full_page=True)
            print(f"\npage screenshot: {shot}")
        print("console errors:", *log.console, sep="\n  ")
        print(f"JupyterLab log ({lab_server.log}):\n{lab_server.log_tail()}")
        raise
    finally:
        page.close()
    unexpected = log.unexpected()
    assert unexpected == [], f"{notebook.name}: JS console errors:\n" + "\n".join(
        unexpected
    )
