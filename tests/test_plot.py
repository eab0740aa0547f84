"""dicomkit.plot: each figure draws, stays out of pyplot, renders, and bounds DICOM text."""

from __future__ import annotations

import subprocess
import sys
import types
from collections.abc import Iterator
from io import BytesIO

import matplotlib

matplotlib.use("Agg")  # before anything draws

import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
import polars as pl
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Text

import dicomkit as dk
from dicomkit import plot
from tests.conftest import ROOT, SAMPLE

HOSTILE = "$\\frac{1}{0}$<script>" + "x" * 5000
BROKEN_MATH = "$\\notacommand{$" + "y" * 300  # raises if parsed as mathtext


@pytest.fixture(scope="module")
def col() -> dk.Collection:
    return dk.scan(SAMPLE, progress=False)


@pytest.fixture(autouse=True)
def no_pyplot_figures() -> Iterator[None]:
    """No function may open a pyplot figure."""
    before = plt.get_fignums()
    yield
    assert plt.get_fignums() == before


def series_uid(col: dk.Collection, description: str, number: int | None = None) -> str:
    rows = col.series.filter(pl.col("SeriesDescription") == description)
    if number is not None:
        rows = rows.filter(pl.col("SeriesNumber") == number)
    assert rows.height == 1
    return str(rows["SeriesInstanceUID"][0])


def figure_of(ax: Axes) -> Figure:
    fig = ax.get_figure(root=True)
    assert isinstance(fig, Figure)
    return fig


def texts(ax: Axes) -> list[str]:
    """Every text in the figure: titles, tick labels, annotations, legends."""
    return [t.get_text() for t in figure_of(ax).findobj(Text)]


def png(ax: Axes) -> bytes:
    buffer = BytesIO()
    figure_of(ax).savefig(buffer, format="png")
    data = buffer.getvalue()
    assert data.startswith(b"\x89PNG")
    return data


def given_axes() -> Axes:
    return Figure(figsize=(8, 5)).add_subplot()


# -- montage ------------------------------------------------------------------------


def test_montage_tiles_three_slices_in_two_columns() -> None:
    images = np.arange(3 * 4 * 5, dtype=float).reshape(3, 4, 5)
    ax = plot.montage(images, columns=2, labels=["a", "b", "c"])
    assert isinstance(ax, Axes)
    assert isinstance(figure_of(ax), Figure)
    assert len(ax.images) == 1
    canvas = ax.images[0].get_array()
    assert canvas is not None
    assert canvas.shape == (2 * 4, 2 * 5)
    assert np.ma.getmaskarray(canvas)[4:, 5:].all()  # the empty fourth tile
    assert {"a", "b", "c"} <= set(texts(ax))
    assert not ax.axison
    png(ax)


def test_montage_window_is_center_and_width() -> None:
    images = np.random.default_rng(0).normal(0, 100, (4, 8, 8))
    ax = plot.montage(images, window=(40, 400))
    assert ax.images[0].get_clim() == (-160, 240)
    auto = plot.montage(images)
    low, high = np.percentile(images, [1, 99])
    assert auto.images[0].get_clim() == pytest.approx((low, high))
    assert auto.images[0].get_cmap().name.startswith("gray")


ABDOMEN = "1.3.12.2.1107.5.1.4.83504.3231107093000200002"


def test_montage_of_a_volume_uses_the_files_window(col: dk.Collection) -> None:
    series = col.instances.filter(pl.col("SeriesInstanceUID") == ABDOMEN)
    [[center]] = series["WindowCenter"].unique().to_list()
    [[width]] = series["WindowWidth"].unique().to_list()
    vol = col.volume(ABDOMEN)
    assert vol.metadata["window"] == (center, width)
    ax = plot.montage(vol, step=6)
    assert ax.images[0].get_clim() == (center - width / 2, center + width / 2)
    assert "the file's WindowCenter/WindowWidth" in ax.get_title()
    assert ax.get_title().startswith("4 slices")  # 20 slices, every 6th
    canvas = ax.images[0].get_array()
    assert canvas is not None
    assert np.array_equal(canvas[:128, :128], vol.array[0])
    given = plot.montage(vol, window=(40, 400))
    assert given.images[0].get_clim() == (-160, 240)
    auto = plot.montage(vol, window="auto")
    low, high = np.percentile(vol.array, [1, 99])
    assert auto.images[0].get_clim() == pytest.approx((low, high))
    assert "1st–99th percentile" in auto.get_title()
    # a bare array has no file: the percentiles, and the title says so
    bare = plot.montage(vol.array)
    assert bare.images[0].get_clim() == pytest.approx((low, high))


