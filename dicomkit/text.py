"""Wording shared by every display: counted nouns, and paths shown relative to a root.

Pure and tiny; imports no other dicomkit module, so any layer may use it.

>>> plural(1, "instance"), plural(2, "study"), plural(3, "series"), plural(0, "info")
('1 instance', '2 studies', '3 series', '0 info')
"""

from __future__ import annotations

import os
from collections.abc import Iterable

__all__ = ["common_folder", "plural", "relative"]

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
