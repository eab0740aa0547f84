"""Tests for ``dicomkit.sample``: determinism, the committed copy, the cases.

These tests use pydicom directly (not dicomkit's scanner) so that the sample
can be trusted independently of the code it is meant to exercise.
"""

from __future__ import annotations

import re
from pathlib import Path

import pydicom
import pytest

from dicomkit.sample import main, write_sample

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
README = "README.md"
NOT_DICOM = "notes.txt"
TRUNCATED = "PAT003_MUELLER_JUERGEN/DICOM/ST000001/SE000001/IM000021"
NO_PREAMBLE = "PAT003_MUELLER_JUERGEN/DICOM/ST000001/SE000001/IM000008"
T1_CONFLICT = (
    "PAT002_ROE_JANE/MR_BRAIN_20230502/S4_SAG_T1/"
    "1.2.840.113619.2.410.4057621.1683036310.3.4020.dcm"
)
# older copy (the resend row) -> (newer copy = the instance, classification)
RESENDS = {
    "PAT001_DOE_JOHN/20230314_CT_THORAX/SE000002/IM000021": (
        "resent/20230315/IM000021",
        "identical",
    ),
    "PAT001_DOE_JOHN/20230314_CT_THORAX/SE000002/IM000031": (
        "resent/20230315/IM000031",
        "modified",
    ),
    T1_CONFLICT: (
        "PAT003_MUELLER_JUERGEN/DICOM/ST000002/SE000003/IM000006",
        "conflict",
    ),
}


