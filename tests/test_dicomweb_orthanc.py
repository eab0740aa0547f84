"""scan_dicomweb against a real Orthanc (Debian's orthanc + orthanc-dicomweb).

The fixture starts Orthanc on 127.0.0.1 (free port, DICOM server disabled, a
temporary storage folder; see :mod:`tests.orthanc`) once for this module and
uploads ``data/sample/`` through Orthanc's REST ``/instances``, in sorted path
order. Skipped when Orthanc is not installed, unless ``DICOMKIT_REQUIRE_ORTHANC``
is set (CI sets it: there a missing Orthanc fails the run).

What Orthanc keeps of the sample (its own resend handling, ``OverwriteInstances``
false, the default): one copy per (PatientID, Study, Series, SOPInstanceUID), the
first it received. So of the sample's three resends, the identical one and the
modified one (a corrected PatientName under the same UID chain) are answered
``AlreadyStored`` and Orthanc keeps the *older* copy, where the folder scan keeps
the newer; the conflicting one (the same SOPInstanceUID under another patient and
study) is stored beside the first, and dicomkit's resend rule then resolves it
exactly as in the folder. The three files the folder scan lists as errors (two
non-DICOM files and a truncated one) are refused by Orthanc (HTTP 400).
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import dicomkit as dk
from dicomkit.cli import main
from dicomkit.hierarchy import RESEND_COLUMNS
from dicomkit.io import dicomweb
from tests.conftest import SAMPLE
from tests.orthanc import (
    OrthancServer,
    OrthancUnavailable,
    find_orthanc,
    require_orthanc,
    upload_files,
)

#: Columns that by nature differ between a file and a server: where the copy is,
#: and how its bytes are encoded (WADO-RS metadata has no file meta group).
NOT_COMPARED = ("path", "file_size", "mtime_ns", "content_hash", "TransferSyntaxUID")


@pytest.fixture(scope="module")
def orthanc() -> Iterator[OrthancServer]:
    require_orthanc()
    with OrthancServer() as server:
        files = sorted(p for p in SAMPLE.rglob("*") if p.is_file())
        server.upload = upload_files(server.url, files)  # type: ignore[attr-defined]
        yield server
    dicomweb.clear_cache()


@pytest.fixture(scope="module")
def folder() -> dk.Collection:
    return dk.scan(SAMPLE, cache=False)


@pytest.fixture(scope="module")
def web(orthanc: OrthancServer) -> dk.Collection:
    return dk.scan_dicomweb(orthanc.dicomweb, progress=False)


def _copies(col: dk.Collection) -> pl.DataFrame:
    return pl.concat([col.instances, col.resends.drop(list(RESEND_COLUMNS))])


def test_orthanc_stored_what_it_could(orthanc: OrthancServer) -> None:
    assert orthanc.upload == {  # type: ignore[attr-defined]
        "Success": 214,
        "AlreadyStored": 2,
        "rejected": 3,
    }


def test_the_dicomweb_collection_equals_the_folder_scan(
    folder: dk.Collection, web: dk.Collection
) -> None:
    assert web.instances.schema == folder.instances.schema
    assert web.n_files == 214  # Orthanc's instances: 213 + the conflicting copy
    assert web.errors.is_empty()
    # What Orthanc keeps: per UID chain, the first copy uploaded (sorted path order)
    expected = (
        _copies(folder)
        .sort("path")
        .unique(
            ["PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"],
            keep="first",
            maintain_order=True,
        )
    )
    got = _copies(web)
    key = ["SOPInstanceUID", "SeriesInstanceUID"]
    expected, got = expected.sort(key), got.sort(key)
    assert got.height == expected.height == 214
    for column in folder.instances.columns:
        if column in NOT_COMPARED:
            continue
        assert got[column].equals(expected[column]), column
    # by nature: the path is the WADO-RS URL, no file size, time or file meta
    assert got["path"].str.starts_with("http://127.0.0.1:").all()
    assert got["path"].str.contains("/instances/").all()
    assert got["file_size"].is_null().all()
    assert got["TransferSyntaxUID"].is_null().all()
    # the resend rule: the same conflict, kept and classified as in the folder
    assert web.resends["resend"].to_list() == ["conflict"]
    conflict = folder.resends.filter(pl.col("resend") == "conflict")
    assert web.resends["SOPInstanceUID"].equals(conflict["SOPInstanceUID"])
    assert web.resends["differs"].equals(conflict["differs"])
    # the current instances: equal but for the copy Orthanc kept older
    a = folder.instances.sort("SOPInstanceUID")
    b = web.instances.sort("SOPInstanceUID")
    assert a["SOPInstanceUID"].equals(b["SOPInstanceUID"])
    modified = folder.resends.filter(pl.col("resend") == "modified")
    for column in a.columns:
        if column in NOT_COMPARED:
            continue
        differs = a.filter(a[column].ne_missing(b[column]))["SOPInstanceUID"]
        if column in modified["differs"][0]:
            assert differs.to_list() == modified["SOPInstanceUID"].to_list(), column
        else:
            assert differs.is_empty(), column


def test_request_counts(web: dk.Collection) -> None:
    stats = web.source_stats
    assert stats is not None
    # 1 study listing + 1 series listing per study + 1 metadata call per series
    assert stats["requests_by_kind"] == {
        "qido_studies": 1,
        "qido_series": 5,
        "wado_metadata": 9,
    }
    assert stats["requests"] == 15
    assert stats["requests_per_series"] == pytest.approx(15 / 9, abs=1e-3)
    assert stats["complete"] is True


def test_orthanc_ignores_includefield_all_and_it_does_not_matter(
    orthanc: OrthancServer, web: dk.Collection
) -> None:
    request = urllib.request.Request(
        f"{orthanc.dicomweb}/instances?includefield=all&limit=1",
        headers={"Accept": "application/dicom+json"},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        item = json.loads(reply.read())[0]
    assert "00200032" not in item  # no ImagePositionPatient: not "all" fields
    assert web.instances["ImagePositionPatient"].null_count() < web.instances.height


def test_verify_finds_the_same(folder: dk.Collection, web: dk.Collection) -> None:
    def keyed(findings: pl.DataFrame) -> set[tuple[str, str]]:
        return set(findings.select("check", "uid").iter_rows())

    a, b = keyed(folder.verify()), keyed(web.verify())
    # the differences are Orthanc's resend handling: it swallowed the modified
    # resend (so no finding about it) and kept the older PatientName; and the
    # folder's unreadable files (truncated, not DICOM) were never uploaded
    modified = folder.resends.filter(pl.col("resend") == "modified")
    assert a - b == {
        ("modified_resend", modified["SOPInstanceUID"][0]),
        ("unreadable_file", None),
    }
    study = modified["StudyInstanceUID"][0]
    assert b - a == {("patient_mismatch", "PAT001"), ("patient_mismatch", study)}


def test_compare_the_delivery_with_the_archive(
    folder: dk.Collection, web: dk.Collection
) -> None:
    diff = dk.compare(folder, web)
    assert diff.counts == {
        "identical": 212,
        "modified": 1,
        "conflict": 0,
        "only_in_a": 0,
        "only_in_b": 0,
    }
    row = diff.instances.filter(pl.col("status") == "modified").row(0, named=True)
    assert row["differs"] == ["PatientName"]
    assert row["path_b"].startswith("http://127.0.0.1:")


def test_named_study_and_filters(
    orthanc: OrthancServer, folder: dk.Collection, web: dk.Collection
) -> None:
    study = "1.2.840.113619.2.410.4057621.1683036310.1.1"
    col = dk.scan_dicomweb(orthanc.dicomweb, study=study, progress=False)
    assert col.source_stats is not None
    assert col.source_stats["requests"] == 1 + 4
    # this study also holds the conflicting copy: alone, it is no resend
    conflict = web.resends.filter(pl.col("StudyInstanceUID") == study)
    assert conflict.height == 1
    assert len(col) == folder[study].instances.height + 1
    assert col.resends.is_empty()
    mr = dk.scan_dicomweb(orthanc.dicomweb, modality="MR", progress=False)
    assert set(mr.instances["Modality"]) == {"MR"}
    assert len(mr) == folder.filter(pl.col("Modality") == "MR").instances.height
    dated = dk.scan_dicomweb(
        orthanc.dicomweb, study_date=("20230101", "20230601"), progress=False
    )
    assert set(dated.studies["StudyInstanceUID"]) == {
        "1.3.12.2.1107.5.1.4.83504.3230314081502100001",
        study,
    }
    pat = dk.scan_dicomweb(orthanc.dicomweb, patient_id="PAT003", progress=False)
    assert set(pat.instances["PatientID"]) == {"PAT003"}
    with pytest.warns(RuntimeWarning, match="incomplete"):
        missing = dk.scan_dicomweb(
            orthanc.dicomweb, study="1.2.3.4.404", progress=False
        )
    assert missing.errors["reason"].to_list() == ["not_found"]


def test_paging_on_orthanc(orthanc: OrthancServer, web: dk.Collection) -> None:
    col = dk.scan_dicomweb(orthanc.dicomweb, page_size=2, progress=False)
    assert col == web.__class__(col.instances, col.resends, col.errors)
    assert col.instances.drop("path").equals(web.instances.drop("path"))
    stats = col.source_stats
    assert stats is not None
    assert stats["requests_by_kind"]["qido_studies"] == 3  # 2 + 2 + 1 studies
    assert stats["complete"] is True


def test_pixels_volume_and_explorer_through_wado_rs(
    folder: dk.Collection, web: dk.Collection
) -> None:
    # the knee, 12 slices, one of them the conflicting copy, which Orthanc does
    # not find by its instance URL (404): it is taken out of its series
    uid = "1.2.840.113619.2.410.4057621.1700583600.2.3"
    a, b = folder.volume(uid), web.volume(uid)
    assert np.array_equal(a.array, b.array)
    assert a.affine is not None
    assert b.affine is not None
    assert np.allclose(a.affine, b.affine)
    path = web.instances.filter(pl.col("SeriesInstanceUID") == uid)["path"][0]
    local = folder.instances.filter(pl.col("SOPInstanceUID") == path.rsplit("/", 1)[1])[
        "path"
    ][0]
    assert np.array_equal(dk.load_pixels(path), dk.load_pixels(local))
    explorer_a, explorer_b = folder.explore(), web.explore()
    assert explorer_a.thumbnail(uid) == explorer_b.thumbnail(uid)
    explorer_b.series_select.value = uid
    explorer_b.tabs.selected_index = 1  # the tags of the current image, retrieved
    table = explorer_b.tags.table.value
    assert "http://127.0.0.1:" in table
    assert "ImagePositionPatient" in table or "Image Position" in table


def test_a_plan_writes_from_the_server(
    folder: dk.Collection, web: dk.Collection, tmp_path: Path
) -> None:
    uid = "1.2.840.113619.2.410.4057621.1683036310.2.3"  # dual echo: splits in two
    plan_a = folder.split_series(uid, key="dicomkit-test")
    plan_b = web.split_series(uid, key="dicomkit-test")
    written_a = plan_a.write(tmp_path / "a", progress=False)
    written_b = plan_b.write(tmp_path / "b", progress=False)
    assert len(written_b) == len(written_a) == 40
    names_a = sorted(
        p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.dcm")
    )
    names_b = sorted(
        p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.dcm")
    )
    assert names_a == names_b
    for name in names_a:
        assert (tmp_path / "a" / name).read_bytes() == (
            tmp_path / "b" / name
        ).read_bytes()


def test_nifti_export_from_the_server_equals_the_folders(
    folder: dk.Collection, web: dk.Collection, tmp_path: Path
) -> None:
    nib = pytest.importorskip("nibabel")
    uid = "1.2.840.113619.2.410.4057621.1683036310.2.3"  # dual echo: two files
    a = folder.to_nifti(tmp_path / "a", series=uid)
    b = web.to_nifti(tmp_path / "b", series=uid)
    assert a["status"].to_list() == b["status"].to_list() == ["written", "written"]
    assert [Path(p).name for p in a["path"]] == [Path(p).name for p in b["path"]]
    for path_a, path_b in zip(a["path"], b["path"], strict=True):
        image_a, image_b = nib.load(path_a), nib.load(path_b)
        assert np.array_equal(image_a.affine, image_b.affine)
        assert np.array_equal(np.asarray(image_a.dataobj), np.asarray(image_b.dataobj))


def test_cli_scans_a_url(
    orthanc: OrthancServer, capsys: pytest.CaptureFixture[str]
) -> None:
    study = "1.2.840.113619.2.410.4057621.1700583600.1.1"
    status = main(["scan", orthanc.dicomweb, "--study", study, "--no-progress"])
    out = capsys.readouterr().out
    assert status == 0
    assert "12 instances" in out
    assert "requests" in out


def test_a_missing_orthanc_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.orthanc as helper

    monkeypatch.setattr(helper, "_PLUGINS", ("/nonexistent/libOrthancDicomWeb.so",))
    with pytest.raises(OrthancUnavailable, match="orthanc-dicomweb not installed"):
        find_orthanc()
    monkeypatch.setenv("DICOMKIT_REQUIRE_ORTHANC", "1")
    with pytest.raises(pytest.fail.Exception, match="DICOMKIT_REQUIRE_ORTHANC is set"):
        require_orthanc()
    monkeypatch.delenv("DICOMKIT_REQUIRE_ORTHANC")
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        require_orthanc()


def _listening_ports(pid: int) -> set[int]:
    """The TCP ports process ``pid`` listens on (Linux /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_the_server_listens_on_its_http_port_only(orthanc: OrthancServer) -> None:
    config = orthanc.config("/tmp/x", orthanc.port)
    assert config["DicomServerEnabled"] is False
    assert config["RemoteAccessAllowed"] is False  # 1.10 cannot bind one address
    assert config["DicomWeb"]["Host"] == f"127.0.0.1:{orthanc.port}"  # type: ignore[index]
    assert orthanc.url.startswith("http://127.0.0.1:")
    process = orthanc._process
    assert process is not None
    if not Path(f"/proc/{process.pid}/fd").is_dir():
        pytest.skip("no /proc to list the server's sockets")
    assert _listening_ports(process.pid) == {orthanc.port}  # no DICOM port


def test_the_notebook_runs_against_the_server(
    orthanc: OrthancServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nbformat
    from nbclient import NotebookClient

    from tests.test_notebooks import _exercised

    path = Path(__file__).resolve().parents[1] / "notebooks" / "08_dicomweb.ipynb"
    # the exercise run unanswered, wrong, then with its solution (as in test_notebooks)
    nb, _ = _exercised(nbformat.read(path, as_version=4))
    monkeypatch.setenv("DICOMKIT_DICOMWEB_URL", orthanc.dicomweb)
    NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    outputs = [out for cell in nb.cells for out in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(str(o.get("text", "")) for o in outputs)
    assert f"DICOMweb server: {orthanc.dicomweb}" in text
    assert "requests the server answered: 8" in text  # 1 + 2 MR studies + 5 series
    assert text.rstrip().endswith("✓ right")


def test_extra_keywords_and_the_duplicate_rule(
    orthanc: OrthancServer, folder: dk.Collection
) -> None:
    study = "1.2.840.113619.2.410.4057621.1700583600.1.1"  # the knee: PatientAge 060Y
    col = dk.scan_dicomweb(
        orthanc.dicomweb,
        study=study,
        keywords=["PatientAge", "HighBit"],
        progress=False,
    )
    assert set(col.instances["PatientAge"]) == {"060Y"}
    assert set(col.instances["HighBit"]) == {15}
    local = dk.scan(SAMPLE, keywords=["PatientAge", "HighBit"], cache=False)
    assert col.instances.schema == local.instances.schema
    with pytest.raises(dk.DuplicateInstanceError, match="more than one file"):
        dk.scan_dicomweb(orthanc.dicomweb, on_duplicate="error", progress=False)
