"""TagBrowser: the full header of one instance, read on demand, and what varies."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as W
import polars as pl

from dicomkit.exceptions import DicomkitError
from dicomkit.header_html import tags_html
from dicomkit.hierarchy import varying_attributes
from dicomkit.io.pixels import read_dataset
from dicomkit.render import clip
from dicomkit.widgets._util import with_html_fallback

if TYPE_CHECKING:
    from dicomkit.collection import Collection

__all__ = ["TagBrowser"]

HEADER = "header"
VARYING = "varying in series"


class TagBrowser(W.VBox):  # type: ignore[misc]
    """Every element of one instance's header (sequences collapsible, private tags
    marked) with a text filter, or the attributes that vary across its series.

    The header is read from the file when shown, never during the scan.

    Parameters
    ----------
    col
        A collection; the instance shown is ``sop_uid`` or its first instance.
    """

    def __init__(self, col: Collection, sop_uid: str | None = None) -> None:
        self.col = col
        self.filter = W.Text(
            placeholder="filter: tag, keyword or value", description="filter"
        )
        self.filter.add_class("dk-tag-filter")
        self.mode = W.ToggleButtons(options=[HEADER, VARYING], value=HEADER)
        self.table = W.HTML()
        self.table.add_class("dk-tags")
        self._row: dict[str, Any] | None = None
        self._dataset: Any = None
        self.filter.observe(lambda _: self.refresh(), names="value")
        self.mode.observe(lambda _: self.refresh(), names="value")
        super().__init__([W.HBox([self.filter, self.mode]), self.table])
        self.add_class("dk-tag-browser")
        rows = col.instances
        if sop_uid is not None:
            rows = rows.filter(pl.col("SOPInstanceUID") == sop_uid)
        if rows.height:
            self.show_instance(rows.row(0, named=True))

    def show_instance(self, row: dict[str, Any]) -> None:
        """Show another instance (an instance row)."""
        if self._row is not None and row["path"] == self._row["path"]:
            return
        self._row = row
        self._dataset = None
        self.refresh()

    def refresh(self) -> None:
        """Redraw the table for the current instance, mode and filter."""
        row = self._row
        if row is None:
            self.table.value = "<p>no instance</p>"
            return
        if self.mode.value == VARYING:
            series = self.col.instances.filter(
                pl.col("SeriesInstanceUID") == row["SeriesInstanceUID"]
            )
            self.table.value = _varying_html(
                varying_attributes(series), self.filter.value
            )
            return
        if self._dataset is None:
            try:
                self._dataset = read_dataset(
                    row["path"],
                    stop_before_pixels=True,
                    transfer_syntax=row.get("TransferSyntaxUID"),
                )
            except DicomkitError as exc:
                self.table.value = f"<p>{html.escape(clip(exc, 600))}</p>"
                return
        title = f"<p><code>{html.escape(clip(row['path'], 160))}</code></p>"
        self.table.value = title + tags_html(
            self._dataset, text_filter=self.filter.value
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return with_html_fallback(super()._repr_mimebundle_(**kwargs), self.table.value)


def _varying_html(frame: pl.DataFrame, text_filter: str) -> str:
    needle = text_filter.strip().lower()
    rows = [
        r for r in frame.iter_rows(named=True)
        if not needle or needle in (r["keyword"] + " ".join(r["values"])).lower()
    ]  # fmt: skip
    if not rows:
        return "<p>No attribute varies across this series (or none matches the filter).</p>"
    body = "".join(
        f"<tr><td>{html.escape(r['keyword'])}</td><td>{r['n_values']}</td>"
        f"<td>{html.escape(', '.join(clip(v, 40) for v in r['values']))}"
        f"{' …' if r['n_values'] > len(r['values']) else ''}</td></tr>"
        for r in rows
    )
    return (
        "<p>Attributes that take more than one value across the series. Position and "
        "number change per slice; identity and acquisition attributes should not.</p>"
        f"<table><tr><th>keyword</th><th>values</th><th>examples</th></tr>{body}</table>"
    )
