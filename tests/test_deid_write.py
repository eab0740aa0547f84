"""col.deidentify(...).write(dest): canaries, references, cross-run consistency,
the plan, burned-in refusal and bad input."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import polars as pl
import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.uid import UID

import dicomkit as dk
from dicomkit.deid.engine import date_offset, is_well_known, pseudonym
from dicomkit.uid import derive
from tests.deid_data import (
    ROOT,
    Canaries,
    canary_dataset,
    ct_slice,
    delivery,
    files,
    write,
)

KEY = "project secret"
REPO = Path(__file__).resolve().parents[1]


def _uids(ds: Dataset) -> list[str]:
    """Every UI value in ``ds`` and its sequences."""
    found: list[str] = []
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value:
                found += _uids(item)
        elif elem.VR == "UI" and elem.value:
            values = elem.value if isinstance(elem.value, list) else [elem.value]
            found += [str(v) for v in values]
    return found


# ------------------------------------------------------------------ canaries
def test_no_canary_in_any_byte_of_any_output_file(tmp_path: Path) -> None:
    """Every table attribute, nested sequences (three levels), file meta, the
    preamble, private blocks, curves, overlays, OtherPatientIDsSequence and
    RequestAttributesSequence hold unique canaries: none reaches the output;
    neither do the original UIDs, dates, nor any original name in the paths."""
    canaries = Canaries()
    sources = []
    for n in range(3):
        ds = canary_dataset(canaries, patient=f"PAT{n % 2}", n=n)
        sources.append(write(ds, tmp_path / "in" / f"secret_{n}" / f"{n}.dcm"))
    originals = {u for p in sources for u in _uids(pydicom.dcmread(p))}
    originals = {u for u in originals if not is_well_known(u)}
    col = dk.scan(tmp_path / "in", progress=False, cache=False)
    assert len(col) == 3
    assert len(canaries.made) > 1000
    option_sets: list[list[str]] = [
        [],
        ["retain_longitudinal_modified_dates"],
        ["clean_descriptors", "clean_structured_content", "clean_graphics"],
        ["retain_safe_private"],  # private creators hold canaries too
        ["retain_safe_private", "clean_descriptors"],
    ]
    for number, options in enumerate(option_sets):
        out = tmp_path / f"out{number}"
        new = col.deidentify(key=KEY, options=options).write(out)
        assert len(new) == 3
        written = list(files(out))
        assert len(written) == 3
        for path in written:
            data = path.read_bytes()
            assert data[:128] == b"\0" * 128
            leaks = [c for c in canaries.made if c.encode() in data]
            assert not leaks, f"{path}: {[(c, canaries.made[c]) for c in leaks[:5]]}"
            assert b"19870605" not in data  # every original date
            assert not [u for u in originals if u.encode() in data]
            relative = str(path.relative_to(out))
            assert "secret" not in relative
            assert "PAT0" not in relative  # base 32 and UIDs have no 0/1 after letters
            assert "PAT1" not in relative
            assert not any(u in relative for u in originals)
        ds = pydicom.dcmread(written[0])
        private = {int(e.tag): e.value for e in ds if int(e.tag) >> 16 & 1}
        if "retain_safe_private" in options:  # only the listed safe element
            assert private == {0x00E10010: "ELSCINT1", 0x00E11021: 123.5}
        else:
            assert private == {}
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert "OtherPatientIDsSequence" not in ds


# ------------------------------------------------------------------ references
def _graph(folder: Path) -> tuple[set[str], set[str], list[str]]:
    """(instance and series UIDs, frame of reference UIDs, every reference)."""
    targets: set[str] = set()
    frames: set[str] = set()
    references: list[str] = []

    def walk(ds: Dataset) -> None:
        for elem in ds:
            if elem.VR != "SQ":
                continue
            for item in elem.value:
                if "ReferencedSOPInstanceUID" in item:
                    references.append(str(item.ReferencedSOPInstanceUID))
                if elem.keyword == "ReferencedSeriesSequence":
                    references.append(str(item.SeriesInstanceUID))
                if "FrameOfReferenceUID" in item:
                    references.append(str(item.FrameOfReferenceUID))
                walk(item)

    for path in files(folder):
        ds = pydicom.dcmread(path)
        targets |= {str(ds.SOPInstanceUID), str(ds.SeriesInstanceUID)}
        frames.add(str(ds.FrameOfReferenceUID))
        walk(ds)
    return targets, frames, references


def test_every_reference_that_resolved_still_resolves(tmp_path: Path) -> None:
    delivery(tmp_path / "in")
    col = dk.scan(tmp_path / "in", progress=False, cache=False)
    plan = col.deidentify(key=KEY)
    new = plan.write(tmp_path / "out")
    before_targets, before_frames, before = _graph(tmp_path / "in")
    after_targets, after_frames, after = _graph(tmp_path / "out")
    resolved = [r for r in before if r in before_targets | before_frames]
    assert len(resolved) == len(before) > 20
    assert len(after) == len(before)
    dangling = [r for r in after if r not in after_targets | after_frames]
    assert dangling == []
    assert not set(after) & set(before)  # every one remapped
    shape = plan.compare(new)
    assert shape["expected"].to_list() == shape["found"].to_list() == [2, 2, 4, 12]
    assert new.verify().filter(pl.col("severity") == "error").is_empty()


# ------------------------------------------------------------------ consistency
_RUN = textwrap.dedent(
    """
    import sys, dicomkit as dk
    col = dk.scan(sys.argv[1], progress=False, cache=False)
    plan = col.deidentify(key=sys.argv[3], options=["retain_longitudinal_modified_dates"])
    plan.write(sys.argv[2], progress=False)
    plan.mapping.sort("kind", "old").write_parquet(sys.argv[2] + ".mapping.parquet")
    """
)


def _run(source: Path, dest: Path, key: str) -> pl.DataFrame:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run(
        [sys.executable, "-c", _RUN, str(source), str(dest), key],
        check=True,
        env=env,
        capture_output=True,
    )
    return pl.read_parquet(f"{dest}.mapping.parquet")


def test_two_runs_same_key_same_bytes_other_key_unlinkable(tmp_path: Path) -> None:
    delivery(tmp_path / "in")
    one = _run(tmp_path / "in", tmp_path / "one", KEY)
    two = _run(tmp_path / "in", tmp_path / "two", KEY)
    other = _run(tmp_path / "in", tmp_path / "other", "another key")
    assert one.equals(two)
    names = sorted(p.relative_to(tmp_path / "one") for p in files(tmp_path / "one"))
    assert names == sorted(
        p.relative_to(tmp_path / "two") for p in files(tmp_path / "two")
    )
    for name in names:
        assert (tmp_path / "one" / name).read_bytes() == (
            tmp_path / "two" / name
        ).read_bytes()
    identifiers = pl.col("kind") != "date_offset_days"  # pseudonyms and UIDs
    assert not set(one.filter(identifiers)["new"]) & set(
        other.filter(identifiers)["new"]
    )
    assert set(one["old"]) == set(other["old"])


def test_a_second_delivery_maps_onto_the_same_pseudonyms(tmp_path: Path) -> None:
    """Months later, patient P1 comes back with a new study, and one old study is
    sent again: same pseudonym, same date offset, the old study's same UIDs."""
    delivery(tmp_path / "first", ("P1", "P2"), tag="1")
    delivery(tmp_path / "second", ("P1", "P3"), tag="2")
    delivery(tmp_path / "second" / "again", ("P2",), tag="1")
    first = dk.scan(tmp_path / "first", progress=False, cache=False)
    second = dk.scan(tmp_path / "second", progress=False, cache=False)
    options = ["retain_longitudinal_modified_dates"]
    m1 = first.deidentify(key=KEY, options=options).mapping
    m2 = second.deidentify(key=KEY, options=options).mapping
    shared = m1.join(m2, on=["kind", "old"], suffix="_2")
    assert (shared["new"] == shared["new_2"]).all()
    assert set(shared.filter(pl.col("kind") == "PatientID")["old"]) == {"P1", "P2"}
    assert shared.filter(pl.col("attribute") == "StudyInstanceUID").height == 1  # P2's
    offsets = dict(
        m2.filter(pl.col("kind") == "date_offset_days").select("old", "new").iter_rows()
    )
    assert offsets["P1"] == str(date_offset("P1", KEY.encode()))


