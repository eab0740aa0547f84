"""Wording shared by every display: clipped values, counted nouns, series labels,
and paths shown relative to a root.

Pure and tiny; imports no other dicomkit module, so any layer may use it.

>>> plural(1, "instance"), plural(2, "study"), plural(3, "series"), plural(0, "info")
('1 instance', '2 studies', '3 series', '0 info')
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping
from typing import Any, Literal

__all__ = ["MAX_TEXT", "clip", "common_folder", "plural", "relative", "series_label"]

#: How long :func:`clip` lets one value be by default.
MAX_TEXT = 64

#: Words whose plural the rules below get wrong (or that do not change).
_IRREGULAR = {"series": "series", "info": "info", "analysis": "analyses"}


def plural(n: int, word: str, many: str | None = None) -> str:
    """``n`` and ``word``, in the singular for exactly one: ``"1 instance"``,
    ``"2 instances"``, ``"1,200 studies"``.

    The last word of ``word`` is inflected (``"more study"`` → ``"more studies"``);
    ``many`` gives the plural when the rules do not.
    """
    if n == 1:
        return f"{n:,} {word}"
    if many is None:
        head, _, last = word.rpartition(" ")
        if last in _IRREGULAR:
            last = _IRREGULAR[last]
        elif last.endswith("y") and last[-2:-1] not in tuple("aeiou"):
            last = last[:-1] + "ies"
        elif last.endswith(("s", "x", "ch", "sh")):
            last += "es"
        else:
            last += "s"
        many = f"{head} {last}" if head else last
    return f"{n:,} {many}"


def clip(value: Any, width: int = MAX_TEXT) -> str:
    """Return ``value`` as one short, printable line (``""`` for null).

    >>> clip(None), clip("a\\x00b"), clip("x" * 10, 5), clip(["1", "2"])
    ('', 'a·b', 'xxxx…', '1\\\\2')
    """
    if value is None:
        return ""
    if isinstance(value, dt.time):
        text = value.strftime("%H:%M")
    elif isinstance(value, (list, tuple)):
        parts: list[str] = []
        size = 0
        for item in value:  # a list of a million values costs no more than a few
            if size > width:
                parts.append("")  # a trailing "\" makes the text too long: "…"
                break
            parts.append(clip(item, width))
            size += len(parts[-1]) + 1
        text = "\\".join(parts)
    else:
        text = str(value)
    text = "".join(ch if ch.isprintable() else "·" for ch in text[: width + 1])
    return text if len(text) <= width else text[: width - 1] + "…"


def series_label(
    row: Mapping[str, Any],
    *,
    form: Literal["tree", "figure", "message"] = "tree",
    width: int | None = None,
) -> str:
    """The one label of a series, in the three forms the displays show.

    ``row`` is a row of ``col.series`` (``SeriesNumber``, ``Modality``,
    ``SeriesDescription``; the tree and figure forms also read ``n_instances`` and
    ``n_frames``). Every value is clipped (:func:`clip`); a missing number or
    modality shows as ``?`` and a missing description as ``(no description)``,
    except in the message form, which names the series by number and description
    only.

    ``form``
        ``"tree"``: the text and HTML tree (``col``'s repr),
        ``"figure"``: :func:`dicomkit.plot.hierarchy`'s boxes,
        ``"message"``: split and merge plans' reasons and errors.
    ``width``
        The description's width; when given, the number and the modality (short
        codes) are clipped to 8 characters. ``None``: each at :data:`MAX_TEXT`.

    >>> r = {"SeriesNumber": 3, "Modality": "CT", "SeriesDescription": "Chest",
    ...      "n_instances": 120, "n_frames": 240}
    >>> series_label(r)
    'Series 3  CT  Chest  120 instances, 240 frames'
    >>> series_label(r, form="figure", width=4)
    '#3  CT  Che… · 120 instances (240 frames)'
    >>> series_label(r, form="message")
    '#3 Chest'
    >>> series_label({"SeriesNumber": None, "Modality": None,
    ...               "SeriesDescription": None, "n_instances": 1, "n_frames": 1})
    'Series ?  ?  (no description)  1 instance'
    """
    if form == "message":
        return f"#{row['SeriesNumber']} {clip(row['SeriesDescription'])}".strip()
    code = MAX_TEXT if width is None else min(width, 8)
    number = clip(row.get("SeriesNumber"), code) or "?"
    modality = clip(row.get("Modality"), code) or "?"
    desc = (
        clip(row.get("SeriesDescription"), MAX_TEXT if width is None else width)
        or "(no description)"
    )
    count = plural(row["n_instances"], "instance")
    many = row["n_frames"] != row["n_instances"]
    if form == "figure":
        frames = f" ({row['n_frames']:,} frames)" if many else ""
        return f"#{number}  {modality}  {desc} · {count}{frames}"
    frames = f", {row['n_frames']:,} frames" if many else ""
    return f"Series {number}  {modality}  {desc}  {count}{frames}"


def common_folder(paths: Iterable[str | None]) -> str:
    """The deepest folder that holds every one of ``paths`` (``""`` if none).

    A scan's files all lie under the folder it was given, so this is the scanned
    root or a folder inside it: what :func:`relative` shortens paths against.
    """
    folders = {os.path.dirname(p) for p in paths if p}
    if not folders:
        return ""
    try:
        return os.path.commonpath(sorted(folders))
    except ValueError:  # relative and absolute paths mixed, or different drives
        return ""


def relative(path: str | None, root: str) -> str:
    """``path`` relative to ``root`` when it lies under it, else unchanged."""
    if not path:
        return ""
    if root and path.startswith(root.rstrip(os.sep) + os.sep):
        return path[len(root.rstrip(os.sep)) + 1 :]
    return path
