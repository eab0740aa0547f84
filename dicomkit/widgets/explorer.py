"""Explorer: the whole collection in one widget — hierarchy, slices, tags, UIDs."""

from __future__ import annotations

import html
import uuid
from typing import TYPE_CHECKING, Any

import ipywidgets as W
import polars as pl
from ipywidgets import Widget

from dicomkit.hierarchy import slice_order
from dicomkit.render import clip
from dicomkit.text import plural
from dicomkit.verify import series_badges
from dicomkit.widgets._render import Renderer, SliceRef
from dicomkit.widgets._util import Deferred, img_tag, with_html_fallback
from dicomkit.widgets.anatomy import UIDAnatomy
from dicomkit.widgets.tags import TagBrowser
from dicomkit.widgets.viewer import SeriesViewer

if TYPE_CHECKING:
    from dicomkit.collection import Collection

__all__ = ["Explorer"]

# glyphs that common fonts (DejaVu, in Debian's chromium too) all have
BADGES = {"error": "✗", "warning": "⚠", "info": "ℹ", None: "✓"}
THUMBNAIL = 128
#: The class of the explorer's static copy (an HTML output after the widget).
STATIC_CLASS = "dk-static-fallback"


def _split(bundle: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    if isinstance(bundle, tuple):
        data, metadata = bundle
        return dict(data or {}), dict(metadata or {})
    return dict(bundle or {}), {}


class Explorer(W.VBox):  # type: ignore[misc]
    """Browse a collection: Patient → Study → Series, slices, tags and UIDs.

    Built from core ipywidgets only (no custom JavaScript), so it works in
    JupyterLab, Notebook 7, VS Code and Voila; exported (nbconvert HTML too) or
    untrusted notebooks show a static HTML summary with thumbnails instead.

    * the hierarchy: every series in SeriesNumber order under its patient and
      study, with its size and a badge for its worst ``verify()`` finding;
    * the series: a thumbnail strip of its study, the slice viewer (slider,
      window presets, WW/WL), and its findings in words;
    * the tags of the current image, and what varies across its series;
    * the anatomy of its Study, Series and SOP Instance UIDs.

    Examples
    --------
    >>> col.explore()   # doctest: +SKIP
    """

    def __init__(self, col: Collection) -> None:
        self.col = col
        self.renderer = Renderer()
        self.findings = col.verify()
        self.badges = series_badges(self.findings, col.instances)
        self.header = W.HTML(self._header_html())
        self.series_select = W.Select(
            options=self._options(),
            rows=10,
            layout=W.Layout(flex="3 1 0%", width="auto"),
        )
        self.series_select.add_class("dk-series-select")
        self.context = W.HTML(layout=W.Layout(flex="2 1 0%", padding="0 0 0 12px"))
        self.viewer = SeriesViewer(
            col, None, findings=self.findings, renderer=self.renderer
        )
        self.strip = W.HBox(layout=W.Layout(overflow="auto", width="100%"))
        self.strip.add_class("dk-thumbnails")
        self.tags = TagBrowser(col)
        self.anatomy = UIDAnatomy(col)
        self.tabs = W.Tab(
            children=[W.VBox([self.strip, self.viewer]), self.tags, self.anatomy]
        )
        for index, title in enumerate(("Series", "Tags", "UID anatomy")):
            self.tabs.set_title(index, title)
        # the hierarchy above, the selected series below: fits narrow notebooks
        hierarchy = W.HBox(
            [self.series_select, self.context], layout=W.Layout(width="100%")
        )
        # Rendered live, this hides the static copy displayed after the widget
        # (see _ipython_display_); where the widget cannot render, the copy shows.
        self._static_id = uuid.uuid4().hex
        self.hide_static = W.HTML(
            f'<style>.{STATIC_CLASS}[data-dk-id="{self._static_id}"]'
            "{display:none !important}</style>",
            layout=W.Layout(display="none"),
        )
        super().__init__([self.hide_static, self.header, hierarchy, self.tabs])
        self.add_class("dk-explorer")
        self._fill_strip = Deferred(self._thumbnails)
        self._sync_soon = Deferred(self._sync_panels)
        self.series_select.observe(self._on_series, names="value")
        self.viewer.slider.observe(lambda _: self._sync_soon(), names="value")
        self.tabs.observe(lambda _: self._sync_panels(), names="selected_index")
        if self.series_select.options:
            # a Select already holds its first option: setting it fires no event,
            # and the viewer shows that series already; the panels beside it:
            self.series_select.value = self.series_select.options[0][1]
            self.context.value = self._context_html(self.series_select.value)
            self._fill_strip()

    # -- hierarchy ------------------------------------------------------------------

    def _options(self) -> list[tuple[str, str]]:
        studies = {
            r["StudyInstanceUID"]: r for r in self.col.studies.iter_rows(named=True)
        }
        options = []
        for r in self.col.series.iter_rows(named=True):
            study = studies.get(r["StudyInstanceUID"], {})
            when = clip(study.get("StudyDate")) or "no date"
            label = (
                f"{BADGES[self.badges.get(r['SeriesInstanceUID'])]} {clip(r['PatientID'], 16)} │ "
                f"{when} {clip(study.get('StudyDescription'), 22)} │ "
                f"#{clip(r['SeriesNumber'])} {clip(r['Modality'])} "
                f"{clip(r['SeriesDescription'], 28)} ({r['n_instances']})"
            )
            options.append((label, r["SeriesInstanceUID"]))
        return options

    def _on_series(self, change: dict[str, Any]) -> None:
        uid = change["new"]
        if uid is None:
            return
        self.viewer.show_series(uid)
        self.context.value = self._context_html(uid)
        self._fill_strip()
        self._sync_panels()

    def _sync_panels(self) -> None:
        row = self.viewer.current
        if row is None:
            return
        if self.tabs.selected_index == 1:
            self.tags.show_instance(row)
        elif self.tabs.selected_index == 2:
            self.anatomy.show_instance(row)

    # -- thumbnails -------------------------------------------------------------------

    def thumbnail(self, series_uid: str) -> bytes:
        """A ≤128 px PNG of the middle image of a series (cached)."""
        series = self.col.instances.filter(pl.col("SeriesInstanceUID") == series_uid)
        rows = list(slice_order(series).iter_rows(named=True))
        return self.renderer.png(
            SliceRef.from_row(rows[len(rows) // 2]), None, max_size=THUMBNAIL
        )

    def _thumbnails(self) -> None:
        uid = self.viewer.series_uid
        if uid is None:
            return
        study = self.col.series.filter(pl.col("SeriesInstanceUID") == uid)[
            "StudyInstanceUID"
        ][0]
        tiles = []
        for r in self.col.series.filter(pl.col("StudyInstanceUID") == study).iter_rows(
            named=True
        ):
            image = W.Image(value=self.thumbnail(r["SeriesInstanceUID"]), format="png",
                            layout=W.Layout(width="96px", height="96px", object_fit="contain"))  # fmt: skip
            mark = "▶ " if r["SeriesInstanceUID"] == uid else ""
            label = W.HTML(f"<small>{mark}#{html.escape(clip(r['SeriesNumber']))} "
                           f"{html.escape(clip(r['SeriesDescription'], 18))}</small>")  # fmt: skip
            tiles.append(W.VBox([image, label], layout=W.Layout(width="104px")))
        self.strip.children = tiles

    # -- text ----------------------------------------------------------------------------

    def _header_html(self) -> str:
        col, f = self.col, self.findings
        counts = ", ".join(
            plural(n, s)
            for s, n in f.group_by("severity", maintain_order=True).len().iter_rows()
        )
        return (
            f"<b>dicomkit explorer</b> — {plural(col.patients.height, 'patient')}, "
            f"{plural(col.studies.height, 'study')}, {plural(col.series.height, 'series')}, "
            f"{plural(len(col), 'instance')}; {plural(col.resends.height, 'resend')}, "
            f"{plural(col.errors.height, 'unreadable file')}; "
            f"verify: {html.escape(counts) or 'nothing wrong'}"
        )

    def _context_html(self, uid: str) -> str:
        r = self.col.series.filter(pl.col("SeriesInstanceUID") == uid).row(
            0, named=True
        )
        study = self.col.studies.filter(
            pl.col("StudyInstanceUID") == r["StudyInstanceUID"]
        )
        patient = self.col.patients.filter(pl.col("PatientID") == r["PatientID"])
        esc = html.escape
        lines = []
        if patient.height:
            p = patient.row(0, named=True)
            lines.append(f"<b>Patient</b> {esc(clip(p['PatientID']))} {esc(clip(p['PatientName']))} "
                         f"— {plural(p['n_studies'], 'study')}")  # fmt: skip
        if study.height:
            s = study.row(0, named=True)
            lines.append(f"<b>Study</b> {esc(clip(s['StudyDate']))} {esc(clip(s['StudyDescription']))} "
                         f"— {plural(s['n_series'], 'series')}, {plural(s['n_instances'], 'instance')}")  # fmt: skip
        lines.append(f"<b>Series</b> #{esc(clip(r['SeriesNumber']))} {esc(clip(r['Modality']))} "
                     f"{esc(clip(r['SeriesDescription']))} — {plural(r['n_instances'], 'instance')}")  # fmt: skip
        if r["varying"]:
            lines.append(
                f"<span style='color:#b35900'>varies inside: {esc(', '.join(r['varying']))}</span>"
            )
        return "<br>".join(lines)

    def static_html(self) -> str:
        """The explorer as static HTML: its summary, thumbnails and the tree."""
        strip = "".join(
            img_tag(self.thumbnail(uid), alt=label, width=96)
            for label, uid in list(self.series_select.options)[:12]
        )
        return f"{self.header.value}<div>{strip}</div>{self.col._repr_html_()}"

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return with_html_fallback(
            super()._repr_mimebundle_(**kwargs), self.static_html()
        )

    def _ipython_display_(self) -> None:
        """Display the live widget, then its static copy as an output of its own.

        nbconvert's HTML export shows a widget output through its saved state
        and JavaScript from a CDN (blank offline), never the widget's own
        ``text/html``: so the summary and thumbnails are also a plain HTML output,
        hidden by the live widget where it renders (JupyterLab, Notebook 7,
        VS Code, an HTML export whose widget JavaScript loads), shown everywhere
        else (an offline or untrusted export, GitHub, nbviewer, a lost kernel).
        """
        from IPython.display import display

        data, metadata = _split(Widget._repr_mimebundle_(self))
        display(data, metadata=metadata, raw=True)  # type: ignore[no-untyped-call]
        static = (
            f'<div class="{STATIC_CLASS}" data-dk-id="{self._static_id}">'
            f"{self.static_html()}</div>"
        )
        display(  # type: ignore[no-untyped-call]
            {"text/html": static, "text/plain": "dicomkit explorer (static)"}, raw=True
        )
