"""Matplotlib pictures for notebooks: slices, slice geometry, studies in time, the tree.

Each function draws into ``ax`` when given one, otherwise into a new
:class:`matplotlib.figure.Figure` (never pyplot's global state, so nothing piles up
between cells), and returns the Axes. So that a returned Axes shows in a notebook
without pyplot, creating a figure in IPython registers a PNG formatter for Axes and
Figure objects that pyplot does not manage (unless one exists). Every text from a
DICOM file is clipped by :func:`dicomkit.render.clip` with its ``$`` escaped: a
hostile value can neither grow a label without bound nor switch on mathtext.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import sys
from collections.abc import Sequence
from io import BytesIO
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl
from matplotlib import colormaps
from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from dicomkit.collection import Collection
from dicomkit.geometry import (
    TILT_TOL_DEG,
    analyse_positions,
    cluster_orientations,
    normal,
    orientation_angle,
)
from dicomkit.text import clip, series_label
from dicomkit.text import plural as _plural
from dicomkit.volume import Volume

__all__ = ["hierarchy", "montage", "slice_positions", "timeline"]

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


def _series_label(r: Row) -> str:
    """:func:`dicomkit.text.series_label` as a figure box, mathtext-safe."""
    return series_label(r, form="figure", width=36).replace("$", r"\$")


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


# -- montage ------------------------------------------------------------------------


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


# -- slice positions ----------------------------------------------------------------


def slice_positions(
    data: Collection | pl.DataFrame,
    series_uid: str | None = None,
    *,
    ax: Axes | None = None,
) -> Axes:
    """Where the images of one series lie along the slice normal.

    One dot per image: x is its position along the normal of
    ImageOrientationPatient (mm), y its InstanceNumber (or its rank along the
    normal when InstanceNumbers are missing). Notice the even rhythm of the dots
    and what breaks it: a red band is a **gap** ("k missing", dashed where the
    slices should be), orange stacks are **duplicates** ("×2": several images at
    one position, e.g. two echoes), purple squares in the left lane are images
    of **another orientation** (a localizer, not part of the volume), and the
    title says when the stack is **tilted** to its normal (gantry tilt). The
    notes at the right say the same in words.

    Parameters
    ----------
    data
        A :class:`~dicomkit.Collection` or an instance frame.
    series_uid
        The SeriesInstanceUID; may be omitted when ``data`` holds one series.
    ax
        Draw here; default: a new Figure.

    Raises
    ------
    ValueError
        When ``series_uid`` is omitted but several series are present, or is not
        present; the message names the series present.

    Examples
    --------
    >>> slice_positions(col, "1.3.12.2.1107.5.1.4.83504.3230919104230200003")  # doctest: +SKIP
    """
    frame = data if isinstance(data, pl.DataFrame) else data.instances
    rows = _series_rows(frame, series_uid)
    first = rows.row(0, named=True)
    ax = _axes(ax, (10.0, 5.0))
    ipp, iop, numbers, types = (_column(rows, k) for k in _SLICE_KEYS)
    usable = [
        o if p is not None and len(p) == 3 else None
        for p, o in zip(ipp, iop, strict=True)
    ]
    labels = cluster_orientations(usable)
    main = [i for i, label in enumerate(labels) if label == 0]
    other = [i for i, label in enumerate(labels) if label > 0]
    lost = labels.count(-1)
    notes = [f"{_plural(lost, 'image')} without geometry: not drawn"] if lost else []
    number = _text(first.get("SeriesNumber"), 12) or "?"
    desc = _text(first.get("SeriesDescription")) or "(no description)"
    title = f"Series {number} · {desc}"
    if not main:
        ax.set_title(f"{title}\nno usable geometry", loc="left", fontsize=10)
        return ax
    a = analyse_positions([ipp[i] for i in main], iop[main[0]])
    n_vec = normal(iop[main[0]])
    along = {i: float(np.asarray(ipp[i], dtype=float) @ n_vec) for i in main}
    if all(numbers[i] is not None for i in main + other):
        y, ylabel = {i: float(numbers[i]) for i in main + other}, "InstanceNumber"
    else:
        ranked = [main[k] for k in a.order] + other
        y, ylabel = {i: r + 1.0 for r, i in enumerate(ranked)}, "rank along the normal"
    single = [main[g[0]] for g in a.groups if len(g) == 1]
    if single:
        xs, ys = [along[i] for i in single], [y[i] for i in single]
        ax.scatter(xs, ys, s=18, c=_BLUE, zorder=3, label="one image at a position")
    stacks = [[main[j] for j in g] for g in a.groups if len(g) > 1]
    if stacks:
        _duplicates(ax, stacks, along, y)
        times = "/".join(f"×{k}" for k in sorted({len(g) for g in stacks}))
        clean = " (a clean repeat: echoes, phases …)" if a.repeats else ""
        held = f"{_plural(len(stacks), 'position')} hold {times} images{clean}"
        notes.append(f"duplicates: {held}")
    for gap in a.gaps:
        x0, x1 = a.positions[gap.after], a.positions[gap.after + 1]
        color = _RED if gap.missing else _ORANGE
        what = f"{gap.missing} missing" if gap.missing else "irregular step"
        ax.axvspan(x0, x1, color=color, alpha=0.12, lw=0, zorder=1)
        for k in range(1, gap.missing + 1):
            ax.axvline(x0 + k * gap.size / (gap.missing + 1), color=_RED, ls="--")
        _mark(ax, (x0 + x1) / 2, what, color, fontsize=8, fontweight="bold")
        notes.append(f"{what}: a {gap.size:.2f} mm step from {x0:.1f} to {x1:.1f} mm")
    if other:
        angle = orientation_angle(iop[other[0]], iop[main[0]])
        notes.append(_other_lane(ax, other, a.positions, y, types, numbers, angle))
    tilt = ""
    if a.tilt_deg > TILT_TOL_DEG:
        tilt = f" · stacked at {a.tilt_deg:.1f}° to the normal"
        header = first.get("GantryDetectorTilt")
        said = (
            f" (GantryDetectorTilt {_text(header, 12)})" if header is not None else ""
        )
        notes.append(f"tilt: slices stacked at {a.tilt_deg:.1f}° to their normal{said}")
    spacing = f"spacing {a.spacing:.2f} mm" if a.spacing is not None else "one position"
    counts = f"{_plural(len(main), 'image')} at {_plural(len(a.positions), 'position')}"
    ax.set_title(f"{title}\n{counts} · {spacing}{tilt}", loc="left", fontsize=10)
    ax.set(xlabel="position along the slice normal (mm)", ylabel=ylabel)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # instance numbers are whole
    ax.grid(True, alpha=0.25)
    _side(ax, "\n".join(notes or ["regular: one image per position, even spacing"]))
    return ax


def _column(rows: pl.DataFrame, name: str) -> list[Any]:
    return rows[name].to_list() if name in rows.columns else [None] * rows.height


def _series_rows(frame: pl.DataFrame, series_uid: str | None) -> pl.DataFrame:
    present = frame.unique("SeriesInstanceUID", keep="first", maintain_order=True)
    uids = present["SeriesInstanceUID"].to_list()
    if series_uid is None and len(uids) == 1:
        series_uid = uids[0]
    if series_uid is None or series_uid not in uids:
        shown = "; ".join(
            f"{clip(r['SeriesInstanceUID'])} (#{clip(r.get('SeriesNumber'))} "
            f"{clip(r.get('SeriesDescription'))})"
            for r in present.head(10).iter_rows(named=True)
        ) + (f"; … {len(uids) - 10} more" if len(uids) > 10 else "")
        ask = "pass series_uid" if series_uid is None else f"not {clip(series_uid)!r}"
        msg = f"{_plural(len(uids), 'series')} present, {ask}: {shown}"
        raise ValueError(msg)
    return frame.filter(pl.col("SeriesInstanceUID") == series_uid)


def _duplicates(
    ax: Axes, stacks: list[list[int]], along: dict[int, float], y: dict[int, float]
) -> None:
    """Images sharing a position: stacked, joined by a line, marked "×k"."""
    xs, ys, segments = [], [], []
    for stack in stacks:
        x, base = along[stack[0]], y[stack[0]]
        heights = [y[i] + 0.3 * k * (y[i] == base) for k, i in enumerate(stack)]
        xs += [x] * len(stack)
        ys += heights
        segments.append([(x, min(heights)), (x, max(heights))])
        if len(stacks) <= 25:
            top = (x, max(heights))
            ax.annotate(f"×{len(stack)}", top, ha="center", color=_ORANGE, **_ABOVE)
    ax.add_collection(LineCollection(segments, colors=_ORANGE, lw=1.5, zorder=2))
    label = "several images at one position"
    ax.scatter(xs, ys, s=18, c=_ORANGE, zorder=3, label=label)


def _other_lane(
    ax: Axes,
    other: list[int],
    positions: list[float],
    y: dict[int, float],
    types: list[Any],
    numbers: list[Any],
    angle: float,
) -> str:
    """Images of another orientation, in a lane left of the stack; returns a note."""
    span = max(positions[-1] - positions[0], 1.0)
    lane = positions[0] - 0.15 * span
    ax.axvline(positions[0] - 0.075 * span, color="0.5", ls=":", lw=1)
    label = "another orientation\n(left lane, not to scale)"
    ys = [y[i] for i in other]
    ax.scatter([lane] * len(other), ys, s=36, marker="s", c=_PURPLE, label=label)
    _mark(ax, lane, "other\norientation", _PURPLE, fontsize=8)
    localizer = any("LOCALIZER" in (types[i] or []) for i in other)
    kind = "a localizer, " if localizer else ""
    which = ", ".join(_text(numbers[i], 8) for i in other[:5])
    which += " …" if len(other) > 5 else ""
    image = _plural(len(other), "image")
    return (
        f"{image} in another orientation ({kind}{angle:.0f}° to the stack; "
        f"InstanceNumber {which}): not part of the volume"
    )


# -- timeline -----------------------------------------------------------------------


def timeline(
    col: Collection, *, ax: Axes | None = None, max_patients: int = 40
) -> Axes:
    """The studies of each patient over time.

    One row per patient, one marker per study at its StudyDate (+ StudyTime),
    coloured by modality and labelled with its modalities, date and description.
    Notice the rows with two markers joined by a line: the same patient came back
    (a follow-up), so one patient's history is several studies, each reported on
    its own. Studies without a date sit in a "no date" column at the left.
    Beyond ``max_patients`` patients the rest are counted in the title.

    Examples
    --------
    >>> timeline(dk.scan("data/sample"))  # doctest: +SKIP
    """
    patients = col.patients.head(max(max_patients, 1))
    ax = _axes(ax, (10.0, 1.4 + 0.9 * max(patients.height, 1)))
    rows: list[list[tuple[float | None, Row]]] = []
    for pid in patients["PatientID"].to_list():
        mine = col.studies.filter(pl.col("PatientID").eq_missing(pid))
        rows.append([(_days(s), s) for s in mine.iter_rows(named=True)])
    dated = [x for row in rows for x, _ in row if x is not None]
    undated = sum(len(row) for row in rows) - len(dated)
    lo, hi = (min(dated), max(dated)) if dated else (0.0, 0.0)
    pad = max((hi - lo) * 0.08, 15.0) if dated else 1.0
    no_date = lo - 2 * pad if dated else 0.0
    if undated:
        ax.axvline(no_date + pad, color="0.5", ls=":", lw=1)
        _mark(ax, no_date, "no date", "0.3", fontsize=8)
    colors: dict[str, Any] = {}
    xs, ys, marks = [], [], []
    for r, row in enumerate(rows):
        row.sort(key=lambda t: (t[0] is not None, t[0] or 0.0))
        n_none = sum(x is None for x, _ in row)
        at = [
            no_date - 0.4 * pad * (n_none - 1 - k) if x is None else x
            for k, (x, _) in enumerate(row)
        ]
        if len(dates := [x for x, _ in row if x is not None]) > 1:
            ax.plot(dates, [r] * len(dates), color="0.6", lw=1.5, zorder=1)
        for (x0, _), (x1, _) in itertools.pairwise(row):  # follow-up intervals
            if x0 is not None and x1 is not None and x1 - x0 > 0.15 * (hi - lo):
                gap = f"+{x1 - x0:.0f} days"
                ax.text((x0 + x1) / 2, r, gap, ha="center", va="bottom", **_GREY)
        for k, (x, (_, s)) in enumerate(zip(at, row, strict=True)):
            modality = "/".join(_text(m, 8) for m in s["modalities"]) or "?"
            colors.setdefault(modality, colormaps["tab10"](len(colors) % 10))
            xs.append(x)
            ys.append(r)
            marks.append(colors[modality])
            when = _when(s)
            desc = _text(s.get("StudyDescription"), 28) or "(no description)"
            up = k % 2 == 0
            label = f"{modality} {when}\n{desc}"
            place: Any = {"xytext": (0, 8 if up else -8), "textcoords": "offset points"}
            va = "bottom" if up else "top"
            ax.annotate(label, (x, r), fontsize=7.5, ha="center", va=va, **place)
    ax.scatter(xs, ys, c=marks, s=60, zorder=3, edgecolors="k", lw=0.5, gid="studies")
    names = [
        f"{_text(p['PatientID'], 20) or '(no PatientID)'}\n{_text(p.get('PatientName'), 20)}"
        for p in patients.iter_rows(named=True)
    ]
    ax.set_yticks(range(patients.height), names, fontsize=8)
    ax.set_ylim(patients.height - 0.4, -0.6)
    if dated:
        ax.set_xlim(no_date - pad if undated else lo - pad, hi + pad)
        locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
        formatter = mdates.ConciseDateFormatter(locator)  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(formatter)
    else:
        ax.set_xticks([])
    handles = [
        Line2D([], [], ls="", marker="o", color=c, label=m) for m, c in colors.items()
    ]
    more = col.patients.height - patients.height
    ax.set_title(
        f"{_plural(col.patients.height, 'patient')}, "
        f"{_plural(col.studies.height, 'study')} over time"
        + (f" ({more:,} more patients not shown)" if more > 0 else "")
        + "\none row per patient, one marker per study (colour: modality)",
        loc="left",
        fontsize=10,
    )
    _side(ax, "two markers on a row:\nthe same patient\ncame back (follow-up)", handles)
    ax.grid(True, axis="x", alpha=0.25)
    return ax


def _days(study: Row) -> float | None:
    """StudyDate (+ StudyTime) as matplotlib's days, or None without a date."""
    date, time = study.get("StudyDate"), study.get("StudyTime")
    if date is None:
        return None
    when = dt.datetime.combine(date, time or dt.time())
    return float(mdates.date2num(when))  # type: ignore[no-untyped-call]


