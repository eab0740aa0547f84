"""UIDAnatomy: the Study, Series and SOP Instance UIDs of one image, taken apart."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as W

from dicomkit import uid as uids
from dicomkit.render import clip
from dicomkit.widgets._util import with_html_fallback

if TYPE_CHECKING:
    from dicomkit.collection import Collection

__all__ = ["UIDAnatomy", "anatomy_html"]

#: A longer value is no UID (at most 64 characters): it is shown clipped, not taken
#: apart.
_MAX_UID = 128

_INTRO = (
    "<p>Every image carries the label of its envelopes: the <b>StudyInstanceUID</b> of "
    "its study, the <b>SeriesInstanceUID</b> of its series, and its own "
    "<b>SOPInstanceUID</b>. Each UID starts with a root that belongs to an organisation "
    "(often the manufacturer), continues with a part for the device or site, and ends "
    "with a part that is unique to this examination, series or image.</p>"
)


def anatomy_html(row: dict[str, Any]) -> str:
    """The three UIDs of an instance row, each split by :func:`dicomkit.uid.explain`."""
    parts = [_INTRO]
    for label, key in (
        ("Study (the envelope)", "StudyInstanceUID"),
        ("Series (the sub-envelope)", "SeriesInstanceUID"),
        ("SOP Instance (this image)", "SOPInstanceUID"),
    ):
        value = row.get(key)
        if not value:
            body = "<i>missing</i>"
        elif len(value) > _MAX_UID or not value.isprintable():
            body = (
                f"<p><code>{html.escape(clip(value, 80))}</code> is not a UID: "
                f"{len(value):,} characters, not all printable or too many (a UID "
                "is at most 64 digits and dots)</p>"
            )
        else:
            body = uids.explain(value)._repr_html_()
        parts.append(f"<h4>{html.escape(label)}</h4>{body}")
    shared = uids.common_prefix(
        [
            u
            for u in (
                row.get("StudyInstanceUID"),
                row.get("SeriesInstanceUID"),
                row.get("SOPInstanceUID"),
            )
            if u
        ]
    )
    if shared:
        parts.append(
            f"<p>The three share the prefix <code>{html.escape(clip(shared, 80))}</code>: they "
            "were issued by the same organisation and device.</p>"
        )
    return "".join(parts)


class UIDAnatomy(W.VBox):  # type: ignore[misc]
    """The UIDs of the selected image, split into root, device part and suffix.

    Parameters
    ----------
    col
        A collection; shows ``sop_uid`` or its first instance.
    """

    def __init__(self, col: Collection, sop_uid: str | None = None) -> None:
        self.col = col
        self.html = W.HTML()
        self.html.add_class("dk-uid-anatomy")
        super().__init__([self.html])
        rows = col.instances
        if sop_uid is not None:
            rows = rows.filter(rows["SOPInstanceUID"] == sop_uid)
        if rows.height:
            self.show_instance(rows.row(0, named=True))

    def show_instance(self, row: dict[str, Any]) -> None:
        """Show the UIDs of another instance row."""
        self.html.value = anatomy_html(row)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return with_html_fallback(super()._repr_mimebundle_(**kwargs), self.html.value)