def test_montage_pads_slices_of_different_sizes_and_draws_into_a_given_ax() -> None:
    ax = given_axes()
    result = plot.montage([np.ones((4, 4)), np.zeros((2, 6)), np.ones((3, 3))], ax=ax)
    assert result is ax
    canvas = ax.images[0].get_array()
    assert canvas is not None
    assert canvas.shape == (2 * 4, 2 * 6)
    png(ax)


@pytest.mark.parametrize(
    ("images", "kwargs"),
    [
        (np.zeros((0, 4, 4)), {}),
        (np.zeros((2, 2, 4, 4)), {}),
        ([np.zeros(4)], {}),
        (np.zeros((2, 4, 4)), {"window": (0, 0)}),
        (np.zeros((2, 4, 4)), {"columns": 0}),
        (np.zeros((2, 4, 4)), {"labels": ["a", "b", "c"]}),
        (np.zeros((2, 4, 4)), {"step": 0}),
    ],
)
def test_montage_refuses_bad_input(images: object, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        plot.montage(images, **kwargs)  # type: ignore[arg-type]


def test_montage_labels_are_bounded_and_not_mathtext() -> None:
    ax = plot.montage(np.zeros((2, 4, 4)), labels=[HOSTILE, BROKEN_MATH])
    labels = [t for t in texts(ax) if "script" in t or "notacommand" in t]
    assert len(labels) == 2
    assert all(len(t) <= 40 for t in labels)
    png(ax)


# -- slice_positions ----------------------------------------------------------------


def test_slice_positions_marks_the_missing_slice(col: dk.Collection) -> None:
    ax = plot.slice_positions(col, series_uid(col, "Thorax 3.0 B70f"))
    assert isinstance(ax, Axes)
    shown = texts(ax)
    assert "1 missing" in shown
    assert any("spacing 3.00 mm" in t and "Thorax 3.0 B70f" in t for t in shown)
    assert ax.patches  # the shaded gap
    assert sum(len(np.asarray(c.get_offsets())) for c in ax.collections) == 23
    png(ax)


def test_slice_positions_stacks_the_two_echoes(col: dk.Collection) -> None:
    ax = plot.slice_positions(col, series_uid(col, "AX PD/T2 DUAL ECHO"))
    shown = texts(ax)
    assert shown.count("×2") == 20
    assert any("clean repeat" in t for t in shown)
    stacked = [c for c in ax.collections if str(c.get_label()).startswith("several")]
    assert sum(len(np.asarray(c.get_offsets())) for c in stacked) == 40
    png(ax)


def test_slice_positions_reports_the_tilt(col: dk.Collection) -> None:
    ax = plot.slice_positions(col, series_uid(col, "Head seq 5.0 H31s tilt"))
    assert any("stacked at 15.0° to the normal" in t for t in texts(ax))
    png(ax)


def test_slice_positions_sets_the_localizer_apart(col: dk.Collection) -> None:
    ax = plot.slice_positions(col, series_uid(col, "Thorax 2.5 B31f"))
    notes = [t for t in texts(ax) if "another orientation" in t]
    assert any(
        "localizer" in t and "90°" in t and "InstanceNumber 1" in t for t in notes
    )
    assert any("48 images at 48 positions" in t for t in texts(ax))
    png(ax)


def test_slice_positions_of_a_regular_series(col: dk.Collection) -> None:
    ax = plot.slice_positions(col, series_uid(col, "AX T2 FLAIR", 5))
    assert any(t.startswith("regular") for t in texts(ax))
    assert not ax.patches
    png(ax)


def test_slice_positions_needs_a_series_uid_among_several(col: dk.Collection) -> None:
    with pytest.raises(ValueError, match="9 series present") as raised:
        plot.slice_positions(col)
    assert "Thorax 3.0 B70f" in str(raised.value)
    with pytest.raises(ValueError, match=r"not '1\.2\.3'"):
        plot.slice_positions(col.instances, "1.2.3")


def test_slice_positions_of_one_series_frame_into_a_given_ax(
    col: dk.Collection,
) -> None:
    one = col[series_uid(col, "Thorax 3.0 B70f")]
    ax = given_axes()
    assert plot.slice_positions(one, ax=ax) is ax
    assert plot.slice_positions(one.instances) is not ax
    assert "1 missing" in texts(ax)
    png(ax)


def frame(z: list[float | None], numbers: list[int | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "SeriesInstanceUID": ["1.2.3"] * len(z),
            "ImagePositionPatient": [None if v is None else [0.0, 0.0, v] for v in z],
            "ImageOrientationPatient": [[1.0, 0, 0, 0, 1, 0]] * len(z),
            "InstanceNumber": numbers,
        },
        schema_overrides={"InstanceNumber": pl.Int64},
    )


def test_slice_positions_of_a_frame_built_in_memory() -> None:
    ax = plot.slice_positions(frame([0, 2, 8, 10, 12, None], [1, None, 3, 4, 5, 6]))
    shown = texts(ax)
    assert "2 missing" in shown
    assert ax.get_ylabel() == "rank along the normal"
    assert any("1 image without geometry" in t for t in shown)
    assert any("Series ? · (no description)" in t for t in shown)
    png(ax)


def test_slice_positions_without_any_geometry() -> None:
    ax = plot.slice_positions(frame([None, None], [1, 2]))
    assert "no usable geometry" in ax.get_title(loc="left")
    png(ax)


# -- timeline -----------------------------------------------------------------------


def study_markers(ax: Axes) -> npt.NDArray[np.float64]:
    (markers,) = [c for c in ax.collections if c.get_gid() == "studies"]
    return np.asarray(markers.get_offsets())


def test_timeline_rows_and_markers(col: dk.Collection) -> None:
    ax = plot.timeline(col)
    assert isinstance(ax, Axes)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert [label.split("\n")[0] for label in labels] == ["PAT001", "PAT002", "PAT003"]
    markers = study_markers(ax)
    assert len(markers) == 5
    assert sorted(np.unique(markers[:, 1], return_counts=True)[1]) == [1, 2, 2]
    shown = texts(ax)
    assert any("CT HEAD + THORAX FOLLOW-UP" in t for t in shown)
    assert "+189 days" in shown  # the follow-up interval of patient A
    assert {"CT", "MR"} <= set(shown)  # the modality legend
    png(ax)


def test_timeline_puts_undated_studies_at_the_left(col: dk.Collection) -> None:
    knee = pl.col("StudyDescription") == "MR KNEE LEFT"
    undated = col.instances.with_columns(
        pl.when(knee).then(None).otherwise(pl.col("StudyDate")).alias("StudyDate")
    )
    ax = given_axes()
    assert plot.timeline(dk.Collection(undated), ax=ax) is ax
    markers = study_markers(ax)
    assert len(markers) == 5
    assert "no date" in texts(ax)
    assert np.argmin(markers[:, 0]) == markers[:, 1].tolist().index(2)  # patient C
    png(ax)


def test_timeline_without_any_date(col: dk.Collection) -> None:
    none = col.instances.with_columns(pl.lit(None, pl.Date).alias("StudyDate"))
    ax = plot.timeline(dk.Collection(none))
    assert len(study_markers(ax)) == 5
    png(ax)


def test_timeline_counts_patients_left_out(col: dk.Collection) -> None:
    ax = plot.timeline(col, max_patients=2)
    assert len(ax.get_yticklabels()) == 2
    assert "1 more patients not shown" in ax.get_title(loc="left")
    png(ax)


# -- hierarchy ----------------------------------------------------------------------


def test_hierarchy_draws_patients_studies_and_series(col: dk.Collection) -> None:
    ax = plot.hierarchy(col)
    assert isinstance(ax, Axes)
    shown = texts(ax)
    for pid in ("PAT001", "PAT002", "PAT003"):
        assert any(t.startswith(pid + "\n") for t in shown)
    assert sum(t.startswith("#") for t in shown) == 9  # series boxes
    assert sum(t.startswith("2023-") for t in shown) == 5  # study boxes
    assert any("2023-09-19 10:42  CT HEAD + THORAX FOLLOW-UP" in t for t in shown)
    assert any("2 studies · 3 series · 102 instances" in t for t in shown)
    assert any(t.startswith("#3  CT  Thorax 3.0 B70f · 23 instances") for t in shown)
    assert ax.collections  # the connecting lines
    assert "3 patients ⊃ 5 studies ⊃ 9 series ⊃ 213 instances" in ax.get_title("left")
    png(ax)


def test_hierarchy_truncates_with_a_more_node(col: dk.Collection) -> None:
    ax = given_axes()
    assert plot.hierarchy(col, ax=ax, max_series=3) is ax
    shown = texts(ax)
    assert sum(t.startswith("#") for t in shown) == 3
    assert any(t.startswith("… 6 more series") for t in shown)
    png(ax)
    with pytest.raises(ValueError, match="max_series"):
        plot.hierarchy(col, max_series=0)


# -- hostile text, pyplot and notebooks ----------------------------------------------


def hostile_collection(col: dk.Collection) -> dk.Collection:
    def replace(column: str, where: pl.Expr, value: str) -> pl.Expr:
        return (
            pl.when(where).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)
        )

    return dk.Collection(
        col.instances.with_columns(
            replace("PatientName", pl.col("PatientID") == "PAT002", HOSTILE),
            replace("PatientID", pl.col("PatientID") == "PAT003", BROKEN_MATH),
            replace("StudyDescription", pl.col("Modality") == "CT", HOSTILE),
            replace("SeriesDescription", pl.col("SeriesNumber") == 3, BROKEN_MATH),
            replace("Modality", pl.col("SeriesNumber") == 4, "$\\x$"),
        )
    )


