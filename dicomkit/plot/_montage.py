"""montage: slices of an array, a list of arrays or a Volume, in a grid."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from matplotlib import colormaps
from matplotlib.axes import Axes

from dicomkit.plot._common import (
    _axes,
    _text,
)
from dicomkit.text import plural as _plural
from dicomkit.volume import Volume


def montage(
    images: npt.NDArray[Any] | Sequence[npt.NDArray[Any]] | Volume,
    *,
    columns: int | None = None,
    window: tuple[float, float] | Literal["auto"] | None = None,
    labels: Sequence[str] | None = None,
    ax: Axes | None = None,
    step: int = 1,
) -> Axes:
    """Tile 2-D slices into one grey-scale image, all under one window.

    Notice that every tile shares one window (center ± width/2 runs from black
    to white), so a tile that looks brighter *is* brighter in the data, and a
    narrow window (soft tissue: 40/400 HU) shows contrast a wide one hides.
    Smaller slices are padded with black; pixels are drawn square.

    Parameters
    ----------
    images
        A :class:`~dicomkit.Volume` (``col.volume(uid)``), an array of shape
        ``(n, y, x)`` (or one ``(y, x)`` slice), or a sequence of 2-D arrays.
    columns
        Tiles per row; default ``ceil(sqrt(n))``.
    window
        ``(center, width)`` as radiologists set it (WL/WW). Default: for a Volume
        whose files carry WindowCenter/WindowWidth, that window (the middle
        slice's); otherwise, or with ``"auto"``, the 1st to 99th percentile of
        the data. The title says which.
    labels
        Up to ``n`` short texts, drawn small in each tile's top-left corner.
    ax
        Draw here; default: a new Figure.
    step
        Every ``step``-th slice (``montage(vol, step=6)``).

    Examples
    --------
    >>> montage(col.volume(uid), step=4, columns=6)  # the file's window  # doctest: +SKIP
    >>> montage(volume[::4], columns=6, window=(40, 400))  # doctest: +SKIP
    """
    if step < 1:
        msg = f"step must be at least 1, not {step}"
        raise ValueError(msg)
    file_window = None
    if isinstance(images, Volume):
        file_window = images.metadata.get("window")
        array = images.array
        images = array.reshape(-1, *array.shape[-2:]) if array.ndim == 4 else array
    slices = _slices(images)[::step]
    n = len(slices)
    cols = min(n, math.ceil(math.sqrt(n)) if columns is None else columns)
    if cols < 1 or (labels is not None and len(labels) > n):
        msg = f"need columns >= 1 and at most {n} labels, not {columns=}, {labels=}"
        raise ValueError(msg)
    rows = math.ceil(n / cols)
    h, w = max(s.shape[0] for s in slices), max(s.shape[1] for s in slices)
    canvas = np.full((rows * h, cols * w), np.nan)
    for i, s in enumerate(slices):
        r, c = divmod(i, cols)
        canvas[r * h : r * h + s.shape[0], c * w : c * w + s.shape[1]] = s
    chosen: tuple[float, float] | None = None
    source = "1st–99th percentile"
    if window is not None and not isinstance(window, str):
        chosen, source = (window[0], window[1]), "given"
    elif window is None and file_window is not None:
        chosen, source = file_window, "the file's WindowCenter/WindowWidth"
    low, high = _window(canvas, chosen)
    inches = min(max(2.0 * cols, 4.0), 12.0)
    ax = _axes(ax, (inches, inches * rows * h / (cols * w) + 0.5))
    cmap = colormaps["gray"].with_extremes(bad="black")
    ax.imshow(canvas, cmap=cmap, vmin=low, vmax=high, interpolation="nearest")
    for c in range(1, cols):
        ax.axvline(c * w - 0.5, color="0.35", lw=0.6)
    for r in range(1, rows):
        ax.axhline(r * h - 0.5, color="0.35", lw=0.6)
    for i, label in enumerate(labels or ()):
        r, c = divmod(i, cols)
        x, y = c * w + 0.03 * w, r * h + 0.03 * h
        ax.text(x, y, _text(label, 24), color="yellow", fontsize=7, va="top")
    center, width = (low + high) / 2, high - low
    ax.set_title(
        f"{_plural(n, 'slice')}\nwindow center {center:.4g}, width {width:.4g} "
        f"({source})",
        fontsize=9,
    )
    ax.set_axis_off()
    return ax


def _slices(
    images: npt.NDArray[Any] | Sequence[npt.NDArray[Any]],
) -> list[npt.NDArray[np.float64]]:
    if isinstance(images, np.ndarray) and images.ndim == 2:
        images = images[np.newaxis]
    if isinstance(images, np.ndarray) and images.ndim != 3:
        msg = f"images must have shape (n, y, x) or (y, x), not {images.shape}"
        raise ValueError(msg)
    slices = [np.asarray(s, dtype=float) for s in images]
    if not slices or any(s.ndim != 2 or 0 in s.shape for s in slices):
        msg = "images must be one or more non-empty 2-D slices"
        raise ValueError(msg)
    return slices


def _window(
    canvas: npt.NDArray[np.float64], window: tuple[float, float] | None
) -> tuple[float, float]:
    if window is not None:
        center, width = float(window[0]), float(window[1])
        if not width > 0:
            msg = f"window width must be positive, not {width}"
            raise ValueError(msg)
        return center - width / 2, center + width / 2
    finite = canvas[np.isfinite(canvas)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = (float(v) for v in np.percentile(finite, [1, 99]))
    return (low, high) if high > low else (low - 0.5, high + 0.5)