# ------------------------------------------------------------------ the plan
def test_plan_shows_classes_instances_and_escapes(tmp_path: Path) -> None:
    write(ct_slice("<script>alert(1)</script>", f"{ROOT}5", f"{ROOT}5.1", 0, frame=f"{ROOT}5.9"),
          tmp_path / "in" / "a.dcm")  # fmt: skip
    col = dk.scan(tmp_path / "in", progress=False, cache=False)
    plan = col.deidentify(key=KEY, options=["clean_descriptors"])
    text = repr(plan)
    assert "per attribute class" in text
    assert "clean_descriptors" in text
    assert "X  remove" in text
    assert "project secret" not in text
    page = plan._repr_html_()
    assert "<script>" not in page
    assert "project secret" not in page
    rules = plan.rules()
    assert rules.filter(pl.col("table") != "").height == 621
    row = rules.filter(pl.col("name") == "Series Description").row(0, named=True)
    assert (row["table"], row["option"], row["action"]) == (
        "X",
        "clean_descriptors",
        "C",
    )
    assert plan.frame["action"].to_list() == ["write"]
    explained = plan.explain(col.instances["SOPInstanceUID"][0])
    assert explained.filter(pl.col("keyword") == "StudyDescription")[
        "action"
    ].to_list() == ["C"]
    assert explained.filter(pl.col("keyword") == "PatientID")["action"].to_list() == [
        "Z/D"
    ]
    mapping = plan.mapping
    assert mapping.columns == ["kind", "attribute", "old", "new"]
    patient = mapping.filter(pl.col("kind") == "PatientID").row(0, named=True)
    assert patient["new"] == pseudonym("<script>alert(1)</script>", KEY.encode())
    study = mapping.filter(pl.col("attribute") == "StudyInstanceUID").row(0, named=True)
    assert study["new"] == derive(f"{ROOT}5", KEY)


