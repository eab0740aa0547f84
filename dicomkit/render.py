"""Text and HTML pictures of a collection: counts and the Patient → Study → Series tree.

Pure: frames in, strings out. Every value read from a DICOM file is untrusted, so
each one is clipped to a bounded length, stripped of control characters and, in
HTML, escaped. Large collections are truncated with a line that says how much was
left out, so a repr of 100,000 series stays small and fast.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from dicomkit.text import clip, plural, relative, series_label

__all__ = [
    "MAX_MESSAGE",
    "Limits",
    "clip",
    "html_summary",
    "plural",
    "problem_lines",
    "text_summary",
]

#: Messages (verify findings, error rows) quote values; this bounds one line of them.
MAX_MESSAGE = 1000


@dataclass(frozen=True)
class Limits:
    """How much of the tree a display shows before it summarises the rest."""

    patients: int = 20
    studies: int = 10
    series: int = 25
    total_series: int = 200


@dataclass(frozen=True)
class _Counts:
    patients: int
    studies: int
    series: int
    instances: int
    frames: int
    resends: dict[str, int]
    errors: dict[str, int]

    @property
    def files(self) -> int:
        return self.instances + sum(self.resends.values()) + sum(self.errors.values())


def _counts(
    instances: pl.DataFrame, resends: pl.DataFrame, errors: pl.DataFrame
) -> _Counts:
    def tally(frame: pl.DataFrame, column: str) -> dict[str, int]:
        if frame.is_empty():
            return {}
        rows = frame.group_by(column).len().sort(column).iter_rows()
        return {str(k): int(n) for k, n in rows}

    return _Counts(
        patients=instances["PatientID"].n_unique() if instances.height else 0,
        # an instance without a Study/SeriesInstanceUID is in no study/series
        studies=instances["StudyInstanceUID"].drop_nulls().n_unique(),
        series=instances["SeriesInstanceUID"].drop_nulls().n_unique(),
        instances=instances.height,
        frames=int(instances["n_frames"].sum() or 0),
        resends=tally(resends, "resend"),
        errors=tally(errors, "reason"),
    )


def _headline(c: _Counts) -> str:
    return (
        f"{plural(c.patients, 'patient')}, {plural(c.studies, 'study')}, "
        f"{plural(c.series, 'series')}, {plural(c.instances, 'instance')}"
    )


def _files_line(c: _Counts) -> str:
    parts = [f"{plural(c.files, 'file')} = {plural(c.instances, 'instance')}"]
    parts.append(plural(sum(c.resends.values()), "resend"))
    parts.append(plural(sum(c.errors.values()), "error"))
    return " + ".join(parts)


def _detail(tally: dict[str, int]) -> str:
    return ", ".join(f"{n:,} {k}" for k, n in tally.items())


# -- the tree -------------------------------------------------------------------


@dataclass
class _Node:
    label: str
    uid: str = ""
    varying: tuple[str, ...] = ()
    children: list[_Node] = field(default_factory=list)
    more: str = ""  # "… 3 more series" when children were left out
    note: str = ""  # a mark that is not a varying attribute ("also under …")
    unfiled: bool = False  # a line of instances that are in no study or series


@dataclass(frozen=True)
class _Placement:
    """What the level views cannot say: where each study is drawn, and the
    instances that are in no study or in no series."""

    patients_of_study: dict[str, list[str | None]]
    studies_of_series: dict[str, list[str | None]]
    no_study: dict[str | None, int]  # PatientID → instances without StudyInstanceUID
    # (StudyInstanceUID, PatientID) → instances without SeriesInstanceUID
    no_series: dict[tuple[str, str | None], int]


def _placement(instances: pl.DataFrame) -> _Placement:
    if instances.is_empty():
        return _Placement({}, {}, {}, {})
    study, series = pl.col("StudyInstanceUID"), pl.col("SeriesInstanceUID")
    shared = (
        instances.filter(study.is_not_null())
        .group_by("StudyInstanceUID")
        .agg(pl.col("PatientID").unique().sort(nulls_last=True))
        .filter(pl.col("PatientID").list.len() > 1)
    )
    split_series = (
        instances.filter(series.is_not_null())
        .group_by("SeriesInstanceUID")
        .agg(study.drop_nulls().unique().sort())
        .filter(study.list.len() > 1)
    )
    no_study = instances.filter(study.is_null()).group_by("PatientID").len()
    no_series = (
        instances.filter(study.is_not_null() & series.is_null())
        .group_by("StudyInstanceUID", "PatientID")
        .len()
    )
    return _Placement(
        dict(shared.iter_rows()),
        dict(split_series.iter_rows()),
        {k: int(n) for k, n in no_study.iter_rows()},
        {(k, pid): int(n) for k, pid, n in no_series.iter_rows()},
    )


def _unfiled(n: int, missing: str) -> _Node:
    return _Node(f"not filed: {plural(n, 'instance')} with no {missing}", unfiled=True)


def _tree(
    patients: pl.DataFrame,
    studies: pl.DataFrame,
    series: pl.DataFrame,
    limits: Limits,
    placement: _Placement | None = None,
) -> _Node:
    place = placement or _Placement({}, {}, {}, {})
    # a study under several PatientIDs (a series in several studies) is drawn
    # under each of them, marked, so that no instance disappears from the tree
    series_of: dict[Any, list[dict[str, Any]]] = {}
    for row in series.iter_rows(named=True):
        uid = row["SeriesInstanceUID"]
        for st in place.studies_of_series.get(uid, [row["StudyInstanceUID"]]):
            series_of.setdefault(st, []).append(row)
    studies_of: dict[Any, list[dict[str, Any]]] = {}
    for row in studies.iter_rows(named=True):
        for pid in place.patients_of_study.get(
            row["StudyInstanceUID"], [row["PatientID"]]
        ):
            studies_of.setdefault(pid, []).append(row)
    root = _Node("")
    budget = limits.total_series
    prows = list(patients.iter_rows(named=True))
    for p in prows[: limits.patients]:
        pid = p["PatientID"]
        pnode = _Node(_patient_label(p), "", tuple(p["varying"]))
        root.children.append(pnode)
        srows = studies_of.get(pid, [])
        for s in srows[: limits.studies]:
            uid = s["StudyInstanceUID"]
            others = [o for o in place.patients_of_study.get(uid, []) if o != pid]
            note = (
                "also under PatientID "
                + ", ".join(clip(o) if o is not None else "(none)" for o in others)
                if others
                else ""
            )
            snode = _Node(_study_label(s), clip(uid), tuple(s["varying"]), note=note)
            pnode.children.append(snode)
            rows = series_of.get(uid, [])
            room = min(limits.series, budget)
            for r in rows[:room]:
                also = [
                    o
                    for o in place.studies_of_series.get(r["SeriesInstanceUID"], [])
                    if o != uid
                ]
                snode.children.append(
                    _Node(
                        series_label(r),
                        clip(r["SeriesInstanceUID"]),
                        tuple(r["varying"]),
                        note=f"also in study {', '.join(map(clip, also))}"
                        if also
                        else "",
                    )
                )
            budget -= min(room, len(rows))
            if len(rows) > room:
                snode.more = f"… {plural(len(rows) - room, 'more series')}"
            if place.no_series.get((uid, pid)):
                snode.children.append(
                    _unfiled(place.no_series[uid, pid], "SeriesInstanceUID")
                )
        if len(srows) > limits.studies:
            pnode.more = f"… {plural(len(srows) - limits.studies, 'more study')}"
        if place.no_study.get(pid):
            pnode.children.append(_unfiled(place.no_study[pid], "StudyInstanceUID"))
    if len(prows) > limits.patients:
        root.more = f"… {plural(len(prows) - limits.patients, 'more patient')}"
    return root


def _patient_label(p: dict[str, Any]) -> str:
    extra = ", ".join(
        clip(p[k]) for k in ("PatientSex", "PatientBirthDate") if p.get(k)
    )
    name = clip(p.get("PatientName")) or "(no name)"
    pid = clip(p["PatientID"]) if p["PatientID"] is not None else "(no PatientID)"
    return f"Patient {pid}  {name}" + (f"  ({extra})" if extra else "")


def _study_label(s: dict[str, Any]) -> str:
    when = (
        " ".join(clip(s[k]) for k in ("StudyDate", "StudyTime") if s.get(k))
        or "(no date)"
    )
    desc = clip(s.get("StudyDescription")) or "(no description)"
    modalities = "/".join(clip(m) for m in s["modalities"]) or "?"
    return f"Study {when}  {desc}  [{modalities}]  {plural(s['n_series'], 'series')}"


def _text_lines(node: _Node, prefix: str, *, margin: bool = False) -> Iterator[str]:
    """The children of ``node`` as tree lines; ``margin`` puts them at the left edge."""
    items: list[_Node | str] = [*node.children, *([node.more] if node.more else [])]
    for i, item in enumerate(items):
        last = i == len(items) - 1
        branch = "" if margin else ("└─ " if last else "├─ ")
        if isinstance(item, str):
            yield prefix + branch + item
            continue
        flag = f"  [varies: {', '.join(item.varying)}]" if item.varying else ""
        flag += f"  [{item.note}]" if item.note else ""
        uid = f"  {item.uid}" if item.uid else ""
        yield prefix + branch + item.label + flag + uid
        deeper = "" if margin else ("   " if last else "│  ")
        yield from _text_lines(item, prefix + deeper)


def text_summary(
    instances: pl.DataFrame,
    resends: pl.DataFrame,
    errors: pl.DataFrame,
    views: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame],
    *,
    limits: Limits | None = None,
) -> str:
    """The collection as plain text: counts, the tree, then what went wrong."""
    c = _counts(instances, resends, errors)
    lines = [f"dicomkit.Collection: {_headline(c)}", _files_line(c)]
    root = _tree(*views, limits or Limits(), _placement(instances))
    lines.extend(_text_lines(root, "", margin=True))
    if c.resends:
        lines.append(f"resends: {_detail(c.resends)} (see .resends)")
    if c.errors:
        lines.append(f"errors: {_detail(c.errors)} (see .errors)")
    return "\n".join(lines)


_STYLE = (
    "<style>.dk-col{font-family:var(--jp-ui-font-family,sans-serif);font-size:13px}"
    ".dk-col summary{cursor:pointer}.dk-col .dk-uid{font-family:monospace;"
    "font-size:11px;color:#666}.dk-col .dk-var{color:#b35900}.dk-col ul{margin:0;"
    "padding-left:1.4em;list-style:none}.dk-col table{border-collapse:collapse}"
    ".dk-col td,.dk-col th{padding:1px 8px;text-align:left}"
    ".dk-col .dk-unfiled{color:#b30000}</style>"
)


def _html_node(node: _Node, opened: str) -> str:
    esc = html.escape
    text = esc(node.label)
    if node.unfiled:
        text = f'<span class="dk-unfiled">{text}</span>'
    if node.note:
        text += f' <span class="dk-var">{esc(node.note)}</span>'
    if node.varying:
        text += f' <span class="dk-var">varies: {esc(", ".join(node.varying))}</span>'
    if node.uid:
        text += f' <span class="dk-uid">{esc(node.uid)}</span>'
    if not node.children and not node.more:
        return f"<li>{text}</li>"
    inner = "".join(_html_node(child, opened) for child in node.children)
    if node.more:
        inner += f"<li>{esc(node.more)}</li>"
    return (
        f"<li><details{opened}><summary>{text}</summary><ul>{inner}</ul></details></li>"
    )


def html_summary(
    instances: pl.DataFrame,
    resends: pl.DataFrame,
    errors: pl.DataFrame,
    views: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame],
    *,
    limits: Limits | None = None,
) -> str:
    """The collection as HTML: a count table and a collapsible tree, all escaped."""
    c = _counts(instances, resends, errors)
    esc = html.escape
    frames = f" ({c.frames:,} frames)" if c.frames != c.instances else ""
    rows = [
        ("patients", f"{c.patients:,}"),
        ("studies", f"{c.studies:,}"),
        ("series", f"{c.series:,}"),
        ("instances", f"{c.instances:,}{frames}"),
        ("resends", _detail(c.resends) or "none"),
        ("errors", _detail(c.errors) or "none"),
        ("files seen", f"{c.files:,}"),
    ]
    table = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    opened = " open" if c.series <= 30 else ""
    root = _tree(*views, limits or Limits(), _placement(instances))
    tree = "".join(_html_node(child, opened) for child in root.children)
    if root.more:
        tree += f"<li>{esc(root.more)}</li>"
    return (
        f'{_STYLE}<div class="dk-col"><b>dicomkit.Collection</b>'
        f"<table>{table}</table><ul>{tree}</ul></div>"
    )


def problem_lines(
    errors: pl.DataFrame,
    resends: pl.DataFrame,
    findings: pl.DataFrame,
    views: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame],
    *,
    root: str = "",
) -> list[str]:
    """One plain-text line per thing wrong: error files, verify findings, and
    attributes that vary where they should not; paths relative to ``root``.

    An identical resend is harmless (the same image received twice) and is not
    listed; the summary counts it, and ``col.resends`` keeps it. The
    ``unreadable_file`` findings are the error files, which have one line each.
    """
    lines: list[str] = []
    # an error file is as grave as verify's unreadable_file finding says
    # (a truncated image is an error, a stray text file a warning)
    severity = {
        path: row["severity"]
        for row in findings.filter(pl.col("check") == "unreadable_file").iter_rows(
            named=True
        )
        for path in row["paths"]
    }
    for row in errors.iter_rows(named=True):
        lines.append(
            f"{severity.get(row['path'], 'error'):<8} {clip(row['reason'])}: "
            f"{clip(relative(row['path'], root), 160)}: "
            f"{clip(row['message'], MAX_MESSAGE)}"
        )
    for row in findings.filter(pl.col("check") != "unreadable_file").iter_rows(
        named=True
    ):
        lines.append(
            f"{row['severity']:<8} {row['check']}: {clip(row['message'], MAX_MESSAGE)}"
        )
    for level, frame in zip(("patient", "study", "series"), views, strict=True):
        key = frame.columns[0]
        for row in frame.filter(pl.col("varying").list.len() > 0).iter_rows(named=True):
            lines.append(
                f"varying  {level} {clip(row[key])}: {', '.join(row['varying'])} "
                "differ inside it"
            )
    return lines
