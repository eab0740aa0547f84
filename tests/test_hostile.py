"""Hostile values in DICOM files: every display escapes and bounds them, every
written path stays inside its destination.

A DICOM value is untrusted text. The files here carry markup (``<script>``,
``"><img src=x onerror=…>``), NUL and other control characters, terminal escape
sequences, right-to-left overrides, path tricks (``../../etc/x``, ``/abs/path``,
``..``, ``CON``) and 10 MB strings (in PatientName, StudyDescription,
SeriesDescription, an extra keyword and a private element), and UIDs that are long
and carry markup. What is checked:

* the scan indexes a 10 MB value whole (the per-file bound is
  ``fastread.MAX_HEADER_BYTES``, 1 GiB; a header beyond it is an error row
  ``header_too_large``);
* every HTML that a repr or a widget emits has no live ``<script>``/``<img>``
  (only dicomkit's own inline PNGs), no NUL, no control or bidi character, and is
  bounded; so is every text display (repr, problems, the CLI's tree and table, plot
  labels). ``verify --format json|csv`` are data: they escape (JSON) or replace
  (CSV) control characters and keep UIDs verbatim, so they are bounded by the
  UIDs' own length only;
* ``plan.write`` keeps every written file inside the destination, whatever the
  values its folder names are made of.
"""

from __future__ import annotations

import io
import json
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import matplotlib

matplotlib.use("Agg")  # before anything draws

import polars as pl
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text
from pydicom import dcmread

import dicomkit as dk
from dicomkit.cli import main
from dicomkit.io import fastread
from dicomkit.render import Limits
from tests.conftest import (
    UID_ROOT,
    MakeFile,
    changed_files,
    changes,
    file_state,
    make_dataset,
    snapshot,
    write_dataset,
)

pytestmark = pytest.mark.usefixtures("sources_unchanged")

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
CONTROL = "A\x00B\x1b[2J\x07\x9b31m\u202eC\u2066D"
BIG = SCRIPT + "A" * 10_000_000  # 10 MB
#: A UID that is long, carries markup and a NUL.
EVIL_UID = "1.2.3." + SCRIPT + "\x00\x85\x9b" + "9" * 50_000

#: No display may be larger, whatever the values (a tree of a few series); an
#: unclipped EVIL_UID alone is larger.
BOUND = 20_000
#: Characters no display may show raw: C0/C1 controls (but newline) and bidi controls.
_UNSAFE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
#: dicomkit's own inline images, the only <img> a display may hold.
_OWN_IMG = re.compile(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]*"[^<>]*>')
_LIVE_MARKUP = re.compile(r"<\s*(script|img|iframe|svg|object|embed)\b", re.IGNORECASE)


def assert_safe(text: str, *, html: bool, bound: int = BOUND) -> None:
    """``text`` is bounded, has no unsafe character and (HTML) no live markup."""
    assert len(text) < bound, f"{len(text):,} characters: {text[:200]!r}"
    found = _UNSAFE.search(text)
    assert found is None, f"raw {found[0]!r} in {text[:200]!r}"
    if html:
        live = _LIVE_MARKUP.search(_OWN_IMG.sub("", text))
        assert live is None, f"live markup {live[0]!r} in {text[:200]!r}"


def longest(texts: pl.Series) -> int:
    return int(cast(int, texts.str.len_chars().max()))


# -- the hostile files ----------------------------------------------------------------


