"""Column kinds and value conversion."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from pydicom.multival import MultiValue
from pydicom.valuerep import DSfloat, PersonName

from dicomkit.schema import (
    DEFAULT_KEYWORDS,
    convert_value,
    instance_schema,
    kind_of,
    validate_keywords,
)


@pytest.mark.parametrize(
    ("keyword", "kind"),
    [
        ("StudyInstanceUID", "str"),
        ("PatientName", "str"),
        ("StudyDate", "date"),
        ("StudyTime", "time"),
        ("AcquisitionDateTime", "datetime"),
        ("InstanceNumber", "int"),
        ("Rows", "int"),
        ("SliceThickness", "float"),
        ("DiffusionBValue", "float"),
        ("ImagePositionPatient", "float_list"),
        ("WindowCenter", "float_list"),
        ("EchoNumbers", "int_list"),
        ("ImageType", "str_list"),
    ],
)
def test_kind_follows_the_dictionary(keyword: str, kind: str) -> None:
    assert kind_of(keyword) == kind


def test_schema_types() -> None:
    schema = instance_schema(DEFAULT_KEYWORDS)
    assert schema["StudyDate"] == pl.Date()
    assert schema["ImagePositionPatient"] == pl.List(pl.Float64())
    assert schema["path"] == pl.Utf8()
    assert schema["bad_values"] == pl.List(pl.Utf8())
    # DICOM keywords and dicomkit's own columns can never collide
    assert all(not c.islower() for c in DEFAULT_KEYWORDS)


def test_unknown_keyword_suggests() -> None:
    with pytest.raises(ValueError, match="did you mean 'SeriesInstanceUID'"):
        validate_keywords(["SeriesInstanceUid"])


def test_sequence_keyword_refused() -> None:
    with pytest.raises(ValueError, match="sequences and binary"):
        validate_keywords(["ReferencedImageSequence"])


def test_extra_keywords_are_appended_once() -> None:
    got = validate_keywords(["SequenceName", "SequenceName", "Modality"])
    assert got == (*DEFAULT_KEYWORDS, "SequenceName")


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        ("20240131", "date", dt.date(2024, 1, 31)),
        ("101530.25", "time", dt.time(10, 15, 30, 250000)),
        ("1015", "time", dt.time(10, 15)),
        ("14:04:38", "time", dt.time(14, 4, 38)),  # ACR-NEMA form
        ("20240131101530", "datetime", dt.datetime(2024, 1, 31, 10, 15, 30)),
        (DSfloat("2.5"), "float", 2.5),
        ("12", "int", 12),
        (PersonName("Doe^John"), "str", "Doe^John"),
        (MultiValue(DSfloat, ["1", "2"]), "float_list", [1.0, 2.0]),
        ("ORIGINAL", "str_list", ["ORIGINAL"]),
        ("", "str", None),
        (None, "date", None),
    ],
)
def test_convert_value(value: object, kind: str, expected: object) -> None:
    assert convert_value(value, kind) == (expected, None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "kind", "problem"),
    [
        ("20241301", "date", "not a DICOM date"),
        ("25", "time", "not a DICOM time"),
        ("abc", "float", "not a number"),
        ("1.5", "int", "not an integer"),
        (MultiValue(str, ["1", "2"]), "float", "2 values where the standard allows 1"),
        ("nan", "float", "not a number"),
    ],
)
def test_bad_values_become_null_and_are_reported(
    value: object, kind: str, problem: str
) -> None:
    got, why = convert_value(value, kind)  # type: ignore[arg-type]
    assert got is None
    assert why is not None
    assert problem in why
