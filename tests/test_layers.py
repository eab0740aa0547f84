"""The package's layers, read from its imports: no cycle, and arrows down only.

Every ``import`` of every module under ``dicomkit/`` is read with :mod:`ast`
(function-level and ``TYPE_CHECKING`` imports included: a dependency is a
dependency, whenever it is loaded) and checked against the layers the README's
Architecture section draws.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "dicomkit"

#: The README's drawing, bottom up: each layer may import from the layers listed.
LAYERS: dict[str, tuple[str, ...]] = {
    "base": (),
    "io": ("base",),
    "logic": ("base",),
    "compose": ("base", "io", "logic"),
    "face": ("base", "io", "logic", "compose"),
    "top": ("base", "io", "logic", "compose", "face"),
}

#: Which layer a module is in: the first prefix that matches (a package's
#: ``__init__`` is in its modules' layer).
LAYER_OF: dict[str, str] = {
    "dicomkit.exceptions": "base",
    "dicomkit._warnings": "base",
    "dicomkit.schema": "base",
    "dicomkit.text": "base",  # plural() and relative paths: strings only
    "dicomkit._version": "base",  # the version, from package metadata
    "dicomkit._typing": "base",  # (if present) shared type aliases
    "dicomkit.io.pool": "io",  # the process pool and its stop protocol (scan, deid)
    "dicomkit.io": "io",
    "dicomkit.geometry": "logic",
    "dicomkit.uid": "logic",
    "dicomkit.window": "logic",
    "dicomkit.nifti": "logic",
    "dicomkit.render": "logic",
    "dicomkit.header_html": "logic",  # a data set's header as an HTML table
    "dicomkit.hierarchy": "logic",
    "dicomkit.ops": "logic",
    "dicomkit.verify": "logic",
    "dicomkit.deid.plan": "compose",  # the plan: the rules below, io/deid_write, rescan
    "dicomkit.deid": "logic",  # table iod decide keyed text private burned engine frames
    "dicomkit.compare": "logic",  # dk.compare: frames in, frames out
    "dicomkit.pipeline": "compose",
    "dicomkit.plan": "compose",
    "dicomkit.volume": "compose",
    "dicomkit.stacking": "compose",
    "dicomkit.export": "compose",
    "dicomkit.nifti_stream": "compose",  # which exports stream the files' bytes
    "dicomkit.collection": "face",
    "dicomkit.lazy": "top",
    "dicomkit.api": "top",
    "dicomkit.plot": "top",
    "dicomkit.widgets": "top",
    "dicomkit.cli": "top",
    "dicomkit.__main__": "top",
    "dicomkit.sample": "top",
    "dicomkit.corpus": "top",
    "dicomkit.examples": "top",
    "dicomkit": "top",
}

#: Arrows that break the drawing today, each with what removes it. A new one fails.
KNOWN: dict[tuple[str, str], str] = {
    ("dicomkit.collection", "dicomkit.widgets"): (
        "col.explore() loads the widgets on first use, so `import dicomkit` stays "
        "headless"
    ),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(name: str) -> set[str]:
    """The dicomkit modules ``name`` imports (``from pkg import mod`` is ``pkg.mod``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in MODULES else node.module)
    return {m for m in found if m == "dicomkit" or m.startswith("dicomkit.")} - {name}


def layer(name: str) -> str:
    for prefix, where in LAYER_OF.items():
        if name == prefix or name.startswith(prefix + "."):
            return where
    msg = f"{name} is in no layer: add it to LAYER_OF (and the README's drawing)"
    raise AssertionError(msg)


GRAPH = {name: imports(name) for name in MODULES}


def test_every_module_has_a_layer() -> None:
    for name in MODULES:
        assert layer(name) in LAYERS


def test_arrows_point_down_only() -> None:
    upward = []
    for name, targets in GRAPH.items():
        for target in sorted(targets):
            here, there = layer(name), layer(target)
            down = there == here or there in LAYERS[here]
            if not down and (name, target) not in KNOWN:
                upward.append(f"{name} ({here}) imports {target} ({there})")
    assert upward == [], "\n".join(upward)


def test_no_import_cycle() -> None:
    graph = {
        name: {t for t in targets if (name, t) not in KNOWN}
        for name, targets in GRAPH.items()
    }
    cycle = find_cycle(graph)
    assert cycle is None, " → ".join(cycle or [])


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that ends where it starts, or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
        ({"a": {"a"}}, ["a", "a"]),
    ],
)
def test_the_cycle_finder(
    graph: dict[str, set[str]], expected: list[str] | None
) -> None:
    assert find_cycle(graph) == expected


def test_the_checks_see_function_level_and_type_checking_imports() -> None:
    assert "dicomkit.widgets" in GRAPH["dicomkit.collection"]  # inside explore()
    assert "dicomkit.ops" in GRAPH["dicomkit.export"]  # under TYPE_CHECKING
    assert "dicomkit.geometry" in GRAPH["dicomkit.hierarchy"]  # from dicomkit import


def test_io_knows_nothing_of_the_hierarchy() -> None:
    for name, targets in GRAPH.items():
        if layer(name) == "io":
            assert not {t for t in targets if layer(t) != "io"} - {
                "dicomkit.exceptions",
                "dicomkit._warnings",
                "dicomkit.schema",
                "dicomkit._version",
            }, name


#: io modules over :data:`MAX_IO_LINES` lines, each one cohesive job (issue 12:
#: "no module over ~400 lines unless it is one cohesive job").
LONG_IO_MODULES: dict[str, str] = {
    "dicomkit/io/fastread.py": (
        "the fast header parser: one element walker, used by the scan's row loop "
        "and by the walk to PixelData of the native pixel path"
    ),
    "dicomkit/io/cache.py": (
        "the scan cache as a Store (which file, what is trusted, lookup, "
        "checkpoints, save); a third of it is the docstring stating its rules"
    ),
    "dicomkit/io/multiframe.py": (
        "each frame's geometry of the files that keep it outside the classic "
        "attributes (enhanced, RT Dose, classic multi-frame, mosaic): one row a plane"
    ),
    "dicomkit/io/scan.py": "the readers and the parallel pool (issue 12's scan split)",
}
MAX_IO_LINES = 450


def test_io_modules_are_short_or_one_job() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for path in sorted((PACKAGE / "io").rglob("*.py"))
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_IO_LINES
    }
    unexplained = {p: n for p, n in long.items() if p not in LONG_IO_MODULES}
    assert unexplained == {}, "split them, or say in LONG_IO_MODULES which one job"


def test_the_dicom_encoding_constants_are_defined_once() -> None:
    """No module re-declares a value of io/dicom.py (a UID, a tag, a length)."""
    from dicomkit.io import dicom

    values = {
        getattr(dicom, name): name
        for name in dicom.__all__
        if isinstance(getattr(dicom, name), (int, str))
    }
    again = []
    for name, path in MODULES.items():
        if name == "dicomkit.io.dicom":
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if (
                isinstance(node, (ast.Assign, ast.AnnAssign))
                and isinstance(node.value, ast.Constant)
                and not isinstance(node.value.value, bool)
                and node.value.value in values
            ):
                again.append(f"{name}:{node.lineno} {values[node.value.value]}")
    assert again == []
