"""DICOM JSON (PS3.18 Annex F) into the same rows a folder scan gives."""

from __future__ import annotations

import base64
import datetime as dt
import warnings
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread

from dicomkit.io.dicomjson import decode_dataset, element_value, json_to_row, kinds_of
from dicomkit.io.header import file_identity, read_header
from dicomkit.io.scan import rows_to_frames
from dicomkit.schema import DEFAULT_KEYWORDS
from tests.conftest import SAMPLE, make_dataset, pydicom_test_files, write_dataset

KINDS = kinds_of(DEFAULT_KEYWORDS)
BASE = {"path": "http://127.0.0.1:1/x", "file_size": None, "mtime_ns": None}


def _json_of(path: Path) -> tuple[dict[str, Any], dict[str, Any]] | None:
    kind, row = read_header(file_identity(str(path)), DEFAULT_KEYWORDS)
    if kind != "instance":
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = dcmread(path, force=True)
        js = ds.to_json_dict(
            bulk_data_threshold=1024,
            bulk_data_element_handler=lambda _: "http://127.0.0.1:1/bulk",
        )
    if row["TransferSyntaxUID"]:
        js["00020010"] = {"vr": "UI", "Value": [row["TransferSyntaxUID"]]}
    return js, row


def _sample_files() -> list[Path]:
    return sorted(p for p in SAMPLE.rglob("*") if p.is_file())


def test_every_sample_file_gives_the_row_of_the_file_scan() -> None:
    n = 0
    for path in _sample_files():
        pair = _json_of(path)
        if pair is None:
            continue
        js, row = pair
        base = {k: row[k] for k in ("path", "file_size", "mtime_ns")}
        kind, got = json_to_row(js, base, KINDS)
        assert kind == "instance"
        assert set(got) == set(row)
        for key, value in row.items():
            assert got[key] == value, (path, key)
            assert type(got[key]) is type(value), (path, key)
        n += 1
    assert n == 216  # every instance file of the sample, resends included


def test_pydicoms_own_test_files_give_the_rows_of_the_file_scan() -> None:
    """Many VRs, character sets, odd values: the same row from file or JSON.

    One difference by nature: a deflated file's pixel data is not checked by the
    scan (``has_pixel_data`` null), where the JSON lists it.
    """
    n = 0
    for path in sorted(p for p in pydicom_test_files().rglob("*") if p.is_file()):
        try:
            pair = _json_of(path)
        except Exception:  # noqa: BLE001 - pydicom cannot write it as JSON
            continue
        if pair is None:
            continue
        js, row = pair
        base = {k: row[k] for k in ("path", "file_size", "mtime_ns")}
        kind, got = json_to_row(js, base, KINDS)
        assert kind == "instance", path
        if row["has_pixel_data"] is None:
            row = {**row, "has_pixel_data": got["has_pixel_data"]}
        for key, value in row.items():
            assert got[key] == value, (path.name, key)
            assert type(got[key]) is type(value), (path.name, key)
        n += 1
    assert n >= 60


def test_rows_build_the_same_typed_frame() -> None:
    pairs = [p for p in map(_json_of, _sample_files()) if p is not None]
    file_rows = [("instance", row) for _, row in pairs]
    json_rows = [
        json_to_row(js, {k: row[k] for k in ("path", "file_size", "mtime_ns")}, KINDS)
        for js, row in pairs
    ]
    a, _ = rows_to_frames(file_rows, DEFAULT_KEYWORDS)
    b, _ = rows_to_frames(json_rows, DEFAULT_KEYWORDS)
    assert a.schema == b.schema
    assert a.equals(b)


def _row(item: dict[str, Any]) -> dict[str, Any]:
    item = {"00080018": {"vr": "UI", "Value": ["1.2.3"]}, **item}
    kind, row = json_to_row(item, BASE, KINDS)
    assert kind == "instance"
    assert isinstance(row, dict)
    return row


def test_numbers_as_numbers_or_strings() -> None:
    as_numbers = _row(
        {
            "00200013": {"vr": "IS", "Value": [7]},
            "00180050": {"vr": "DS", "Value": [2.5]},
            "00280030": {"vr": "DS", "Value": [0.5, 0.5]},
        }
    )
    as_strings = _row(
        {
            "00200013": {"vr": "IS", "Value": ["7"]},
            "00180050": {"vr": "DS", "Value": [" 2.5"]},
            "00280030": {"vr": "DS", "Value": ["0.5", "5e-1"]},
        }
    )
    for row in (as_numbers, as_strings):
        assert row["InstanceNumber"] == 7
        assert row["SliceThickness"] == 2.5
        assert row["PixelSpacing"] == [0.5, 0.5]
        assert row["bad_values"] == []


def test_a_fractional_integer_string_is_reported_not_rounded() -> None:
    row = _row({"00200013": {"vr": "IS", "Value": [1.5]}})
    assert row["InstanceNumber"] is None
    assert row["bad_values"] == ["InstanceNumber: not an integer (IS): '1.5'"]


