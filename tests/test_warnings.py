"""dicomkit's warnings point at the caller's line, however deep inside dicomkit."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import dicomkit as dk
from dicomkit._warnings import caller_stacklevel, warn


def nested(depth: int) -> None:
    """``depth`` calls deep inside a module named like a dicomkit one, then warn."""
    code = (
        "def level(n):\n"
        "    if n == 0:\n"
        "        warn('dicomkit: deep')\n"
        "    else:\n"
        "        level(n - 1)\n"
    )
    namespace = {"__name__": "dicomkit.fake", "warn": warn}
    exec(compile(code, "dicomkit/fake.py", "exec"), namespace)
    namespace["level"](depth)  # type: ignore[operator]


@pytest.mark.parametrize("depth", [0, 1, 4])
def test_the_warning_points_at_the_first_frame_outside_dicomkit(depth: int) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nested(depth)  # this test module is the caller: not a dicomkit module
    [warning] = caught
    assert warning.category is RuntimeWarning
    assert warning.filename == __file__


def test_caller_stacklevel_counts_from_its_caller() -> None:
    assert caller_stacklevel() == 1  # called from outside dicomkit: this frame


def test_a_cached_scans_warning_points_at_the_scan_call(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "notes.txt").write_text("not an image")
    target = tmp_path / "my-table.parquet"
    target.write_text("the user's own file, not a cache")
    with pytest.warns(RuntimeWarning, match="not a dicomkit scan cache") as caught:
        dk.scan(folder, cache=target, progress=False)
    assert [w.filename for w in caught] == [__file__]


def test_no_stacklevel_is_hard_coded_in_the_package() -> None:
    """Every warning goes through :func:`dicomkit._warnings.warn` (or its level)."""
    import re

    package = Path(dk.__file__).parent
    hard_coded = [
        f"{path.relative_to(package)}:{number}"
        for path in sorted(package.rglob("*.py"))
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if re.search(r"stacklevel\s*=\s*\d", line)
    ]
    assert hard_coded == []
