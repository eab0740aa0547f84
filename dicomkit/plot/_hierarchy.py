"""hierarchy: the Patient → Study → Series tree as envelopes inside envelopes."""

from __future__ import annotations

from typing import Any

from matplotlib.axes import Axes
from matplotlib.collections import LineCollection

from dicomkit.collection import Collection
from dicomkit.plot._common import (
    _LEVELS,
    _N,
    Row,
    _axes,
    _text,
    _when,
)
from dicomkit.text import plural as _plural
from dicomkit.text import series_label

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


def _series_label(r: Row) -> str:
    """:func:`dicomkit.text.series_label` as a figure box, mathtext-safe."""
    return series_label(r, form="figure", width=36).replace("$", r"\$")


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


def _study_label(s: Row) -> str:
    when = _when(s)
    desc = _text(s.get("StudyDescription"), 28) or "(no description)"
    modalities = "/".join(_text(m, 8) for m in s.get("modalities") or []) or "?"
    n = " · ".join(
        _plural(s.get(k) or 0, w) for k, w in zip(_N[1:], _LEVELS[2:], strict=True)
    )
    return f"{when}  {desc}\n{n} · {modalities}"
