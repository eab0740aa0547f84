"""Matplotlib pictures for notebooks: slices, slice geometry, studies in time, the tree.

Each function draws into ``ax`` when one is given and otherwise into a new
:class:`matplotlib.figure.Figure` (never pyplot's global state: nothing
accumulates between cells). It returns the Axes; ``ax.figure`` is the picture.
Every text that comes from a DICOM file is clipped by :func:`dicomkit.render.clip`
and has its ``$`` escaped, so a hostile value can neither grow a label without
bound nor switch matplotlib into mathtext.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from matplotlib import colormaps
from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from dicomkit.collection import Collection
from dicomkit.geometry import (
    TILT_TOL_DEG,
    analyse_positions,
    cluster_orientations,
    normal,
    orientation_angle,
)
from dicomkit.render import clip

__all__ = ["hierarchy", "montage", "slice_positions", "timeline"]

_BLUE, _ORANGE, _RED, _PURPLE = "tab:blue", "tab:orange", "tab:red", "tab:purple"


def _text(value: Any, width: int = 40) -> str:
    """A DICOM value as a bounded, mathtext-safe matplotlib label."""
    return clip(value, width).replace("$", r"\$")


def _axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    return Figure(figsize=size, layout="constrained").add_subplot()


def _plural(n: int, word: str) -> str:
    if n == 1 or word.endswith("series"):
        return f"{n:,} {word}"
    return f"{n:,} " + (word[:-1] + "ies" if word.endswith("y") else word + "s")


# -- montage ------------------------------------------------------------------------


def montage(
    images: npt.NDArray[Any] | Sequence[npt.NDArray[Any]],
    *,
    columns: int | None = None,
    window: tuple[float, float] | None = None,
    labels: Sequence[str] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Tile 2-D slices into one grey-scale image, all under one window.

    Notice that every tile shares one window, so a tile that looks brighter *is*
    brighter in the data; slices of different sizes are padded with black.

    Parameters
    ----------
    images
        An array of shape ``(n, y, x)`` (or one ``(y, x)`` slice), or a sequence
        of 2-D arrays.
    columns
        Tiles per row; default ``ceil(sqrt(n))``.
    window
        ``(center, width)`` as radiologists set it (WL/WW, e.g. ``(40, 400)`` for
        soft tissue in HU); default: the 1st to 99th percentile of the data.
    labels
        Up to ``n`` short texts, drawn small in each tile's top-left corner.
    ax
        Draw here; default: a new Figure.

    Examples
    --------
    >>> ax = montage(volume[::4], columns=6, window=(40, 400))  # doctest: +SKIP
    >>> ax.figure  # doctest: +SKIP
    """
    slices = _slices(images)
    n = len(slices)
    cols = min(n, columns if columns is not None else math.ceil(math.sqrt(n)))
    if cols < 1:
        msg = f"columns must be at least 1, not {columns}"
        raise ValueError(msg)
    if labels is not None and len(labels) > n:
        msg = f"{len(labels)} labels for {n} slices"
        raise ValueError(msg)
    rows = math.ceil(n / cols)
    h, w = max(s.shape[0] for s in slices), max(s.shape[1] for s in slices)
    canvas = np.full((rows * h, cols * w), np.nan)
    for i, s in enumerate(slices):
        r, c = divmod(i, cols)
        canvas[r * h : r * h + s.shape[0], c * w : c * w + s.shape[1]] = s
    low, high = _window(canvas, window)
    width_in = min(2.0 * cols, 12.0)
    ax = _axes(ax, (width_in, width_in * rows * h / (cols * w) + 0.4))
    cmap = colormaps["gray"].with_extremes(bad="black")
    ax.imshow(canvas, cmap=cmap, vmin=low, vmax=high, interpolation="nearest")
    for c in range(1, cols):
        ax.axvline(c * w - 0.5, color="0.35", lw=0.6)
    for r in range(1, rows):
        ax.axhline(r * h - 0.5, color="0.35", lw=0.6)
    for i, label in enumerate(labels or ()):
        r, c = divmod(i, cols)
        ax.text(
            c * w + 0.02 * w,
            r * h + 0.03 * h,
            _text(label, 24),
            color="yellow",
            fontsize=7,
            ha="left",
            va="top",
        )
    center, width = (low + high) / 2, high - low
    source = "given" if window else "1st-99th percentile"
    ax.set_title(
        f"{n} slices · window center {center:.4g}, width {width:.4g} ({source})",
        fontsize=9,
    )
    ax.set_axis_off()
    return ax


