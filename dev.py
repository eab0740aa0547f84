#!/usr/bin/env python3
"""Set up and run dicomkit's jobs with nothing but Python 3.10+.

    python3 dev.py demo       # make .venv, install dicomkit, scan data/sample/, print the tree
    python3 dev.py test       # make .venv, install dicomkit[dev], run ruff, mypy and pytest
    python3 dev.py notebooks  # execute notebooks/ into build/notebooks/ (with outputs, and HTML)

Extra arguments after ``test`` go to pytest (``python3 dev.py test -k parquet``).
``--python VERSION|PATH`` (before them) runs the job on another interpreter, in its own
virtual environment ``.venv-X.Y``: ``python3 dev.py test --python 3.10`` finds
``python3.10`` on PATH, under pyenv (``~/.pyenv/versions/3.10.*``) or through
``uv python find``, and stops with an error when there is none.
The virtual environment is re-installed only when pyproject.toml changes.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
OLDEST = (3, 10)  # requires-python in pyproject.toml


class Env:
    """The interpreter a job runs on and its virtual environment."""

    def __init__(self, python: str | None) -> None:
        self.python = python  # None: the interpreter running dev.py
        if python is None:
            self.version = sys.version_info[:2]
            self.dir = ROOT / ".venv"
        else:
            version = _version_of(python)
            assert version is not None  # find_python checked it
            self.version = version
            self.dir = ROOT / f".venv-{self.version[0]}.{self.version[1]}"
        self.bin = self.dir / ("Scripts" if sys.platform == "win32" else "bin")

    def create(self) -> None:
        print(f"creating {self.dir}", flush=True)
        if self.python is None:
            venv.EnvBuilder(with_pip=True, clear=True).create(self.dir)
        else:
            _run(self.python, "-m", "venv", "--clear", self.dir)


def _run(*cmd: str | Path) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], cwd=ROOT, check=True)


def _version_of(python: str) -> tuple[int, int] | None:
    """``(major, minor)`` of the interpreter at ``python``; None if it does not run."""
    try:
        result = subprocess.run(
            [python, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = result.stdout.split()
    if result.returncode != 0 or len(out) != 2:
        return None
    return int(out[0]), int(out[1])


def find_python(spec: str) -> str:
    """The interpreter ``spec`` names: a path, or a version such as ``3.10``."""
    if not re.fullmatch(r"\d+\.\d+", spec):
        path = shutil.which(spec) or (spec if os.access(spec, os.X_OK) else None)
        if path is None or _version_of(path) is None:
            sys.exit(f"dev.py: --python {spec}: no such interpreter")
        return path
    wanted = tuple(int(n) for n in spec.split("."))
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    pattern = os.path.join(root, "versions", f"{spec}.*", "bin", f"python{spec}")
    candidates = sorted(glob.glob(pattern), key=_patch_level, reverse=True)
    candidates.append(shutil.which(f"python{spec}") or "")  # may be a pyenv shim
    if shutil.which("uv"):
        found = subprocess.run(
            ["uv", "python", "find", spec], capture_output=True, text=True
        )
        candidates.append(found.stdout.strip() if found.returncode == 0 else "")
    for path in candidates:
        if path and _version_of(path) == wanted:
            return path
    sys.exit(
        f"dev.py: Python {spec} is not on this machine (not under pyenv, not "
        f"python{spec} on PATH, not found by uv); install it, e.g. with "
        f"`uv python install {spec}` or `pyenv install {spec}`"
    )


def _patch_level(path: str) -> int:
    match = re.search(r"versions/\d+\.\d+\.(\d+)/", path)
    return int(match.group(1)) if match else -1


def _setup(env: Env, extra: str) -> None:
    if env.version < OLDEST:
        sys.exit(
            f"dicomkit needs Python {OLDEST[0]}.{OLDEST[1]} or newer; "
            f"this is {env.version[0]}.{env.version[1]}"
        )
    if not (env.bin / "python").exists():
        env.create()
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    stamp = env.dir / f".installed-{extra or 'base'}-{digest}"
    if not stamp.exists():
        python = env.bin / "python"
        _run(python, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
        _run(
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "-e",
            f".[{extra}]" if extra else ".",
        )
        stamp.touch()


def demo(env: Env) -> None:
    _setup(env, "")
    _run(env.bin / "dicomkit", "tree", "data/sample")


def test(env: Env, pytest_args: list[str]) -> None:
    _setup(env, "dev")
    print(f"testing on Python {env.version[0]}.{env.version[1]} ({env.dir.name})")
    _run(env.bin / "ruff", "check", ".")
    _run(env.bin / "ruff", "format", "--check", ".")
    _run(env.bin / "mypy")
    _run(env.bin / "python", "-m", "pytest", *pytest_args)


def notebooks(env: Env) -> None:
    """The notebooks are committed without outputs; this renders them with outputs."""
    _setup(env, "dev")
    out = ROOT / "build" / "notebooks"
    paths = sorted(str(p) for p in (ROOT / "notebooks").glob("*.ipynb"))
    for fmt in ("notebook", "html"):
        _run(
            env.bin / "jupyter",
            "nbconvert",
            "--to",
            fmt,
            "--execute",
            "--output-dir",
            out,
            *paths,
        )
    print(f"rendered {len(paths)} notebooks into {out}")


def _take_python(args: list[str]) -> tuple[str | None, list[str]]:
    """Remove ``--python X`` / ``--python=X`` from the front of ``args``."""
    if args and args[0] == "--python":
        if len(args) < 2:
            sys.exit("dev.py: --python needs a version (3.10) or a path")
        return args[1], args[2:]
    if args and args[0].startswith("--python="):
        return args[0].split("=", 1)[1], args[1:]
    return None, args


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in ("demo", "test", "notebooks"):
        sys.exit(__doc__)
    spec, rest = _take_python(sys.argv[2:])
    env = Env(None if spec is None else find_python(spec))
    try:
        if sys.argv[1] == "demo":
            demo(env)
        elif sys.argv[1] == "notebooks":
            notebooks(env)
        else:
            test(env, rest)
    except subprocess.CalledProcessError as exc:
        sys.exit(exc.returncode)


if __name__ == "__main__":
    main()
