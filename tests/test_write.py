"""Materialising a plan as new DICOM files: values, UIDs, layout, safety."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import stat
import tempfile
import warnings
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom import dcmread, dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ImplicitVRLittleEndian, RLELossless

from dicomkit.exceptions import NotDicomError
from dicomkit.io.write import write_instances
from tests.conftest import (
    UID_ROOT,
    MakeFile,
    make_dataset,
    pydicom_test_files,
    write_dataset,
)

SOP = UID_ROOT + "3.1"
NEW = "2.25."

# every file make_file wrote is byte-identical at the end of each test
pytestmark = pytest.mark.usefixtures("sources_unchanged")


def read(path: str | Path) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dcmread(path, force=True)


def plan_of(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {k: (str(v) if isinstance(v, Path) else v) for k, v in r.items()}
            for r in rows
        ]
    )


def hashes(folder: Path) -> dict[Path, str]:
    return {
        path: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def files_in(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())


def assert_safe(written: str, dest: Path) -> None:
    real = Path(os.path.realpath(written))
    real_dest = Path(os.path.realpath(dest))
    assert real.is_relative_to(real_dest)
    parts = real.relative_to(real_dest).parts
    assert len(parts) == 4
    for part in parts:
        assert part not in ("", ".", "..")
        assert len(part) <= 64
        assert not part.startswith((".", "_", "-"))
        assert not part.endswith(".")
        assert all(c.isascii() and (c.isalnum() or c in "-_.+") for c in part)


def test_new_uids_and_attributes_are_written(
    make_file: MakeFile, tmp_path: Path
) -> None:
    source = make_file("src/a.dcm")
    plan = pl.DataFrame(
        {
            "path": [str(source)],
            "SeriesInstanceUID": [NEW + "10"],
            "SOPInstanceUID": [NEW + "11"],
            "SeriesNumber": [7],
            "SeriesDescription": ["Split A"],
            "InstanceNumber": [3],
            "PatientName": ["New^Name"],
            "StudyDate": [dt.date(2024, 5, 6)],
            "StudyTime": [dt.time(10, 15, 30, 500000)],
            "SliceThickness": [0.1 + 0.2],
            "ImagePositionPatient": [[1.5, -2.0, 3.25]],
            "ImageType": [["DERIVED", "SECONDARY"]],
            "reason": ["split"],  # not a keyword: ignored
            "source_series_uid": [UID_ROOT + "2"],
        }
    )
    out = write_instances(plan, tmp_path / "out", progress=False)
    written = out["written_path"][0]
    expected = tmp_path / "out/P1/20240506_CT_HEAD/7_Split_A" / f"00003_{NEW}11.dcm"
    assert written == str(expected)
    ds = read(written)
    assert ds.SeriesInstanceUID == NEW + "10"
    assert ds.SOPInstanceUID == NEW + "11"
    assert ds.StudyInstanceUID == UID_ROOT + "1"  # not in the plan: kept
    assert (ds.SeriesNumber, ds.InstanceNumber) == (7, 3)
    assert ds.SeriesDescription == "Split A"
    assert str(ds.PatientName) == "New^Name"
    assert (ds.StudyDate, ds.StudyTime) == ("20240506", "101530.5")
    assert float(ds.SliceThickness) == pytest.approx(0.3)
    assert [float(v) for v in ds.ImagePositionPatient] == [1.5, -2.0, 3.25]
    assert list(ds.ImageType) == ["DERIVED", "SECONDARY"]
    assert {e.keyword for e in ds} == {e.keyword for e in read(source)}  # none added
    assert ds.file_meta.MediaStorageSOPInstanceUID == NEW + "11"
    assert ds.file_meta.MediaStorageSOPClassUID == CTImageStorage
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"


def test_null_means_leave_as_is(make_file: MakeFile, tmp_path: Path) -> None:
    a, b = make_file("a.dcm"), make_file("b.dcm", SOPInstanceUID=SOP + "2")
    plan = pl.DataFrame(
        {"path": [str(a), str(b)], "SeriesDescription": ["Changed", None]}
    )
    out = write_instances(plan, tmp_path / "out", progress=False)
    first, second = (read(p) for p in out["written_path"])
    assert first.SeriesDescription == "Changed"
    assert second.SeriesDescription == "Axial"


def test_pixel_data_is_copied_byte_for_byte(
    make_file: MakeFile, tmp_path: Path
) -> None:
    source = make_file("a.dcm")
    out = write_instances(plan_of({"path": source}), tmp_path / "out", progress=False)
    assert read(out["written_path"][0]).PixelData == read(source).PixelData


@pytest.mark.parametrize("part10", [True, False])
def test_implicit_vr_source_keeps_its_transfer_syntax(
    make_file: MakeFile, tmp_path: Path, part10: bool
) -> None:
    if part10:
        ds = make_dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        source = tmp_path / "implicit.dcm"
        dcmwrite(source, ds, enforce_file_format=True)
    else:
        source = make_file("bare", preamble=False)  # implicit VR, no file meta
    plan = plan_of({"path": source, "SOPInstanceUID": NEW + "1"})
    out = write_instances(plan, tmp_path / "out", progress=False)
    written = Path(out["written_path"][0])
    assert written.read_bytes()[128:132] == b"DICM"  # always Part 10
    ds = read(written)
    assert ds.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    assert ds.original_encoding == (True, True)
    assert ds.SOPInstanceUID == NEW + "1"
    assert ds.file_meta.MediaStorageSOPInstanceUID == NEW + "1"
    assert ds.PixelData == read(source).PixelData


def test_compressed_pixel_data_is_not_re_encoded(tmp_path: Path) -> None:
    source = tmp_path / "rle.dcm"
    shutil.copyfile(pydicom_test_files() / "MR_small_RLE.dcm", source)
    plan = plan_of({"path": source, "SeriesDescription": "copy"})
    out = write_instances(plan, tmp_path / "out", progress=False)
    ds = read(out["written_path"][0])
    assert ds.file_meta.TransferSyntaxUID == RLELossless
    assert ds.PixelData == read(source).PixelData


def _referencing_dataset(**attrs: Any) -> Dataset:
    ds = make_dataset(**attrs)
    ref = Dataset()
    ref.ReferencedSOPClassUID = CTImageStorage
    ref.ReferencedSOPInstanceUID = SOP
    ds.ReferencedImageSequence = [ref]
    inner = Dataset()
    inner.ReferencedSOPInstanceUID = SOP
    series = Dataset()
    series.SeriesInstanceUID = UID_ROOT + "2"
    series.ReferencedInstanceSequence = [inner]  # a sequence in a sequence
    ds.ReferencedSeriesSequence = [series]
    ds.RelatedGeneralSOPClassUID = [UID_ROOT + "2", UID_ROOT + "9"]  # multi-valued UI
    return ds


@pytest.mark.parametrize("preamble", [True, False])
def test_uid_map_rewrites_references_everywhere(tmp_path: Path, preamble: bool) -> None:

    source = write_dataset(
        tmp_path / "src.dcm", _referencing_dataset(), preamble=preamble
    )
    uid_map = {
        SOP: NEW + "100",
        UID_ROOT + "2": NEW + "200",
        UID_ROOT + "4": NEW + "400",  # FrameOfReferenceUID
    }
    out = write_instances(
        plan_of({"path": source}), tmp_path / "out", uid_map=uid_map, progress=False
    )
    ds = read(out["written_path"][0])
    assert ds.SOPInstanceUID == NEW + "100"
    assert ds.file_meta.MediaStorageSOPInstanceUID == NEW + "100"
    assert ds.SeriesInstanceUID == NEW + "200"
    assert ds.FrameOfReferenceUID == NEW + "400"
    assert ds.StudyInstanceUID == UID_ROOT + "1"  # not mapped
    assert ds.SOPClassUID == CTImageStorage
    assert ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID == NEW + "100"
    assert ds.ReferencedImageSequence[0].ReferencedSOPClassUID == CTImageStorage
    series = ds.ReferencedSeriesSequence[0]
    assert series.SeriesInstanceUID == NEW + "200"
    assert series.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == NEW + "100"
    assert list(ds.RelatedGeneralSOPClassUID) == [NEW + "200", UID_ROOT + "9"]
    assert out["SOPInstanceUID"][0] == NEW + "100"
    assert Path(out["written_path"][0]).name == f"00001_{NEW}100.dcm"


def test_sources_are_byte_identical_afterwards(
    make_file: MakeFile, tmp_path: Path
) -> None:
    sources = [
        make_file("src/a.dcm"),
        make_file("src/b", preamble=False, SOPInstanceUID=SOP + "2"),
    ]

    sources.append(
        write_dataset(
            tmp_path / "src/ref.dcm", _referencing_dataset(SOPInstanceUID=SOP + "3")
        )
    )
    before = hashes(tmp_path / "src")
    plan = plan_of(
        *(
            {"path": s, "SeriesInstanceUID": NEW + "5", "SeriesDescription": "x"}
            for s in sources
        )
    )
    write_instances(plan, tmp_path / "out", uid_map={SOP: NEW + "6"}, progress=False)
    write_instances(plan, tmp_path / "out", overwrite=True, progress=False)
    assert hashes(tmp_path / "src") == before


HOSTILE = [
    "../../etc/x",
    "..\\..\\x",
    "/abs/path",
    "a\0b",
    "CON",
    "nul.txt",
    "x" * 10_000,
    "<script>alert(1)</script>",
    "..",
    ".",
    "",
    "   ",
    "\x01\x1f\t\n",
    "com1",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_stay_inside_dest(
    make_file: MakeFile, tmp_path: Path, value: str
) -> None:
    source = make_file("src/a.dcm")
    plan = plan_of(
        {
            "path": source,
            "PatientID": value,
            "StudyDescription": value,
            "SeriesDescription": value,
        }
    )
    dest = tmp_path / "out"
    out = write_instances(plan, dest, progress=False)
    assert_safe(out["written_path"][0], dest)
    assert read(out["written_path"][0]).SOPInstanceUID == SOP
    outside = [p for p in files_in(tmp_path) if not p.is_relative_to(dest)]
    assert outside == [source]


def test_hostile_values_read_from_the_source(
    make_file: MakeFile, tmp_path: Path
) -> None:
    source = make_file(
        "src/a.dcm",
        PatientID="../../../x",
        SeriesDescription="/etc/passwd",
        SeriesNumber=None,
    )
    out = write_instances(plan_of({"path": source}), tmp_path / "out", progress=False)
    written = out["written_path"][0]
    assert_safe(written, tmp_path / "out")
    assert Path(written).relative_to(tmp_path / "out").parts[:3] == (
        "x",
        "20240102_CT_HEAD",
        "etc_passwd",
    )


def test_windows_device_names_get_a_suffix(make_file: MakeFile, tmp_path: Path) -> None:
    source = make_file("a.dcm")
    plan = plan_of({"path": source, "PatientID": "CON", "SeriesDescription": "aux"})
    written = Path(
        write_instances(plan, tmp_path / "out", progress=False)["written_path"][0]
    )
    assert written.relative_to(tmp_path / "out").parts[0] == "CON_"
    assert written.parent.name == "2_aux"  # the number keeps it from being reserved


def test_long_uid_keeps_its_tail_and_64_chars(
    make_file: MakeFile, tmp_path: Path
) -> None:
    uid = "1." + "2" * 60 + ".9"  # 64 characters
    source = make_file("a.dcm", SOPInstanceUID=uid, InstanceNumber=12)
    written = Path(
        write_instances(plan_of({"path": source}), tmp_path / "o", progress=False)[
            "written_path"
        ][0]
    )
    assert len(written.name) <= 64
    assert written.name.startswith("00012_")
    assert written.name.endswith("2.9.dcm")


def test_existing_targets_raise_and_nothing_is_written(
    make_file: MakeFile, tmp_path: Path
) -> None:
    a = make_file("src/a.dcm")
    b = make_file("src/b.dcm", SOPInstanceUID=SOP + "2", InstanceNumber=2)
    dest = tmp_path / "out"
    write_instances(plan_of({"path": b}), dest, progress=False)
    before = hashes(dest)
    plan = plan_of({"path": a}, {"path": b})
    with pytest.raises(
        FileExistsError, match=r"overwrite=True.*empty destination"
    ) as info:
        write_instances(plan, dest, progress=False)
    assert "00002_" in str(info.value)
    assert hashes(dest) == before  # the first row's file was not written either


def test_overwrite_replaces(make_file: MakeFile, tmp_path: Path) -> None:
    source = make_file("a.dcm")
    dest = tmp_path / "out"
    first = write_instances(
        plan_of({"path": source, "PatientName": "One"}), dest, progress=False
    )
    second = write_instances(
        plan_of({"path": source, "PatientName": "Two"}),
        dest,
        overwrite=True,
        progress=False,
    )
    assert first["written_path"][0] == second["written_path"][0]
    assert str(read(second["written_path"][0]).PatientName) == "Two"
    assert len(files_in(dest)) == 1


def test_writing_onto_a_source_is_refused(make_file: MakeFile, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    first = write_instances(plan_of({"path": make_file("a.dcm")}), dest, progress=False)
    copy = first["written_path"][0]  # now a source, written again to the same place
    before = hashes(dest)
    for overwrite in (False, True):
        with pytest.raises(ValueError, match="source file"):
            write_instances(
                plan_of({"path": copy}), dest, overwrite=overwrite, progress=False
            )
    assert hashes(dest) == before


def test_name_collisions_are_disambiguated(make_file: MakeFile, tmp_path: Path) -> None:
    source = make_file("a.dcm")
    plan = plan_of({"path": source}, {"path": source}, {"path": source})
    names = []
    for dest in (tmp_path / "one", tmp_path / "two"):
        out = write_instances(plan, dest, progress=False)
        names.append([Path(p).name for p in out["written_path"]])
        assert len(files_in(dest)) == 3
    assert (
        names[0]
        == names[1]
        == [
            f"00001_{SOP}.dcm",
            f"00001_{SOP}_2.dcm",
            f"00001_{SOP}_3.dcm",
        ]
    )


def test_no_temporary_files_after_success_or_failure(
    make_file: MakeFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = make_file("a.dcm")
    b = make_file("b.dcm", SOPInstanceUID=SOP + "2", InstanceNumber=2)
    dest = tmp_path / "out"
    write_instances(plan_of({"path": a}), dest, progress=False)
    assert not [p for p in dest.rglob("*") if p.name.endswith(".tmp")]

    real_replace = os.replace
    calls = []

    def replace_failing_twice(src: Any, dst: Any) -> None:
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace_failing_twice)
    with pytest.raises(OSError, match="No space left"):
        write_instances(
            plan_of({"path": a}, {"path": b}), dest, overwrite=True, progress=False
        )
    monkeypatch.undo()
    assert not [p for p in dest.rglob("*") if p.name.startswith(".dicomkit-")]
    assert len(files_in(dest)) == 1  # the first file, complete


def test_returned_frame(make_file: MakeFile, tmp_path: Path) -> None:
    a = make_file("a.dcm", InstanceNumber=5)
    b = make_file("b.dcm", SOPInstanceUID=SOP + "2", InstanceNumber=1)
    plan = plan_of(
        {"path": a, "SOPInstanceUID": NEW + "7", "group": 1},
        {"path": b, "SOPInstanceUID": None, "group": 2},
    )
    out = write_instances(plan, tmp_path / "out", progress=False)
    assert out.schema == pl.Schema(
        {"path": pl.Utf8, "written_path": pl.Utf8, "SOPInstanceUID": pl.Utf8}
    )
    assert out["path"].to_list() == [str(a), str(b)]
    assert out["SOPInstanceUID"].to_list() == [NEW + "7", SOP + "2"]
    for path, uid in zip(out["written_path"], out["SOPInstanceUID"], strict=True):
        assert os.path.isabs(path)
        assert read(path).SOPInstanceUID == uid


def test_empty_plan(tmp_path: Path) -> None:
    out = write_instances(
        pl.DataFrame({"path": []}, schema={"path": pl.Utf8}), tmp_path / "o"
    )
    assert out.height == 0
    assert out.columns == ["path", "written_path", "SOPInstanceUID"]


def test_missing_source_raises_after_target_checks(
    make_file: MakeFile, tmp_path: Path
) -> None:
    a = make_file("a.dcm")
    missing = tmp_path / "gone.dcm"
    dest = tmp_path / "out"
    with pytest.raises(FileNotFoundError, match=r"gone\.dcm"):
        write_instances(plan_of({"path": a}, {"path": missing}), dest, progress=False)
    assert not dest.exists()  # nothing written, not even the folder
    write_instances(plan_of({"path": a}), dest, progress=False)
    with pytest.raises(FileExistsError):  # the target check comes first
        write_instances(plan_of({"path": missing}, {"path": a}), dest, progress=False)


def test_not_dicom_source(tmp_path: Path) -> None:
    junk = tmp_path / "junk.txt"
    junk.write_text("hello, not DICOM at all" * 10)
    with pytest.raises(NotDicomError, match=r"junk\.txt"):
        write_instances(plan_of({"path": junk}), tmp_path / "out", progress=False)


def test_bad_values_are_refused_before_writing(
    make_file: MakeFile, tmp_path: Path
) -> None:
    a = make_file("a.dcm")
    b = make_file("b.dcm", SOPInstanceUID=SOP + "2")
    plan = pl.DataFrame({"path": [str(a), str(b)], "InstanceNumber": ["1", "one"]})
    with pytest.raises(ValueError, match=r"plan row 1: cannot set InstanceNumber"):
        write_instances(plan, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="non-finite"):
        write_instances(
            plan_of({"path": a, "SliceThickness": float("nan")}), tmp_path / "out"
        )


def test_text_the_character_set_cannot_hold_is_refused(
    make_file: MakeFile, tmp_path: Path
) -> None:
    source = make_file("a.dcm", StudyDescription="Tête")  # ISO_IR 100 (Latin-1)
    with pytest.raises(ValueError, match="ISO_IR 192"):
        write_instances(
            plan_of({"path": source, "PatientName": "山田^太郎"}), tmp_path / "o"
        )
    plan = plan_of(
        {
            "path": source,
            "PatientName": "山田^太郎",
            "SpecificCharacterSet": "ISO_IR 192",
        }
    )
    out = write_instances(plan, tmp_path / "o", progress=False)
    ds = read(out["written_path"][0])
    assert str(ds.PatientName) == "山田^太郎"
    assert ds.StudyDescription == "Tête"  # re-encoded from Latin-1 to UTF-8
    latin = plan_of({"path": source, "PatientName": "Müller^Zoë"})
    out = write_instances(latin, tmp_path / "latin", progress=False)
    assert str(read(out["written_path"][0]).PatientName) == "Müller^Zoë"


def test_file_meta_columns_are_ignored(make_file: MakeFile, tmp_path: Path) -> None:
    source = make_file("a.dcm")
    plan = plan_of({"path": source, "TransferSyntaxUID": ImplicitVRLittleEndian})
    out = write_instances(plan, tmp_path / "out", progress=False)
    assert (
        read(out["written_path"][0]).file_meta.TransferSyntaxUID
        == "1.2.840.10008.1.2.1"
    )


def test_written_files_follow_the_umask(make_file: MakeFile, tmp_path: Path) -> None:
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    out = write_instances(plan_of({"path": make_file("a.dcm")}), tmp_path / "o")
    umask = os.umask(0o022)
    os.umask(umask)
    mode = stat.S_IMODE(os.stat(out["written_path"][0]).st_mode)
    assert mode == 0o666 & ~umask


def test_a_link_out_of_dest_is_refused(make_file: MakeFile, tmp_path: Path) -> None:
    source = make_file("a.dcm")
    dest, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    dest.mkdir()
    elsewhere.mkdir()
    try:
        (dest / "P1").symlink_to(elsewhere, target_is_directory=True)
    except OSError:
        pytest.skip("cannot create symbolic links here")
    with pytest.raises(ValueError, match="outside"):
        write_instances(plan_of({"path": source}), dest, progress=False)
    assert files_in(elsewhere) == []


@pytest.fixture(scope="module")
def utf8_source(tmp_path_factory: pytest.TempPathFactory) -> Path:

    folder = tmp_path_factory.mktemp("utf8")
    return write_dataset(
        folder / "a.dcm", make_dataset(SpecificCharacterSet="ISO_IR 192")
    )


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(series=st.text(), patient=st.text())
def test_any_text_makes_a_safe_path(
    utf8_source: Path, series: str, patient: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / "out"
        plan = plan_of(
            {"path": utf8_source, "SeriesDescription": series, "PatientID": patient}
        )
        out = write_instances(plan, dest, progress=False)
        assert_safe(out["written_path"][0], dest)
        assert files_in(Path(tmp)) == [Path(out["written_path"][0])]
