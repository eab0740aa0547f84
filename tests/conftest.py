"""Shared fixtures: small DICOM files built in code, and the shipped sample."""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"

UID_ROOT = "1.2.826.0.1.3680043.10.1234."  # an illustrative root for test UIDs


def make_dataset(**attributes: Any) -> Dataset:
    """A small, valid CT image data set; keyword arguments override attributes."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = UID_ROOT + "3.1"
    ds.PatientID = "P1"
    ds.PatientName = "Test^Patient"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyInstanceUID = UID_ROOT + "1"
    ds.StudyDate = "20240102"
    ds.StudyTime = "101500"
    ds.StudyDescription = "CT HEAD"
    ds.AccessionNumber = "A1"
    ds.StudyID = "1"
    ds.SeriesInstanceUID = UID_ROOT + "2"
    ds.SeriesNumber = 2
    ds.SeriesDescription = "Axial"
    ds.Modality = "CT"
    ds.FrameOfReferenceUID = UID_ROOT + "4"
    ds.InstanceNumber = 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.ImagePositionPatient = [0.0, 0.0, 0.0]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [0.5, 0.5]
    ds.SliceThickness = 1.0
    ds.Rows = 4
    ds.Columns = 4
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleSlope = 1
    ds.RescaleIntercept = -1024
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tests write invalid values on purpose
        for key, value in attributes.items():
            if value is None:
                if key in ds:
                    delattr(ds, key)
            else:
                setattr(ds, key, value)
    if "PixelData" not in attributes:
        ds.PixelData = np.arange(ds.Rows * ds.Columns, dtype="<i2").tobytes()
    return ds


def write_dataset(
    path: Path, ds: Dataset, *, preamble: bool = True, mtime_ns: int | None = None
) -> Path:
    """Write ``ds`` to ``path`` as Part 10 (or a bare data set without preamble)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if preamble:
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", "1.2.3")
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dcmwrite(path, ds, enforce_file_format=True)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dcmwrite(path, ds, implicit_vr=True, little_endian=True)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


MakeFile = Callable[..., Path]
#: A file's state: (size, mtime_ns, sha256), or ("link", target) for a symbolic link.
FileState = tuple[int, int, str] | tuple[str, str]
Snapshot = dict[str, FileState]


def file_state(path: Path) -> FileState:
    """What :func:`snapshot` records of one file (links are not followed)."""
    if path.is_symlink():
        return ("link", os.readlink(path))
    st = path.stat()
    return st.st_size, st.st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(folder: Path) -> Snapshot:
    """Every file under ``folder`` (by relative path) → its size, mtime and sha256.

    Two snapshots are equal exactly when no file was added, removed or changed
    (content or timestamp): ``assert snapshot(src) == before``.
    """
    found: Snapshot = {}
    for top, folders, files in os.walk(folder):
        folders.sort()
        for name in [*files, *(d for d in folders if Path(top, d).is_symlink())]:
            path = Path(top, name)
            found[str(path.relative_to(folder))] = file_state(path)
    return found


def changes(before: Snapshot, after: Snapshot) -> list[str]:
    """What differs between two snapshots, one line per file."""
    return [
        f"{name}: {'added' if name not in before else 'removed' if name not in after else 'changed'}"
        for name in sorted(before.keys() | after.keys())
        if before.get(name) != after.get(name)
    ]


@pytest.fixture(scope="session", autouse=True)
def _shared_sources_are_never_touched() -> Iterator[None]:
    """No test may change, add or remove a file of the shipped sample or of
    pydicom's test files: checked once, when the session ends."""
    folders = [SAMPLE, pydicom_test_files()]
    before = [snapshot(folder) for folder in folders]
    yield
    found = [
        f"{folder}/{line}"
        for folder, old in zip(folders, before, strict=True)
        for line in changes(old, snapshot(folder))
    ]
    if found:
        pytest.fail(
            "source files changed during the test session:\n" + "\n".join(found),
            pytrace=False,
        )


@pytest.fixture
def made_files() -> dict[Path, FileState]:
    """The files ``make_file`` wrote in this test, as written."""
    return {}


@pytest.fixture
def sources_unchanged(made_files: dict[Path, FileState]) -> Iterator[None]:
    """Fail the test if a file ``make_file`` wrote is not byte-identical (same
    size, mtime and sha256) at its end. Opt in per module with
    ``pytestmark = pytest.mark.usefixtures("sources_unchanged")``; a test that
    changes a source on purpose says so with ``made_files.pop(path)``."""
    yield
    changed = changed_files(made_files)
    assert not changed, f"source files changed by the test: {changed}"


def changed_files(states: dict[Path, FileState]) -> list[str]:
    """The files of ``states`` that are gone or no longer in their recorded state."""
    return [
        str(path)
        for path, state in states.items()
        if not (path.exists() or path.is_symlink()) or file_state(path) != state
    ]


@pytest.fixture(autouse=True)
def _isolated_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scans in tests (and the notebooks and subprocesses they start) never write
    to the user's cache folder."""
    monkeypatch.setenv(
        "DICOMKIT_CACHE_DIR", str(tmp_path_factory.mktemp("dicomkit-cache"))
    )


@pytest.fixture
def make_file(tmp_path: Path, made_files: dict[Path, FileState]) -> MakeFile:
    """Write a DICOM file under ``tmp_path``: ``make_file("a/b.dcm", **attrs)``."""

    def make(
        name: str,
        *,
        preamble: bool = True,
        mtime_ns: int | None = None,
        **attributes: Any,
    ) -> Path:
        path = write_dataset(
            tmp_path / name,
            make_dataset(**attributes),
            preamble=preamble,
            mtime_ns=mtime_ns,
        )
        made_files[path] = file_state(path)
        return path

    return make


def pydicom_test_files() -> Path:
    """The folder of test files shipped inside the pydicom wheel."""
    from pydicom.data import get_testdata_file

    found = get_testdata_file("CT_small.dcm")
    assert found is not None
    return Path(str(found)).parent
