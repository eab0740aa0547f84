"""Widgets, headless: set values, assert on state and image bytes (no kernel needed)."""

from __future__ import annotations

import io
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from PIL import Image

import dicomkit as dk
from dicomkit.corpus import write_corpus
from dicomkit.hierarchy import slice_order
from tests.conftest import SAMPLE, MakeFile

DUAL_ECHO = "1.2.840.113619.2.410.4057621.1683036310.2.3"


@pytest.fixture(scope="module")
def col() -> dk.Collection:
    return dk.scan(SAMPLE, progress=False)


@pytest.fixture
def explorer(col: dk.Collection) -> Any:
    return col.explore()


def size(png: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(png)).size


def test_hierarchy_lists_every_series_with_a_badge(
    explorer, col: dk.Collection
) -> None:
    labels = [label for label, _ in explorer.series_select.options]
    assert len(labels) == col.series.height
    assert [uid for _, uid in explorer.series_select.options] == col.series[
        "SeriesInstanceUID"
    ].to_list()
    assert labels[0].startswith("⚠ PAT001")
    assert sum(label.startswith("✓") for label in labels) == 2
    assert any(label.startswith("✗") for label in labels)
    assert "#3 MR AX PD/T2 DUAL ECHO (40)" in labels[3]


def test_select_slide_and_window_change_the_image(explorer) -> None:
    first = explorer.viewer.image.value
    explorer.series_select.value = DUAL_ECHO
    assert explorer.viewer.status.value.startswith(f"rendered {DUAL_ECHO} slice 21")
    second = explorer.viewer.image.value
    assert second != first
    explorer.viewer.slider.value = 1
    assert explorer.viewer.image.value != second
    assert "slice 1 " in explorer.viewer.status.value
    before = explorer.viewer.image.value
    explorer.viewer.preset.value = "bone"
    assert explorer.viewer.status.value.endswith("WW 1800 WL 400")
    assert explorer.viewer.image.value != before
    explorer.viewer.width.value = 100.0
    assert "WW 100" in explorer.viewer.status.value
    assert "<b>WW 100 WL 400</b>" in explorer.viewer.info.value


def test_slices_are_in_geometric_order_with_positions(explorer) -> None:
    explorer.series_select.value = DUAL_ECHO
    viewer = explorer.viewer
    viewer.slider.value = 1
    z0 = viewer.current["ImagePositionPatient"][2]
    viewer.slider.value = viewer.slider.max
    assert viewer.current["ImagePositionPatient"][2] > z0
    assert "position (" in viewer.info.value


def test_findings_in_words(explorer) -> None:
    explorer.series_select.value = DUAL_ECHO
    assert "duplicate_position" in explorer.viewer.notes.value
    clean = next(
        uid for label, uid in explorer.series_select.options if label.startswith("✓")
    )
    explorer.series_select.value = clean
    assert "found nothing wrong" in explorer.viewer.notes.value


def test_thumbnails_are_small_cached_and_of_the_study(
    explorer, col: dk.Collection
) -> None:
    explorer.series_select.value = DUAL_ECHO
    assert len(explorer.strip.children) == 4  # series 3, 4, 5, 6 of the MR study
    for tile in explorer.strip.children:
        assert max(size(tile.children[0].value)) <= 128
    hits = explorer.renderer.cache_info()["png_hits"]
    explorer.series_select.value = col.series["SeriesInstanceUID"][0]
    explorer.series_select.value = DUAL_ECHO
    assert explorer.renderer.cache_info()["png_hits"] > hits


def test_tags_and_varying_view(explorer) -> None:
    explorer.series_select.value = DUAL_ECHO
    explorer.tabs.selected_index = 1
    tags = explorer.tags
    assert "(0008,0018)" in tags.table.value
    assert "PatientName" in tags.table.value
    tags.filter.value = "EchoTime"
    assert "EchoTime" in tags.table.value
    assert "PatientName" not in tags.table.value
    tags.filter.value = ""
    tags.mode.value = "varying in series"
    assert "EchoNumbers" in tags.table.value
    assert "PatientName" not in tags.table.value
    explorer.viewer.slider.value = 2  # the tags follow the slice
    assert tags._row["SOPInstanceUID"] == explorer.viewer.current["SOPInstanceUID"]


