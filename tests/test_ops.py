"""Split and merge rules on frames built in memory (no file on disk).

A split must never mix series: a group is one combination of the full values of
every criterion, its UID derived from that key. A merge is allowed only where a
split would not separate the result again.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dicomkit as dk
from dicomkit.ops import auto_criteria, merge_plan, repeat_axis, split_plan
from dicomkit.plan import Plan, PlanFrames
from dicomkit.schema import PIXEL_FORMAT
from tests.frames import AXIAL, CORONAL, SAGITTAL, collection, frame, stack, tilted

UID = "1.2.3.2.1"
MIXING = {"mixed_orientation", "mixed_pixel_format", "duplicate_position"}


def seven_orientations() -> list[dict[str, Any]]:
    """21 images in 7 orientations: axial tilted 0°, 10° … 60° about x, 3 slices each."""
    rows = []
    for i in range(7):
        rows += stack(3, orientation=tilted(10.0 * i), start=3 * i, modality="MR")
    return rows


def mixing_findings(col: dk.Collection) -> list[str]:
    found = col.verify()
    return found.filter(pl.col("check").is_in(list(MIXING)))["check"].to_list()


# -- issue 18: a split never mixes series -------------------------------------------


def test_seven_orientations_give_seven_clean_series() -> None:
    col = collection(seven_orientations())
    plan = col.split_series(UID, key="k")
    summary = plan.summary()
    assert summary.height == 7
    assert summary["n_instances"].to_list() == [3] * 7
    assert summary["SeriesNumber"].n_unique() == 7
    assert summary["SeriesDescription"].n_unique() == 7
    assert summary["new_series_uid"].n_unique() == 7
    # the group is the orientation itself: each new series holds one tilt
    frame_ = plan.frame.join(
        col.instances.select("SOPInstanceUID", "ImageOrientationPatient"),
        on="SOPInstanceUID",
    )
    per_series = frame_.group_by("new_series_uid").agg(
        pl.col("ImageOrientationPatient").unique().len()
    )
    assert per_series["ImageOrientationPatient"].to_list() == [1] * 7
    assert "7 series" in repr(plan)
    new = plan.apply()
    assert new.series.height == 7
    assert mixing_findings(new) == []


def test_new_uids_come_from_the_full_key_not_the_label() -> None:
    # 10° and 20° share the display plane "axial (oblique)"; their UIDs do not
    rows = stack(3, orientation=tilted(10)) + stack(3, orientation=tilted(20), start=3)
    plan = split_plan(frame(rows), UID, key="k")
    keys = plan["group_key"].unique().to_list()
    assert len(keys) == 2
    assert sorted(keys) == [
        "orientation=1.0,0.0,0.0,0.0,0.9396926207859084,0.3420201433256687",
        "orientation=1.0,0.0,0.0,0.0,0.984807753012208,0.17364817766693033",
    ]
    assert plan["new_series_uid"].n_unique() == 2
    again = split_plan(frame(list(reversed(rows))), UID, key="k")
    same = plan.join(again, on="SOPInstanceUID").select(
        (pl.col("new_series_uid") == pl.col("new_series_uid_right")).all()
    )
    assert same.item()  # the key, not the row order, decides the UID


def test_the_key_of_a_jittered_orientation_does_not_depend_on_row_order() -> None:
    jitter = [1.0, 0.0, 0.0, 0.0, 1.0, 3e-7]  # GE-like DS noise, far below 1e-4
    rows = stack(3) + stack(3, start=3, orientation=CORONAL)
    rows[1]["ImageOrientationPatient"] = jitter
    ahead = split_plan(frame(rows), UID, key="k")
    behind = split_plan(frame(rows[1:] + rows[:1]), UID, key="k")
    assert ahead["new_series_uid"].n_unique() == 2
    assert set(ahead["new_series_uid"]) == set(behind["new_series_uid"])


def test_groups_that_share_a_label_get_different_descriptions() -> None:
    # two pixel-spacing groups whose full values differ after 4 significant figures
    # are one group; values that differ before are two, with two descriptions
    rows = stack(2, PixelSpacing=[0.5, 0.5]) + stack(
        2, start=2, PixelSpacing=[0.51, 0.51], origin=(0.0, 0.0, 50.0)
    )
    plan = split_plan(frame(rows), UID, by=["pixel_spacing"], key="k")
    assert plan["SeriesDescription"].n_unique() == 2
    assert plan["SeriesNumber"].unique().sort().to_list() == [101, 102]


def test_mixed_bits_stored_is_split_by_auto_as_verify_reports_it() -> None:
    rows = stack(4, BitsStored=12) + stack(4, start=4, BitsStored=16)
    col = collection(rows)
    assert "mixed_pixel_format" in col.verify()["check"].to_list()
    plan = col.split_series(UID, key="k")
    assert plan.summary()["n_instances"].to_list() == [4, 4]
    assert "pixel format differs (BitsStored 12/16)" in plan.frame["reason"][0]
    assert "BitsStored 16" in plan.summary()["SeriesDescription"][1]
    assert mixing_findings(plan.apply()) == []


@pytest.mark.parametrize("attribute", PIXEL_FORMAT)
def test_every_pixel_format_attribute_separates(attribute: str) -> None:
    other: dict[str, Any] = {
        "Rows": 128,
        "Columns": 128,
        "SamplesPerPixel": 3,
        "BitsAllocated": 8,
        "BitsStored": 10,
        "PixelRepresentation": 1,
        "PhotometricInterpretation": "MONOCHROME1",
    }
    rows = stack(2) + stack(2, start=2, **{attribute: other[attribute]})
    assert split_plan(frame(rows), UID, key="k")["group"].n_unique() == 2


def test_ct_is_never_split_on_mr_acquisition_keys() -> None:
    varied: dict[str, Any] = {
        "EchoNumbers": lambda k: [k + 1],
        "EchoTime": lambda k: float(k),
        "SeriesNumber": lambda k: k + 1,
        "ImageType": lambda k: ["ORIGINAL", "PRIMARY", "P" if k % 2 else "M"],
    }
    ct = frame(stack(6, modality="CT", **varied))
    assert split_plan(ct, UID, key="k")["group"].n_unique() == 1
    mr = frame(stack(6, modality="MR", **varied))
    assert split_plan(mr, UID, key="k")["group"].n_unique() == 6
    assert "EchoNumbers" not in auto_criteria("CT")


ORIENTATIONS = [AXIAL, CORONAL, SAGITTAL, tilted(10), tilted(10.005), tilted(30)]
# 10° and 10.005° are one orientation within the tolerance (1e-4 per component)
SAME_AS = [0, 1, 2, 3, 3, 5]
FORMATS: list[dict[str, Any]] = [
    {},
    {"BitsStored": 16},
    {"Rows": 128, "Columns": 128},
    {"PhotometricInterpretation": "MONOCHROME1"},
]


@st.composite
def mixed_series(draw: st.DrawFn) -> tuple[list[dict[str, Any]], set[tuple[int, ...]]]:
    """A series whose images mix orientations, pixel formats and echo repeats;
    with the distinct (orientation, format, echo) keys it holds."""
    keys = draw(
        st.lists(
            st.tuples(
                st.integers(0, len(ORIENTATIONS) - 1),
                st.integers(0, len(FORMATS) - 1),
                st.integers(1, 3),
            ),
            min_size=1,
            max_size=6,
            unique=True,
        )
    )
    slices = draw(st.integers(2, 3))
    rows: list[dict[str, Any]] = []
    pairs = sorted({(o, f) for o, f, _ in keys})
    for o, f, echo in keys:
        rows += stack(
            slices,
            orientation=ORIENTATIONS[o],
            # the echoes of one stack repeat its positions; two stacks never collide
            origin=(0.0, 0.0, 100.0 * pairs.index((o, f))),
            start=len(rows),
            modality="MR",
            EchoNumbers=[echo],
            EchoTime=10.0 * echo,
            **FORMATS[f],
        )
    order = draw(st.permutations(range(len(rows))))
    return [rows[i] for i in order], {(SAME_AS[o], f, e) for o, f, e in keys}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mixed_series())
def test_property_a_split_never_mixes(
    drawn: tuple[list[dict[str, Any]], set[tuple[int, ...]]],
) -> None:
    rows, keys = drawn
    col = collection(rows)
    plan = col.split_series(UID, key="k")
    # as many groups as distinct keys; every image in exactly one group
    assert plan.frame["new_series_uid"].n_unique() == len(keys)
    assert plan.frame["group"].n_unique() == len(keys)
    assert plan.summary()["SeriesDescription"].n_unique() == len(keys)
    assert sorted(plan.frame["SOPInstanceUID"]) == sorted(
        r["SOPInstanceUID"] for r in rows
    )
    new = plan.apply()
    assert len(new) == len(rows)
    assert mixing_findings(new) == []


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mixed_series())
def test_property_4d_keeps_only_clean_repeats_together(
    drawn: tuple[list[dict[str, Any]], set[tuple[int, ...]]],
) -> None:
    rows, keys = drawn
    plan = collection(rows).split_series(UID, repeats="4d", key="k")
    new = plan.apply()
    assert len(new) == len(rows)
    found = new.verify()
    # no new series mixes orientations or formats; a repeat left is a clean one
    assert (
        found.filter(pl.col("check") != "duplicate_position")
        .filter(pl.col("check").is_in(list(MIXING)))
        .is_empty()
    )
    assert (
        found.filter(pl.col("check") == "duplicate_position")["severity"].to_list()
        == ["warning"] * found.filter(pl.col("check") == "duplicate_position").height
    )
    assert plan.frame["new_series_uid"].n_unique() >= len({(o, f) for o, f, _ in keys})


# -- issue 11.1: repeats="4d" for every repeat key ----------------------------------


@pytest.mark.parametrize(
    ("keyword", "values", "volumes"),
    [
        ("EchoNumbers", [[1], [2], [3]], [1, 2, 3]),  # a List column, as in the sample
        ("TriggerTime", [0.0, 100.0, 200.0], [1, 2, 3]),
        ("TemporalPositionIdentifier", [1, 2, 3], [1, 2, 3]),
        ("DiffusionBValue", [0.0, 1000.0, 500.0], [1, 3, 2]),  # by value, not text
        ("AcquisitionNumber", [3, 2, 1], [3, 2, 1]),
    ],
)
def test_repeats_4d_for_every_repeat_key(
    keyword: str, values: list[Any], volumes: list[int]
) -> None:
    rows = [
        row
        for t in range(3)
        for row in stack(5, start=5 * t, modality="MR", **{keyword: values[t]})
    ]
    col = collection(rows)
    said = col.verify().filter(pl.col("check") == "duplicate_position")
    assert keyword in said["message"][0]  # verify names the key …
    axis = repeat_axis(col.instances)
    assert axis is not None
    assert axis[0] == keyword  # … and the splitter finds the same one
    plan = col.split_series(UID, repeats="4d", key="k")
    assert plan.summary()["n_instances"].to_list() == [15]
    assert keyword in plan.frame["reason"][0]
    # volumes numbered in the order of the repeat value, five slices each
    volume_of = dict(
        zip(plan.frame["SOPInstanceUID"], plan.frame["volume"], strict=True)
    )
    for t in range(3):
        assert {volume_of[f"{UID}.{5 * t + k + 1}"] for k in range(5)} == {volumes[t]}
    # without "4d" the repeat is split by the same key into three series
    split = col.split_series(UID, by=[keyword], key="k")
    assert split.summary()["n_instances"].to_list() == [5, 5, 5]


def test_repeats_4d_keeps_splitting_what_is_not_a_repeat() -> None:
    # two echoes, plus a localizer: the localizer is split off, the echoes stay
    rows = stack(4, modality="MR", EchoNumbers=[1]) + stack(
        4, start=4, modality="MR", EchoNumbers=[2]
    )
    scout = dict(
        stack(1, orientation=CORONAL, modality="MR")[0],
        SOPInstanceUID=f"{UID}.99",
        path="/d/scout.dcm",
        ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"],
        EchoNumbers=[1],
    )
    plan = collection([*rows, scout]).split_series(UID, repeats="4d", key="k")
    assert plan.summary()["n_instances"].to_list() == [8, 1]
    four_d = plan.frame.filter(pl.col("group") == 0)
    assert four_d["volume"].value_counts().sort("volume")["count"].to_list() == [4, 4]
    assert four_d.sort("InstanceNumber")["volume"].to_list() == [1] * 4 + [2] * 4


def test_a_repeat_that_does_not_divide_is_split_not_4d() -> None:
    rows = stack(4, modality="MR", EchoNumbers=[1]) + stack(
        3, start=4, modality="MR", EchoNumbers=[2]
    )
    plan = collection(rows).split_series(UID, repeats="4d", key="k")
    assert plan.summary()["n_instances"].to_list() == [4, 3]
    assert plan.frame["volume"].is_null().all()


# -- issue 11.3: a plan's result keeps every file ------------------------------------


def test_apply_keeps_every_resend_and_error() -> None:
    rows = stack(3, modality="MR", EchoNumbers=[1]) + stack(
        3, start=3, modality="MR", EchoNumbers=[2]
    )
    errors = [{"path": "/d/broken.dcm", "reason": "truncated", "message": "cut"}]
    col = collection(rows, resends=[rows[0], rows[4]], errors=errors)
    assert col.n_files == 6 + 2 + 1
    new = col.split_series(UID, key="k").apply()
    assert new.n_files == col.n_files
    assert new.errors.equals(col.errors)
    # a superseded copy follows its instance into the new series
    current = dict(
        zip(
            new.instances["source_sop_uid"],
            new.instances["SeriesInstanceUID"],
            strict=True,
        )
    )
    for row in new.resends.iter_rows(named=True):
        assert row["SeriesInstanceUID"] == current[row["source_sop_uid"]]
        assert row["SOPInstanceUID"] in set(new.instances["SOPInstanceUID"])
    assert new.series.height == 2


def test_apply_leaves_a_conflicting_copy_in_its_own_series() -> None:
    rows = stack(3, modality="MR", EchoNumbers=[1]) + stack(
        3, start=3, modality="MR", EchoNumbers=[2]
    )
    conflict = dict(rows[0], SeriesInstanceUID="1.2.3.9.9")
    col = collection(rows, resends=[conflict])
    new = col.split_series(UID, key="k").apply()
    assert new.n_files == col.n_files
    assert new.resends["SeriesInstanceUID"].to_list() == ["1.2.3.9.9"]
    assert new.resends["SOPInstanceUID"].to_list() == [rows[0]["SOPInstanceUID"]]


# -- merge: only when every criterion agrees -----------------------------------------


def two_halves(**other: Any) -> pl.DataFrame:
    a = stack(4, uid="1.2.3.2.1", spacing=4.0)
    b = stack(4, uid="1.2.3.2.2", spacing=4.0, origin=(0.0, 0.0, 2.0), **other)
    return frame(a + b)


def test_merge_of_agreeing_series_is_one_clean_series() -> None:
    instances = two_halves()
    plan = merge_plan(instances, ["1.2.3.2.1", "1.2.3.2.2"], key="k")
    assert plan["new_series_uid"].n_unique() == 1
    assert plan.sort("InstanceNumber")["InstanceNumber"].to_list() == list(range(1, 9))
    merged = Plan(plan, dk.Collection(instances), kind="merge", wrap=dk.Collection)
    assert merged.apply().verify().is_empty()


@pytest.mark.parametrize(
    ("other", "said"),
    [
        ({"ImageOrientationPatient": tilted(10)}, "orientation differs"),
        ({"BitsStored": 16}, "pixel format differs (BitsStored 12/16)"),
        ({"PixelSpacing": [0.7, 0.7]}, "pixel_spacing takes 2 values"),
        ({"FrameOfReferenceUID": "1.2.3.5"}, "FrameOfReferenceUID takes 2 values"),
        ({"SOPClassUID": "1.2.840.10008.5.1.4.1.1.128"}, "SOPClassUID takes 2 values"),
        ({"ImageType": ["ORIGINAL", "PRIMARY", "LOCALIZER"]}, "a localizer"),
    ],
)
def test_merge_is_refused_when_a_criterion_differs(
    other: dict[str, Any], said: str
) -> None:
    instances = two_halves(**other)
    with pytest.raises(dk.MergeError, match="cannot be one series") as raised:
        merge_plan(instances, ["1.2.3.2.1", "1.2.3.2.2"], key="k")
    assert said in str(raised.value)
    forced = merge_plan(
        instances, ["1.2.3.2.1", "1.2.3.2.2"], allow_mixed=True, key="k"
    )
    assert "mixed on purpose (allow_mixed=True)" in forced["reason"][0]


def test_mr_echoes_are_not_merged_nor_suggested() -> None:
    instances = two_halves(EchoNumbers=[2]).with_columns(pl.lit("MR").alias("Modality"))
    with pytest.raises(dk.MergeError, match="EchoNumbers takes 2 values"):
        merge_plan(instances, ["1.2.3.2.1", "1.2.3.2.2"], key="k")
    assert dk.Collection(instances).suggest_merges().is_empty()
    same_echo = two_halves().with_columns(pl.lit("MR").alias("Modality"))
    assert dk.Collection(same_echo).suggest_merges().height == 1


def test_suggestions_need_every_criterion_to_agree() -> None:
    assert dk.Collection(two_halves()).suggest_merges().height == 1
    assert dk.Collection(two_halves(BitsStored=16)).suggest_merges().is_empty()


# -- issue 12.5: a plan needs frames, not a Collection -----------------------------------


def test_a_plan_takes_any_source_of_frames() -> None:
    rows = stack(2, modality="MR", EchoNumbers=[1]) + stack(
        2, start=2, modality="MR", EchoNumbers=[2]
    )
    source = PlanFrames(frame(rows), dk.Collection(frame(rows)).resends, pl.DataFrame())
    plan = Plan(split_plan(source.instances, UID, key="k"), source, kind="split")
    result = plan.apply()
    assert isinstance(result, PlanFrames)
    assert result.instances["SeriesInstanceUID"].n_unique() == 2
    assert "2 series" in repr(plan)


def test_plan_does_not_import_collection() -> None:
    source = Path(dk.__file__).parent / "plan.py"
    imported = {
        node.module
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module
    } | {
        alias.name
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert "dicomkit.collection" not in imported
    assert "type(self._source)" not in source.read_text()


def test_repeats_4d_needs_every_position() -> None:
    rows = stack(3, EchoNumbers=[1]) + stack(3, start=3, EchoNumbers=[2])
    rows[0]["ImagePositionPatient"] = [0.0, 0.0]  # malformed: not a placed repeat
    assert repeat_axis(frame(rows)) is None
    plan = collection(rows).split_series(UID, repeats="4d", by=["EchoNumbers"], key="k")
    assert plan.summary()["n_instances"].to_list() == [3, 3]


def test_a_frame_of_reference_per_instance_is_not_split_into_single_images() -> None:
    # verify tolerates it (a warning, some scanners write it): auto keeps the series
    own = collection(stack(4, FrameOfReferenceUID=lambda k: f"1.2.3.4.{k + 1}"))
    found = own.verify().filter(pl.col("check") == "mixed_frame_of_reference")
    assert found["severity"].to_list() == ["warning"]
    assert own.split_series(UID, key="k").summary().height == 1
    # two frames of reference shared by several instances each: verify's error, a split
    two = collection(stack(4, FrameOfReferenceUID=lambda k: f"1.2.3.4.{k // 2 + 1}"))
    found = two.verify().filter(pl.col("check") == "mixed_frame_of_reference")
    assert found["severity"].to_list() == ["error"]
    assert two.split_series(UID, key="k").summary()["n_instances"].to_list() == [2, 2]


def test_values_that_look_alike_as_text_are_different_keys() -> None:
    # ("1; b=2", "3") and ("1", "2; b=3") read the same when joined; None vs "None"
    rows = stack(4)
    for row, (a, b) in zip(
        rows,
        [("1; b=2", "3"), ("1", "2; b=3"), (None, "x"), ("None", "x")],
        strict=True,
    ):
        row.update(ProtocolName=a, StationName=b)
    plan = split_plan(frame(rows), UID, by=["ProtocolName", "StationName"], key="k")
    assert plan["new_series_uid"].n_unique() == 4


def test_a_nan_value_is_one_group() -> None:
    rows = stack(4, EchoTime=lambda k: float("nan") if k < 2 else 5.0)
    plan = split_plan(frame(rows), UID, by=["EchoTime"], key="k")
    assert plan["group"].value_counts()["count"].to_list() == [2, 2]
