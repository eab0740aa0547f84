"""The shared wording of dicomkit.text: one series label for every display."""

from __future__ import annotations

from typing import Any, Literal

import polars as pl

from dicomkit import plot
from dicomkit.ops._common import series_label as plan_label
from dicomkit.text import clip, series_label
from tests.frames import collection, stack

ROW: dict[str, Any] = {
    "SeriesNumber": 12,
    "Modality": "MR",
    "SeriesDescription": "t1_mprage_sag_p2_iso_1mm_with_a_very_long_name_$x$",
    "n_instances": 176,
    "n_frames": 176,
}


def test_tree_form_is_the_repr_line() -> None:
    assert series_label(ROW) == (
        "Series 12  MR  t1_mprage_sag_p2_iso_1mm_with_a_very_long_name_$x$"
        "  176 instances"
    )
    assert series_label({**ROW, "n_frames": 352, "n_instances": 1}) == (
        "Series 12  MR  t1_mprage_sag_p2_iso_1mm_with_a_very_long_name_$x$"
        "  1 instance, 352 frames"
    )


def test_figure_form_clips_codes_to_8_and_the_description_to_width() -> None:
    row = {**ROW, "SeriesNumber": "1234567890", "Modality": "VERYLONGMOD"}
    label = series_label({**row, "n_frames": 2000}, form="figure", width=36)
    assert label == (
        "#1234567…  VERYLON…  t1_mprage_sag_p2_iso_1mm_with_a_ver…"
        " · 176 instances (2,000 frames)"
    )
    # the figure draws the shared label, its mathtext escaped
    col = collection(stack(3, SeriesNumber=12, SeriesDescription="a$b"))
    boxes = [t.get_text() for t in plot.hierarchy(col).texts]
    assert r"#12  CT  a\$b · 3 instances" in boxes


def test_missing_values_have_placeholders_except_in_messages() -> None:
    empty = {
        "SeriesNumber": None,
        "Modality": None,
        "SeriesDescription": None,
        "n_instances": 3,
        "n_frames": 3,
    }
    assert series_label(empty) == "Series ?  ?  (no description)  3 instances"
    assert series_label(empty, form="figure", width=36) == (
        "#?  ?  (no description) · 3 instances"
    )
    assert series_label(empty, form="message") == "#None"
    assert series_label({**empty, "SeriesNumber": 4}, form="message") == "#4"


def test_untrusted_values_are_clipped_and_made_printable() -> None:
    hostile = {**ROW, "SeriesDescription": "a\x00b\n" + "x" * 500}
    forms: tuple[Literal["tree", "figure", "message"], ...] = (
        "tree",
        "figure",
        "message",
    )
    for form in forms:
        label = series_label(hostile, form=form)
        assert "\x00" not in label
        assert "\n" not in label
        assert len(label) < 200
    assert clip("a\x00b\n") == "a·b·"


def test_plans_name_a_series_of_an_instance_frame_by_the_message_form() -> None:
    frame = pl.DataFrame(
        {
            "SeriesInstanceUID": ["1.2", "1.3"],
            "SeriesNumber": [7, 8],
            "SeriesDescription": ["axial", None],
        }
    )
    assert plan_label(frame, "1.2") == "#7 axial"
    assert plan_label(frame, "1.3") == "#8"
