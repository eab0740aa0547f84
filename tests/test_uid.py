"""dicomkit.uid: validation rules, explanations, prefixes, generation and derivation."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.uid import RE_VALID_UID, generate_uid

from dicomkit import uid as U

SIEMENS_CT = "1.3.12.2.1107.5.1.4.83504.3230314081502100001"
GE_MR = "1.2.840.113619.2.410.4057621.1683036310.1.1"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
UUID_UID = (
    "2.25.229341558130658346036457312476387815716"  # the sample's Implementation UID
)
PYDICOM_UID = "1.2.826.0.1.3680043.8.498.22463838056059845879389038257786771680"
UNKNOWN = "9.9.9.1"
SAMPLES = [SIEMENS_CT, GE_MR, EXPLICIT_LE, UUID_UID, PYDICOM_UID, UNKNOWN]

components = st.one_of(st.just("0"), st.integers(1, 10**25).map(str))


def recombined(e: U.UIDExplanation) -> str:
    return ".".join(p for p in (e.root, e.device_part, e.suffix) if p)


# ------------------------------------------------------------------ is_valid / problems
@pytest.mark.parametrize(
    "uid",
    [
        "0",
        "1",
        "0.0",
        "1.2.0",
        "1.0.2",
        "10.20.30",
        EXPLICIT_LE,
        EXPLICIT_LE + "\0",  # NUL padding to an even length is not a problem
        "1.2.3\0\0",
        "1." + "2" * 62,  # exactly 64 characters
        "1." + "2" * 62 + "\0",  # 64 characters plus padding
        *SAMPLES,
    ],
)
def test_valid(uid: str) -> None:
    assert U.problems(uid) == []
    assert U.is_valid(uid)


@pytest.mark.parametrize(
    ("uid", "expected"),
    [
        ("", "the UID is empty: it needs at least one component"),
        ("\0", "the UID is empty: it needs at least one component"),
        ("1.2.3.012", "component 4 ('012') has a leading zero"),
        ("00", "component 1 ('00') has a leading zero"),
        ("1.2.0345.6", "component 3 ('0345') has a leading zero"),
        ("1." + "2" * 63, "65 characters: a UID has at most 64"),
        ("1.2." + "3" * 66, "70 characters: a UID has at most 64"),
        ("1.2.a", "character 'a' at position 5 is not a digit or a dot"),
        ("1.2 ", "character ' ' at position 4 is not a digit or a dot"),
        (" 1.2", "character ' ' at position 1 is not a digit or a dot"),
        ("1. 2", "character ' ' at position 3 is not a digit or a dot"),
        ("1.2\t", "character '\\t' at position 4 is not a digit or a dot"),
        ("1.2\n", "character '\\n' at position 4 is not a digit or a dot"),
        ("1.2\0.3", "character '\\x00' at position 4 is not a digit or a dot"),
        ("1.-2", "character '-' at position 3 is not a digit or a dot"),
        ("1.\uff12", "character '\uff12' at position 3 is not a digit or a dot"),
        ("1.\u0663", "character '\u0663' at position 3 is not a digit or a dot"),
        (".1.2", "component 1 is empty: a UID cannot start with a dot"),
        ("1.2.", "component 3 is empty: a UID cannot end with a dot"),
        ("1..2", "component 2 is empty: two dots in a row at positions 2-3"),
        (".", "component 1 is empty: a UID cannot start with a dot"),
    ],
)
def test_invalid(uid: str, expected: str) -> None:
    found = U.problems(uid)
    assert any(p.startswith(expected) for p in found), found
    assert not U.is_valid(uid)


def test_trailing_space_gets_a_padding_hint_once() -> None:
    found = U.problems("1.2.3  ")
    assert found[0].endswith("(UI values are padded with '\\0', not spaces)")
    assert found[1] == "character ' ' at position 7 is not a digit or a dot"


def test_many_problems_are_summarised() -> None:
    assert (
        U.problems("x" * 10)[-1]
        == "… and 5 more characters that are not digits or dots"
    )
    assert U.problems("." * 10)[-1] == "… and 6 more component problems"
    assert len(U.problems("a" * 100_000)) == 7  # the length, 5 characters, a summary


@given(st.lists(components, min_size=1, max_size=40))
def test_valid_components_join_to_a_valid_uid_iff_short_enough(
    parts: list[str],
) -> None:
    uid = ".".join(parts)
    assert U.is_valid(uid) == (len(uid) <= 64)


# PS3.5's own examples, with the validity the standard gives them: the transfer
# syntaxes of Annex A, the UUID-derived UID of Annex B.2 (the UUID
# f81d4fae-7dec-11d0-a765-00a0c91e6bf6 as an integer), and the rules of §9.1: no
# leading zero in a component, at most 64 characters, digits and dots only.
PS3_5 = [
    ("1.2.840.10008.1.2", True),  # Implicit VR Little Endian (A.1)
    ("1.2.840.10008.1.2.1", True),  # Explicit VR Little Endian (A.2)
    ("1.2.840.10008.1.2.2", True),  # Explicit VR Big Endian (A.3)
    ("1.2.840.10008.1.2.4.50", True),  # JPEG Baseline (A.4.1)
    ("2.25.329800735698586629295641978511506172918", True),  # B.2
    ("1.2.840.10008.1.2.01", False),  # "shall not begin with 0" unless it is "0"
    ("1.2.840.010008.1.2", False),
    ("1.2.840.10008.1.2.0", True),  # a single 0 is a valid component
    ("2.25." + "3" * 60, False),  # 65 characters
    ("2.25." + "3" * 59, True),  # 64 characters
    ("1.2.840.10008.1.2.1\0", True),  # padded with NUL to an even length (§6.2)
    ("1.2.840.10008.1.2.1 ", False),  # padded with a space: not a UI character
    ("1.2.840.10008..1.2", False),
    ("1.2.840.10008.1.2.", False),
    ("1.2.840.10008.1.2.a", False),
]


@pytest.mark.parametrize(("uid", "expected"), PS3_5)
def test_the_standards_examples(uid: str, expected: bool) -> None:
    assert U.is_valid(uid) is expected
    assert (U.problems(uid) == []) is expected


# An independent oracle: pydicom's pattern for a valid UI value, matched over the
# whole text (pydicom's own UID.is_valid uses re.match, whose "$" also accepts a
# trailing newline), after removing the NUL padding.
def oracle(text: str) -> bool:
    stripped = text.rstrip("\0")
    return len(stripped) <= 64 and re.fullmatch(RE_VALID_UID, stripped) is not None


@given(st.text(alphabet="0123456789.a \0\n", max_size=80))
def test_validity_matches_an_independent_oracle(text: str) -> None:
    assert U.is_valid(text) == oracle(text)
    assert (U.problems(text) == []) == oracle(text)


@given(st.text())
def test_any_text_is_judged_like_the_oracle(text: str) -> None:
    assert U.is_valid(text) == oracle(text)


# ------------------------------------------------------------------------------ explain
def test_explain_siemens_ct() -> None:
    e = U.explain(SIEMENS_CT)
    assert (e.root, e.organisation, e.root_kind) == (
        "1.3.12.2.1107.5",
        "Siemens Healthineers",
        "manufacturer",
    )
    assert e.device_part == "1.4.83504"
    assert e.suffix == "3230314081502100001"
    assert any("2023-03-14 08:15:02" in n for n in e.notes)
    assert e.valid
    assert e.problems == ()


def test_explain_ge_mr() -> None:
    e = U.explain(GE_MR)
    assert (e.root, e.organisation) == ("1.2.840.113619", "GE HealthCare")
    assert (e.device_part, e.suffix) == ("2.410.4057621", "1683036310.1.1")
    assert any("2023-05-02" in n and "Unix time" in n for n in e.notes)


def test_explain_standard_uid() -> None:
    e = U.explain(EXPLICIT_LE + "\0")
    assert e.uid == EXPLICIT_LE
    assert (e.root, e.organisation, e.root_kind) == (
        "1.2.840.10008",
        "DICOM Standard (NEMA)",
        "standard",
    )
    assert (e.device_part, e.suffix) == ("", "1.2.1")
    assert any("Explicit VR Little Endian" in n for n in e.notes)


def test_explain_uuid_uid() -> None:
    uid = str(generate_uid(prefix=None))
    e = U.explain(uid)
    assert (e.root, e.organisation, e.root_kind) == (
        "2.25",
        "UUID-derived (ISO/IEC 9834-8)",
        "uuid",
    )
    assert (e.device_part, e.suffix) == ("", uid[5:])
    assert any(str(uuid.UUID(int=int(uid[5:]))) in n for n in e.notes)
    assert any("version 4" in n for n in e.notes)


def test_explain_pydicom_uid() -> None:
    for uid in (PYDICOM_UID, str(generate_uid())):
        e = U.explain(uid)
        assert (e.root, e.organisation, e.root_kind) == (
            "1.2.826.0.1.3680043.8.498",
            "pydicom",
            "library",
        )
        assert e.suffix == uid.rsplit(".", 1)[1]


def test_explain_unknown_root() -> None:
    e = U.explain(UNKNOWN)
    assert (e.root, e.root_kind) == ("", "unregistered")
    assert (e.device_part, e.suffix) == ("9.9", "9.1")
    assert any("start with 0 (ITU-T), 1 (ISO) or 2 (joint)" in n for n in e.notes)


@pytest.mark.parametrize(
    ("uid", "root", "organisation", "kind"),
    [
        ("1.2.826.0.1.3680043.10.1234.1", "1.2.826.0.1.3680043", "Medical Connections Ltd (free UID roots)", "registrar"),
        ("1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322", "1.3.6.1.4.1.5962", "PixelMed Publishing", "iana-enterprise"),
        ("1.3.6.1.4.1.99999.1.2", "1.3.6.1.4.1.99999", "IANA Private Enterprise Number 99999", "iana-enterprise"),
        ("1.2.840.113654.2.55.1", "1.2.840", "United States (ANSI), national arc", "iso-member-body"),
        ("1.2.276.0.7230010.3.1.2.1", "1.2.276.0.7230010.3", "OFFIS e.V. (DCMTK)", "library"),
        ("1.2.840.100081.2", "1.2.840", "United States (ANSI), national arc", "iso-member-body"),
        ("1.3.46.670589.11.71459.5.0.16828.2021061610573963005", "1.3.46.670589", "Philips", "manufacturer"),
        ("2.16.840.1.113669.632.20.1", "2.16.840", "United States (ANSI), national arc", "iso-itu-country"),
    ],
)  # fmt: skip
def test_explain_roots(uid: str, root: str, organisation: str, kind: str) -> None:
    e = U.explain(uid)
    assert (e.root, e.organisation, e.root_kind) == (root, organisation, kind)
    assert recombined(e) == uid


def test_root_matches_whole_components_only() -> None:
    assert U.explain("1.2.840.100081.2").root != "1.2.840.10008"
    assert U.explain("1.3.6.1.4.1.59620.1").organisation.endswith("59620")


def test_timestamp_heuristics() -> None:
    siemens_mr = "1.3.12.2.1107.5.2.19.45152.2013030808061520200285270.0.0.0"
    e = U.explain(siemens_mr)
    assert (e.device_part, e.suffix) == (
        "2.19.45152",
        "2013030808061520200285270.0.0.0",
    )
    assert any("2013-03-08 08:06:15" in n for n in e.notes)
    padded = U.explain("1.3.12.2.1107.5.2.12.21296.30000008060306464609300004125")
    assert any("2008-06-03 06:46:46" in n for n in padded.notes)
    no_stamp = U.explain("1.2.840.113619.2.55.3.604688119.868.42")
    assert no_stamp.suffix == "868.42"  # 604688119 is before 1990 as a Unix time


@pytest.mark.parametrize(
    "uid",
    [*SAMPLES, "", ".", "1..2", "1.2.840.10008.", "2.25.", "1.2.3.012 ", "<script>"],
)
def test_explain_parts_recombine(uid: str) -> None:
    e = U.explain(uid)
    assert recombined(e) == uid
    assert e.valid == U.is_valid(uid)
    assert e.problems == tuple(U.problems(uid))


@given(st.text())
def test_explain_parts_recombine_for_any_text(text: str) -> None:
    e = U.explain(text)
    assert recombined(e) == text.rstrip("\0")


@given(st.lists(components, min_size=1, max_size=20))
def test_explain_parts_recombine_for_any_valid_uid(parts: list[str]) -> None:
    uid = ".".join(parts)
    assert recombined(U.explain(uid)) == uid


def test_explain_invalid_uids() -> None:
    e = U.explain("1.2.840.113619.2.012")
    assert not e.valid
    assert e.problems == ("component 6 ('012') has a leading zero",)
    assert e.organisation == "GE HealthCare"  # an invalid UID is still explained
    assert not U.explain("").valid


def test_explanation_is_frozen_and_prints_as_a_lesson() -> None:
    e = U.explain(SIEMENS_CT)
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.root = "1.2"  # type: ignore[misc]
    text = str(e)
    assert text.splitlines()[0].startswith(f"UID {SIEMENS_CT}  (valid")
    for piece in ("1.3.12.2.1107.5", "Siemens Healthineers", "1.4.83504", "2023-03-14"):
        assert piece in text
    assert "NOT valid: 1 problem" in str(U.explain("1.02"))


def test_html_separates_the_three_parts() -> None:
    page = U.explain(SIEMENS_CT)._repr_html_()
    for colour, part in (("#1f77b4", "1.3.12.2.1107.5"), ("#d62728", "1.4.83504")):
        assert f'color:{colour};font-weight:bold" title=' in page
        assert f">{part}</span>" in page
    assert ">3230314081502100001</span>" in page


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        "1.2.<img src=x onerror=alert(1)>",
        "1.2.\"&'<>",
        "1.3.12.2.1107.5.<b>",
    ],
)
def test_html_escapes_every_value(hostile: str) -> None:
    page = U.explain(hostile)._repr_html_()
    assert "<script" not in page
    assert "<img" not in page
    assert "<b>" not in page.replace("<b>problem:</b>", "")
    assert "&lt;" in page


# ------------------------------------------------------------------------- KNOWN_ROOTS
def test_known_roots_are_valid_unique_and_sourced() -> None:
    roots = [k.root for k in U.KNOWN_ROOTS]
    assert len(roots) == len(set(roots))
    for known in U.KNOWN_ROOTS:
        assert U.is_valid(known.root), known
        assert known.organisation
        assert known.source
        assert known.kind in {
            "standard",
            "uuid",
            "manufacturer",
            "library",
            "registrar",
            "iana-enterprise",
        }


def test_all_is_sorted() -> None:
    assert U.__all__ == sorted(set(U.__all__))
    assert all(hasattr(U, name) for name in U.__all__)


# ------------------------------------------------------------------------ common_prefix
@pytest.mark.parametrize(
    ("uids", "expected"),
    [
        (["1.2.34.5", "1.2.3.5"], "1.2"),
        (["1.2.3", "1.2.3"], "1.2.3"),
        (["1.2.3"], "1.2.3"),
        (["1.2.3", "1.2"], "1.2"),
        (["1.2", "3.4"], ""),
        (["12.3", "1.3"], ""),
        ([], ""),
        (["1.2.3\0", "1.2.3.4"], "1.2.3"),
        ([SIEMENS_CT, "1.3.12.2.1107.5.1.4.83504.3230919104230100001"], "1.3.12.2.1107.5.1.4.83504"),
        ([GE_MR, "1.2.840.113619.2.410.4057621.1683036310.2.3"], "1.2.840.113619.2.410.4057621.1683036310"),
        ([SIEMENS_CT, GE_MR], "1"),
    ],
)  # fmt: skip
def test_common_prefix(uids: list[str], expected: str) -> None:
    assert U.common_prefix(uids) == expected
    assert U.common_prefix(iter(uids)) == expected


@given(
    st.lists(st.text(alphabet="0123.", max_size=12), max_size=6),
    st.text(alphabet="0123.", max_size=12),
)
def test_common_prefix_is_a_component_prefix_of_each(others: list[str], x: str) -> None:
    prefix = U.common_prefix([*others, x])
    if prefix:
        size = len(prefix.split("."))
        assert x.split(".")[:size] == prefix.split(".")
        for other in others:
            assert other.split(".")[:size] == prefix.split(".")  # fmt: skip


# ----------------------------------------------------------------------------- generate
def test_generate_default_is_a_unique_uuid_uid() -> None:
    made = [U.generate() for _ in range(1000)]
    assert len(set(made)) == 1000
    assert all(uid.startswith("2.25.") and U.is_valid(uid) for uid in made)
    assert all(U.explain(uid).root_kind == "uuid" for uid in made[:10])


@pytest.mark.parametrize(
    "prefix", ["1.2.826.0.1.3680043.10.1234.", "1.2.", "0.", "1." + "2" * 51 + "."]
)
def test_generate_with_prefix(prefix: str) -> None:
    made = [U.generate(prefix) for _ in range(1000)]
    assert len(set(made)) == 1000
    for uid in made:
        assert uid.startswith(prefix)
        assert len(uid) <= 64
        assert U.is_valid(uid), uid


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("1.2.3", "must end with a dot"),
        ("", "must end with a dot"),
        (".", "the UID is empty"),
        ("1..2.", "two dots in a row"),
        ("1.02.", "leading zero"),
        ("1.a.", "character 'a'"),
        ("1.2 .", "character ' '"),
        ("1.2\0.", "NUL"),
        ("1." + "2" * 52 + ".", "at most 54"),
        ("1." + "2" * 70 + ".", "at most 64"),
    ],
)
def test_generate_rejects_bad_prefixes(prefix: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        U.generate(prefix)


# ------------------------------------------------------------------------------- derive
def test_derive_follows_the_documented_formula() -> None:
    digest = hmac.new(b"secret", b"1.2.3.4", hashlib.sha256).digest()
    expected = "2.25." + str(int.from_bytes(digest[:16], "big"))
    assert U.derive("1.2.3.4", "secret") == expected
    assert U.derive("1.2.3.4\0", b"secret") == expected


def test_derive_is_deterministic_and_keyed() -> None:
    first = U.derive(SIEMENS_CT, "k1")
    assert first == U.derive(SIEMENS_CT, "k1")
    assert first != U.derive(SIEMENS_CT, "k2")
    assert first != U.derive(GE_MR, "k1")
    assert U.is_valid(first)
    assert len(first) <= 44
    assert U.explain(first).root_kind == "uuid"
    many = {U.derive(f"1.2.3.{i}", "k") for i in range(2000)}
    assert len(many) == 2000


@pytest.mark.parametrize("key", ["", b""])
def test_derive_refuses_an_empty_key(key: str | bytes) -> None:
    with pytest.raises(ValueError, match="key must not be empty"):
        U.derive(SIEMENS_CT, key)


@given(st.text(), st.one_of(st.text(min_size=1), st.binary(min_size=1)))
def test_derive_is_always_valid(uid: str, key: str | bytes) -> None:
    derived = U.derive(uid, key)
    assert U.is_valid(derived)
    assert derived.startswith("2.25.")
    assert len(derived) <= 44
