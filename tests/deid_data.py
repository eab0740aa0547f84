"""Data sets for the de-identification tests: every Table E.1-1 attribute filled
with a unique canary, nested sequences, private blocks, file meta; and small
deliveries of linked CT series (references between instances)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from dicomkit.deid.table import load_rules

CT = UID("1.2.840.10008.5.1.4.1.1.2")
ROOT = "1.2.826.0.1.3680043.10.777."
#: Attributes the canary filler leaves to the structure code (the UID chain, the
#: patient identity) or that must stay valid for the file to be written.
STRUCTURAL = {
    0x00080016,  # SOPClassUID (not in the table)
    0x00080018,
    0x0020000D,
    0x0020000E,
    0x00100020,
    0x00100010,
    0x00020003,
    0x00020010,
    0x00020002,
}


def vr_of(tag: int) -> str:
    return str(dictionary_VR(tag)).split(" or ")[0]


class Canaries:
    """Unique canary strings, and what each was put into."""

    def __init__(self, prefix: str = "QZX") -> None:
        self.prefix = prefix
        self.made: dict[str, str] = {}

    def new(self, where: str) -> str:
        text = f"{self.prefix}{len(self.made):04d}"
        self.made[text] = where
        return text

    def value(self, tag: int, vr: str, where: str) -> object:
        """A value of ``vr`` that contains a canary when the VR can hold text;
        numbers and binary get a distinctive value instead."""
        if vr in ("LO", "LT", "SH", "ST", "UC", "UT"):
            return f"{self.new(where)} secret"
        if vr == "PN":
            return f"{self.new(where)}^Canary"
        if vr == "CS":
            return self.new(where)
        if vr == "AE":
            return self.new(where)
        if vr == "UR":
            return f"http://{self.new(where).lower()}.example"
        if vr == "DA":
            return "19870605"
        if vr == "TM":
            return "111213"
        if vr == "DT":
            return "19870605111213"
        if vr == "AS":
            return "047Y"
        if vr in ("DS", "IS"):
            return "4711"
        if vr in ("US", "SS", "UL", "SL", "UV", "SV"):
            return 4711
        if vr in ("FL", "FD"):
            return 47.11
        if vr == "AT":
            return 0x00100010
        if vr == "UI":
            return f"{ROOT}{tag}.{len(self.made)}"
        if vr in ("OB", "OW", "OF", "OD", "OL", "OV", "UN"):
            return self.new(where).encode() + b"\0\0"
        msg = f"no canary for VR {vr}"
        raise AssertionError(msg)


def nested_item(canaries: Canaries, where: str, depth: int) -> Dataset:
    """An item with a canary in a table attribute, in a text attribute the table
    does not list, a UID reference, and (depth permitting) a nested sequence."""
    item = Dataset()
    item.PatientName = canaries.value(0x00100010, "PN", where)  # D/Z in the table
    item.add_new(
        0x00181030, "LO", canaries.value(0x00181030, "LO", where)
    )  # ProtocolName
    item.add_new(
        0x00400254, "LO", canaries.value(0, "LO", where)
    )  # PerformedProcedureStepDescription
    item.CodeMeaning = "kept code meaning"
    item.ReferencedSOPInstanceUID = f"{ROOT}99.{depth}"
    item.ReferencedSOPClassUID = CT
    if depth > 0:
        item.ReferencedSeriesSequence = Sequence(
            [nested_item(canaries, f"{where}>ReferencedSeriesSequence", depth - 1)]
        )
    return item


def fill_table(ds: Dataset, canaries: Canaries, *, depth: int = 3) -> list[int]:
    """Put every exact-tag table attribute into ``ds`` (except :data:`STRUCTURAL`)
    with a canary; sequences get nested items. Returns the tags filled."""
    filled = []
    for rule in load_rules():
        if rule.tag is None or rule.tag in STRUCTURAL or rule.tag >> 16 in (0, 2):
            continue
        vr = vr_of(rule.tag)
        where = keyword_for_tag(rule.tag) or rule.name
        if vr == "SQ":
            value: object = Sequence([nested_item(canaries, where, depth)])
        else:
            value = canaries.value(rule.tag, vr, where)
        ds.add(DataElement(rule.tag, vr, value))
        filled.append(rule.tag)
    return filled


def canary_dataset(
    canaries: Canaries, *, patient: str = "PAT-CANARY", n: int = 0
) -> Dataset:
    """A CT image whose every table attribute, file meta, private blocks, curves and
    overlays hold canaries."""
    ds = Dataset()
    fill_table(ds, canaries)
    ds.SOPClassUID = CT
    ds.SOPInstanceUID = f"{ROOT}1.{n}"
    ds.StudyInstanceUID = f"{ROOT}2"
    ds.SeriesInstanceUID = f"{ROOT}3"
    ds.PatientID = f"{canaries.new('PatientID')}{patient}"
    ds.PatientName = canaries.value(0x00100010, "PN", "PatientName")
    ds.Modality = "CT"
    ds.InstanceNumber = n + 1
    # OtherPatientIDsSequence / RequestAttributesSequence several levels deep
    other = Dataset()
    other.PatientID = canaries.new("OtherPatientIDsSequence>PatientID")
    other.IssuerOfPatientID = canaries.value(0, "LO", "OtherPatientIDsSequence>Issuer")
    other.OtherPatientIDsSequence = Sequence([nested_item(canaries, "Other>Other", 2)])
    ds.OtherPatientIDsSequence = Sequence([other])
    request = Dataset()
    request.RequestedProcedureID = canaries.value(0, "SH", "Request>ID")
    request.ScheduledProcedureStepDescription = canaries.value(0, "LO", "Request>desc")
    request.ReferencedStudySequence = Sequence(
        [nested_item(canaries, "Request>Study", 2)]
    )
    ds.RequestAttributesSequence = Sequence([request])
    # an unlisted text attribute and an unlisted date: not needed by the image
    ds.add_new(0x00181040, "LO", canaries.value(0, "LO", "ContrastBolusRoute?"))
    ds.add_new(
        0x00189424, "LT", canaries.value(0, "LT", "AcquisitionProtocolDescription")
    )
    # private blocks: text, numbers, a private sequence
    block = ds.private_block(0x0029, canaries.new("private creator"), create=True)
    block.add_new(0x10, "LO", canaries.value(0, "LO", "private LO"))
    block.add_new(0x11, "US", 4711)
    block.add_new(0x12, "SQ", Sequence([nested_item(canaries, "private SQ", 1)]))
    ds.add_new(0x00331010, "UN", canaries.new("private UN, no creator").encode())
    # retain_safe_private: a listed safe element (PS3.15 Table E.3.10-1) beside an
    # unlisted one in a known creator's block; canaries as private creators (one
    # posing at a listed offset, one without elements, one in an unlisted block)
    elscint = ds.private_block(0x00E1, "ELSCINT1", create=True)
    elscint.add_new(0x21, "DS", "123.5")  # DLP: safe, kept
    elscint.add_new(0x22, "LO", canaries.value(0, "LO", "ELSCINT1 unlisted LO"))
    posing = ds.private_block(0x00E1, canaries.new("creator at listed offset"), True)
    posing.add_new(0x21, "DS", "7.5")
    posing.add_new(0x50, "DS", "8.5")
    ds.add_new(0x00450010, "LO", canaries.new("lone private creator"))
    csa = ds.private_block(0x0029, "SIEMENS CSA HEADER", create=True)
    csa.add_new(0x10, "OB", canaries.new("CSA header").encode())
    # curves and overlays
    ds.add_new(0x50003000, "OB", canaries.new("curve data").encode())
    ds.add_new(0x60004000, "LT", canaries.value(0, "LT", "overlay comments"))
    ds.add_new(0x60003000, "OB", canaries.new("overlay data").encode())
    ds.add_new(0x60000010, "US", 8)
    # the image itself
    ds.Rows = ds.Columns = 4
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation, ds.SamplesPerPixel = 0, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BurnedInAnnotation = "NO"
    ds.PixelData = np.arange(16, dtype=np.uint16).tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CT
    ds.file_meta.MediaStorageSOPInstanceUID = UID(ds.SOPInstanceUID)
    ds.file_meta.SourceApplicationEntityTitle = canaries.new("meta AE")
    ds.file_meta.PrivateInformationCreatorUID = UID(f"{ROOT}55")
    ds.file_meta.PrivateInformation = canaries.new("meta private").encode() + b"\0"
    ds.file_meta.ImplementationVersionName = canaries.new("meta impl")
    ds.preamble = (canaries.new("preamble").encode() * 20)[:128]
    return ds


def write(ds: Dataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def ct_slice(
    patient: str,
    study: str,
    series: str,
    n: int,
    *,
    frame: str,
    study_date: str = "20240305",
    birth: str = "19600101",
    implicit: bool = False,
) -> Dataset:
    """A small CT slice with a Frame of Reference."""
    ds = Dataset()
    ds.SOPClassUID = CT
    ds.SOPInstanceUID = f"{series}.{n + 1}"
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.FrameOfReferenceUID = frame
    ds.PatientID = patient
    ds.PatientName = f"Name^{patient}"
    ds.PatientBirthDate = birth
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = study_date
    ds.StudyTime, ds.ContentTime = "101112", f"1011{12 + n:02d}"
    ds.AcquisitionDateTime = f"{study_date}1011{12 + n:02d}"
    ds.AccessionNumber = f"ACC{patient}"[:16]
    ds.StudyDescription = f"CT chest for {patient}"
    ds.SeriesDescription = "AXIAL 5mm"
    ds.InstitutionName = "St Elsewhere"
    ds.Modality = "CT"
    ds.Manufacturer = "ACME"
    ds.SeriesNumber, ds.InstanceNumber = 2, n + 1
    ds.ImagePositionPatient = [0.0, 0.0, float(n)]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [1.0, 1.0]
    ds.SliceThickness = 1.0
    ds.Rows = ds.Columns = 4
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation, ds.SamplesPerPixel = 0, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = (np.arange(16, dtype=np.uint16) + n).tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = (
        ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    )
    ds.file_meta.MediaStorageSOPClassUID = CT
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def reference(sop_uid: str, *, series: str | None = None) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = CT
    item.ReferencedSOPInstanceUID = sop_uid
    if series:
        item.SeriesInstanceUID = series
    return item


def delivery(
    dest: Path, patients: tuple[str, ...] = ("P1", "P2"), *, n: int = 3, tag: str = "1"
) -> list[Path]:
    """Per patient one study of two series (the second derived from the first, with
    Source Image, Referenced Image and Referenced Series sequences), ``n`` slices
    each; files named after the original values (the output must never be)."""
    paths = []
    for p_index, patient in enumerate(patients):
        study = f"{ROOT}{tag}.{p_index + 1}"
        frame = f"{study}.9"
        first = f"{study}.1"
        second = f"{study}.2"
        date = f"2024030{p_index + 1}"
        for index in range(n):
            ds = ct_slice(
                patient,
                study,
                first,
                index,
                frame=frame,
                study_date=date,
                implicit=index == 0,
            )
            paths.append(write(ds, dest / f"{patient}_secret" / f"{first}.{index}.dcm"))
        for index in range(n):
            ds = ct_slice(patient, study, second, index, frame=frame, study_date=date)
            ds.SeriesNumber = 3
            ds.SourceImageSequence = Sequence([reference(f"{first}.{index + 1}")])
            ds.ReferencedImageSequence = Sequence(
                [reference(f"{first}.{(index + 1) % n + 1}")]
            )
            series_item = Dataset()
            series_item.SeriesInstanceUID = first
            series_item.ReferencedInstanceSequence = Sequence(
                [reference(f"{first}.{i + 1}") for i in range(n)]
            )
            ds.ReferencedSeriesSequence = Sequence([series_item])
            frame_item = Dataset()
            frame_item.FrameOfReferenceUID = frame
            ds.ReferencedFrameOfReferenceSequence = Sequence([frame_item])
            paths.append(
                write(ds, dest / f"{patient}_secret" / f"{second}.{index}.dcm")
            )
    return paths


def files(folder: Path) -> Iterator[Path]:
    for base, _, names in os.walk(folder):
        for name in names:
            yield Path(base) / name
