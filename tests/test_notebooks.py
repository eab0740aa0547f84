"""The notebooks: kept as text, paired with their .ipynb, and run from an install.

Each notebook's source of truth is ``notebooks/NN_name.py`` (jupytext percent format:
Jupyter opens and saves it directly, ruff lints it, git diffs it). Its paired
``.ipynb`` is committed without outputs for GitHub and nbviewer. These tests

- fail when a ``.py`` and its ``.ipynb`` disagree (``jupytext --sync`` mends it);
- build a wheel of dicomkit, install it outside the repository, and run every
  notebook from a fresh folder with that installed package (so a notebook cannot
  lean on the checkout: ``dk.examples.sample()`` generates the sample);
- run each exercise three ways in that one execution: unanswered (the check
  prints a neutral prompt), with a wrong answer (the check must print
  ``✗ not yet``, so a check that accepts anything fails here), then with its
  hidden solution cell in place of the exercise (the check must print
  ``✓ right``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient
from nbformat import NotebookNode

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

NOTEBOOK_DIR = ROOT / "notebooks"
SOURCES = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))
PROMPT = "put your answer in answer_"
#: Modules a notebook must not import: the machinery behind the public names.
INTERNAL = {
    "io", "hierarchy", "ops", "verify", "render", "schema", "pipeline", "plan",
    "geometry", "collection", "api", "text", "export", "corpus", "sample", "lazy",
}  # fmt: skip
RIGHT = "✓ right"
WRONG = "✗ not yet"


def _tags(cell: NotebookNode) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def test_there_are_notebooks() -> None:
    assert len(SOURCES) >= 6
    assert not (NOTEBOOK_DIR / "build_notebooks.py").exists()


def test_every_ipynb_has_a_text_source() -> None:
    ipynbs = {p.stem for p in NOTEBOOK_DIR.glob("*.ipynb")}
    assert ipynbs == {p.stem for p in SOURCES}


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_text_source_and_ipynb_agree(source: Path) -> None:
    text = jupytext.read(source)
    paired = jupytext.read(source.with_suffix(".ipynb"))
    assert text.metadata["jupytext"]["formats"] == "ipynb,py:percent"

    def cells(nb: NotebookNode) -> list[tuple[str, str, list[str]]]:
        return [(c.cell_type, c.source, _tags(c)) for c in nb.cells]

    assert cells(text) == cells(paired), (
        f"{source.name} and its .ipynb differ: run `jupytext --sync {source}`"
    )


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_ipynb_is_committed_without_outputs(source: Path) -> None:
    nb = json.loads(source.with_suffix(".ipynb").read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"{source.name}: strip outputs"
            assert cell["execution_count"] is None


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_no_private_imports(source: Path) -> None:
    code = "\n".join(
        c.source for c in jupytext.read(source).cells if c.cell_type == "code"
    )
    assert "benchmarks" not in code, f"{source.name} imports benchmarks/"
    assert "sys.path" not in code, f"{source.name} changes sys.path"
    imported = re.findall(r"^\s*(?:from|import)\s+(dicomkit[\w.]*)", code, re.M)
    private = [m for m in imported if m.split(".", 1)[-1].split(".")[0] in INTERNAL]
    assert private == [], f"{source.name} imports internal modules {private}"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_exercises_have_solution_and_check(source: Path) -> None:
    cells = jupytext.read(source.with_suffix(".ipynb")).cells
    for i, cell in enumerate(cells):
        if "exercise" in _tags(cell):
            solution, check = cells[i + 1], cells[i + 2]
            assert "solution" in _tags(solution), f"{source.name}: cell {i + 1}"
            # hidden in the rendered notebook: inactive and collapsed
            assert solution.cell_type == "raw"
            assert solution.metadata["jupyter"]["source_hidden"] is True
            assert "check" in _tags(check)
            assert "dk.examples.check(" in check.source


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dicomkit built as a wheel and installed into a folder outside the repo."""
    base = tmp_path_factory.mktemp("install")
    tree = base / "src"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    shutil.copytree(
        ROOT / "dicomkit",
        tree / "dicomkit",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    # no build isolation, no index: nothing is downloaded
    subprocess.run(
        [
            *pip,
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            base,
            tree,
        ],
        check=True,
    )
    (wheel,) = base.glob("dicomkit-*.whl")
    site = base / "site"
    subprocess.run(
        [*pip, "install", "--no-deps", "--no-index", "--target", site, wheel],
        check=True,
    )
    return site


def _exercised(nb: NotebookNode) -> tuple[NotebookNode, list[tuple[int, str]]]:
    """The notebook with every exercise run unanswered, solved and answered wrong.

    Returns the new notebook and, per inserted check cell, what it must print.
    """
    out: list[NotebookNode] = []
    expect: list[tuple[int, str]] = []
    cells = nb.cells
    i = 0
    while i < len(cells):
        cell = cells[i]
        if "exercise" not in _tags(cell):
            out.append(cell)
            i += 1
            continue
        solution, check = cells[i + 1], cells[i + 2]
        solved = nbformat.v4.new_code_cell(solution.source)
        name = cell.source.split("=", 1)[0].strip()  # answer_N
        wrong = nbformat.v4.new_code_cell(f"{name} = object()  # never right")
        out.append(cell)
        # the solution last: later cells may use what it made, and it runs once
        for run, must_print in ((None, PROMPT), (wrong, WRONG), (solved, RIGHT)):
            if run is not None:
                out.append(run)
            expect.append((len(out), must_print))
            out.append(nbformat.v4.new_code_cell(check.source))
        i += 3
    new = nbformat.v4.new_notebook(metadata=nb.metadata)
    new.cells = out
    return new, expect


def _printed(cell: NotebookNode) -> str:
    return "".join(
        o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream"
    )


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_notebook_runs_from_an_install(
    source: Path, installed: Path, tmp_path: Path
) -> None:
    nb, expect = _exercised(jupytext.read(source.with_suffix(".ipynb")))
    guard = nbformat.v4.new_code_cell(
        "import dicomkit\n"
        f"assert dicomkit.__file__.startswith({str(installed)!r}), dicomkit.__file__"
    )
    nb.cells.insert(0, guard)
    expect = [(index + 1, text) for index, text in expect]
    work = tmp_path / "work"
    work.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": str(installed),
        # one generated sample for the whole run, outside the repository
        "DICOMKIT_CACHE_DIR": str(installed.parent / "cache"),
        "MPLBACKEND": "agg",
    }
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": work}}
    ).execute(env=env)
    errors = [
        f"cell {i}: {o.get('ename')}: {o.get('evalue')}"
        for i, cell in enumerate(nb.cells)
        for o in cell.get("outputs", [])
        if o.output_type == "error"
    ]
    assert errors == []
    for index, must_print in expect:
        printed = _printed(nb.cells[index])
        assert must_print in printed, (
            f"{source.name}: check cell printed {printed!r}, expected {must_print!r}"
        )
