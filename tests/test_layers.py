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
    "dicomkit._version": "base",  # (if present) the version, from package metadata
    "dicomkit._typing": "base",  # (if present) shared type aliases
    "dicomkit.io.pool": "io",  # the process pool and its stop protocol (scan, deid)
    "dicomkit.io": "io",
    "dicomkit.geometry": "logic",
    "dicomkit.uid": "logic",
    "dicomkit.window": "logic",
    "dicomkit.nifti": "logic",
    "dicomkit.render": "logic",
    "dicomkit.hierarchy": "logic",
    "dicomkit.ops": "logic",
    "dicomkit.verify": "logic",
    "dicomkit.deid.plan": "compose",  # the plan: the rules below, io/deid_write, rescan
    "dicomkit.deid": "logic",  # the table, the IOD choices, the engine on Datasets
    "dicomkit.compare": "logic",  # dk.compare: frames in, frames out
    "dicomkit.pipeline": "compose",
    "dicomkit.plan": "compose",
    "dicomkit.volume": "compose",
    "dicomkit.export": "compose",
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
    ("dicomkit.io.parquet", "dicomkit"): (
        "dicomkit_version() reads dicomkit.__version__: the version from package "
        "metadata (issue 12 item 6) removes it"
    ),
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
    assert "dicomkit" in GRAPH["dicomkit.io.parquet"]  # inside dicomkit_version()
    assert "dicomkit.ops" in GRAPH["dicomkit.export"]  # under TYPE_CHECKING
    assert "dicomkit.geometry" in GRAPH["dicomkit.hierarchy"]  # from dicomkit import


def test_io_knows_nothing_of_the_hierarchy() -> None:
    for name, targets in GRAPH.items():
        if layer(name) == "io":
            assert not {t for t in targets if layer(t) != "io"} - {
                "dicomkit.exceptions",
                "dicomkit._warnings",
                "dicomkit.schema",
                "dicomkit",  # KNOWN: dicomkit_version
            }, name
