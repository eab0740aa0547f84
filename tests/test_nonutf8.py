"""File and folder names that are not UTF-8, end to end.

The walk yields such names with surrogate escapes; a frame holds them as text with
``\\xNN`` for each undecodable byte (:func:`dicomkit.io.walk.text_path`), and
every reader turns that text back into the name to open
(:func:`dicomkit.io.walk.os_path`): content hashes of resends, pixels, volumes,
per-frame geometry and plans that write new files from the sources.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

import dicomkit as dk
from dicomkit.io.multiframe import read_frame_geometry
from dicomkit.io.walk import os_path, text_path
from tests.conftest import UID_ROOT, make_dataset, write_dataset

SERIES = UID_ROOT + "70.1"  # three regular slices, and a modified resend
ECHOES = UID_ROOT + "70.2"  # four files, two echoes: to split
FOLDER = b"caf\xe9"  # latin-1, not UTF-8


def _name(raw: bytes) -> str:
    """A file name as the operating system gives it back (surrogate escapes)."""
    return os.fsdecode(raw)


def _can_make_non_utf8_names(folder: Path) -> bool:
    try:
        Path(folder, _name(b"probe-\xff")).touch()
    except (OSError, UnicodeError):  # e.g. macOS, Windows: names are Unicode
        return False
    return True


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    """A folder whose names are not UTF-8, holding two series, a resend, junk and
    an enhanced multi-frame file."""
    top = tmp_path / "scan"
    top.mkdir()
    if sys.platform == "win32" or not _can_make_non_utf8_names(tmp_path):
        pytest.skip("this file system stores only Unicode names")
    made: dict[str, Path] = {}
    folder = top / _name(FOLDER)
    for k in range(3):
        ds = make_dataset(
            SeriesInstanceUID=SERIES,
            SOPInstanceUID=f"{SERIES}.{k + 1}",
            InstanceNumber=k + 1,
            ImagePositionPatient=[0.0, 0.0, float(k)],
            SliceLocation=float(k),
        )
        made[f"slice{k}"] = write_dataset(
            folder / _name(b"slice\xff%d.dcm" % k), ds, mtime_ns=2_000_000_000 * 10**9
        )
    # an older copy of slice 0 with other pixels: a "modified" resend, told from an
    # identical one only by the content hashes (no indexed attribute differs)
    older = make_dataset(
        SeriesInstanceUID=SERIES,
        SOPInstanceUID=f"{SERIES}.1",
        InstanceNumber=1,
        ImagePositionPatient=[0.0, 0.0, 0.0],
        SliceLocation=0.0,
        PixelData=np.full(16, 7, dtype="<i2").tobytes(),
    )
    made["resend"] = write_dataset(
        top / _name(b"old-\xfe\xfe.dcm"), older, mtime_ns=1_000_000_000 * 10**9
    )
    for k in range(4):
        ds = make_dataset(
            Modality="MR",
            SeriesInstanceUID=ECHOES,
            SOPInstanceUID=f"{ECHOES}.{k + 1}",
            InstanceNumber=k + 1,
            EchoNumbers=k % 2 + 1,
            ImagePositionPatient=[0.0, 0.0, float(k // 2)],
        )
        made[f"echo{k}"] = write_dataset(top / _name(b"echo-\xe9%d" % k), ds)
    # a name that holds a literal backslash-x: valid UTF-8, opened as it is
    made["literal"] = write_dataset(
        top / "literal-\\xe9.dcm",
        make_dataset(
            SeriesInstanceUID=UID_ROOT + "70.3", SOPInstanceUID=UID_ROOT + "70.3.1"
        ),
    )
    made["multiframe"] = write_dataset(
        top / _name(b"multi-\x80.dcm"), _multiframe(UID_ROOT + "70.4.1")
    )
    junk = top / _name(b"notes-\xff.txt")
    junk.write_bytes(b"not DICOM at all")
    made["junk"] = junk
    return made


def _multiframe(sop: str) -> Dataset:
    ds = make_dataset(
        SeriesInstanceUID=UID_ROOT + "70.4",
        SOPInstanceUID=sop,
        NumberOfFrames=2,
        PixelData=np.zeros(32, dtype="<i2").tobytes(),
    )
    frames = []
    for z in (5.0, 6.0):
        position = Dataset()
        position.ImagePositionPatient = [0.0, 0.0, z]
        item = Dataset()
        item.PlanePositionSequence = Sequence([position])
        frames.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    return ds


def _text(path: Path) -> str:
    return text_path(str(path))


def test_text_paths_round_trip(tree: dict[str, Path]) -> None:
    for path in tree.values():
        text = _text(path)
        text.encode("utf-8")  # valid UTF-8: a polars string
        assert os_path(text) == str(path)
        assert Path(os_path(text)).is_file()
    assert "\\xff" in _text(tree["slice0"])
    assert _text(tree["literal"]) == str(tree["literal"])  # nothing to escape


def test_os_path_opens_what_text_path_shows(tmp_path: Path) -> None:
    assert os_path("/no/escapes/here.dcm") == "/no/escapes/here.dcm"
    literal = tmp_path / "x\\xe9"
    literal.write_bytes(b"")
    assert os_path(str(literal)) == str(literal)  # it exists: as it is
    # a literal backslash beside an undecodable byte is escaped too: no ambiguity
    both = _name(b"/a/\\xe9-\xe9")
    assert text_path(both) == "/a/\\x5cxe9-\\xe9"
    assert os_path(text_path(both)) == both


_PIECES = st.sampled_from(
    [
        *(b"\\", b"\\x", b"\\x41", b"\\xe9", b"\\x5c", b"\xe9", b"\xff", b"\x80"),
        *(b"a", b"/", "é".encode(), "名".encode()),
    ]
)


@given(st.lists(st.one_of(_PIECES, st.binary(min_size=1, max_size=4)), max_size=12))
def test_text_path_round_trips_any_name(pieces: list[bytes]) -> None:
    raw = b"/nonexistent-dicomkit/" + b"".join(pieces).replace(b"\0", b"_")
    path = os.fsdecode(raw)
    text = text_path(path)
    text.encode("utf-8")  # a valid polars string
    if text == path:  # valid UTF-8: nothing escaped, nothing to undo
        assert "\\x" in text or os_path(text) == path
    else:
        assert os_path(text) == path


def test_scan_keeps_every_path_as_text(tree: dict[str, Path]) -> None:
    col = dk.scan(tree["slice0"].parent.parent, cache=False, progress=False)
    assert col.n_files == len(tree)
    paths = {
        *col.instances["path"].to_list(),
        *col.resends["path"].to_list(),
        *col.errors["path"].to_list(),
    }
    assert paths == {_text(p) for p in tree.values()}
    assert col.errors["path"].to_list() == [_text(tree["junk"])]
    assert col.errors["reason"].to_list() == ["not_dicom"]


def test_resends_are_hashed_through_text_paths(tree: dict[str, Path]) -> None:
    col = dk.scan(tree["slice0"].parent.parent, cache=False, progress=False)
    resend = col.resends.row(0, named=True)
    assert col.resends.height == 1
    assert resend["path"] == _text(tree["resend"])
    assert resend["replaced_by"] == _text(tree["slice0"])
    assert resend["content_hash"] is not None
    assert resend["resend"] == "modified"  # only the pixels differ
    assert resend["differs"] == []


def test_pixels_volume_and_frames_open_text_paths(tree: dict[str, Path]) -> None:
    col = dk.scan(tree["slice0"].parent.parent, cache=False, progress=False)
    for path in col.instances["path"]:
        assert dk.load_pixels(path).shape[-2:] == (4, 4)
    slice0 = col.instances.filter(pl.col("path") == _text(tree["slice0"]))
    assert dk.load_pixels(slice0["path"][0], rescale=False)[0, 0, 1] == 1
    volume = col.volume(SERIES)
    assert volume.array.shape == (3, 4, 4)
    multi = _text(tree["multiframe"])
    frames = read_frame_geometry([(multi, UID_ROOT + "70.4.1")])
    assert frames["ImagePositionPatient"].to_list() == [
        [0.0, 0.0, 5.0],
        [0.0, 0.0, 6.0],
    ]


def test_a_split_plan_writes_from_text_paths(
    tree: dict[str, Path], tmp_path: Path
) -> None:
    col = dk.scan(tree["slice0"].parent.parent, cache=False, progress=False)
    plan = col.split_series(ECHOES, by="EchoNumbers", key="k")
    written = plan.write(tmp_path / "out", progress=False)
    assert written.instances.height == 4
    assert written.instances["SeriesInstanceUID"].n_unique() == 2
    assert all(os.path.isfile(p) for p in written.instances["path"])


def test_display_shows_text_paths(tree: dict[str, Path]) -> None:
    col = dk.scan(tree["slice0"].parent.parent, cache=False, progress=False)
    text = col.to_text()
    html = col._repr_html_()
    assert "Test^Patient" in text
    assert "Test^Patient" in html
    html.encode("utf-8")
    text.encode("utf-8")


def test_a_cached_scan_keeps_text_paths(tree: dict[str, Path], tmp_path: Path) -> None:
    top = tree["slice0"].parent.parent
    first = dk.scan(top, cache=tmp_path / "index.parquet", progress=False)
    again = dk.scan(top, cache=tmp_path / "index.parquet", progress=False)
    assert first.n_files == again.n_files == len(tree)
    assert set(again.instances["path"]) == set(first.instances["path"])
