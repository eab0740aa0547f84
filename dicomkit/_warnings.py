"""One way to warn: at the user's line, whatever the depth inside dicomkit.

A warning raised deep in a scan (a cache it cannot write, worker processes that
failed) must point at the user's ``dk.scan(...)`` call, not at dicomkit's code, and
a hard-coded ``stacklevel`` breaks as soon as a call path gets one frame longer.
:func:`warn` counts the frames itself (polars' ``find_stacklevel`` does the same).
"""

from __future__ import annotations

import sys
import warnings

__all__ = ["caller_stacklevel", "warn"]


def caller_stacklevel() -> int:
    """The ``stacklevel`` of the first frame outside dicomkit, seen from the caller.

    Frames of modules named ``dicomkit`` or ``dicomkit.*`` are skipped; a frame of
    any other module (a test, a notebook cell, the user's script) is the target.
    """
    level = 1
    frame = sys._getframe(1)
    while frame.f_back is not None and _inside(frame.f_globals.get("__name__", "")):
        frame = frame.f_back
        level += 1
    return level


def warn(message: str, category: type[Warning] = RuntimeWarning) -> None:
    """Warn with ``message``, attributed to the user's line outside dicomkit.

    Examples
    --------
    >>> import warnings
    >>> from dicomkit._warnings import warn
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn("dicomkit: an example")
    >>> caught[0].category.__name__, str(caught[0].message)
    ('RuntimeWarning', 'dicomkit: an example')
    """
    warnings.warn(message, category, stacklevel=caller_stacklevel())


def _inside(module: str) -> bool:
    return module == "dicomkit" or module.startswith("dicomkit.")
