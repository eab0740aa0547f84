#!/usr/bin/env python3
"""Set up and run dicomkit's jobs with nothing but Python 3.10+.

    python3 dev.py demo       # make .venv, install dicomkit, scan data/sample/, print the tree
    python3 dev.py test       # make .venv, install dicomkit[dev], run ruff, mypy and pytest
    python3 dev.py notebooks  # execute notebooks/ into build/notebooks/ (with outputs, and HTML)

Extra arguments after ``test`` go to pytest (``python3 dev.py test -k parquet``).
The virtual environment is re-installed only when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if sys.platform == "win32" else "bin")


def _run(*cmd: str | Path) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], cwd=ROOT, check=True)


def _setup(extra: str) -> None:
    if sys.version_info < (3, 10):
        sys.exit(
            f"dicomkit needs Python 3.10 or newer; this is {sys.version.split()[0]}"
        )
    if not (BIN / "python").exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    stamp = VENV / f".installed-{extra or 'base'}-{digest}"
    if not stamp.exists():
        _run(BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip")
        _run(
            BIN / "python",
            "-m",
            "pip",
            "install",
            "--quiet",
            "-e",
            f".[{extra}]" if extra else ".",
        )
        stamp.touch()


def demo() -> None:
    _setup("")
    _run(BIN / "dicomkit", "tree", "data/sample")


def test(pytest_args: list[str]) -> None:
    _setup("dev")
    _run(BIN / "ruff", "check", ".")
    _run(BIN / "ruff", "format", "--check", ".")
    _run(BIN / "mypy")
    _run(BIN / "python", "-m", "pytest", *pytest_args)


def notebooks() -> None:
    """The notebooks are committed without outputs; this renders them with outputs."""
    _setup("dev")
    out = ROOT / "build" / "notebooks"
    paths = sorted(str(p) for p in (ROOT / "notebooks").glob("*.ipynb"))
    for fmt in ("notebook", "html"):
        _run(
            BIN / "jupyter",
            "nbconvert",
            "--to",
            fmt,
            "--execute",
            "--output-dir",
            out,
            *paths,
        )
    print(f"rendered {len(paths)} notebooks into {out}")


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in ("demo", "test", "notebooks"):
        sys.exit(__doc__)
    try:
        if sys.argv[1] == "demo":
            demo()
        elif sys.argv[1] == "notebooks":
            notebooks()
        else:
            test(sys.argv[2:])
    except subprocess.CalledProcessError as exc:
        sys.exit(exc.returncode)


if __name__ == "__main__":
    main()