def _write(
    folder: Path, name: str, *, preamble: bool = True, **attributes: Any
) -> Path:
    ds = make_dataset(SpecificCharacterSet="ISO_IR 192", **attributes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about lengths and UIDs
        ds.add_new(0x00090010, "LO", "EVIL CREATOR")
        # a private element as long as the description
        ds.add_new(0x00091010, "LO", attributes.get("SeriesDescription", ""))
        return write_dataset(folder / name, ds, preamble=preamble)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``values/``: hostile names and descriptions (10 MB) with valid UIDs, and
    findings that quote them; ``uids/``: hostile UIDs; hostile file names."""
    root = tmp_path_factory.mktemp("hostile")
    values = root / "values"
    for i in range(2):  # one consistent series: its values reach every view
        _write(
            values,
            f"big{i}.dcm",
            preamble=False,  # implicit VR: a text element of 10 MB keeps its VR
            PatientName=BIG,
            PatientID=IMG,
            StudyDescription=BIG,
            SeriesDescription=BIG,
            ImageComments=BIG,
            AccessionNumber=CONTROL,
            SOPInstanceUID=f"{UID_ROOT}3.{i}",
            InstanceNumber=i + 1,
            ImagePositionPatient=[0, 0, i],
        )
    for i in range(3):  # the same study: its values differ, so findings quote them
        _write(
            values,
            f"odd{i}.dcm",
            PatientName=f"<img src=x onerror=alert({i})>{CONTROL}",
            PatientID=IMG,
            StudyDescription=f"{SCRIPT}{i}" + "B" * 3_000_000,
            SeriesDescription=CONTROL,
            Modality="CT" if i else '<b onmouseover="x">',
            SeriesInstanceUID=f"{UID_ROOT}2.7",
            SOPInstanceUID=f"{UID_ROOT}3.7{i}",
            InstanceNumber=1,
            ImagePositionPatient=[0, 0, 0 if i < 2 else 7.3],
        )
    # explicit VR: a value over 64 KB has no room in a 16-bit length, so pydicom
    # writes the element as UN (pydicom reads it back as bytes)
    _write(
        values,
        "un.dcm",
        SeriesDescription=BIG,
        StudyDescription=BIG,
        PatientID=IMG,
        SeriesInstanceUID=f"{UID_ROOT}2.8",
        SOPInstanceUID=f"{UID_ROOT}3.8",
    )
    for i in range(2):
        _write(
            root / "uids",
            f"u{i}.dcm",
            PatientID="../../etc/x",
            StudyInstanceUID=EVIL_UID + "1",
            SeriesInstanceUID=EVIL_UID + "2",
            SOPInstanceUID=EVIL_UID + f"3{i}",
            FrameOfReferenceUID=EVIL_UID + "4",
            SeriesDescription=IMG,
            InstanceNumber=i + 1,
            ImagePositionPatient=[0, 0, i],
        )
    for name in (f"{IMG}\x1b[31m\u202e.dcm", "line\nbreak error fake.dcm"):
        (root / name).write_bytes(b"not a DICOM file")
    return root


@pytest.fixture(scope="module")
def col(root: Path) -> dk.Collection:
    return dk.scan(root, progress=False, keywords=["ImageComments"], workers=1)


def test_a_ten_megabyte_value_is_indexed_whole(col: dk.Collection) -> None:
    # 10 MB is far below the per-file bound: the file is an instance, its value whole
    assert len(col) == 8
    big = col.instances.filter(pl.col("SOPInstanceUID") == f"{UID_ROOT}3.0")
    for keyword in ("PatientName", "StudyDescription", "SeriesDescription"):
        assert big[keyword].to_list() == [BIG]
    assert big["ImageComments"].to_list() == [BIG]
    assert sorted(col.errors["reason"]) == ["not_dicom", "not_dicom"]


def test_a_long_text_value_stored_as_un_is_text(col: dk.Collection) -> None:
    un = col.instances.filter(pl.col("SOPInstanceUID") == f"{UID_ROOT}3.8")
    assert un["SeriesDescription"].to_list() == [BIG]  # not "b'<script>…'"


def test_a_header_beyond_the_bound_is_an_error_row(
    tmp_path: Path, make_file: MakeFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fastread, "MAX_HEADER_BYTES", 16_000)  # not 1 GiB
    make_file("long.dcm", SeriesDescription=SCRIPT + "A" * 60_000)  # 60 KB: still LO
    scanned = dk.scan(tmp_path, progress=False, workers=1)
    assert len(scanned) == 0
    assert scanned.errors["reason"].to_list() == ["header_too_large"]
    assert_safe("\n".join(scanned.problems()), html=False)


def test_the_header_bound_holds_on_the_pydicom_path(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fastread, "MAX_HEADER_BYTES", 1 << 20)  # 1 MB
    # implicit VR without preamble, and a value stored as UN: the pydicom path
    for name in ("big0.dcm", "un.dcm"):
        scanned = dk.scan(root / "values" / name, progress=False, workers=1)
        assert scanned.errors["reason"].to_list() == ["header_too_large"]


# -- displays -------------------------------------------------------------------------


def test_collection_html_and_text(col: dk.Collection) -> None:
    page = col._repr_html_()
    assert_safe(page, html=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown, as text
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    unlimited = Limits(10**9, 10**9, 10**9, 10**9)
    for text in (repr(col), col.to_text(), col.to_text(limits=unlimited)):
        assert_safe(text, html=False)
        assert SCRIPT in text  # plain text needs no escaping
        assert max(map(len, text.splitlines())) < 1_000


def test_sub_collections_and_levels(col: dk.Collection) -> None:
    sub = col.filter(pl.col("PatientID") == IMG)
    assert_safe(sub._repr_html_(), html=True)
    for frame in (col.patients, col.studies, col.series):
        assert_safe(repr(frame), html=False, bound=BOUND)  # polars clips cells


def test_problems_and_findings(col: dk.Collection) -> None:
    findings = col.verify()
    checks = set(findings["check"])
    assert {"patient_mismatch", "study_attribute_mismatch", "mixed_modality"} <= checks
    assert "invalid_uid" in checks
    lines = col.problems()
    assert any(SCRIPT in line for line in lines)  # the values are quoted …
    for line in lines:  # … bounded, one line each, without control characters
        assert_safe(line, html=False, bound=1_200)
    assert_safe("\n".join(lines), html=False)


def test_verify_messages_quote_values_bounded(root: Path) -> None:
    findings = dk.scan(root / "values", progress=False).verify()
    assert findings.height
    assert longest(findings["message"]) < 2_000


def widget_texts(widget: Any, where: str = "") -> Iterator[tuple[str, str, bool]]:
    """Every text a widget tree shows: ``(where, text, is HTML)``."""
    import ipywidgets as W

    name = f"{where}/{type(widget).__name__}"
    if isinstance(widget, (W.HTML, W.HTMLMath)):
        yield name, widget.value, True
    elif isinstance(widget, (W.Label, W.Text, W.Textarea)):
        yield name, widget.value, False
    if isinstance(widget, (W.Select, W.Dropdown, W.ToggleButtons)):
        for label in widget._options_labels:
            yield f"{name} option", label, False
    description = getattr(widget, "description", None)
    if isinstance(description, str) and description:
        yield f"{name} description", description, True
    if isinstance(widget, W.Tab):
        for index in range(len(widget.children)):
            yield f"{name} title", widget.get_title(index) or "", False
    for child in getattr(widget, "children", ()):
        yield from widget_texts(child, name)


def bundle_html(widget: Any) -> str:
    data, _ = widget._repr_mimebundle_()
    assert_safe(data["text/plain"], html=False)
    html: str = data["text/html"]
    return html


def test_every_widget_text_is_escaped_and_bounded(col: dk.Collection) -> None:
    explorer = col.explore()
    seen: set[str] = set()
    for _, uid in explorer.series_select.options:  # every series, every tab
        explorer.series_select.value = uid
        for tab in (0, 1, 2):
            explorer.tabs.selected_index = tab
            explorer.tags.filter.value = "" if tab != 1 else "A"
            for mode in explorer.tags.mode.options:
                explorer.tags.mode.value = mode
                for where, text, is_html in widget_texts(explorer):
                    assert_safe(text, html=is_html)
                    seen.add(where)
        pages = [bundle_html(w) for w in (explorer.viewer, explorer.tags)]
        for page in (*pages, bundle_html(explorer.anatomy)):
            assert_safe(page, html=True)
    assert_safe(bundle_html(explorer), html=True)
    # the walk reached the panels that show DICOM values
    assert {"Explorer", "HBox", "Tab"} <= {part for w in seen for part in w.split("/")}
    assert any(w.endswith("SeriesViewer/HTML") for w in seen)
    assert explorer.context.value  # filled for the first series already


def test_widget_values_are_shown_escaped(col: dk.Collection) -> None:
    explorer = col.explore()
    explorer.series_select.value = f"{UID_ROOT}2"  # the series of 10 MB values
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in explorer.context.value
    assert "&lt;script&gt;" in explorer.viewer.title.value
    explorer.tabs.selected_index = 1
    table = explorer.tags.table.value
    assert "EVIL CREATOR" in table  # the private elements are listed, clipped
    assert "A" * 200 not in table
    assert "&lt;script&gt;" in table
    explorer.tags.filter.value = SCRIPT  # a hostile filter finds, and is not echoed raw
    assert "&lt;script&gt;" in explorer.tags.table.value
    assert_safe(explorer.tags.table.value, html=True)


def test_uid_anatomy_of_a_hostile_uid(col: dk.Collection) -> None:
    explorer = col.explore()
    explorer.series_select.value = EVIL_UID + "2"
    explorer.tabs.selected_index = 2
    page = explorer.anatomy.html.value
    assert_safe(page, html=True, bound=20_000)
    assert f"is not a UID: {len(EVIL_UID) + 1:,} characters" in page
    assert "&lt;script&gt;" in page
    status = explorer.viewer.status.value
    assert_safe(status, html=False, bound=200)
    assert status.startswith(f"rendered 1.2.3.{SCRIPT}···999")


def test_standalone_widgets(col: dk.Collection) -> None:
    sop = col.instances.filter(pl.col("PatientName") == BIG)["SOPInstanceUID"][0]
    for widget in (
        dk.widgets.SeriesViewer(col, EVIL_UID + "2"),
        dk.widgets.TagBrowser(col, sop),
        dk.widgets.UIDAnatomy(col, EVIL_UID + "30"),
    ):
        for _, text, is_html in widget_texts(widget):
            assert_safe(text, html=is_html)
        assert_safe(bundle_html(widget), html=True)


def test_plot_labels_are_bounded(col: dk.Collection) -> None:
    from dicomkit import plot

    uid = f"{UID_ROOT}2"  # the series of 10 MB values
    for ax in (plot.slice_positions(col, uid), plot.timeline(col), plot.hierarchy(col)):
        fig = ax.get_figure(root=True)
        assert isinstance(fig, Figure)
        labels = [t.get_text() for t in fig.findobj(Text)]
        assert any("script" in label for label in labels)
        for label in labels:
            assert_safe(label, html=False, bound=400)
        fig.savefig(io.BytesIO(), format="png")  # draws: no mathtext error either


def test_plan_reprs_and_reasons(col: dk.Collection) -> None:
    values = col.filter(pl.col("PatientID") == IMG)
    merge = values.merge_series(
        values.series["SeriesInstanceUID"].to_list(),
        key="k",
        allow_cross_study=True,
        allow_mixed=True,
    )
    split = values.split_series(f"{UID_ROOT}2.7", key="k")
    for plan in (merge, split):
        assert longest(plan.frame["reason"]) < 1_000
        assert_safe(repr(plan), html=False)
        assert_safe(plan._repr_html_(), html=True)
    assert SCRIPT in repr(merge)
    # a plan made elsewhere, with a reason that quotes a 10 MB value
    frame = merge.frame.with_columns(pl.lit(BIG).alias("reason"))
    odd = dk.Plan(frame, values, kind="merge")
    assert_safe(repr(odd), html=False)
    assert_safe(odd._repr_html_(), html=True)


# -- the command line -------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["tree"],
        ["tree", "--all"],
        ["scan"],
        ["verify"],
        ["verify", "--format", "json"],
        ["verify", "--format", "csv"],
    ],
)
def test_cli_output(
    root: Path, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # json and csv keep the 50 KB UIDs of uids/ verbatim: bounded by them only
    data = args[-1] in ("json", "csv")
    for folder, bound in (
        (root, 2_000_000 if data else BOUND),
        (root / "values", BOUND),
    ):
        assert main([args[0], str(folder), "--no-progress", *args[1:]]) == 0
        out, err = capsys.readouterr()
        assert err == ""
        assert_safe(out, html=False, bound=bound)
        if args[0] != "scan":
            assert "script" in out
        if args[-1] == "json":
            assert json.loads(out)  # the escapes keep it valid JSON


def test_json_keeps_hostile_uids_verbatim(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(root / "uids"), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert EVIL_UID + "2" in {row["uid"] for row in rows}


# -- written paths ------------------------------------------------------------------

_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {
    f"{k}{n}" for k in ("COM", "LPT") for n in range(10)
}

HOSTILE_NAMES: list[str | bytes] = [
    "../../etc/x",
    "..\\..\\windows\\x",
    "/abs/path",
    "..",
    ".",
    "....",
    ". . .",
    "a\x00b",
    "\x00",
    "CON",
    "con.txt",
    "LPT1",
    "\u202etxt.exe",
    "\x1b[31m\x07",
    SCRIPT,
    "~",
    "$HOME",
    "x" * 10_000,
    "é" * 300,
    "/" * 64,
    b"\xff\xfe/../\xc0\xaf..",  # not UTF-8
]


def _set_raw(path: Path, keyword_tag: int, value: bytes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = dcmread(path)
        ds.add_new(keyword_tag, "LO", value)
        ds.save_as(path)


@pytest.mark.parametrize("value", HOSTILE_NAMES, ids=lambda v: repr(v)[:24])
def test_written_paths_stay_inside_dest(
    tmp_path: Path,
    make_file: MakeFile,
    made_files: dict[Path, Any],
    value: str | bytes,
) -> None:
    text = value if isinstance(value, str) else ""
    for i in range(4):
        # series 2: an axial slice and a localizer (a split); 5 and 6: a merge
        source = make_file(
            f"src/{i}.dcm",
            SpecificCharacterSet="ISO_IR 192",
            PatientID=text,
            StudyDescription=text,
            SeriesDescription=text,
            SeriesInstanceUID=f"{UID_ROOT}{(2, 2, 5, 6)[i]}",
            SOPInstanceUID=f"{UID_ROOT}3.{i}",
            InstanceNumber=i + 1,
            ImagePositionPatient=[0, 0, i],
            ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER" if i == 1 else "AXIAL"],
            ImageOrientationPatient=[1, 0, 0, 0, 0, -1]
            if i == 1
            else [1, 0, 0, 0, 1, 0],
        )
        if isinstance(value, bytes):
            for tag in (0x00100020, 0x00081030, 0x0008103E):
                _set_raw(source, tag, value)
            made_files[source] = file_state(source)  # changed on purpose, before
    col = dk.scan(tmp_path / "src", progress=False)
    outside = snapshot(tmp_path)
    dest = tmp_path / "dest"
    plans = [
        col.split_series(f"{UID_ROOT}2", key="k"),
        col.merge_series([f"{UID_ROOT}5", f"{UID_ROOT}6"], key="k"),
    ]
    for plan in plans:
        written = plan.write(dest, progress=False)
        assert len(written) == len(plan) == 2
        for path in written.instances["path"]:
            resolved = Path(path).resolve()
            assert resolved.is_relative_to(dest.resolve())
            for part in resolved.relative_to(dest.resolve()).parts:
                assert part.isascii()
                assert part.isprintable()
                assert 0 < len(part) <= 64
                assert not part.startswith(".")
                assert part.partition(".")[0].upper() not in _RESERVED
            assert dcmread(path).SOPInstanceUID
    after = {k: v for k, v in snapshot(tmp_path).items() if not k.startswith("dest/")}
    assert changes(outside, after) == []  # nothing outside dest: no file, no link
    assert len(list(dest.rglob("*.dcm"))) == 4
    assert not [p for p in dest.rglob("*") if p.name.startswith(".dicomkit-")]


def test_the_source_check_can_fail(tmp_path: Path, make_file: MakeFile) -> None:
    path = make_file("a.dcm")
    before = snapshot(tmp_path)
    state = {path: file_state(path)}
    data = bytearray(path.read_bytes())
    data[-1] ^= 1  # one bit, same size, same mtime
    mtime = path.stat().st_mtime_ns
    path.write_bytes(bytes(data))
    os.utime(path, ns=(mtime, mtime))
    assert changes(before, snapshot(tmp_path)) == ["a.dcm: changed"]
    assert changed_files(state) == [str(path)]
    path.write_bytes(bytes(data[:-1]) + bytes([data[-1] ^ 1]))  # restored bytes …
    assert changed_files(state) == [str(path)]  # … but a new mtime
    os.utime(path, ns=(mtime, mtime))
    assert changed_files(state) == []
    path.unlink()
    assert changed_files(state) == [str(path)]
    (tmp_path / "new").write_bytes(b"")
    assert changes(before, snapshot(tmp_path)) == ["a.dcm: removed", "new: added"]
    make_file("a.dcm")  # back as make_file wrote it: the fixture stays content