def test_private_tags_and_sequences(tmp_path: Path) -> None:
    write_corpus(tmp_path, 2)
    browser = dk.widgets.TagBrowser(dk.scan(tmp_path, progress=False))
    page = browser.table.value
    assert 'class="dk-private"' in page
    assert "<details><summary>1 item</summary>" in page  # plural
    assert "ReferencedImageSequence" in page
    browser.filter.value = "ReferencedSOPInstanceUID"  # found inside the sequence
    assert "ReferencedImageSequence" in browser.table.value


def test_uid_anatomy(explorer) -> None:
    explorer.series_select.value = DUAL_ECHO
    explorer.tabs.selected_index = 2
    page = explorer.anatomy.html.value
    assert "GE HealthCare" in page
    assert "SOP Instance (this image)" in page
    assert (
        "share the prefix <code>1.2.840.113619.2.410.4057621.1683036310</code>" in page
    )


def test_static_fallbacks(explorer) -> None:
    data, _ = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    page = data["text/html"]
    assert page.count('<img src="data:image/png;base64,') == 9
    assert "dicomkit.Collection" in page
    for widget in (explorer.viewer, explorer.tags, explorer.anatomy):
        assert "text/html" in widget._repr_mimebundle_()[0]


def test_hostile_values_are_escaped(tmp_path: Path, make_file: MakeFile) -> None:
    make_file(
        "evil.dcm",
        PatientName="<script>alert(1)</script>",
        SeriesDescription="<img src=x onerror=alert(2)>" + "A" * 10_000,
        StudyDescription="</details><b>",
    )
    col = dk.scan(tmp_path, progress=False)
    explorer = col.explore()
    explorer.tabs.selected_index = 1
    pages = [
        explorer.header.value,
        explorer.context.value,
        explorer.viewer.title.value,
        explorer.viewer.notes.value,
        explorer.tags.table.value,
        explorer.anatomy.html.value,
        explorer._repr_mimebundle_()[0]["text/html"],
    ]
    for page in pages:
        assert "<script>alert" not in page
        assert "<img src=x" not in page
        assert "A" * 200 not in page
    assert "&lt;script&gt;" in explorer.tags.table.value
    assert all(len(label) < 200 for label, _ in explorer.series_select.options)


def test_undecodable_pixels_show_why(tmp_path: Path, make_file: MakeFile) -> None:
    path = make_file("nopix.dcm")
    from pydicom import dcmread

    ds = dcmread(path)
    del ds.PixelData
    ds.save_as(path)
    viewer = dk.widgets.SeriesViewer(dk.scan(tmp_path, progress=False))
    assert "has no pixel data" in viewer.info.value
    assert viewer.status.value.startswith("rendered")


def test_widgets_are_lazy() -> None:
    import subprocess
    import sys

    code = "import sys, dicomkit; print('ipywidgets' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False False"


def test_explorer_on_a_collection_without_images(tmp_path: Path) -> None:
    explorer = dk.Collection(
        pl.DataFrame(
            schema=dk.scan(SAMPLE / "notes.txt", progress=False).instances.schema
        )
    ).explore()
    assert explorer.series_select.options == ()
    assert "0 instances" in explorer.header.value


# -- issue 11, item 11: what a person reads in the explorer -----------------------


