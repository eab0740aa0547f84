"""The public surface: exported names, exceptions, and a light, headless import."""

from __future__ import annotations

import subprocess
import sys

import polars as pl
import pytest

import dicomkit as dk
from dicomkit.schema import DEFAULT_KEYWORDS, instance_schema


def test_all_is_sorted_and_complete() -> None:
    assert dk.__all__ == sorted(dk.__all__)
    for name in dk.__all__:
        assert hasattr(dk, name), name


def test_exceptions_refine_builtins() -> None:
    assert issubclass(dk.NotDicomError, ValueError)
    assert issubclass(dk.UnknownUIDError, KeyError)
    assert issubclass(dk.DuplicateInstanceError, ValueError)
    for exc in (dk.NotDicomError, dk.UnknownUIDError, dk.DuplicateInstanceError):
        assert issubclass(exc, dk.DicomkitError)


def test_import_is_light_and_headless() -> None:
    code = (
        "import sys, dicomkit; "
        "heavy = [m for m in ('ipywidgets', 'matplotlib', 'IPython') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == ""


@pytest.mark.parametrize("uid", [42, None])
def test_lookup_needs_a_string(uid: object) -> None:
    col = dk.Collection(pl.DataFrame(schema=instance_schema(DEFAULT_KEYWORDS)))
    with pytest.raises(TypeError, match="UID string"):
        col[uid]  # type: ignore[index]
    assert len(col) == 0
    assert "0 instances" in repr(col)
