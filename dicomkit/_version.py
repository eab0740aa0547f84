"""dicomkit's version: from the package metadata, the one place it is written.

The number lives in ``pyproject.toml`` (``[project] version``); an installed
dicomkit reads it back with :func:`importlib.metadata.version`. A source checkout
that is not installed (dicomkit on ``PYTHONPATH``) reads the checkout's
``pyproject.toml`` instead, so no copy of the number is kept in the code.

Base layer: imports no other dicomkit module.

>>> dicomkit_version() == dicomkit_version() != ""
True
"""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

__all__ = ["UNKNOWN", "checkout_version", "dicomkit_version"]

#: The version of a dicomkit that is neither installed nor in a checkout.
UNKNOWN = "0+unknown"
_PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
_VERSION_LINE = re.compile(r'^version\s*=\s*"([^"]+)"', re.MULTILINE)


def dicomkit_version() -> str:
    """The installed dicomkit's version, from its package metadata (pyproject.toml).

    Kept in the metadata of an index or a cache; ``dicomkit --version`` prints it,
    and it is ``dicomkit.__version__``. Without an installed distribution, the
    ``version`` of the source checkout's ``pyproject.toml`` (else
    :data:`UNKNOWN`). Read at each call: an upgrade in a running process shows.
    """
    try:
        return importlib.metadata.version("dicomkit")
    except importlib.metadata.PackageNotFoundError:
        return checkout_version(_PYPROJECT)


def checkout_version(pyproject: Path) -> str:
    """The ``[project] version`` of a ``pyproject.toml`` (:data:`UNKNOWN` if none).

    The first ``version = "…"`` line at the start of a line: ``[project]``'s in
    dicomkit's file (``tomllib`` is Python 3.11+, and one line needs no parser).
    """
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return UNKNOWN
    match = _VERSION_LINE.search(text)
    return match.group(1) if match else UNKNOWN