def _slices(
    images: npt.NDArray[Any] | Sequence[npt.NDArray[Any]],
) -> list[npt.NDArray[np.float64]]:
    if isinstance(images, np.ndarray) and images.ndim in (2, 3):
        stack = images[np.newaxis] if images.ndim == 2 else images
        slices = [np.asarray(s, dtype=float) for s in stack]
    elif isinstance(images, np.ndarray):
        msg = f"images must have shape (n, y, x) or (y, x), not {images.shape}"
        raise ValueError(msg)
    else:
        slices = [np.asarray(s, dtype=float) for s in images]
    if not slices:
        msg = "no images to show"
        raise ValueError(msg)
    for s in slices:
        if s.ndim != 2 or 0 in s.shape:
            msg = f"every slice must be a non-empty 2-D array, not shape {s.shape}"
            raise ValueError(msg)
    return slices


def _window(
    canvas: npt.NDArray[np.float64], window: tuple[float, float] | None
) -> tuple[float, float]:
    if window is not None:
        center, width = (float(v) for v in window)
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
    normal when InstanceNumbers are missing). Notice the regular rhythm of the
    dots and what breaks it: a red band is a **gap** ("k missing", dashed lines
    where the slices should be), orange pairs are **duplicates** (several images
    at one position, "×2", e.g. two echoes), purple squares at the left are
    images of **another orientation** (a localizer: not part of the stack), and
    the title says when the stack is **tilted** to its normal (gantry tilt).

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
    >>> ax = slice_positions(col, "1.3.12.2.1107.5.1.4.83504.3230919104230200003")  # doctest: +SKIP
    """
    rows = _series_rows(
        data if isinstance(data, pl.DataFrame) else data.instances, series_uid
    )
    first = rows.row(0, named=True)
    ax = _axes(ax, (10.0, 5.0))
    ipp, iop, numbers = (
        _column(rows, c)
        for c in ("ImagePositionPatient", "ImageOrientationPatient", "InstanceNumber")
    )
    usable = [
        o if p is not None and len(p) == 3 else None
        for p, o in zip(ipp, iop, strict=True)
    ]
    labels = cluster_orientations(usable)
    main = [i for i, label in enumerate(labels) if label == 0]
    other = [i for i, label in enumerate(labels) if label > 0]
    notes = []
    if labels.count(-1):
        notes.append(
            f"{_plural(labels.count(-1), 'image')} without position or orientation: not drawn"
        )
    title = f"Series {_text(first.get('SeriesNumber')) or '?'} · {_text(first.get('SeriesDescription')) or '(no description)'}"
    if not main:
        ax.set_title(title + "\nno usable geometry", loc="left", fontsize=10)
        return ax
    orientation = iop[main[0]]
    a = analyse_positions([ipp[i] for i in main], orientation)
    n_vec = normal(orientation)
    along = {i: float(np.asarray(ipp[i], dtype=float) @ n_vec) for i in main + other}
    if all(numbers[i] is not None for i in main + other):
        y = {i: float(numbers[i]) for i in main + other}
        ylabel = "InstanceNumber"
    else:
        ranked = [main[k] for k in a.order] + other
        y = {i: float(r + 1) for r, i in enumerate(ranked)}
        ylabel = "rank along the normal (InstanceNumber missing)"
    single = [main[g[0]] for g in a.groups if len(g) == 1]
    ax.scatter(
        [along[i] for i in single],
        [y[i] for i in single],
        s=18,
        c=_BLUE,
        zorder=3,
        label="one image at a position",
    )
    _duplicates(
        ax,
        [[main[j] for j in g] for g in a.groups if len(g) > 1],
        along,
        y,
        notes,
        a.repeats,
    )
    for gap in a.gaps:
        x0, x1 = a.positions[gap.after], a.positions[gap.after + 1]
        color = _RED if gap.missing else _ORANGE
        ax.axvspan(x0, x1, color=color, alpha=0.12, lw=0, zorder=1)
        what = (
            f"{gap.missing} missing"
            if gap.missing
            else f"irregular {gap.size:.2f} mm step"
        )
        for k in range(1, gap.missing + 1):
            ax.axvline(x0 + k * gap.size / (gap.missing + 1), color=_RED, ls="--", lw=1)
        ax.text(
            (x0 + x1) / 2,
            0.98,
            what,
            transform=ax.get_xaxis_transform(),
            color=color,
            ha="center",
            va="top",
            fontsize=8,
            fontweight="bold",
        )
        notes.append(f"{what}: a {gap.size:.2f} mm step from {x0:.1f} to {x1:.1f} mm")
    if other:
        _other_lane(ax, other, a.positions, y, rows, orientation, iop, notes)
    extra = ""
    if a.tilt_deg > TILT_TOL_DEG:
        extra = f" · stacked at {a.tilt_deg:.1f}° to the normal"
        header = first.get("GantryDetectorTilt")
        said = (
            f" (GantryDetectorTilt {_text(header, 12)})" if header is not None else ""
        )
        notes.append(
            f"tilt: the images are stacked at {a.tilt_deg:.1f}° to their normal{said}"
        )
    spacing = f"spacing {a.spacing:.2f} mm" if a.spacing is not None else "one position"
    ax.set_title(
        f"{title}\n{_plural(len(main), 'image')} at {_plural(len(a.positions), 'position')} · {spacing}{extra}",
        loc="left",
        fontsize=10,
    )
    ax.set_xlabel("position along the slice normal (mm)")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.25)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.text(
        1.02,
        0.0,
        "\n".join(notes or ["regular: one image per position, even spacing"]),
        transform=ax.transAxes,
        ha="left",
        va="bottom",
        fontsize=8,
        wrap=True,
    )
    return ax


def _column(rows: pl.DataFrame, name: str) -> list[Any]:
    return rows[name].to_list() if name in rows.columns else [None] * rows.height


def _series_rows(frame: pl.DataFrame, series_uid: str | None) -> pl.DataFrame:
    uids = frame["SeriesInstanceUID"].unique(maintain_order=True).to_list()
    if series_uid is None and len(uids) == 1:
        series_uid = uids[0]
    if series_uid is None or series_uid not in uids:
        shown = []
        for uid in uids[:10]:
            row = frame.filter(pl.col("SeriesInstanceUID").eq_missing(uid)).row(
                0, named=True
            )
            shown.append(
                f"{clip(uid)} (#{clip(row.get('SeriesNumber'))} {clip(row.get('SeriesDescription'))})"
            )
        more = f"; … {len(uids) - 10} more" if len(uids) > 10 else ""
        ask = (
            "pass series_uid"
            if series_uid is None
            else f"{clip(series_uid)!r} is not one"
        )
        msg = f"{len(uids)} series present, {ask}: " + "; ".join(shown) + more
        raise ValueError(msg)
    return frame.filter(pl.col("SeriesInstanceUID") == series_uid)


def _duplicates(
    ax: Axes,
    groups: list[list[int]],
    along: dict[int, float],
    y: dict[int, float],
    notes: list[str],
    repeats: int | None,
) -> None:
    if not groups:
        return
    xs, ys, segments = [], [], []
    for group in groups:
        x = along[group[0]]
        heights = [y[i] + 0.3 * k * (y[i] == y[group[0]]) for k, i in enumerate(group)]
        xs += [x] * len(group)
        ys += heights
        segments.append([(x, min(heights)), (x, max(heights))])
        if len(groups) <= 25:
            ax.annotate(
                f"×{len(group)}",
                (x, max(heights)),
                xytext=(0, 4),
                textcoords="offset points",
                ha="center",
                fontsize=7,
                color=_ORANGE,
            )
    ax.add_collection(
        LineCollection(segments, colors=_ORANGE, linewidths=1.5, zorder=2)
    )
    ax.scatter(
        xs, ys, s=18, c=_ORANGE, zorder=3, label="several images at one position"
    )
    sizes = sorted({len(g) for g in groups})
    times = "/".join(f"×{k}" for k in sizes)
    clean = " (a clean repeat: echoes, phases …)" if repeats else ""
    notes.append(
        f"duplicates: {_plural(len(groups), 'position')} hold {times} images{clean}"
    )


def _other_lane(
    ax: Axes,
    other: list[int],
    positions: list[float],
    y: dict[int, float],
    rows: pl.DataFrame,
    orientation: Sequence[float],
    iop: list[Any],
    notes: list[str],
) -> None:
    """Images of another orientation, in a lane left of the stack (not to scale)."""
    span = max(positions[-1] - positions[0], 1.0)
    lane = positions[0] - 0.15 * span
    ax.axvline(positions[0] - 0.075 * span, color="0.5", ls=":", lw=1)
    ax.scatter(
        [lane] * len(other),
        [y[i] for i in other],
        s=36,
        marker="s",
        c=_PURPLE,
        zorder=3,
        label="another orientation (left lane, not to scale)",
    )
    ax.text(
        lane,
        0.02,
        "other\norientation",
        transform=ax.get_xaxis_transform(),
        color=_PURPLE,
        ha="center",
        va="bottom",
        fontsize=8,
    )
    types = _column(rows, "ImageType")
    localizer = any("LOCALIZER" in (types[i] or []) for i in other)
    angle = orientation_angle(iop[other[0]], orientation)
    kind = "a localizer, " if localizer else ""
    notes.append(
        f"{_plural(len(other), 'image')} in another orientation ({kind}{angle:.0f}° to the stack): not part of the volume"
    )


# -- timeline -----------------------------------------------------------------------


def timeline(
    col: Collection, *, ax: Axes | None = None, max_patients: int = 40
) -> Axes:
    """The studies of each patient over time.

    One row per patient, one marker per study at its StudyDate (+ StudyTime),
    coloured by modality and labelled with its modalities and description.
    Notice the rows with two markers: the same patient came back (a follow-up),
    which is why studies, not patients, are the unit a radiologist reports on.
    Studies without a date sit in a "no date" column at the left.

    Examples
    --------
    >>> ax = timeline(dk.scan("data/sample"))  # doctest: +SKIP
    """
    patients = col.patients.head(max(max_patients, 1))
    studies = col.studies
    n_rows = patients.height
    ax = _axes(ax, (10.0, 1.4 + 0.9 * max(n_rows, 1)))
    placed: list[tuple[int, float | None, dict[str, Any]]] = []
    for r, pid in enumerate(patients["PatientID"].to_list()):
        for s in studies.filter(pl.col("PatientID").eq_missing(pid)).iter_rows(
            named=True
        ):
            date, time = s.get("StudyDate"), s.get("StudyTime")
            x = (
                mdates.date2num(dt.datetime.combine(date, time or dt.time()))  # type: ignore[no-untyped-call]
                if date
                else None
            )
            placed.append((r, x, s))
    dated = [x for _, x, _ in placed if x is not None]
    lo, hi = (min(dated), max(dated)) if dated else (0.0, 0.0)
    pad = max((hi - lo) * 0.08, 15.0) if dated else 1.0
    no_date = lo - 2 * pad if dated else 0.0
    if len(dated) < len(placed):
        ax.axvline(no_date + pad, color="0.5", ls=":", lw=1)
        ax.text(
            no_date, -0.45, "no date", ha="center", va="bottom", fontsize=8, color="0.3"
        )
    palette = colormaps["tab10"]
    colors: dict[str, Any] = {}
    xs, ys, cs, undated = [], [], [], dict.fromkeys(range(n_rows), 0)
    for k, (r, x, s) in enumerate(
        sorted(placed, key=lambda t: (t[0], t[1] is not None, t[1] or 0))
    ):
        if x is None:
            x, undated[r] = no_date - 0.4 * pad * undated[r], undated[r] + 1
        modality = "/".join(_text(m, 8) for m in s["modalities"]) or "?"
        colors.setdefault(modality, palette(len(colors) % 10))
        xs.append(x)
        ys.append(r)
        cs.append(colors[modality])
        when = clip(s.get("StudyDate")) + (
            " " + clip(s.get("StudyTime")) if s.get("StudyTime") else ""
        )
        label = f"{modality} {when or 'no date'}\n{_text(s.get('StudyDescription'), 28) or '(no description)'}"
        up = k % 2 == 0
        ax.annotate(
            label,
            (x, r),
            xytext=(0, -9 if up else 9),
            textcoords="offset points",
            ha="center",
            va="bottom" if up else "top",
            fontsize=7.5,
        )
    for r in range(n_rows):
        row = sorted(x for x, y in zip(xs, ys, strict=True) if y == r)
        if len(row) > 1:
            ax.plot(row, [r] * len(row), color="0.6", lw=1.5, zorder=1)
    ax.scatter(
        xs, ys, c=cs, s=60, zorder=3, edgecolors="black", linewidths=0.5, gid="studies"
    )
    names = [
        f"{_text(p['PatientID'], 20) or '(no PatientID)'}\n{_text(p.get('PatientName'), 20)}"
        for p in patients.iter_rows(named=True)
    ]
    ax.set_yticks(range(n_rows), names, fontsize=8)
    ax.set_ylim(n_rows - 0.4, -0.6)
    if dated:
        ax.set_xlim(no_date - pad if len(dated) < len(placed) else lo - pad, hi + pad)
        locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    else:
        ax.set_xticks([])
    handles = [
        Line2D([], [], ls="", marker="o", color=c, label=m) for m, c in colors.items()
    ]
    if handles:
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=8,
            frameon=False,
        )
    more = col.patients.height - n_rows
    hidden = f" (… {_plural(more, 'more patient')} not shown)" if more > 0 else ""
    ax.set_title(
        f"{_plural(col.patients.height, 'patient')}, {_plural(studies.height, 'study')} over time{hidden}\n"
        "one row per patient, one marker per study; two markers on a row = a follow-up",
        loc="left",
        fontsize=10,
    )
    ax.grid(True, axis="x", alpha=0.25)
    return ax


# -- hierarchy ----------------------------------------------------------------------

_COLUMNS = {"patient": 0.005, "study": 0.25, "series": 0.55}
_FILL = {"patient": "#dbe9f6", "study": "#dff0d8", "series": "#fcf4d9", "more": "white"}


def hierarchy(col: Collection, *, ax: Axes | None = None, max_series: int = 40) -> Axes:
    """The Patient → Study → Series tree as boxes joined by lines.

    The envelopes inside envelopes: a patient holds studies (each with its date
    and description), a study holds series (number, modality, description), a
    series holds instances. Notice the counts in each box, and that one patient
    can hold several studies (a follow-up) and one study several series. Beyond
    ``max_series`` series a "… N more series" node keeps the picture readable.

    Examples
    --------
    >>> ax = hierarchy(dk.scan("data/sample"))  # doctest: +SKIP
    """
    if max_series < 1:
        msg = f"max_series must be at least 1, not {max_series}"
        raise ValueError(msg)
    series = col.series
    shown = series.head(max_series)
    studies = {s["StudyInstanceUID"]: s for s in col.studies.iter_rows(named=True)}
    patients = {p["PatientID"]: p for p in col.patients.iter_rows(named=True)}
    nodes: list[tuple[str, float, str]] = []
    segments: list[list[tuple[float, float]]] = []
    y = 0.0
    for pid in shown["PatientID"].unique(maintain_order=True).to_list():
        p_rows = shown.filter(pl.col("PatientID").eq_missing(pid))
        top, study_ys = y, []
        for uid in p_rows["StudyInstanceUID"].unique(maintain_order=True).to_list():
            s_rows = p_rows.filter(pl.col("StudyInstanceUID").eq_missing(uid))
            ys = [y + k for k in range(s_rows.height)]
            study_ys.append(sum(ys) / len(ys))
            for yy, r in zip(ys, s_rows.iter_rows(named=True), strict=True):
                nodes.append(("series", yy, _series_label(r)))
            _join(segments, "study", study_ys[-1], ys)
            nodes.append(("study", study_ys[-1], _study_label(studies.get(uid))))
            y += max(s_rows.height, 2)
        p_y = sum(study_ys) / len(study_ys)
        nodes.append(("patient", p_y, _patient_label(patients.get(pid), pid)))
        _join(segments, "patient", p_y, study_ys)
        y = max(y, top + 3) + 0.5
    hidden = series.filter(
        ~pl.col("SeriesInstanceUID").is_in(shown["SeriesInstanceUID"].implode())
    )
    if hidden.height:
        n_st = hidden.filter(
            ~pl.col("StudyInstanceUID").is_in(shown["StudyInstanceUID"].implode())
        )["StudyInstanceUID"].n_unique()
        n_pa = hidden.filter(~pl.col("PatientID").is_in(shown["PatientID"].implode()))[
            "PatientID"
        ].n_unique()
        more = f"… {_plural(hidden.height, 'more series')} (in {n_st:,} more studies, {n_pa:,} more patients) not shown"
        nodes.append(("more", y, more))
        y += 1
    ax = _axes(ax, (13.0, 1.4 + 0.3 * max(y, 3)))
    ax.add_collection(LineCollection(segments, colors="0.55", linewidths=0.8, zorder=1))
    for level, yy, label in nodes:
        x = _COLUMNS.get(level, _COLUMNS["series"])
        ax.text(
            x + 0.005,
            yy,
            label,
            ha="left",
            va="center",
            fontsize=8,
            zorder=3,
            bbox={
                "boxstyle": "round,pad=0.3",
                "fc": _FILL[level],
                "ec": "0.5",
                "lw": 0.6,
            },
        )
    for level, x in _COLUMNS.items():
        ax.text(
            x + 0.005,
            -1.3,
            level.capitalize(),
            fontsize=10,
            fontweight="bold",
            va="center",
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(max(y, 3) - 0.5, -1.9)
    ax.set_axis_off()
    n = len(col)
    ax.set_title(
        f"{_plural(col.patients.height, 'patient')} ⊃ {col.studies.height:,} studies ⊃ "
        f"{_plural(series.height, 'series')} ⊃ {_plural(n, 'instance')}: envelopes inside envelopes",
        loc="left",
        fontsize=10,
    )
    return ax


def _join(
    segments: list[list[tuple[float, float]]], parent: str, y: float, ys: list[float]
) -> None:
    """Lines from a parent box (hidden under it) to a bus, and from the bus to its children."""
    child = _COLUMNS["study" if parent == "patient" else "series"]
    bus = child - 0.01
    segments.append([(_COLUMNS[parent] + 0.01, y), (bus, y)])
    segments.append([(bus, min([y, *ys])), (bus, max([y, *ys]))])
    segments.extend([[(bus, yy), (child + 0.005, yy)] for yy in ys])


def _patient_label(p: dict[str, Any] | None, pid: Any) -> str:
    p = p or {}
    counts = f"{_plural(p.get('n_studies', 0), 'study')} · {_plural(p.get('n_series', 0), 'series')} · {_plural(p.get('n_instances', 0), 'instance')}"
    return f"{_text(pid, 24) or '(no PatientID)'}\n{_text(p.get('PatientName'), 24) or '(no name)'}\n{counts}"


def _study_label(s: dict[str, Any] | None) -> str:
    s = s or {}
    when = (
        " ".join(clip(s[k]) for k in ("StudyDate", "StudyTime") if s.get(k))
        or "no date"
    )
    modalities = "/".join(_text(m, 8) for m in s.get("modalities") or []) or "?"
    desc = _text(s.get("StudyDescription"), 28) or "(no description)"
    return f"{when}  {desc}\n{_plural(s.get('n_series', 0), 'series')} · {_plural(s.get('n_instances', 0), 'instance')} · {modalities}"


def _series_label(r: dict[str, Any]) -> str:
    frames = f" ({r['n_frames']:,} frames)" if r["n_frames"] != r["n_instances"] else ""
    return (
        f"#{_text(r.get('SeriesNumber'), 8) or '?'}  {_text(r.get('Modality'), 8) or '?'}  "
        f"{_text(r.get('SeriesDescription'), 36) or '(no description)'}  · {_plural(r['n_instances'], 'instance')}{frames}"
    )