# -- hierarchy ----------------------------------------------------------------------

_X = {"patient": 0.005, "study": 0.23, "series": 0.53, "more": 0.53}
_FILL = {"patient": "#dbe9f6", "study": "#dff0d8", "series": "#fcf4d9", "more": "w"}


def hierarchy(col: Collection, *, ax: Axes | None = None, max_series: int = 40) -> Axes:
    """The Patient → Study → Series tree as boxes joined by lines.

    Envelopes inside envelopes: a patient holds studies (date and description), a
    study holds series (number, modality, description), a series holds
    instances. Notice the counts in each box, that one patient can hold several
    studies (a follow-up) and one study several series. Beyond ``max_series``
    series, a "… N more series" node keeps the picture readable.

    Examples
    --------
    >>> hierarchy(dk.scan("data/sample"), max_series=20)  # doctest: +SKIP
    """
    if max_series < 1:
        msg = f"max_series must be at least 1, not {max_series}"
        raise ValueError(msg)
    shown = col.series.head(max_series)
    studies = {s["StudyInstanceUID"]: s for s in col.studies.iter_rows(named=True)}
    patients = {p["PatientID"]: p for p in col.patients.iter_rows(named=True)}
    nodes: list[tuple[str, float, str]] = []
    lines: list[list[tuple[float, float]]] = []
    y = 0.0
    for (pid,), p_rows in shown.group_by("PatientID", maintain_order=True):
        top, study_ys = y, []
        for (uid,), s_rows in p_rows.group_by("StudyInstanceUID", maintain_order=True):
            ys = [y + k for k in range(s_rows.height)]
            study_ys.append(sum(ys) / len(ys))
            for yy, r in zip(ys, s_rows.iter_rows(named=True), strict=True):
                nodes.append(("series", yy, _series_label(r)))
            nodes.append(("study", study_ys[-1], _study_label(studies.get(uid, {}))))
            _join(lines, "study", study_ys[-1], ys)
            y += max(s_rows.height, 2)
        p_y = sum(study_ys) / len(study_ys)
        nodes.append(("patient", p_y, _patient_label(patients.get(pid, {}), pid)))
        _join(lines, "patient", p_y, study_ys)
        y = max(y, top + 3) + 0.5
    if hidden := col.series.height - shown.height:
        rest = col.series.tail(hidden)
        n_st = (
            ~rest["StudyInstanceUID"]
            .unique()
            .is_in(shown["StudyInstanceUID"].implode())
        ).sum()
        n_pa = (~rest["PatientID"].unique().is_in(shown["PatientID"].implode())).sum()
        where = (
            f"{_plural(int(n_st), 'more study')}, {_plural(int(n_pa), 'more patient')}"
        )
        nodes.append(("more", y, f"… {hidden:,} more series (in {where}) not shown"))
        y += 1
    ax = _axes(ax, (12.0, 1.4 + 0.3 * max(y, 3)))
    ax.add_collection(LineCollection(lines, colors="0.55", lw=0.8, zorder=1))
    for level, yy, label in nodes:
        box = {"boxstyle": "round,pad=0.3", "fc": _FILL[level], "ec": "0.5", "lw": 0.6}
        ax.text(_X[level] + 0.005, yy, label, va="center", fontsize=8, bbox=box)
    for level in ("patient", "study", "series"):
        ax.text(_X[level] + 0.005, -1.3, level.capitalize(), fontweight="bold")
    ax.set(xlim=(0, 1), ylim=(max(y, 3) - 0.5, -1.9))
    ax.set_axis_off()
    sizes = (col.patients.height, col.studies.height, col.series.height, len(col))
    counts = " ⊃ ".join(_plural(n, w) for n, w in zip(sizes, _LEVELS, strict=True))
    ax.set_title(f"{counts}: envelopes inside envelopes", loc="left", fontsize=10)
    return ax


