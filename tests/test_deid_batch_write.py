"""The fast write path of de-identification: :func:`dicomkit.io.encode.encode`
gives exactly dcmwrite's bytes, and :class:`dicomkit.io.atomic.AtomicBatch` puts
many files in place atomically with one sync."""

from __future__ import annotations

import io
import os
import stat
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import pydicom
import pytest
from pydicom import dcmread, dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from dicomkit.deid.engine import Settings, deidentify_dataset
from dicomkit.io import atomic
from dicomkit.io import encode as encode_module
from dicomkit.io.atomic import AtomicBatch
from dicomkit.io.deid_write import Job, TransformResult, run_batch
from dicomkit.io.encode import encode
from tests.conftest import pydicom_test_files
from tests.deid_data import Canaries, canary_dataset, write

KEY = "project secret"


def _filler(data: bytes) -> Callable[[BinaryIO], object]:
    return lambda fp: fp.write(data)


def _dcmwrite(ds: Dataset) -> bytes:
    fp = io.BytesIO()
    dcmwrite(fp, ds, enforce_file_format=True)
    return fp.getvalue()


def _shipped() -> Iterator[str]:
    """pydicom's test files that dcmwrite can write as Part 10 files."""
    for path in sorted(pydicom_test_files().glob("*.dcm")):  # offline: the shipped ones
        name = str(path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = dcmread(name)
                if "TransferSyntaxUID" not in getattr(ds, "file_meta", {}):
                    continue
                _dcmwrite(ds)
        except Exception:  # noqa: BLE001 - not a file this test can use
            continue
        yield name


def _both(name: str) -> tuple[bytes, bytes]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _dcmwrite(dcmread(name)), encode(dcmread(name))


def test_encode_gives_dcmwrite_bytes_for_pydicom_test_files() -> None:
    names = list(_shipped())
    assert len(names) > 40  # implicit/explicit, big endian, deflated, compressed, RT
    for name in names:
        expected, found = _both(name)
        assert found == expected, name


def test_encode_gives_dcmwrite_bytes_after_deidentification(tmp_path: Path) -> None:
    """Read back, de-identified in place (raw and converted elements mixed, new
    sequences, nested raw items): the same bytes as dcmwrite."""
    for n, options in enumerate(
        [(), ("retain_longitudinal_modified_dates", "retain_safe_private")]
    ):
        path = write(canary_dataset(Canaries(), n=n), tmp_path / f"{n}.dcm")
        copies = [dcmread(path), dcmread(path)]
        for ds in copies:
            deidentify_dataset(ds, Settings.make(KEY, options))
        assert encode(copies[0]) == _dcmwrite(copies[1])


def test_encode_copies_raw_elements_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path is taken (dcmwrite is not called) for ordinary files, with
    sequences, explicit and implicit VR."""
    names = ["rtplan.dcm", "CT_small.dcm", "MR_small_implicit.dcm"]
    folder = pydicom_test_files()
    expected = {name: _both(str(folder / name))[0] for name in names}

    def refuse(ds: Dataset) -> bytes:
        raise AssertionError("dcmwrite called")

    monkeypatch.setattr(encode_module, "_encode_slowly", refuse)
    for name in names:
        ds = dcmread(folder / name)
        assert encode(ds) == expected[name], name
    # de-identified: the file meta is new, its own encoder writes it too
    monkeypatch.setattr(encode_module, "write_file_meta_info", refuse)
    ds = dcmread(folder / "CT_small.dcm")
    deidentify_dataset(ds, Settings.make(KEY))
    twin = dcmread(folder / "CT_small.dcm")
    deidentify_dataset(twin, Settings.make(KEY))
    assert encode(ds) == _dcmwrite(twin)


def test_batch_puts_nothing_in_place_before_commit(tmp_path: Path) -> None:
    targets = [str(tmp_path / f"{i}.bin") for i in range(5)]
    with AtomicBatch(overwrite=False, mode=0o640) as batch:
        for i, target in enumerate(targets):
            data = bytes([i]) * 100
            batch.add(target, _filler(data))
        assert not any(os.path.exists(t) for t in targets)
        assert len(list(tmp_path.glob(".dicomkit-*.tmp"))) == 5
        assert batch.commit() == {}
    assert [Path(t).read_bytes() for t in targets] == [
        bytes([i]) * 100 for i in range(5)
    ]
    assert {os.stat(t).st_mode & 0o777 for t in targets} == {0o640}
    assert not list(tmp_path.glob(".dicomkit-*"))


def test_batch_left_by_an_exception_leaves_nothing(tmp_path: Path) -> None:
    def broken(fp: object) -> None:
        raise RuntimeError("disk on fire")

    batch = AtomicBatch()
    with batch:
        batch.add(str(tmp_path / "a"), lambda fp: fp.write(b"a"))
        with pytest.raises(RuntimeError):  # a failing fill: its temporary removed
            batch.add(str(tmp_path / "b"), broken)
        assert len(batch) == 1
        assert len(list(tmp_path.iterdir())) == 1
    # left without commit (as by an exception): the other temporary removed too
    assert list(tmp_path.iterdir()) == []


def test_batch_never_overwrites_a_file_that_appeared(tmp_path: Path) -> None:
    with AtomicBatch(overwrite=False) as batch:
        batch.add(str(tmp_path / "a"), lambda fp: fp.write(b"new"))
        batch.add(str(tmp_path / "b"), lambda fp: fp.write(b"new"))
        (tmp_path / "a").write_bytes(b"someone else's")
        errors = batch.commit()
    assert list(errors) == [str(tmp_path / "a")]
    assert isinstance(errors[str(tmp_path / "a")], FileExistsError)
    assert (tmp_path / "a").read_bytes() == b"someone else's"
    assert (tmp_path / "b").read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


@pytest.mark.parametrize("syncfs", [True, False])
def test_batch_syncs_once_not_per_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, syncfs: bool
) -> None:
    """With syncfs (Linux) one call per file system and one fsync per folder;
    without it, one fsync per file, before any rename."""
    if syncfs and atomic._SYNCFS is None:
        pytest.skip("no syncfs on this platform")
    calls: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        calls.append(
            "fsync " + ("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        )
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        calls.append("rename")
        os.rename(src, dst)

    if syncfs:
        real_syncfs = atomic._SYNCFS
        assert real_syncfs is not None

        def counted(fd: int) -> int:
            calls.append("syncfs")
            return real_syncfs(fd)

        monkeypatch.setattr(atomic, "_SYNCFS", counted)
    else:
        monkeypatch.setattr(atomic, "_SYNCFS", None)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    (tmp_path / "x").mkdir()
    with AtomicBatch() as batch:
        for i in range(10):
            batch.add(
                str(tmp_path / ("x" if i % 2 else "") / f"{i}"),
                lambda fp: fp.write(b"1"),
            )
        batch.commit()
    syncs = ["syncfs"] if syncfs else ["fsync file"] * 10
    assert calls == [*syncs, *["rename"] * 10, "fsync dir", "fsync dir"]


def _copy(ds: Dataset) -> TransformResult:
    return TransformResult()


def test_run_batch_a_failed_sync_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write(canary_dataset(Canaries()), tmp_path / "in" / "a.dcm")
    uid = str(pydicom.dcmread(source).SOPInstanceUID)
    jobs = [Job(str(source), str(tmp_path / "out" / f"{i}.dcm"), uid) for i in range(3)]

    def broken(paths: list[str]) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(atomic, "_sync_all", broken)
    results = run_batch(jobs, _copy, 0o644)
    assert [r.status for r in results] == ["failed"] * 3
    assert all(
        "cannot be written" in r.message and "I/O error" in r.message for r in results
    )
    assert list((tmp_path / "out").iterdir()) == []
    monkeypatch.undo()
    results = run_batch(jobs, _copy, 0o644)
    assert [r.status for r in results] == ["written"] * 3
    assert (tmp_path / "out" / "0.dcm").read_bytes() == _dcmwrite(
        pydicom.dcmread(source)
    )


def test_run_batch_resume_and_a_target_that_appeared(tmp_path: Path) -> None:
    """``resume`` (the fallback after workers died) reports a target a worker
    wrote as written, untouched; without it, a target that appeared is never
    overwritten and its job fails, the others are written."""
    source = write(canary_dataset(Canaries()), tmp_path / "in" / "a.dcm")
    uid = str(pydicom.dcmread(source).SOPInstanceUID)
    out = tmp_path / "out"
    out.mkdir()
    jobs = [Job(str(source), str(out / f"{i}.dcm"), uid) for i in range(2)]
    (out / "0.dcm").write_bytes(b"written before")
    results = run_batch(jobs, _copy, 0o644, resume=True)
    assert [r.status for r in results] == ["written", "written"]
    assert (out / "0.dcm").read_bytes() == b"written before"
    (out / "1.dcm").unlink()
    results = run_batch(jobs, _copy, 0o644)
    assert [r.status for r in results] == ["failed", "written"]
    assert "appeared while writing" in results[0].message
    assert (out / "0.dcm").read_bytes() == b"written before"
    assert sorted(p.name for p in out.iterdir()) == ["0.dcm", "1.dcm"]


def test_encode_gives_dcmwrite_bytes_for_other_character_sets() -> None:
    """pydicom's character-set files (ISO 2022 Japanese and Korean, Arabic, Greek,
    Hebrew, Russian, Chinese, UTF-8 …), as read and de-identified with
    clean_descriptors: the same bytes as dcmwrite."""
    folder = pydicom_test_files().parent / "charset_files"
    compared = 0
    for path in sorted(folder.glob("chr*.dcm")):
        for deidentify in (False, True):
            copies = []
            for _ in range(2):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ds = dcmread(path)
                    if "TransferSyntaxUID" not in getattr(ds, "file_meta", {}):
                        ds.file_meta = FileMetaDataset()
                        ds.file_meta.TransferSyntaxUID = (
                            ImplicitVRLittleEndian
                            if ds.original_encoding[0]
                            else ExplicitVRLittleEndian
                        )
                    if deidentify:
                        settings = Settings.make(KEY, ["clean_descriptors"])
                        deidentify_dataset(ds, settings)
                copies.append(ds)
            try:
                expected = _dcmwrite(copies[0])
            except AttributeError:  # dcmwrite refuses it (no SOP class): so does encode
                with pytest.raises(AttributeError, match="File Meta Information"):
                    encode(copies[1])
                continue
            assert encode(copies[1]) == expected, (path.name, deidentify)
            compared += 1
    assert compared >= 30
