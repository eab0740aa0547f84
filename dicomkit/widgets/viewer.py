"""SeriesViewer: scroll through a series with window/level, as a radiologist does."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as W
import polars as pl

from dicomkit.exceptions import DicomkitError
from dicomkit.io.multiframe import untile_mosaic
from dicomkit.render import clip
from dicomkit.volume import viewing_order
from dicomkit.widgets._render import Renderer, SliceRef, to_png
from dicomkit.widgets._util import Deferred, img_tag, with_html_fallback
from dicomkit.window import PRESETS, Window, apply_window, auto_window, dicom_window

if TYPE_CHECKING:
    from dicomkit.collection import Collection

__all__ = ["SeriesViewer"]

DEFAULT = "DICOM default"
AUTO = "auto"
#: The label of "DICOM default" for a file without WindowCenter/WindowWidth.
NO_DEFAULT_LABEL = "DICOM default (none in the file: auto)"
NO_DEFAULT_NOTE = (
    "DICOM default: this file has no WindowCenter/WindowWidth, so the window is "
    "auto (1st–99th percentile)"
)
_SEVERITY_MARK = {"error": "✗", "warning": "⚠", "info": "ℹ"}


class SeriesViewer(W.VBox):  # type: ignore[misc]
    """One series: the slice image, a slice slider, W/L presets and sliders.

    Rendering is PNG into an ``ipywidgets.Image`` (no pyplot, no flicker). The
    slices are in the volume's geometric order (:func:`dicomkit.volume.viewing_order`;
    the frames of a multi-frame file and the tiles of a Siemens mosaic are slices)
    and numbered from 1, as people count them: the slider, its readout and
    "25 / 49" beside it agree. ``status`` (hidden) says what was rendered last,
    ``rendered <SeriesInstanceUID> slice <n> WW <w> WL <l>``, set after the image:
    the hook browser tests wait on.

    "DICOM default" is the file's first WindowCenter/WindowWidth; for a file
    without them it falls back to "auto" (1st–99th percentile) and says so, in
    its own label and beside the window.

    Parameters
    ----------
    col
        The collection.
    series_uid
        The series to show first (default: the first of ``col.series``).
    findings
        ``col.verify()`` output to show in words (computed when not given).
    renderer
        Shared caches (the explorer passes its own).
    """

    def __init__(
        self,
        col: Collection,
        series_uid: str | None = None,
        *,
        findings: pl.DataFrame | None = None,
        renderer: Renderer | None = None,
    ) -> None:
        self.col = col
        self.renderer = renderer or Renderer()
        self.findings = findings if findings is not None else col.verify()
        self.title = W.HTML()
        self.image = W.Image(
            format="png", layout=W.Layout(width="384px", height="auto")
        )
        self.image.add_class("dk-image")
        self.slider = W.IntSlider(
            value=1, min=1, max=1, description="slice", continuous_update=False
        )
        self.slider.add_class("dk-slice")
        self.preset = W.Dropdown(
            options=_preset_options(has_default=True),
            value=DEFAULT,
            description="window",
        )
        self.preset.add_class("dk-preset")
        self.width = W.FloatSlider(
            value=400,
            min=1,
            max=4000,
            step=1,
            description="WW",
            continuous_update=False,
        )
        self.level = W.FloatSlider(
            value=40,
            min=-1024,
            max=3072,
            step=1,
            description="WL",
            continuous_update=False,
        )
        self.width.add_class("dk-ww")
        self.level.add_class("dk-wl")
        self.info = W.HTML()
        # a test hook, not for people: in the page (browser tests read it), unseen
        self.status = W.Label(layout=W.Layout(display="none"))
        self.status.add_class("dk-status")
        self.notes = W.HTML()
        self._rows: list[dict[str, Any]] = []
        self._uid: str | None = None
        self._setting = False
        self._render_soon = Deferred(self._render)
        self.slider.observe(lambda _: self._render_soon(), names="value")
        self.preset.observe(self._on_preset, names="value")
        for box in (self.width, self.level):
            box.observe(self._on_window_typed, names="value")
        controls = W.VBox(
            [
                self.slider,
                self.preset,
                self.width,
                self.level,
                self.info,
                self.status,
            ]
        )
        super().__init__([self.title, W.HBox([self.image, controls]), self.notes])
        self.add_class("dk-series-viewer")
        uid = series_uid or (
            col.series["SeriesInstanceUID"][0] if col.series.height else None
        )
        if uid is not None:
            self.show_series(uid)

    # -- state ------------------------------------------------------------------------

    @property
    def series_uid(self) -> str | None:
        """The SeriesInstanceUID shown."""
        return self._uid

    @property
    def current(self) -> dict[str, Any] | None:
        """The instance row of the slice shown."""
        if not self._rows:
            return None
        number = min(max(int(self.slider.value), 1), len(self._rows))
        return self._rows[number - 1]

    def show_series(self, uid: str) -> None:
        """Show another series, at its middle slice, in its DICOM default window."""
        series = self.col.instances.filter(pl.col("SeriesInstanceUID") == uid)
        self._uid = uid
        self._rows = viewing_order(series)
        with self.hold_sync():
            self._setting = True
            self.slider.max = max(len(self._rows), 1)
            self.slider.value = len(self._rows) // 2 + 1
            self.preset.options = _preset_options(has_default=self._has_default())
            self.preset.value = DEFAULT
            self._setting = False
            self._set_window(self._default_window())
            self.title.value = self._title_html(series)
            self.notes.value = self._findings_html(series)
        self._render()

    def window(self) -> Window:
        """The window (WW/WL) in use."""
        return Window(float(self.width.value), float(self.level.value))

    # -- events -------------------------------------------------------------------------

    def _has_default(self) -> bool:
        """Whether the current file has a WindowCenter/WindowWidth of its own."""
        row = self.current
        return row is not None and dicom_window(row) is not None

    def _default_window(self) -> Window:
        row = self.current
        if row is None:
            return Window(400, 40)
        return dicom_window(row) or self.renderer.window_for(SliceRef.from_row(row))

    def _on_preset(self, change: dict[str, Any]) -> None:
        if self._setting:
            return
        name = change["new"]
        if name == DEFAULT:
            window = self._default_window()
        elif name == AUTO and self.current is not None:
            window = self.renderer.window_for(SliceRef.from_row(self.current))
        else:
            window = PRESETS.get(name, self.window())
        self._set_window(window)
        self._render_soon()

    def _on_window_typed(self, _: dict[str, Any]) -> None:
        if not self._setting:
            self._render_soon()

    def _set_window(self, window: Window) -> None:
        """Move the WW/WL sliders to ``window``, widening their range if needed."""
        self._setting = True
        width, level = round(window.width, 2), round(window.level, 2)
        self.width.max = max(self.width.max, width * 1.5)
        self.level.min = min(self.level.min, level - width)
        self.level.max = max(self.level.max, level + width)
        self.width.value, self.level.value = width, level
        self._setting = False

    def _render(self) -> None:
        row = self.current
        if row is None:
            self.status.value = "nothing to show"
            return
        ref = SliceRef.from_row(row)
        window = self.window()
        self.image.value = self._png(row, window)
        position = row.get("ImagePositionPatient")
        where = (
            "no position"
            if not position
            else "(" + ", ".join(f"{v:.1f}" for v in position) + ") mm"
        )
        problem = self.renderer.errors.get(ref.sop)
        self.info.value = (
            f"<b>{self.slider.value}</b> / {len(self._rows)} &nbsp; InstanceNumber "
            f"{html.escape(clip(row.get('InstanceNumber')))}"
            + (f" frame {ref.frame + 1}" if row.get("n_frames", 1) > 1 else "")
            + (
                f" tile {row['tile'] + 1} of {row['n_tiles']}"
                if row.get("tile") is not None
                else ""
            )
            + f"<br>position {html.escape(where)}<br><b>{html.escape(str(window))}</b>"
            + (
                f"<br><i>{html.escape(NO_DEFAULT_NOTE)}</i>"
                if self.preset.value == DEFAULT and not self._has_default()
                else ""
            )
            + (
                f"<br><span style='color:#b00'>{html.escape(clip(problem, 200))}</span>"
                if problem
                else ""
            )
        )
        self.status.value = (
            f"rendered {clip(self._uid)} slice {self.slider.value} "
            f"WW {window.width:g} WL {window.level:g}"
        )

    def _png(
        self, row: dict[str, Any], window: Window | None, max_size: int | None = None
    ) -> bytes:
        """The slice's PNG; a mosaic tile is cut out of its (cached) mosaic."""
        ref = SliceRef.from_row(row)
        if row.get("tile") is not None:
            try:
                tile = untile_mosaic(self.renderer.pixels(ref), int(row["n_tiles"]))
                image = tile[row["tile"]]
                return to_png(apply_window(image, window or auto_window(image)))
            except DicomkitError:
                pass  # the renderer shows (and records) why
        return self.renderer.png(ref, window, max_size=max_size)

    # -- text ----------------------------------------------------------------------------

    def _title_html(self, series: pl.DataFrame) -> str:
        first = series.row(0, named=True)
        return (
            f"<b>Series {html.escape(clip(first['SeriesNumber']))} · "
            f"{html.escape(clip(first['Modality']))} · "
            f"{html.escape(clip(first['SeriesDescription']) or '(no description)')}</b> "
            f"— {len(self._rows)} slices<br><code>{html.escape(clip(self._uid, 80))}</code>"
        )

    def _findings_html(self, series: pl.DataFrame) -> str:
        sops = set(series["SOPInstanceUID"])
        mine = self.findings.filter(
            (pl.col("uid") == self._uid)
            | pl.col("sop_instance_uids")
            .list.eval(pl.element().is_in(list(sops)))
            .list.any()
        )
        if mine.is_empty():
            return "<p>✓ verify() found nothing wrong in this series.</p>"
        items = "".join(
            f"<li>{_SEVERITY_MARK.get(r['severity'], '')} <b>{html.escape(r['check'])}</b>: "
            f"{html.escape(clip(r['message'], 600))}</li>"
            for r in mine.iter_rows(named=True)
        )
        return f"<ul>{items}</ul>"

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        image = ""
        if self.current is not None:
            image = img_tag(self._png(self.current, self.window(), max_size=256))
        return with_html_fallback(
            bundle, f"<div>{self.title.value}<br>{image}{self.notes.value}</div>"
        )


def _preset_options(*, has_default: bool) -> list[tuple[str, str]]:
    """The window dropdown's ``(label, value)`` pairs."""
    default = DEFAULT if has_default else NO_DEFAULT_LABEL
    return [(default, DEFAULT), (AUTO, AUTO), *((name, name) for name in PRESETS)]
