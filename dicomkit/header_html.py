"""A pydicom data set's header as HTML: the table of the tag browser.

Pure: a data set in, a string out (:class:`dicomkit.widgets.TagBrowser` shows it).
Every value is clipped (:func:`dicomkit.text.clip`) and escaped, and the number of
rows is bounded, whatever the file holds.
"""

from __future__ import annotations

import html
import warnings
from typing import Any

from dicomkit.text import clip, plural

__all__ = ["tags_html"]

_TAG_STYLE = (
    "<style>.dk-tags{font-family:monospace;font-size:12px}.dk-tags td{padding:0 6px;"
    "vertical-align:top}.dk-tags .dk-private{color:#8a2be2}.dk-tags summary{cursor:"
    "pointer}.dk-tags details{margin-left:1.2em}</style>"
)


def tags_html(ds: Any, *, text_filter: str = "", max_rows: int = 2000) -> str:
    """A pydicom data set as an HTML table: tag, keyword, VR, value (escaped, clipped).

    Sequences are collapsible (``<details>``), private tags are marked, and
    ``text_filter`` keeps the elements whose tag, keyword or value contains it
    (case-insensitive; a sequence is kept when anything inside matches).
    """
    needle = text_filter.strip().lower()
    budget = [max_rows]
    with warnings.catch_warnings():  # pydicom warns about the values it decodes
        warnings.simplefilter("ignore")
        body = _tag_rows(ds, needle, budget)
    more = "<p>… more elements not shown</p>" if budget[0] <= 0 else ""
    return f'{_TAG_STYLE}<div class="dk-tags">{body or "<p>(no matching element)</p>"}{more}</div>'


def _tag_rows(ds: Any, needle: str, budget: list[int]) -> str:
    esc = html.escape
    rows: list[str] = []
    for element in ds:
        if budget[0] <= 0:
            break
        tag = f"({element.tag.group:04X},{element.tag.element:04X})"
        keyword = element.keyword or ("private" if element.tag.is_private else "")
        cls = ' class="dk-private"' if element.tag.is_private else ""
        if element.VR == "SQ":
            items = "".join(
                f"<details><summary>item {i + 1}</summary>{_tag_rows(item, needle, budget)}</details>"
                for i, item in enumerate(element.value[:100])
            )
            if (
                needle
                and "<tr" not in items
                and needle not in f"{tag} {keyword}".lower()
            ):
                continue
            budget[0] -= 1
            rows.append(
                f"<tr{cls}><td>{tag}</td><td>{esc(keyword)}</td><td>SQ</td><td><details>"
                f"<summary>{plural(len(element.value), 'item')}</summary>{items}</details></td></tr>"
            )
            continue
        value = _element_text(element)
        if needle and needle not in f"{tag} {keyword} {value}".lower():
            continue
        budget[0] -= 1
        rows.append(
            f"<tr{cls}><td>{tag}</td><td>{esc(keyword)}</td><td>{esc(str(element.VR))}</td>"
            f"<td>{esc(value)}</td></tr>"
        )
    return f"<table>{''.join(rows)}</table>" if rows else ""


def _element_text(element: Any) -> str:
    if element.tag == 0x7FE00010 or element.VR in (
        "OB",
        "OW",
        "OF",
        "OD",
        "OL",
        "OV",
        "UN",
    ):
        length = len(element.value) if element.value is not None else 0
        return f"<{length:,} bytes>"
    try:
        return clip(element.value, 120)
    except Exception:  # noqa: BLE001 - a value pydicom cannot decode
        return "<undecodable>"