def test_hostile_labels_render_bounded(col: dk.Collection) -> None:
    bad = hostile_collection(col)
    tilted = bad.instances.filter(pl.col("SeriesNumber") == 3)
    axes = [
        plot.timeline(bad),
        plot.hierarchy(bad),
        plot.slice_positions(tilted, tilted["SeriesInstanceUID"][0]),
        plot.montage(np.zeros((1, 4, 4)), labels=[HOSTILE]),
    ]
    for ax in axes:
        png(ax)  # a mathtext parse of any label would raise here
        shown = texts(ax)
        assert any("script" in t or "notacommand" in t for t in shown)
        assert max(len(line) for t in shown for line in t.split("\n")) <= 120
        assert all(t.count("$") == t.count("\\$") for t in shown)


def test_import_dicomkit_does_not_import_plot_or_matplotlib() -> None:
    code = (
        "import sys, dicomkit\n"
        "assert 'dicomkit.plot' not in sys.modules\n"
        "assert 'matplotlib' not in sys.modules\n"
        "import numpy\n"
        "dicomkit.plot.montage(numpy.zeros((2, 3, 3)))  # dk.plot loads lazily\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_ipython_shows_a_returned_axes_as_png(monkeypatch: pytest.MonkeyPatch) -> None:
    formatters = pytest.importorskip("IPython.core.formatters")
    png_formatter = formatters.PNGFormatter()
    shell = types.SimpleNamespace(
        display_formatter=types.SimpleNamespace(formatters={"image/png": png_formatter})
    )
    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: shell  # type: ignore[attr-defined]
    fig, managed = plt.subplots()  # pyplot's own figures are left to pyplot
    monkeypatch.setitem(sys.modules, "IPython", fake)
    try:
        ax = plot.montage(np.zeros((2, 3, 3)))
        assert png_formatter(ax).startswith(b"\x89PNG")
        assert png_formatter(figure_of(ax)).startswith(b"\x89PNG")
        assert png_formatter(managed) is None
    finally:
        plt.close(fig)


@pytest.mark.slow
def test_a_notebook_shows_the_figure_inline() -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import numpy as np, dicomkit.plot as p\np.montage(np.zeros((2, 3, 3)))"
        ),
        nbformat.v4.new_code_cell("import sys; 'matplotlib.pyplot' in sys.modules"),
    ]
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    shown, pyplot = (cell.outputs[0]["data"] for cell in nb.cells)
    assert "image/png" in shown
    assert pyplot["text/plain"] == "False"
