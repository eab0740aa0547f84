"""Example data that works from a ``pip install``: the sample and a synthetic corpus.

>>> import dicomkit as dk
>>> folder = dk.examples.sample()   # doctest: +SKIP
>>> dk.scan(folder)                 # doctest: +SKIP

:func:`sample` returns the repository's ``data/sample/`` when dicomkit runs from a
checkout, and otherwise generates the same files (byte for byte, with the shipped
generator :mod:`dicomkit.sample`) into the user cache folder once. :func:`corpus`
writes any number of synthetic CT/MR files for trying dicomkit at scale. Nothing
here downloads anything.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from dicomkit import sample as _generator
from dicomkit.corpus import write_corpus

__all__ = ["check", "corpus", "sample"]

_CHECKOUT = Path(__file__).resolve().parents[1] / "data" / "sample"
_MARKER = "README.md"  # the checkout's description of the sample's cases


def _generator_digest() -> str:
    """Changes whenever the generator (and so the sample's bytes) can change."""
    source = Path(_generator.__file__).read_bytes()
    return hashlib.sha256(source).hexdigest()[:12]


def _cache_root() -> Path:
    from dicomkit.io.cache import default_cache_dir

    return default_cache_dir()


def sample(*, prefer_checkout: bool = True) -> Path:
    """The folder of dicomkit's synthetic sample (3 patients, 5 studies, 12 cases).

    Parameters
    ----------
    prefer_checkout : bool, default True
        Return ``data/sample/`` of the repository when dicomkit is imported from a
        checkout that has it. With False (or when installed from a package) the
        sample is generated into ``<cache>/sample-<generator digest>/`` the first
        time, where ``<cache>`` is ``$DICOMKIT_CACHE_DIR``, else
        ``$XDG_CACHE_HOME/dicomkit``, else ``~/.cache/dicomkit``. A change to the
        generator gives a new folder, so a stale copy is never returned.

    Returns
    -------
    pathlib.Path
        A folder to scan. Treat it as read-only: it is the same folder every time.

    Examples
    --------
    >>> import dicomkit as dk
    >>> col = dk.scan(dk.examples.sample())   # doctest: +SKIP
    >>> col.n_files                            # doctest: +SKIP
    217
    """
    if prefer_checkout and (_CHECKOUT / _MARKER).is_file():
        return _CHECKOUT
    root = _cache_root()
    target = root / f"sample-{_generator_digest()}"
    if target.is_dir():  # only ever created whole, by the rename below
        return target
    root.mkdir(parents=True, exist_ok=True)
    # Generate beside the target and rename: a reader never sees half a sample.
    tmp = Path(tempfile.mkdtemp(prefix=".dicomkit-sample-", dir=root))
    try:
        _generator.write_sample(tmp, force=True)
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.is_dir():  # else a concurrent writer's copy is there
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def corpus(dest: str | os.PathLike[str], n: int) -> list[Path]:
    """Write ``n`` synthetic CT/MR files under ``dest`` (same ``n``, same bytes).

    The files are 128×128 images in a patient/study/series layout (100 slices per
    series, 3 series per study, 2 studies per patient, 10% implicit VR), with the
    private groups and sequences a scanner meets in practice; the benchmarks use
    the same generator.

    Parameters
    ----------
    dest : path
        A folder to write into (created if missing).
    n : int
        How many files.

    Returns
    -------
    list of pathlib.Path
        The written files.

    Examples
    --------
    >>> import tempfile, dicomkit as dk
    >>> paths = dk.examples.corpus(tempfile.mkdtemp(), 30)
    >>> len(paths)
    30
    """
    return write_corpus(Path(dest), n)


def check(
    exercise: int,
    answer: Any,
    expected: Any,
    *,
    hint: str,
    tolerance: float | None = None,
) -> None:
    """Tell a student whether ``answer`` is right (the notebooks' exercise checks).

    Parameters
    ----------
    exercise : int
        The exercise's number, for the message.
    answer
        The student's answer; ``...`` (Ellipsis) means not answered yet.
    expected
        The right answer, computed from the data by the check cell.
    hint : str
        Shown when the answer is not right yet.
    tolerance : float, optional
        For numbers: the largest accepted ``abs(answer - expected)``.

    Prints a neutral prompt while ``answer`` is ``...``, then ``✓ right`` or
    ``✗ not yet — hint: …``. It never raises, so a notebook run top to bottom
    shows prompts, not failures; the test suite runs each exercise's solution and
    requires ``✓ right``.

    Examples
    --------
    >>> check(1, ..., 9, hint="count the SeriesInstanceUIDs")
    Exercise 1: put your answer in answer_1 above, then run this cell again.
    >>> check(1, 9, 9, hint="count the SeriesInstanceUIDs")
    ✓ right
    >>> check(2, -223.8, -224.0, hint="read the finding", tolerance=0.5)
    ✓ right
    """
    if answer is ...:
        print(  # noqa: T201 - a notebook's message to the student
            f"Exercise {exercise}: put your answer in answer_{exercise} above, "
            "then run this cell again."
        )
        return
    if tolerance is not None:
        right = (
            isinstance(answer, (int, float))
            and not isinstance(answer, bool)
            and abs(answer - expected) <= tolerance
        )
    else:
        right = bool(answer == expected)
    print("✓ right" if right else f"✗ not yet — hint: {hint}")  # noqa: T201