def test_write_refuses_to_overwrite_or_mix_with_sources(tmp_path: Path) -> None:
    delivery(tmp_path / "in", ("P1",), n=2)
    col = dk.scan(tmp_path / "in", progress=False, cache=False)
    plan = col.deidentify(key=KEY)
    plan.write(tmp_path / "out")
    before = {p: p.stat().st_mtime_ns for p in files(tmp_path / "out")}
    with pytest.raises(FileExistsError, match="nothing was written"):
        col.deidentify(key=KEY).write(tmp_path / "out")
    assert {p: p.stat().st_mtime_ns for p in files(tmp_path / "out")} == before
    with pytest.raises(ValueError, match="holds the source file"):
        col.deidentify(key=KEY).write(tmp_path)
    assert not [p for p in files(tmp_path / "out") if p.name.startswith(".dicomkit")]
    assert not any(p.suffix == ".parquet" for p in files(tmp_path / "out"))


def test_hostile_uids_kept_by_retain_uids_stay_inside_dest(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid UIDs, on purpose
        ds = ct_slice("P1", "../../../study", "..\\series", 0, frame="1.2.3")
        ds.SOPInstanceUID = "/etc/passwd"
        ds.file_meta.MediaStorageSOPInstanceUID = UID("/etc/passwd")
        write(ds, tmp_path / "in" / "hostile.dcm")
    col = dk.scan(tmp_path / "in", progress=False, cache=False)
    plan = col.deidentify(key=KEY, options=["retain_uids"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plan.write(tmp_path / "out")
    written = list(files(tmp_path / "out"))
    assert len(written) == 1
    assert written[0].resolve().is_relative_to((tmp_path / "out").resolve())
    assert ".." not in written[0].relative_to(tmp_path / "out").parts


def test_retain_uids_keeps_every_uid(tmp_path: Path) -> None:
    delivery(tmp_path / "in", ("P1",), n=2)
    col = dk.scan(tmp_path / "in", progress=False, cache=False)
    new = col.deidentify(key=KEY, options=["retain_uids"]).write(tmp_path / "out")
    assert set(new.instances["SOPInstanceUID"]) == set(col.instances["SOPInstanceUID"])
    assert set(new.instances["PatientID"]) == {pseudonym("P1", KEY.encode())}


# ------------------------------------------------------------------ burned-in text
def test_burned_in_text_is_refused_unless_allowed(tmp_path: Path) -> None:
    delivery(tmp_path / "in", ("P1",), n=2)
    us = ct_slice("P1", f"{ROOT}7", f"{ROOT}7.1", 0, frame=f"{ROOT}7.9")
    us.Modality = "US"
    write(us, tmp_path / "in" / "us.dcm")
    burned = ct_slice("P1", f"{ROOT}8", f"{ROOT}8.1", 0, frame=f"{ROOT}8.9")
    burned.BurnedInAnnotation = "YES"  # not in the index: found when writing
    write(burned, tmp_path / "in" / "burned.dcm")
    col = dk.scan(tmp_path / "in", progress=False, cache=False)
    plan = col.deidentify(key=KEY)
    refused = plan.frame.filter(pl.col("action") == "refuse")
    assert refused.height == 1
    assert "modality US" in refused["why"][0]
    assert "refused" in repr(plan)
    with pytest.warns(dk.DeidentificationWarning, match="2 of 6 instances not written"):
        new = plan.write(tmp_path / "out")
    assert len(new) == 4
    report = plan.report
    assert report is not None
    statuses = dict(report.select("path", "status").iter_rows())
    assert statuses[str(tmp_path / "in" / "us.dcm")] == "refused"
    assert statuses[str(tmp_path / "in" / "burned.dcm")] == "refused"
    message = report.filter(pl.col("path") == str(tmp_path / "in" / "burned.dcm"))[
        "message"
    ][0]
    assert "BurnedInAnnotation is YES" in message
    assert "allow_burned_in=True" in message
    allowed = col.deidentify(key=KEY, allow_burned_in=True)
    with pytest.warns(dk.DeidentificationWarning, match="with findings"):
        new = allowed.write(tmp_path / "out2")
    assert len(new) == 6


# ------------------------------------------------------------------ bad input
def test_bad_files_are_reported_and_the_rest_written(tmp_path: Path) -> None:
    paths = delivery(tmp_path / "in", ("P1",), n=3)
    broken = ct_slice("P1", f"{ROOT}6", f"{ROOT}6.1", 0, frame=f"{ROOT}6.9")
    broken[0x00200052] = RawDataElement(  # FrameOfReferenceUID stored as US
        Tag(0x00200052), "US", 2, b"\x67\x12", 0, False, True
    )
    bad = write(broken, tmp_path / "in" / "bad_vr.dcm")
    with_finding = ct_slice("P1", f"{ROOT}6", f"{ROOT}6.2", 0, frame=f"{ROOT}6.9")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an invalid date, on purpose
        with_finding.add_new(0x00080021, "DA", "2024")  # SeriesDate: not a full date
    odd = write(with_finding, tmp_path / "in" / "odd_date.dcm")
    col = dk.scan(tmp_path / "in", progress=False, cache=False)
    # after the scan: one file vanishes, one changes its SOPInstanceUID
    os.unlink(paths[0])
    changed = pydicom.dcmread(paths[1])
    changed.SOPInstanceUID = f"{ROOT}42"
    changed.save_as(paths[1])
    plan = col.deidentify(key=KEY, options=["retain_longitudinal_modified_dates"])
    with pytest.warns(dk.DeidentificationWarning, match="3 of 8 instances not written"):
        new = plan.write(tmp_path / "out")
    assert len(new) == 5
    report = plan.report
    assert report is not None
    failed = dict(
        report.filter(pl.col("status") == "failed")
        .select("path", "message")
        .iter_rows()
    )
    assert "cannot read" in failed[str(paths[0])]
    assert str(paths[0]) in failed[str(paths[0])]
    assert "changed since the scan" in failed[str(paths[1])]
    assert str(bad) in failed[str(bad)]
    assert "FrameOfReferenceUID is stored with VR US" in failed[str(bad)]
    findings = report.filter(pl.col("path") == str(odd))["findings"][0].to_list()
    assert any("SeriesDate" in f and "cannot be shifted" in f for f in findings), (
        findings
    )
    assert report.filter(pl.col("path") == str(odd))["status"][0] == "written"


def test_an_empty_key_is_a_clear_error(tmp_path: Path) -> None:
    delivery(tmp_path / "in", ("P1",), n=1)
    col = dk.scan(tmp_path / "in", progress=False, cache=False)
    with pytest.raises(ValueError, match="key must not be empty"):
        col.deidentify(key="")
    with pytest.raises(ValueError, match="unknown de-identification option"):
        col.deidentify(key=KEY, options=["retain_everything"])


def test_parallel_write_matches_the_in_process_one(tmp_path: Path) -> None:
    delivery(tmp_path / "in", ("P1", "P2"), n=3)
    col = dk.scan(tmp_path / "in", progress=False, cache=False)
    col.deidentify(key=KEY).write(tmp_path / "one", workers=1)
    col.deidentify(key=KEY).write(tmp_path / "two", workers=2)
    one = {
        p.relative_to(tmp_path / "one"): p.read_bytes() for p in files(tmp_path / "one")
    }
    two = {
        p.relative_to(tmp_path / "two"): p.read_bytes() for p in files(tmp_path / "two")
    }
    assert one == two


def test_rtstruct_references_four_levels_deep_still_resolve(tmp_path: Path) -> None:
    """An RT Structure Set points at the CT through Referenced Frame of Reference →
    RT Referenced Study → RT Referenced Series → Contour Image sequences (and, as
    some systems do, names the study in a ReferencedSOPInstanceUID): every one
    follows the CT's new UIDs."""
    paths = delivery(tmp_path / "in", ("P1",), n=2)
    ct = [pydicom.dcmread(p) for p in paths[:2]]
    rs = Dataset()
    rs.SOPClassUID = "1.2.840.10008.5.1.4.1.1.481.3"
    rs.SOPInstanceUID = f"{ROOT}77.1"
    rs.StudyInstanceUID = ct[0].StudyInstanceUID
    rs.SeriesInstanceUID = f"{ROOT}77"
    rs.PatientID, rs.Modality = "P1", "RTSTRUCT"
    contour_images = [pydicom.Dataset() for _ in ct]
    for item, image in zip(contour_images, ct, strict=True):
        item.ReferencedSOPClassUID = image.SOPClassUID
        item.ReferencedSOPInstanceUID = image.SOPInstanceUID
    series = Dataset()
    series.SeriesInstanceUID = ct[0].SeriesInstanceUID
    series.ContourImageSequence = pydicom.Sequence(contour_images)
    study = Dataset()
    study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    study.ReferencedSOPInstanceUID = ct[0].StudyInstanceUID  # the quirk
    study.RTReferencedSeriesSequence = pydicom.Sequence([series])
    frame = Dataset()
    frame.FrameOfReferenceUID = ct[0].FrameOfReferenceUID
    frame.RTReferencedStudySequence = pydicom.Sequence([study])
    rs.ReferencedFrameOfReferenceSequence = pydicom.Sequence([frame])
    rs.file_meta = pydicom.dataset.FileMetaDataset()
    rs.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    write(rs, tmp_path / "in" / "rs.dcm")
    col = dk.scan(tmp_path / "in", progress=False, cache=False)
    col.deidentify(key=KEY).write(tmp_path / "out")
    by_sop = {
        str(pydicom.dcmread(p).SOPInstanceUID): p for p in files(tmp_path / "out")
    }
    out = pydicom.dcmread(by_sop[derive(f"{ROOT}77.1", KEY)])
    frame_out = out.ReferencedFrameOfReferenceSequence[0]
    study_out = frame_out.RTReferencedStudySequence[0]
    series_out = study_out.RTReferencedSeriesSequence[0]
    images = [i.ReferencedSOPInstanceUID for i in series_out.ContourImageSequence]
    assert all(uid in by_sop for uid in images)
    referenced_ct = pydicom.dcmread(by_sop[images[0]])
    assert series_out.SeriesInstanceUID == referenced_ct.SeriesInstanceUID
    assert frame_out.FrameOfReferenceUID == referenced_ct.FrameOfReferenceUID
    assert study_out.ReferencedSOPInstanceUID == referenced_ct.StudyInstanceUID
    assert study_out.ReferencedSOPClassUID == "1.2.840.10008.3.1.2.3.1"  # well known
    assert out.StudyInstanceUID == referenced_ct.StudyInstanceUID
