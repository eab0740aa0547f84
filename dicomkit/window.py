"""Window/level: how stored values become grey levels on screen.

Pure numpy. Radiologists speak of a *window width* (WW) and *window level* (WL,
the centre): values below ``WL − WW/2`` are black, above ``WL + WW/2`` white.
Presets follow the CT conventions also used by fastai's ``dicom_windows``
(Hounsfield units); "DICOM default" comes from the file's WindowCenter and
WindowWidth, and "auto" from the 1st and 99th percentiles of the image.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["PRESETS", "Window", "apply_window", "auto_window", "dicom_window"]


@dataclass(frozen=True)
class Window:
    """A window: ``width`` (WW) and ``level`` (WL, the centre)."""

    width: float
    level: float

    def __str__(self) -> str:
        return f"WW {self.width:g} WL {self.level:g}"


#: Named CT windows (width, level) in Hounsfield units.
PRESETS: dict[str, Window] = {
    "brain": Window(80, 40),
    "subdural": Window(254, 100),
    "stroke": Window(40, 40),
    "brain bone": Window(2800, 600),
    "lung": Window(1500, -600),
    "mediastinum": Window(350, 50),
    "abdomen": Window(400, 50),
    "liver": Window(150, 30),
    "bone": Window(1800, 400),
}


def apply_window(image: npt.ArrayLike, window: Window) -> npt.NDArray[np.uint8]:
    """Map values to 0–255 grey levels through ``window`` (linear, clipped).

    Examples
    --------
    >>> apply_window([-1000, 40, 1000], Window(400, 40)).tolist()
    [0, 128, 255]
    """
    values = np.asarray(image, dtype=np.float32)
    width = max(float(window.width), 1e-6)
    low = window.level - width / 2
    scaled = (values - low) * (255.0 / width)
    grey: npt.NDArray[np.uint8] = np.clip(scaled + 0.5, 0, 255).astype(np.uint8)
    return grey


def auto_window(image: npt.ArrayLike, low: float = 1.0, high: float = 99.0) -> Window:
    """The window spanning the ``low``–``high`` percentiles of ``image``."""
    values = np.asarray(image, dtype=np.float32)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return Window(1.0, 0.0)
    lo, hi = np.percentile(finite, [low, high])
    width = float(hi - lo) or 1.0
    return Window(width, float(lo) + width / 2)


def dicom_window(row: Mapping[str, Any]) -> Window | None:
    """The first WindowCenter/WindowWidth pair of an instance row, if any."""
    centres, widths = row.get("WindowCenter"), row.get("WindowWidth")
    if not centres or not widths:
        return None
    width = float(widths[0])
    return Window(width, float(centres[0])) if width > 0 else None
