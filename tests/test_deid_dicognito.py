"""An independent check: every attribute dicognito (PyPI, the dev extra) changes
is changed (or removed) by dicomkit too, on the same files."""

from __future__ import annotations

import copy
import warnings
from collections import Counter
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

import dicomkit as dk
from dicomkit.uid import derive
from tests.deid_data import Canaries, canary_dataset, delivery, files, write

KEY = "dicognito comparison"


def flatten(ds: Dataset, where: str = "") -> dict[str, object]:
    """Every element at any depth (file meta too): path → value."""
    out: dict[str, object] = {}
    meta = getattr(ds, "file_meta", None)
    if meta is not None and not where:
        for elem in meta:
            out[f"meta.{elem.keyword or elem.tag}"] = elem.value
    for elem in ds:
        path = f"{where}{elem.keyword or elem.tag}"
        if elem.VR == "SQ":
            out[path] = len(elem.value)
            for index, item in enumerate(elem.value):
                out.update(flatten(item, f"{path}[{index}]."))
        else:
            out[path] = elem.value
    return out


def _sources(folder: Path) -> list[Path]:
    canaries = Canaries()
    paths = [
        write(canary_dataset(canaries, n=n), folder / f"canary{n}.dcm")
        for n in range(2)
    ]
    return paths + delivery(folder / "delivery", ("P1",), n=2)


def compare(tmp_path: Path, options: list[str]) -> tuple[list[str], Counter[str]]:
    """(paths dicognito changes that dicomkit leaves as they are,
    keywords dicomkit removes or changes that dicognito keeps)."""
    dicognito = pytest.importorskip("dicognito.anonymizer")
    sources = _sources(tmp_path / "in")
    col = dk.scan(tmp_path / "in", progress=False, cache=False)
    plan = col.deidentify(key=KEY, options=options)
    plan.write(tmp_path / "out", workers=1)
    written = {
        str(pydicom.dcmread(p).SOPInstanceUID): p for p in files(tmp_path / "out")
    }
    missed: list[str] = []
    extra: Counter[str] = Counter()
    anonymizer = dicognito.Anonymizer(seed="comparison")
    for source in sources:
        original = pydicom.dcmread(source)
        theirs = copy.deepcopy(original)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # dicognito's own pydicom warnings
            anonymizer.anonymize(theirs)
        ours = pydicom.dcmread(written[derive(str(original.SOPInstanceUID), KEY)])
        before, after_theirs, after_ours = (
            flatten(original),
            flatten(theirs),
            flatten(ours),
        )
        for path, value in before.items():
            changed_by_them = after_theirs.get(path, "<removed>") != value
            changed_by_us = after_ours.get(path, "<removed>") != value
            if changed_by_them and not changed_by_us:
                missed.append(f"{source.name}: {path}")
            if changed_by_us and not changed_by_them:
                extra[path.split("[")[0]] += 1
    return missed, extra


def test_dicomkit_changes_everything_dicognito_changes(tmp_path: Path) -> None:
    missed, extra = compare(tmp_path, [])
    assert missed == []
    # and it does more: the table's X rows that dicognito leaves
    for keyword in ("StudyDescription", "SeriesDescription", "ImageComments", "PatientAge",
                    "DeviceSerialNumber", "ProtocolName", "RequestAttributesSequence"):  # fmt: skip
        assert keyword in extra, keyword


def test_with_modified_dates_only_the_kept_times_differ(tmp_path: Path) -> None:
    """dicognito shifts dates *and times* by hours; dicomkit's Modified Dates
    option shifts by whole days and keeps the times, as it documents."""
    missed, _ = compare(tmp_path, ["retain_longitudinal_modified_dates"])
    assert missed
    assert all("Time" in path.split(": ")[1] for path in missed), missed