def _join(
    lines: list[list[tuple[float, float]]], parent: str, y: float, ys: list[float]
) -> None:
    """Lines from a parent (hidden under its box) to a bus, and on to its children."""
    child = _X["study" if parent == "patient" else "series"]
    bus = child - 0.01
    lines.append([(_X[parent] + 0.01, y), (bus, y)])
    lines.append([(bus, min([y, *ys])), (bus, max([y, *ys]))])
    lines.extend([(bus, yy), (child + 0.005, yy)] for yy in ys)


def _patient_label(p: Row, pid: Any) -> str:
    n = " · ".join(
        _plural(p.get(k) or 0, w) for k, w in zip(_N, _LEVELS[1:], strict=True)
    )
    name = _text(p.get("PatientName"), 24) or "(no name)"
    return f"{_text(pid, 24) or '(no PatientID)'}\n{name}\n{n}"


def _when(s: Row) -> str:
    if s.get("StudyDate") is None:
        return "no date"
    return " ".join(clip(s[k]) for k in ("StudyDate", "StudyTime") if s.get(k))


def _study_label(s: Row) -> str:
    when = _when(s)
    desc = _text(s.get("StudyDescription"), 28) or "(no description)"
    modalities = "/".join(_text(m, 8) for m in s.get("modalities") or []) or "?"
    n = " · ".join(
        _plural(s.get(k) or 0, w) for k, w in zip(_N[1:], _LEVELS[2:], strict=True)
    )
    return f"{when}  {desc}\n{n} · {modalities}"
