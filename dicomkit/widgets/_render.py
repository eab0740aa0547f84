"""Slices to PNG bytes, with caches: the only work the widgets hand off.

Pixels are read on demand (``dicomkit.io.pixels``), windowed
(``dicomkit.window``) and encoded as PNG with Pillow (matplotlib's own image
library). Two LRU caches: decoded slices by (path, frame), and PNGs by
(SOPInstanceUID, frame, window, size) — so a thumbnail or a slice seen once is
shown again instantly.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from dicomkit.exceptions import DicomkitError
from dicomkit.io.pixels import load_pixels
from dicomkit.window import Window, apply_window, auto_window

__all__ = ["Renderer", "SliceRef", "to_png"]

V = TypeVar("V")


class _LRU(Generic[V]):
    def __init__(self, size: int) -> None:
        self.size = size
        self.data: OrderedDict[Hashable, V] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, key: Hashable) -> V | None:
        if key in self.data:
            self.data.move_to_end(key)
            self.hits += 1
            return self.data[key]
        self.misses += 1
        return None

    def put(self, key: Hashable, value: V) -> None:
        self.data[key] = value
        self.data.move_to_end(key)
        while len(self.data) > self.size:
            self.data.popitem(last=False)


@dataclass(frozen=True)
class SliceRef:
    """One 2-D image: a frame of a file."""

    sop: str
    path: str
    frame: int = 0
    syntax: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> SliceRef:
        """The slice of an instance row (``frame`` from :func:`slice_order`)."""
        return cls(
            row["SOPInstanceUID"],
            row["path"],
            int(row.get("frame") or 0),
            row.get("TransferSyntaxUID"),
        )


def to_png(image: npt.NDArray[np.uint8]) -> bytes:
    """Encode an 8-bit grey (or RGB) image as PNG."""
    from PIL import Image  # Pillow comes with matplotlib

    buffer = io.BytesIO()
    mode = "L" if image.ndim == 2 else "RGB"
    Image.fromarray(np.ascontiguousarray(image), mode=mode).save(
        buffer, format="PNG", compress_level=1
    )
    return buffer.getvalue()


def _shrink(image: npt.NDArray[Any], max_size: int | None) -> npt.NDArray[Any]:
    if not max_size:
        return image
    step = int(np.ceil(max(image.shape[:2]) / max_size))
    return image[::step, ::step] if step > 1 else image


_PLACEHOLDER = np.full((8, 8), 40, dtype=np.uint8)


class Renderer:
    """Decodes, windows and encodes slices, caching both steps."""

    def __init__(self, *, pixel_cache: int = 48, png_cache: int = 1024) -> None:
        self._pixels: _LRU[npt.NDArray[Any]] = _LRU(pixel_cache)
        self._png: _LRU[bytes] = _LRU(png_cache)
        self.errors: dict[str, str] = {}

    def pixels(self, ref: SliceRef) -> npt.NDArray[Any]:
        """The slice's values (modality LUT applied), cached."""
        key = (ref.path, ref.frame)
        cached = self._pixels.get(key)
        if cached is None:
            frames = load_pixels(ref.path, transfer_syntax=ref.syntax)
            cached = frames[min(ref.frame, len(frames) - 1)]
            self._pixels.put(key, cached)
        return cached

    def window_for(self, ref: SliceRef) -> Window:
        """The "auto" window of a slice (a neutral one when it cannot be decoded)."""
        try:
            return auto_window(self.pixels(ref))
        except DicomkitError as exc:
            self.errors[ref.sop] = str(exc)
            return Window(400, 40)

    def png(
        self, ref: SliceRef, window: Window | None, *, max_size: int | None = None
    ) -> bytes:
        """PNG bytes of ``ref`` through ``window`` (None: auto), at most ``max_size`` px."""
        key = (ref.sop, ref.frame, window, max_size)
        cached = self._png.get(key)
        if cached is not None:
            return cached
        try:
            values = self.pixels(ref)
        except DicomkitError as exc:  # no decoder, no pixel data: show why, not crash
            self.errors[ref.sop] = str(exc)
            return to_png(_PLACEHOLDER)
        values = _shrink(values, max_size)
        if values.ndim == 3:  # colour: shown as stored
            image = values.astype(np.uint8) if values.dtype != np.uint8 else values
        else:
            image = apply_window(values, window or auto_window(values))
        encoded = to_png(image)
        self._png.put(key, encoded)
        return encoded

    def cache_info(self) -> dict[str, int]:
        """Hits and misses of the PNG and pixel caches (for tests and benchmarks)."""
        return {
            "png_hits": self._png.hits,
            "png_misses": self._png.misses,
            "pixel_hits": self._pixels.hits,
            "pixel_misses": self._pixels.misses,
        }