def _files(root: Path) -> dict[str, bytes]:
    """Relative POSIX path -> bytes of every file below ``root`` (README included)."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("sample") / "out"
    return root, write_sample(root)


@pytest.fixture(scope="module")
def headers(generated: tuple[Path, list[Path]]) -> dict[str, pydicom.Dataset]:
    """Header of every file pydicom can read as an image (no errors expected)."""
    root, _ = generated
    out: dict[str, pydicom.Dataset] = {}
    for rel in _files(root):
        if rel not in (NOT_DICOM, TRUNCATED, README):
            out[rel] = pydicom.dcmread(root / rel, force=True, stop_before_pixels=True)
    return out


def _readme_totals() -> dict[str, int]:
    text = (SAMPLE / README).read_text(encoding="utf-8")
    return {
        m.group(1).lower(): int(m.group(2))
        for m in re.finditer(r"^\|\s*([A-Za-z ]+?)\s*\|\s*(\d+)\s*\|", text, re.M)
    }


def test_regeneration_is_byte_identical(
    generated: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    first, paths = generated
    second = tmp_path / "again"
    paths2 = write_sample(second)
    assert [p.relative_to(first) for p in paths] == [
        p.relative_to(second) for p in paths2
    ]
    a, b = _files(first), _files(second)
    assert list(a) == list(b)
    assert all(a[rel] == b[rel] for rel in a)
    for rel in a:  # mtimes are part of the sample (resends are newer)
        assert (first / rel).stat().st_mtime_ns == (second / rel).stat().st_mtime_ns


def test_returns_every_written_file_sorted(generated: tuple[Path, list[Path]]) -> None:
    root, paths = generated
    assert paths == sorted(paths)
    assert [p.relative_to(root).as_posix() for p in paths] == sorted(_files(root))


def test_committed_sample_matches_fresh_generation(
    generated: tuple[Path, list[Path]],
) -> None:
    committed, fresh = _files(SAMPLE), _files(generated[0])
    assert sorted(committed) == sorted(fresh)
    drifted = [rel for rel in fresh if committed[rel] != fresh[rel]]
    assert drifted == [], "run: python -m dicomkit.sample data/sample --force"
    assert (SAMPLE / README).is_file()


def test_committed_sample_is_small() -> None:
    total = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert total < 10 * 1024 * 1024


def test_every_image_has_a_sop_instance_uid(
    headers: dict[str, pydicom.Dataset],
) -> None:
    assert len(headers) == 216
    for rel, ds in headers.items():
        assert ds.SOPInstanceUID, rel
        assert ds.SOPClassUID in (
            "1.2.840.10008.5.1.4.1.1.2",
            "1.2.840.10008.5.1.4.1.1.4",
        )


def test_uids_are_valid(headers: dict[str, pydicom.Dataset]) -> None:
    pattern = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")
    keywords = ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID")
    for ds in headers.values():
        for uid in (*(ds[kw].value for kw in keywords), ds.FrameOfReferenceUID):
            assert pattern.fullmatch(uid), uid
            assert len(uid) <= 64, uid


def test_counts_match_readme_totals(
    generated: tuple[Path, list[Path]], headers: dict[str, pydicom.Dataset]
) -> None:
    totals = _readme_totals()
    sops = {ds.SOPInstanceUID for ds in headers.values()}
    errors = {NOT_DICOM, TRUNCATED, README}
    assert totals["files seen"] == len(_files(generated[0])) == 219
    assert totals["instances"] == len(sops) == 213
    assert totals["resends"] == len(headers) - len(sops) == 3
    assert totals["errors"] == len(errors) == 3
    assert totals["patients"] == len({ds.PatientID for ds in headers.values()}) == 3
    assert totals["studies"] == len({ds.StudyInstanceUID for ds in headers.values()})
    assert totals["studies"] == 5
    assert totals["series"] == len({ds.SeriesInstanceUID for ds in headers.values()})
    assert totals["series"] == 9


def test_duplicates_are_exactly_the_three_resends(
    generated: tuple[Path, list[Path]], headers: dict[str, pydicom.Dataset]
) -> None:
    root, _ = generated
    by_uid: dict[str, list[str]] = {}
    for rel, ds in headers.items():
        by_uid.setdefault(ds.SOPInstanceUID, []).append(rel)
    duplicates = sorted(sorted(rels) for rels in by_uid.values() if len(rels) > 1)
    assert duplicates == sorted([old, new] for old, (new, _) in RESENDS.items())
    for old, (new, kind) in RESENDS.items():
        # the kept copy is newer by mtime AND later in sorted path order
        assert new > old
        assert (root / new).stat().st_mtime_ns > (root / old).stat().st_mtime_ns
        a, b = headers[old], headers[new]
        chain = ("PatientID", "StudyInstanceUID", "SeriesInstanceUID")
        same_chain = all(a[kw].value == b[kw].value for kw in chain)
        identical = (root / old).read_bytes() == (root / new).read_bytes()
        assert kind == (
            "identical" if identical else "modified" if same_chain else "conflict"
        )
    assert str(headers[RESENDS[T1_CONFLICT][0]].PatientID) == "PAT003"


def test_special_files(generated: tuple[Path, list[Path]]) -> None:
    root, _ = generated
    raw = (root / NO_PREAMBLE).read_bytes()
    assert b"DICM" not in raw[:132]
    assert pydicom.dcmread(root / NO_PREAMBLE, force=True).SOPInstanceUID
    assert not hasattr(pydicom.dcmread(root / NOT_DICOM, force=True), "SOPInstanceUID")
    # truncated: the header is intact, the declared PixelData length is not there
    data = (root / TRUNCATED).read_bytes()
    tag = data.index(b"\xe0\x7f\x10\x00OW\x00\x00")
    declared = int.from_bytes(data[tag + 8 : tag + 12], "little")
    assert declared == 128 * 128 * 2 > len(data) - (tag + 12) > 0
    header = pydicom.dcmread(root / TRUNCATED, stop_before_pixels=True)
    assert header.InstanceNumber == 21


def test_refuses_a_non_empty_destination(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        write_sample(tmp_path)
    assert main([str(tmp_path)]) == 1
    assert "not empty" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
    assert main([str(tmp_path), "--force"]) == 0
    assert (tmp_path / "keep.txt").read_text() == "mine"
    assert (tmp_path / NOT_DICOM).is_file()


def test_refuses_a_file_as_destination(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(NotADirectoryError):
        write_sample(target)
