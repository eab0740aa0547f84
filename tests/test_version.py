"""dk.__version__ comes from the package metadata, or the checkout's pyproject.toml."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

import dicomkit as dk
from dicomkit._version import UNKNOWN, checkout_version, dicomkit_version
from dicomkit.io.parquet import dicomkit_version as parquet_version
from tests.conftest import ROOT


def test_the_version_is_the_installed_metadata_and_pyprojects() -> None:
    installed = importlib.metadata.version("dicomkit")
    assert dk.__version__ == dicomkit_version() == installed
    assert parquet_version is dicomkit_version  # io reads it from the base layer
    assert checkout_version(ROOT / "pyproject.toml") == installed
    source = (ROOT / "dicomkit" / "__init__.py").read_text(encoding="utf-8")
    assert f'"{installed}"' not in source  # no copy of the number in the code


def test_an_uninstalled_checkout_reads_its_pyproject(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert dicomkit_version() == checkout_version(ROOT / "pyproject.toml") != UNKNOWN


def test_checkout_version_reads_the_project_line(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "dicomkit"\nversion = "2.3.4rc1"\n'
        '[tool.x]\nversion = "9"\n  version = "8"\n',
        encoding="utf-8",
    )
    assert checkout_version(pyproject) == "2.3.4rc1"
    pyproject.write_text("[project]\nname = 'dicomkit'\n", encoding="utf-8")
    assert checkout_version(pyproject) == UNKNOWN
    assert checkout_version(tmp_path / "missing.toml") == UNKNOWN
