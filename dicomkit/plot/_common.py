"""What the figures share: bounded labels, new Figures (never pyplot), notes, PNG.

Every text from a DICOM file goes through :func:`_text`: clipped by
:func:`dicomkit.text.clip`, with its ``$`` escaped.
"""

from __future__ import annotations

import sys
from io import BytesIO
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from dicomkit.text import clip

_BLUE, _ORANGE, _RED, _PURPLE = "tab:blue", "tab:orange", "tab:red", "tab:purple"
Row = dict[str, Any]
_ABOVE: Any = {"xytext": (0, 4), "textcoords": "offset points", "fontsize": 7}
_SLICE_KEYS = (
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "InstanceNumber",
    "ImageType",
)
_GREY: Any = {"fontsize": 7, "color": "0.4"}
_LEVELS = ("patient", "study", "series", "instance")
_N = ("n_studies", "n_series", "n_instances")


def _text(value: Any, width: int = 40) -> str:
    """A DICOM value as a bounded, mathtext-safe matplotlib label."""
    return clip(value, width).replace("$", r"\$")


def _when(s: Row) -> str:
    if s.get("StudyDate") is None:
        return "no date"
    return " ".join(clip(s[k]) for k in ("StudyDate", "StudyTime") if s.get(k))


def _axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    _register_ipython_png()
    return Figure(figsize=size, layout="constrained").add_subplot()


def _side(ax: Axes, notes: str, handles: list[Line2D] | None = None) -> None:
    """A legend and notes to the right of the plot, out of the data's way."""
    kw: dict[str, Any] = {"fontsize": 8, "frameon": False, "borderaxespad": 0}
    if handles or (handles is None and ax.get_legend_handles_labels()[0]):
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1), **kw)
    ax.text(1.02, 0, notes, transform=ax.transAxes, fontsize=8, wrap=True)


def _mark(ax: Axes, x: float, label: str, color: str, **kw: Any) -> None:
    """A label at data x, near the top of the axes."""
    trans = ax.get_xaxis_transform()
    ax.text(x, 0.98, label, transform=trans, ha="center", va="top", color=color, **kw)


def _png(obj: Axes | Figure) -> bytes | None:
    """PNG bytes of a figure pyplot does not manage (pyplot shows its own)."""
    fig: Any = obj.figure if isinstance(obj, Axes) else obj
    fig = getattr(fig, "figure", fig)  # a SubFigure's root Figure
    if not isinstance(fig, Figure) or fig.canvas.manager is not None:
        return None
    buffer = BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def _register_ipython_png() -> None:
    """Let IPython show a returned Axes or Figure as PNG, as pyplot's inline does."""
    ipython: Any = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    formatters = getattr(getattr(shell, "display_formatter", None), "formatters", {})
    png: Any = formatters.get("image/png")
    for kind in (Axes, Figure) if png is not None else ():
        try:
            png.lookup_by_type(kind)
        except KeyError:
            png.for_type(kind, _png)
