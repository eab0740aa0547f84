"""Multi-frame and mosaic DICOM files built in code, for the volume tests.

Each builder rebuilds, as a generated file, a kind of real object whose geometry
lives outside the classic per-file attributes (issues 13 and 18):

* :func:`enhanced_ct`: Enhanced CT, 2 frames of 512×512, PixelSpacing 0.389 mm in
  the shared PixelMeasuresSequence, HU in PixelValueTransformationSequence;
* :func:`rtdose`: RT Dose, 98 frames 3 mm apart in GridFrameOffsetVector;
* :func:`segmentation`: SEG, 3 binary frames at 0.81 mm;
* :func:`enhanced_mr`: Enhanced MR, 112 frames = 56 positions × 2 temporal phases;
* :func:`mosaic`: a Siemens MOSAIC (tiles + a CSA image header).

Grids are non-square and oblique where it costs nothing, so a swapped row/column
or a wrong normal shows as an error of many millimetres. Every builder returns the
path written and takes the geometry it uses as arguments, so the tests know the
true position of every voxel.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as Seq

from tests.conftest import UID_ROOT, make_dataset, write_dataset

ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"
RT_DOSE = "1.2.840.10008.5.1.4.1.1.481.2"
SEGMENTATION = "1.2.840.10008.5.1.4.1.1.66.4"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"

#: A plane tilted 20° about x then 10° about z: oblique in every component.
OBLIQUE = (
    0.984807753,
    0.173648178,
    0.0,
    -0.163175911,
    0.925416578,
    0.342020143,
)


def normal(iop: Sequence[float]) -> npt.NDArray[np.float64]:
    r, c = np.asarray(iop[:3], float), np.asarray(iop[3:], float)
    n: npt.NDArray[np.float64] = np.cross(r, c)
    return n


def _item(**values: Any) -> Dataset:
    ds = Dataset()
    for key, value in values.items():
        setattr(ds, key, value)
    return ds


def _seq(**values: Any) -> Seq:
    return Seq([_item(**values)])


def _enhanced(
    sop_class: str,
    *,
    sop: str,
    series: str,
    modality: str,
    rows: int,
    columns: int,
    frames: int,
    pixels: bytes,
    **extra: Any,
) -> Dataset:
    """A multi-frame data set without any classic per-file geometry."""
    ds = make_dataset(
        SOPClassUID=sop_class,
        SOPInstanceUID=sop,
        SeriesInstanceUID=series,
        Modality=modality,
        ImagePositionPatient=None,
        ImageOrientationPatient=None,
        PixelSpacing=None,
        SliceThickness=None,
        RescaleSlope=None,
        RescaleIntercept=None,
        Rows=rows,
        Columns=columns,
        NumberOfFrames=frames,
        PixelData=pixels,
        **extra,
    )
    ds.ImageType = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    return ds


def enhanced_ct(
    path: Path,
    *,
    spacing: tuple[float, float] = (0.389, 0.389),
    z: Sequence[float] = (-120.0, -119.375),
    shape: tuple[int, int] = (512, 512),
    origin: tuple[float, float] = (-99.6, -120.3),
    intercepts: Sequence[float] | None = None,
    stored: npt.NDArray[np.int16] | None = None,
) -> Path:
    """Enhanced CT: PixelSpacing only in the shared PixelMeasuresSequence, the
    modality LUT (HU) in PixelValueTransformationSequence — shared, or per frame
    when ``intercepts`` gives one intercept per frame."""
    rows, columns = shape
    n = len(z)
    if stored is None:
        stored = (
            np.arange(n * rows * columns, dtype=np.int64).reshape(n, rows, columns)
            % 2000
        ).astype(np.int16)
    ds = _enhanced(
        ENHANCED_CT,
        sop=UID_ROOT + "51.1",
        series=UID_ROOT + "51",
        modality="CT",
        rows=rows,
        columns=columns,
        frames=n,
        pixels=stored.astype("<i2").tobytes(),
    )
    shared = _item(
        PixelMeasuresSequence=_seq(
            PixelSpacing=list(spacing), SliceThickness=abs(z[1] - z[0]) if n > 1 else 1
        ),
        PlaneOrientationSequence=_seq(ImageOrientationPatient=[1, 0, 0, 0, 1, 0]),
    )
    transform = {"RescaleSlope": 1, "RescaleType": "HU"}
    if intercepts is None:
        shared.PixelValueTransformationSequence = _seq(
            RescaleIntercept=-1024, **transform
        )
    ds.SharedFunctionalGroupsSequence = Seq([shared])
    per_frame = []
    for k, value in enumerate(z):
        item = _item(
            PlanePositionSequence=_seq(
                ImagePositionPatient=[origin[0], origin[1], value]
            ),
            FrameContentSequence=_seq(DimensionIndexValues=[1, k + 1], StackID="1"),
        )
        if intercepts is not None:
            item.PixelValueTransformationSequence = _seq(
                RescaleIntercept=intercepts[k], **transform
            )
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = Seq(per_frame)
    return write_dataset(path, ds)


def rtdose(
    path: Path,
    *,
    frames: int = 98,
    step: float = 3.0,
    spacing: tuple[float, float] = (2.5, 2.0),
    shape: tuple[int, int] = (40, 56),
    origin: tuple[float, float, float] = (-140.0, -95.5, -150.0),
    scaling: float = 0.0001,
) -> Path:
    """RT Dose: one ImagePositionPatient, frames at GridFrameOffsetVector (relative
    to the first, along the normal), DoseGridScaling to Gy."""
    rows, columns = shape
    values = (np.arange(frames * rows * columns) % 60000).astype("<u4")
    ds = make_dataset(
        SOPClassUID=RT_DOSE,
        SOPInstanceUID=UID_ROOT + "52.1",
        SeriesInstanceUID=UID_ROOT + "52",
        Modality="RTDOSE",
        ImageType=None,
        ImagePositionPatient=list(origin),
        ImageOrientationPatient=[1, 0, 0, 0, 1, 0],
        PixelSpacing=list(spacing),
        SliceThickness=None,
        RescaleSlope=None,
        RescaleIntercept=None,
        Rows=rows,
        Columns=columns,
        BitsAllocated=32,
        BitsStored=32,
        HighBit=31,
        PixelRepresentation=0,
        NumberOfFrames=frames,
        FrameIncrementPointer=0x3004000C,
        GridFrameOffsetVector=[k * step for k in range(frames)],
        DoseUnits="GY",
        DoseType="PHYSICAL",
        DoseSummationType="PLAN",
        DoseGridScaling=scaling,
        PixelData=values.tobytes(),
    )
    return write_dataset(path, ds)


def segmentation(
    path: Path,
    *,
    spacing: float = 0.81,
    shape: tuple[int, int] = (48, 40),
    origin: tuple[float, float, float] = (-20.0, 14.5, 31.0),
    frames: int = 3,
) -> Path:
    """SEG: binary frames of one segment on an oblique plane, 0.81 mm everywhere."""
    rows, columns = shape
    bits = np.zeros((frames, rows, columns), dtype=np.uint8)
    bits[:, 5:30, 3:20] = 1
    n = normal(OBLIQUE)
    ds = _enhanced(
        SEGMENTATION,
        sop=UID_ROOT + "53.1",
        series=UID_ROOT + "53",
        modality="SEG",
        rows=rows,
        columns=columns,
        frames=frames,
        pixels=np.packbits(bits.reshape(-1), bitorder="little").tobytes(),
        BitsAllocated=1,
        BitsStored=1,
        HighBit=0,
        PixelRepresentation=0,
        SegmentationType="BINARY",
    )
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.SegmentSequence = _seq(
        SegmentNumber=1, SegmentLabel="lesion", SegmentAlgorithmType="MANUAL"
    )
    ds.SharedFunctionalGroupsSequence = Seq(
        [
            _item(
                PixelMeasuresSequence=_seq(
                    PixelSpacing=[spacing, spacing],
                    SliceThickness=spacing,
                    SpacingBetweenSlices=spacing,
                ),
                PlaneOrientationSequence=_seq(ImageOrientationPatient=list(OBLIQUE)),
            )
        ]
    )
    ds.PerFrameFunctionalGroupsSequence = Seq(
        [
            _item(
                PlanePositionSequence=_seq(
                    ImagePositionPatient=[
                        float(v) for v in np.asarray(origin) + k * spacing * n
                    ]
                ),
                FrameContentSequence=_seq(DimensionIndexValues=[1, k + 1]),
                SegmentIdentificationSequence=_seq(ReferencedSegmentNumber=1),
            )
            for k in range(frames)
        ]
    )
    return write_dataset(path, ds)


def enhanced_mr(
    path: Path,
    *,
    positions: int = 56,
    phases: int = 2,
    step: float = 2.2,
    spacing: tuple[float, float] = (0.9, 1.1),
    shape: tuple[int, int] = (24, 20),
    origin: tuple[float, float, float] = (-90.0, -110.0, 40.0),
    trigger_times: Sequence[float] = (0.0, 412.5),
    interleaved: bool = True,
    real_world_only: bool = False,
    dimension_only: bool = False,
) -> Path:
    """Enhanced MR of ``positions × phases`` frames on an oblique plane.

    Phases are told apart by TemporalPositionIndex, the third DimensionIndexValues
    and NominalCardiacTriggerDelayTime; frames are stored position by position
    (``interleaved``) so that file order is not array order. ``real_world_only``
    replaces the modality LUT by a RealWorldValueMappingSequence per frame;
    ``dimension_only`` leaves the phase in DimensionIndexValues alone (no
    TemporalPositionIndex, no trigger time).
    """
    rows, columns = shape
    n = normal(OBLIQUE)
    order = (
        [(p, t) for p in range(positions) for t in range(phases)]
        if interleaved
        else [(p, t) for t in range(phases) for p in range(positions)]
    )
    stored = np.empty((len(order), rows, columns), dtype="<i2")
    for k, (p, t) in enumerate(order):
        stored[k] = 100 * t + p  # each frame says where it belongs
    ds = _enhanced(
        ENHANCED_MR,
        sop=UID_ROOT + "54.1",
        series=UID_ROOT + "54",
        modality="MR",
        rows=rows,
        columns=columns,
        frames=len(order),
        pixels=stored.tobytes(),
    )
    pointers = [(0x0020, 0x9056), (0x0020, 0x9057), (0x0020, 0x9128)]
    ds.DimensionOrganizationSequence = _seq(DimensionOrganizationUID=UID_ROOT + "54.9")
    ds.DimensionIndexSequence = Seq(
        [
            _item(
                DimensionOrganizationUID=UID_ROOT + "54.9",
                DimensionIndexPointer=(group << 16) | element,
                FunctionalGroupPointer=0x00209111,  # FrameContentSequence
            )
            for group, element in pointers
        ]
    )
    shared = _item(
        PixelMeasuresSequence=_seq(PixelSpacing=list(spacing), SliceThickness=step),
        PlaneOrientationSequence=_seq(ImageOrientationPatient=list(OBLIQUE)),
        MREchoSequence=_seq(EffectiveEchoTime=2.1),
    )
    if not real_world_only:
        shared.PixelValueTransformationSequence = _seq(
            RescaleSlope=1, RescaleIntercept=0, RescaleType="US"
        )
    ds.SharedFunctionalGroupsSequence = Seq([shared])
    per_frame = []
    for p, t in order:
        item = _item(
            PlanePositionSequence=_seq(
                ImagePositionPatient=[
                    float(v) for v in np.asarray(origin) + p * step * n
                ]
            ),
            FrameContentSequence=_seq(
                StackID="1",
                InStackPositionNumber=p + 1,
                DimensionIndexValues=[1, p + 1, t + 1],
            ),
        )
        if not dimension_only:
            item.FrameContentSequence[0].TemporalPositionIndex = t + 1
            item.CardiacSynchronizationSequence = _seq(
                NominalCardiacTriggerDelayTime=trigger_times[t]
            )
        if real_world_only:
            item.RealWorldValueMappingSequence = _seq(
                RealWorldValueIntercept=0.0,
                RealWorldValueSlope=0.5,
                LUTLabel="T1MAP",
                LUTExplanation="T1 in ms",
                RealWorldValueFirstValueMapped=0,
                RealWorldValueLastValueMapped=32767,
            )
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = Seq(per_frame)
    return write_dataset(path, ds)


# -- Siemens MOSAIC ----------------------------------------------------------------


def csa_header(tags: dict[str, tuple[str, Sequence[Any]]]) -> bytes:
    """A CSA2 ("SV10") image header holding ``tags``: name → (VR, values).

    The layout is the one nibabel's ``nicom.csareader.read`` parses (the SPM
    description): a 16-byte preamble, then per tag a 84-byte descriptor and its
    items, each item a 16-byte header and its text padded to 4 bytes.
    """
    out = bytearray(b"SV10\x04\x03\x02\x01")
    out += struct.pack("<2I", len(tags), 77)
    for name, (vr, values) in tags.items():
        items = [str(v).encode() + b"\x00" for v in values]
        out += struct.pack(
            "<64si4s3i", name.encode(), len(items), vr.encode(), 0, len(items), 77
        )
        for text in items:
            out += struct.pack("<4i", len(text), len(text), 77, len(text))
            out += text + b"\x00" * (-len(text) % 4)
    return bytes(out)


def mosaic_geometry(
    *,
    n_slices: int,
    tile: tuple[int, int],
    spacing: tuple[float, float],
    step: float,
    iop: Sequence[float],
    first: Sequence[float],
    descending: bool = False,
) -> dict[str, Any]:
    """The true geometry of a mosaic, and the ImagePositionPatient Siemens writes.

    ``first`` is the true position of tile 0's first voxel; tile ``k`` lies at
    ``first + k · step · s``, with ``s`` the slice normal, reversed when
    ``descending`` (the CSA SliceNormalVector then points against ``r × c``).
    Siemens stores, as ImagePositionPatient, the corner the whole mosaic would have
    if it were one image centred on tile 0.
    """
    size = int(np.ceil(np.sqrt(n_slices)))
    r, c = np.asarray(iop[:3], float), np.asarray(iop[3:], float)
    s = normal(iop) * (-1 if descending else 1)
    true = [np.asarray(first, float) + k * step * s for k in range(n_slices)]
    rows, columns = tile
    shift = (size - 1) * (rows * spacing[0] * c + columns * spacing[1] * r) / 2
    return {
        "size": size,
        "normal": s,
        "positions": [list(map(float, p)) for p in true],
        "written_ipp": list(map(float, true[0] - shift)),
    }


def mosaic(
    path: Path,
    *,
    n_slices: int = 14,
    tile: tuple[int, int] = (24, 20),
    spacing: tuple[float, float] = (2.0, 2.5),
    step: float = 3.3,
    iop: Sequence[float] = OBLIQUE,
    first: Sequence[float] = (-30.0, -80.0, -22.0),
    descending: bool = False,
    acquisition: int = 1,
    sop: str | None = None,
    with_csa: bool = True,
) -> Path:
    """A Siemens EPI mosaic: ``n_slices`` tiles in a square grid, padded with
    empty tiles, the geometry in a CSA image header (NumberOfImagesInMosaic,
    SliceNormalVector) and the Siemens ImagePositionPatient. Tile ``k`` holds
    the value ``1000 · acquisition + k`` (its own index) in every pixel."""
    g = mosaic_geometry(
        n_slices=n_slices,
        tile=tile,
        spacing=spacing,
        step=step,
        iop=iop,
        first=first,
        descending=descending,
    )
    size, (rows, columns) = g["size"], tile
    image = np.zeros((size * rows, size * columns), dtype="<u2")
    for k in range(n_slices):
        i, j = divmod(k, size)
        image[i * rows : (i + 1) * rows, j * columns : (j + 1) * columns] = (
            1000 * acquisition + k
        )
    ds = make_dataset(
        SOPClassUID=MR_IMAGE,
        SOPInstanceUID=sop or f"{UID_ROOT}55.{acquisition}",
        SeriesInstanceUID=UID_ROOT + "55",
        Modality="MR",
        Manufacturer="SIEMENS",
        ImageType=["ORIGINAL", "PRIMARY", "M", "ND", "MOSAIC"],
        InstanceNumber=acquisition,
        AcquisitionNumber=acquisition,
        ImagePositionPatient=g["written_ipp"],
        ImageOrientationPatient=list(iop),
        PixelSpacing=list(spacing),
        SliceThickness=step,
        SpacingBetweenSlices=step,
        RescaleSlope=None,
        RescaleIntercept=None,
        Rows=size * rows,
        Columns=size * columns,
        PixelRepresentation=0,
        BitsStored=12,
        HighBit=11,
        PixelData=image.tobytes(),
    )
    if with_csa:
        ds.private_block(0x0019, "SIEMENS MR HEADER", create=True).add_new(
            0x0A, "US", n_slices
        )
        block = ds.private_block(0x0029, "SIEMENS CSA HEADER", create=True)
        block.add_new(
            0x10,
            "OB",
            csa_header(
                {
                    "NumberOfImagesInMosaic": ("US", [n_slices]),
                    "AcquisitionMatrixText": ("SH", [f"{rows}*{columns}"]),
                    "SliceNormalVector": ("FD", [f"{v:.8f}" for v in g["normal"]]),
                }
            ),
        )
    return write_dataset(path, ds)
