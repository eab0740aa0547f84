"""timeline: a collection's studies in time, one lane per patient."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import polars as pl
from matplotlib import colormaps
from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from dicomkit.collection import Collection
from dicomkit.plot._common import (
    _GREY,
    Row,
    _axes,
    _mark,
    _side,
    _text,
    _when,
)
from dicomkit.text import plural as _plural


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