def test_person_names_objects_strings_and_groups() -> None:
    row = _row({"00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^John"}]}})
    assert row["PatientName"] == "Doe^John"
    row = _row({"00100010": {"vr": "PN", "Value": ["Doe^Jane"]}})  # seen in the wild
    assert row["PatientName"] == "Doe^Jane"
    three = {"Alphabetic": "Yamada^Tarou", "Ideographic": "山田^太郎", "Phonetic": ""}
    row = _row({"00100010": {"vr": "PN", "Value": [three]}})
    assert row["PatientName"] == "Yamada^Tarou=山田^太郎"  # as str(PersonName)


def test_missing_value_and_empty_values(tmp_path: Path) -> None:
    row = _row(
        {
            "00081030": {"vr": "LO"},
            "00200012": {"vr": "IS", "Value": []},
            "00080008": {"vr": "CS", "Value": ["ORIGINAL", None, "AXIAL"]},
        }
    )
    assert row["StudyDescription"] is None
    assert row["AcquisitionNumber"] is None
    assert row["ImageType"] == ["ORIGINAL", None, "AXIAL"]
    assert row["bad_values"] == []
    # the file with the same values gives the same row
    path = write_dataset(
        tmp_path / "f.dcm",
        make_dataset(StudyDescription="", ImageType=["ORIGINAL", "", "AXIAL"]),
    )
    _, from_file = read_header(file_identity(str(path)), DEFAULT_KEYWORDS)
    assert from_file["StudyDescription"] is None
    assert from_file["ImageType"] == row["ImageType"]


def test_dates_times_and_too_many_values() -> None:
    row = _row(
        {
            "00080020": {"vr": "DA", "Value": ["20240131"]},
            "00080030": {"vr": "TM", "Value": ["101500.5"]},
            "0008103E": {"vr": "LO", "Value": ["A", "B"]},
            "00100030": {"vr": "DA", "Value": ["20241301"]},
        }
    )
    assert row["StudyDate"] == dt.date(2024, 1, 31)
    assert row["StudyTime"] == dt.time(10, 15, 0, 500000)
    assert row["SeriesDescription"] is None
    assert row["PatientBirthDate"] is None
    assert len(row["bad_values"]) == 2


def test_bulk_data_inline_binary_and_pixels() -> None:
    text = "x" * 70_000  # a text pydicom writes as UN, over the 16-bit length
    row = _row(
        {
            "00081030": {
                "vr": "UN",
                "InlineBinary": base64.b64encode(text.encode()).decode(),
            },
            "0008103E": {"vr": "LO", "BulkDataURI": "http://127.0.0.1:1/bulk"},
            "7FE00010": {"vr": "OW", "BulkDataURI": "http://127.0.0.1:1/px"},
        }
    )
    assert row["StudyDescription"] == text
    assert row["SeriesDescription"] is None
    assert row["bad_values"] == [
        "SeriesDescription: its value is held at a BulkDataURI, which the index "
        "does not fetch"
    ]
    assert row["has_pixel_data"] is True
    assert _row({})["has_pixel_data"] is False
    bad = _row({"0008103E": {"vr": "UN", "InlineBinary": "!!not base64"}})
    assert bad["bad_values"] == [
        "SeriesDescription: its InlineBinary value is not valid base64"
    ]


def test_sequences_and_attribute_tags() -> None:
    item = {
        "00081140": {
            "vr": "SQ",
            "Value": [
                {
                    "00081150": {"vr": "UI", "Value": ["1.2"]},
                    "00081155": {"vr": "UI", "Value": ["1.2.3"]},
                },
                "junk",
            ],
        },
        "00209165": {"vr": "AT", "Value": ["00100010", "7FE00010"]},
        "00091001": {"vr": "LO", "Value": ["private"]},
    }
    decoded = decode_dataset(item)
    assert decoded["ReferencedImageSequence"] == [
        {"ReferencedSOPClassUID": "1.2", "ReferencedSOPInstanceUID": "1.2.3"}
    ]
    assert decoded["DimensionIndexPointer"] == ["(0010,0010)", "(7FE0,0010)"]
    assert decoded["00091001"] == "private"
    assert _row(item)["bad_values"] == []  # sequences are never columns


def test_deeply_nested_sequences_are_bounded() -> None:
    item: dict[str, Any] = {}
    for _ in range(200):
        item = {"00081140": {"vr": "SQ", "Value": [item]}}
    decode_dataset(item)  # no RecursionError


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({}, "missing_sop_instance_uid"),
        ({"00080018": {"vr": "UI"}}, "missing_sop_instance_uid"),
        ({"00080018": {"vr": "UI", "Value": [" "]}}, "missing_sop_instance_uid"),
        (
            {
                "00080018": {"vr": "UI", "Value": ["1.2"]},
                "00041220": {"vr": "SQ", "Value": []},
            },
            "dicomdir",
        ),
        (["not", "a", "dataset"], "invalid_dicom_json"),
    ],
)
def test_error_rows(item: Any, reason: str) -> None:
    kind, row = json_to_row(item, BASE, KINDS)
    assert kind == "error"
    assert row["reason"] == reason
    assert row["path"] == BASE["path"]


def test_element_value_on_garbage() -> None:
    assert element_value({"vr": "LO", "Value": None}) is None
    assert element_value({"vr": "LO", "Value": "bare"}) == "bare"
    assert element_value({"vr": "IS", "Value": [True]}) == "true"  # no DICOM value
    row = _row({"00200013": {"vr": "IS", "Value": [True]}})
    assert row["InstanceNumber"] is None
    assert row["bad_values"]
