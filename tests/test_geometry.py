"""Slice geometry, with property tests: shuffling never changes a verdict."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dicomkit.geometry import (
    REPEAT_KEYS,
    analyse_positions,
    cluster_orientations,
    normal,
    orientation_angle,
    orientation_problem,
    repeat_axis,
    repeat_candidates,
    slice_order,
)

AXIAL = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
CORONAL = [1.0, 0.0, 0.0, 0.0, 0.0, -1.0]


def stack(
    n: int,
    spacing: float = 2.5,
    orientation: list[float] = AXIAL,
    origin=(0.0, 0.0, 0.0),
):
    nrm = normal(orientation)
    return [list(np.asarray(origin) + k * spacing * nrm) for k in range(n)]


def test_normal_and_angle() -> None:
    assert list(normal(AXIAL)) == [0.0, 0.0, 1.0]
    assert orientation_angle(AXIAL, CORONAL) == pytest.approx(90.0)
    assert orientation_angle(AXIAL, AXIAL) == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("iop", "problem"),
    [
        (AXIAL, None),
        ([1, 0, 0, 0, 1], "has 5 values"),
        ([2, 0, 0, 0, 1, 0], "row direction has length 2"),
        ([1, 0, 0, 0.1, 0.995, 0], "not orthogonal"),
        ([1, 0, 0, 0, float("nan"), 0], "not finite"),
    ],
)
def test_orientation_problem(iop: list[float], problem: str | None) -> None:
    found = orientation_problem(iop)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


def test_cluster_orientations_largest_first() -> None:
    labels = cluster_orientations(
        [CORONAL, AXIAL, AXIAL, None, [1, 0, 0, 0, 1 - 5e-5, 0]]
    )
    assert labels == [1, 0, 0, -1, 0]  # DS-rounding jitter stays in the cluster


def test_regular_stack() -> None:
    a = analyse_positions(stack(10), AXIAL)
    assert a.spacing == pytest.approx(2.5)
    assert (a.gaps, a.duplicates, a.repeats, a.n_missing) == ([], [], None, 0)
    assert a.tilt_deg == pytest.approx(0.0, abs=1e-9)


def test_missing_slice_in_the_first_gap_uses_the_median() -> None:
    positions = stack(10)
    del positions[1]  # the first gap is the double one: Δ₀-based tools get this wrong
    a = analyse_positions(positions, AXIAL)
    assert a.spacing == pytest.approx(2.5)
    assert [(g.after, g.missing) for g in a.gaps] == [(0, 1)]


def test_two_missing_and_irregular() -> None:
    z = [0, 2, 4, 10, 12, 14, 15.3, 17.3]
    a = analyse_positions([[0, 0, v] for v in z], AXIAL)
    assert a.spacing == pytest.approx(2.0)
    assert [(g.after, g.missing) for g in a.gaps if g.missing] == [(2, 2)]
    assert [g.after for g in a.irregular] == [5]


def test_clean_repeat() -> None:
    positions = stack(5) + stack(5)
    a = analyse_positions(positions, AXIAL)
    assert a.repeats == 2
    assert len(a.duplicates) == 5
    assert a.gaps == []


def test_unequal_repeat_is_not_clean() -> None:
    a = analyse_positions(stack(5) + stack(3), AXIAL)
    assert a.repeats is None
    assert len(a.duplicates) == 3


def test_gantry_tilt() -> None:
    theta = math.radians(15)
    iop = [1, 0, 0, 0, math.cos(theta), math.sin(theta)]
    positions = [[0, 0, 5.0 * k] for k in range(30)]  # the table moves along z
    a = analyse_positions(positions, iop)
    assert a.tilt_deg == pytest.approx(15.0, abs=1e-6)
    assert a.spacing == pytest.approx(5 * math.cos(theta))
    assert a.drift_mm == pytest.approx(0.0, abs=1e-9)
    assert a.gaps == []


def test_in_plane_drift_of_one_slice() -> None:
    positions = stack(10)
    positions[5][0] += 3.0  # one slice shifted sideways
    a = analyse_positions(positions, AXIAL)
    assert a.drift_mm == pytest.approx(3.0)


# -- properties -------------------------------------------------------------------

orientations = st.sampled_from(
    [AXIAL, CORONAL, [0, 1, 0, 0, 0, -1], [1, 0, 0, 0, 0.8660254, 0.5]]
)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=4, max_value=60),
    spacing=st.floats(min_value=0.3, max_value=10.0),
    orientation=orientations,
    origin=st.tuples(*[st.floats(min_value=-500, max_value=500)] * 3),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_shuffling_never_changes_the_verdict(
    n: int,
    spacing: float,
    orientation: list[float],
    origin: tuple[float, float, float],
    seed: int,
) -> None:
    positions = stack(n, spacing, orientation, origin)
    shuffled = list(positions)
    np.random.default_rng(seed).shuffle(shuffled)
    a, b = (
        analyse_positions(positions, orientation),
        analyse_positions(shuffled, orientation),
    )
    assert a.positions == pytest.approx(b.positions)
    assert (a.n_missing, len(a.irregular), len(a.duplicates)) == (
        b.n_missing,
        len(b.irregular),
        len(b.duplicates),
    )
    assert a.spacing == pytest.approx(b.spacing)


@settings(max_examples=80, deadline=None)
@given(
    n=st.integers(min_value=5, max_value=80),
    spacing=st.floats(min_value=0.3, max_value=10.0),
    orientation=orientations,
    data=st.data(),
)
def test_one_slice_removed_is_exactly_one_missing_at_the_right_place(
    n: int, spacing: float, orientation: list[float], data: st.DataObject
) -> None:
    removed = data.draw(st.integers(min_value=1, max_value=n - 2))  # not an end slice
    positions = stack(n, spacing, orientation)
    del positions[removed]
    a = analyse_positions(positions, orientation)
    assert a.n_missing == 1
    assert [g.after for g in a.gaps] == [removed - 1]
    assert a.spacing == pytest.approx(spacing)
    assert a.irregular == []


# -- one order, one tie-break; repeat axes -------------------------------------------


def test_slice_order_along_the_normal_then_one_tie_break() -> None:
    positions = [[0, 0, 5], None, [0, 0, 1], [0, 0, 1], [0, 0, 1], [0, 0, -2]]
    order = slice_order(
        positions,
        AXIAL,
        instance_numbers=[1, 9, 4, 3, 3, None],
        frames=[0, 0, 0, 2, 1, 0],
        paths=["a", "b", "c", "d", "e", "f"],
    )
    # -2; then the three at 1 by InstanceNumber (3, 3, 4), the two 3s by frame; 5;
    # and the slice without a position last
    assert order == [5, 4, 3, 2, 0, 1]
    # a coronal series is ordered along its own normal (r × c = +y here)
    coronal = slice_order([[0, y, 0] for y in (1.0, -3.0, 2.0)], CORONAL)
    assert [[1.0, -3.0, 2.0][i] for i in coronal] == [-3.0, 1.0, 2.0]
    reverse = slice_order([[0, y, 0] for y in (1.0, -3.0, 2.0)], [1, 0, 0, 0, 0, 1])
    assert [[1.0, -3.0, 2.0][i] for i in reverse] == [2.0, 1.0, -3.0]  # normal −y
    # without an orientation: InstanceNumber, frame, path
    assert slice_order([None, None], None, instance_numbers=[2, 1]) == [1, 0]


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=2, max_value=30),
    orientation=orientations,
    repeats=st.integers(min_value=1, max_value=3),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_slice_order_does_not_depend_on_input_order(
    n: int, orientation: list[float], repeats: int, seed: int
) -> None:
    """The property that lets verify, the viewer and the volume agree: shuffled
    input, same slices at the same indices (ties included)."""
    positions = stack(n, 2.0, orientation) * repeats
    numbers = list(range(len(positions)))
    rng = np.random.default_rng(seed)
    shuffle = rng.permutation(len(positions))
    a = slice_order(positions, orientation, instance_numbers=numbers)
    b = slice_order(
        [positions[i] for i in shuffle],
        orientation,
        instance_numbers=[numbers[i] for i in shuffle],
    )
    assert [numbers[i] for i in a] == [numbers[shuffle[i]] for i in b]


def test_repeat_axis_needs_the_same_values_at_every_position() -> None:
    groups = [[0, 1], [2, 3], [4, 5]]
    assert repeat_axis(groups, {"EchoNumbers": [1, 2, 2, 1, 1, 2]}) == (
        "EchoNumbers",
        [1, 2],
    )
    # two values per position, but not the same two: not a clean axis
    assert repeat_axis(groups, {"TriggerTime": [0, 10, 0, 10, 0, 20]}) is None
    # a value missing, or repeated at one position
    assert repeat_axis(groups, {"EchoTime": [1, 2, 1, None, 1, 2]}) is None
    assert repeat_axis(groups, {"EchoTime": [1, 1, 1, 2, 1, 2]}) is None
    # the first qualifying key wins, in REPEAT_KEYS order
    both = {"EchoNumbers": [1, 2] * 3, "AcquisitionNumber": [7, 8] * 3}
    assert repeat_axis(groups, both) == ("EchoNumbers", [1, 2])


def test_repeat_candidates_name_dimension_indices_by_their_pointer() -> None:
    rows = [
        {
            "EchoNumbers": [1],
            "DimensionIndexValues": [1, k, t],
            "dimension_keywords": ["StackID", "InStackPositionNumber", "TriggerDelay"],
        }
        for k in (1, 2)
        for t in (1, 2)
    ]
    candidates = repeat_candidates(rows)
    assert list(candidates) == [
        "EchoNumbers",
        "StackID",
        "InStackPositionNumber",
        "TriggerDelay",
    ]
    assert candidates["EchoNumbers"] == [1, 1, 1, 1]  # one-value lists unwrapped
    assert repeat_axis([[0, 1], [2, 3]], candidates) == ("TriggerDelay", [1, 2])
    # per-frame keys follow their classic counterparts
    assert REPEAT_KEYS.index("EffectiveEchoTime") == REPEAT_KEYS.index("EchoTime") + 1
    assert REPEAT_KEYS.index("TemporalPositionIndex") == (
        REPEAT_KEYS.index("TemporalPositionIdentifier") + 1
    )
