"""slice_positions: where each slice of a series lies along its normal, and what is wrong."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.ticker import MaxNLocator

from dicomkit.collection import Collection
from dicomkit.geometry import (
    TILT_TOL_DEG,
    analyse_positions,
    cluster_orientations,
    normal,
    orientation_angle,
)
from dicomkit.plot._common import (
    _ABOVE,
    _BLUE,
    _ORANGE,
    _PURPLE,
    _RED,
    _SLICE_KEYS,
    _axes,
    _mark,
    _side,
    _text,
)
from dicomkit.text import clip
from dicomkit.text import plural as _plural


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