def test_slider_readout_and_slice_count_agree_from_1(explorer) -> None:
    explorer.series_select.value = DUAL_ECHO
    viewer = explorer.viewer
    assert (viewer.slider.min, viewer.slider.max) == (1, 40)
    assert viewer.slider.value == 21  # the middle one, as "21 / 40" says
    assert "<b>21</b> / 40" in viewer.info.value
    assert " slice 21 " in viewer.status.value
    order = [
        r["SOPInstanceUID"]
        for r in slice_order(
            explorer.col.instances.filter(pl.col("SeriesInstanceUID") == DUAL_ECHO)
        ).iter_rows(named=True)
    ]
    for number in (1, 2, 40):
        viewer.slider.value = number
        assert f"<b>{number}</b> / 40" in viewer.info.value
        assert viewer.current["SOPInstanceUID"] == order[number - 1]
        assert f" slice {number} " in viewer.status.value


def test_the_test_hook_is_not_shown(explorer) -> None:
    status = explorer.viewer.status
    assert status.value.startswith("rendered ")
    assert status.layout.display == "none"
    assert "dk-status" in status._dom_classes  # still in the page for browser tests
    assert "rendered" not in explorer.viewer.info.value


def test_dicom_default_says_when_it_falls_back_to_auto(
    tmp_path: Path, make_file: MakeFile, explorer
) -> None:
    from dicomkit.widgets.viewer import DEFAULT, NO_DEFAULT_LABEL
    from dicomkit.window import auto_window

    for i in range(3):
        make_file(f"{i}.dcm", SOPInstanceUID=f"1.2.3.{i}", InstanceNumber=i + 1)
    col = dk.scan(tmp_path, progress=False)
    assert col.instances["WindowCenter"].is_null().all()
    viewer = dk.widgets.SeriesViewer(col)
    assert viewer.preset.value == DEFAULT
    assert viewer.preset.label == NO_DEFAULT_LABEL
    assert "no WindowCenter/WindowWidth, so the window is auto" in viewer.info.value
    assert viewer.current is not None
    pixels = dk.load_pixels(viewer.current["path"])[0]
    auto = auto_window(pixels)
    assert viewer.window().width == pytest.approx(auto.width, abs=0.01)
    assert viewer.window().level == pytest.approx(auto.level, abs=0.01)
    viewer.preset.value = "bone"  # a chosen window needs no note
    assert "so the window is auto" not in viewer.info.value
    # a file with a window: the default is its own, said plainly
    explorer.series_select.value = DUAL_ECHO
    assert explorer.viewer.preset.label == DEFAULT
    assert "so the window is auto" not in explorer.viewer.info.value


def test_the_static_fallback_is_in_an_nbconvert_html_export(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    from tests.conftest import ROOT

    nb = nbformat.v4.new_notebook()
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "import dicomkit as dk\n"
        f"dk.scan({str(SAMPLE)!r}, progress=False).explore()"
    )
    nb.cells = [nbformat.v4.new_code_cell(code)]
    # as `jupyter nbconvert --execute --to html` does: the widget state is saved,
    # so the export shows the widget through JavaScript (blank offline) ...
    NotebookClient(
        nb, timeout=300, kernel_name="python3", store_widget_state=True
    ).execute()
    assert "widgets" in nb.metadata
    page, _ = HTMLExporter().from_notebook_node(nb)
    # ... and the static copy as HTML of its own: summary, thumbnails, tree
    fallback = StaticFallback()
    fallback.feed(page)
    assert fallback.images == 9
    assert "dicomkit explorer — 3 patients" in fallback.text
    assert "dicomkit.Collection" in fallback.text


class StaticFallback(HTMLParser):
    """The rendered text and inline PNGs of the explorer's static copy in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0  # > 0 inside the fallback's <div>
        self.images = 0
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.depth:
            self.depth += tag not in ("img", "br")
            src = dict(attrs).get("src") or ""
            self.images += tag == "img" and src.startswith("data:image/png;base64,")
        elif tag == "div" and "dk-static-fallback" in (dict(attrs).get("class") or ""):
            self.depth = 1

    def handle_endtag(self, tag: str) -> None:
        if self.depth and tag not in ("img", "br"):
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.text += data
