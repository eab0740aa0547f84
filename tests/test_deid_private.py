"""Retain Safe Private: the per-device list of PS3.15 Table E.3.10-1, matched by
private creator and offset in the block, on generated files written to disk."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

import dicomkit as dk
from dicomkit.deid.private import (
    SAFE_PRIVATE_FILE,
    load_safe_private,
    safe_private_entry,
    safe_private_tags,
)
from tests.deid_data import ROOT, ct_slice, files, write

KEY = "project secret"
VRS = {"", "CS", "DS", "FD", "FL", "IS", "LO", "LT", "OB", "SH", "SL", "SQ", "SS"}
VRS |= {"UI", "UL", "US"}


def test_the_shipped_list_is_table_e_3_10_1_with_its_source() -> None:
    rows = load_safe_private()
    assert len(rows) == 129
    assert {row.vr for row in rows} <= VRS
    assert all(row.group & 1 and 0 <= row.offset <= 0xFF for row in rows)
    assert len({(r.group, r.creator, r.offset) for r in rows}) == len(rows)
    text = resources.files("dicomkit").joinpath("data").joinpath(SAFE_PRIVATE_FILE)
    document = json.loads(text.read_text("utf-8"))
    assert "Table E.3.10-1" in document["source"]
    readme = resources.files("dicomkit").joinpath("data").joinpath("README.md")
    assert SAFE_PRIVATE_FILE in readme.read_text("utf-8")
    assert safe_private_entry(0x0019, "GEMS_ACQU_01", 0x23) is not None
    assert safe_private_entry(0x0019, "GEMS_ACQU_01 ", 0x23) is not None  # padding
    assert safe_private_entry(0x0021, "GEMS_ACQU_01", 0x23) is None  # other group
    assert safe_private_entry(0x0019, "gems_acqu_01", 0x23) is None  # exact creator


def _ge_slice(n: int, block: int, *, manufacturer: str, implicit: bool) -> Dataset:
    ds = ct_slice(
        "P1", f"{ROOT}7", f"{ROOT}7.1", n, frame=f"{ROOT}7.9", implicit=implicit
    )
    ds.Manufacturer = manufacturer
    # a block the list does not know first, so that GE's moves to ``block``
    for filler in range(0x10, block):
        ds.private_block(0x0019, f"FILLER {filler}", create=True).add_new(
            0x01, "LO", f"Dr Filler {n}"
        )
    ge = ds.private_block(0x0019, "GEMS_ACQU_01", create=True)
    assert ge.block_start == block << 8
    ge.add_new(0x23, "DS", "39.375")  # Table Speed: safe
    ge.add_new(0x27, "DS", "0.5")  # Rotation Speed: safe
    ge.add_new(0x10, "LO", f"Dr Smith {n}")  # the same block, not listed: removed
    ge.add_new(0x24, "LO", "not a DS")  # a listed offset with another VR: removed
    return ds


def _private(ds: Dataset) -> dict[int, object]:
    return {int(e.tag): e.value for e in ds if int(e.tag) >> 16 & 1}


def test_safe_and_unsafe_elements_of_one_block_in_written_files(tmp_path: Path) -> None:
    """Files whose GE block sits at 0x10, 0x11 and 0x13 (explicit and implicit
    VR): with retain_safe_private the two listed DS values survive in every
    output, under their creator; the unlisted ones, the filler blocks, and a
    GE block in a file whose Manufacturer is not GE do not."""
    cases = [
        (0x10, "GE MEDICAL SYSTEMS", False),
        (0x11, "GE MEDICAL SYSTEMS", True),
        (0x13, "", False),  # no Manufacturer: the creator decides
        (0x10, "SIEMENS", False),  # not GE's: removed
    ]
    for n, (block, maker, implicit) in enumerate(cases):
        ds = _ge_slice(n, block, manufacturer=maker, implicit=implicit)
        if not maker:
            del ds.Manufacturer
        write(ds, tmp_path / "in" / f"{n}.dcm")
    col = dk.scan(tmp_path / "in", progress=False, cache=False)
    plain = col.deidentify(key=KEY).write(tmp_path / "plain", progress=False)
    assert len(plain) == len(cases)
    for path in files(tmp_path / "plain"):
        assert _private(pydicom.dcmread(path)) == {}
    plan = col.deidentify(key=KEY, options=["retain_safe_private"])
    new = plan.write(tmp_path / "safe", progress=False)
    assert len(new) == len(cases)
    by_number = {}
    for path in files(tmp_path / "safe"):
        ds = pydicom.dcmread(path)
        by_number[int(ds.InstanceNumber) - 1] = _private(ds)
    for n, (block, maker, _) in enumerate(cases):
        if maker == "SIEMENS":
            assert by_number[n] == {}, n
            continue
        start = 0x00190000 | block << 8
        assert by_number[n] == {
            0x00190000 | block: "GEMS_ACQU_01",
            start | 0x23: 39.375,
            start | 0x27: 0.5,
        }, n
        data = next(
            p.read_bytes()
            for p in files(tmp_path / "safe")
            if pydicom.dcmread(p).InstanceNumber == n + 1
        )
        assert b"Dr Smith" not in data
        assert b"Filler" not in data
        assert b"not a DS" not in data


def test_creators_are_kept_only_with_a_retained_element() -> None:
    ds = Dataset()
    lone = ds.private_block(0x0043, "GEMS_PARM_01", create=True)  # known creator
    lone.add_new(0x10, "LO", "Dr Who")  # but nothing safe in its block
    ds.add_new(0x00450010, "LO", "GEMS_HELIOS_01")
    ds.add_new(0x00451001, "SS", 4)  # Number of Macro Rows: safe
    ds.add_new(0x00450011, "LO", "Dr Canary")  # a free-text creator …
    ds.add_new(0x00451101, "SS", 4)  # … of an element at a listed offset
    ds.add_new(0x00450012, "LO", "GEMS_HELIOS_01")  # a creator without elements
    assert safe_private_tags(ds) == {0x00450010, 0x00451001}
