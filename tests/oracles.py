"""Independent readers the volume tests compare against: SimpleITK and nibabel.

Both are test-only oracles (the dev extra); each function returns the eight
corner voxel centres of a volume in patient coordinates (LPS, mm), so a
dicomkit affine can be checked against them at every corner.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Corners = npt.NDArray[np.float64]


def affine_of(volume: Any) -> npt.NDArray[np.float64]:
    """A volume's affine, which the test expects to exist."""
    affine = volume.affine
    assert affine is not None, "the volume has no affine"
    return np.asarray(affine, dtype=float)


def corners(affine: npt.NDArray[np.float64] | None, shape: Sequence[int]) -> Corners:
    """The eight corner voxels of an ``affine`` over an array of ``shape``
    (the last three axes ``(z, y, x)``; voxel index ``(x, y, z)``)."""
    assert affine is not None, "the volume has no affine"
    z, y, x = shape[-3:]
    return np.array(
        [
            (affine @ [i, j, k, 1.0])[:3]
            for k, j, i in itertools.product((0, z - 1), (0, y - 1), (0, x - 1))
        ]
    )


def sitk_corners(paths: Path | Sequence[Path]) -> tuple[Corners, tuple[int, ...]]:
    """SimpleITK's corners (and its ``(x, y, z)`` size) of one file, or of a series
    of files in the order GDCM sorts them (``ImageSeriesReader``)."""
    import SimpleITK as sitk

    if isinstance(paths, Path):
        image = sitk.ReadImage(str(paths))
    else:
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames([str(p) for p in paths])
        image = reader.Execute()
    size = image.GetSize()
    points = [
        image.TransformContinuousIndexToPhysicalPoint((float(i), float(j), float(k)))
        for k, j, i in itertools.product(
            (0, size[2] - 1), (0, size[1] - 1), (0, size[0] - 1)
        )
    ]
    return np.array(points), tuple(size)


def sitk_sorted_series(folder: Path) -> list[Path]:
    """The files of the one series in ``folder``, in GDCM's geometric order."""
    import SimpleITK as sitk

    return [Path(p) for p in sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder))]


def nibabel_wrapper(path: Path) -> Any:
    """nibabel's DICOM wrapper of one file (``MosaicWrapper`` for a mosaic,
    ``MultiframeWrapper`` for an enhanced MR)."""
    import pydicom

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nibabel.nicom says it is experimental
        from nibabel.nicom import dicomwrappers

        return dicomwrappers.wrapper_from_data(pydicom.dcmread(path))


def nibabel_corners(wrapper: Any) -> Corners:
    """The corners of a nibabel wrapper, whose voxel index is (row, column,
    slice): reordered to dicomkit's (column, row, slice) corner order."""
    affine = wrapper.affine
    rows, columns, slices = wrapper.image_shape[:3]
    return np.array(
        [
            (affine @ [j, i, k, 1.0])[:3]
            for k, j, i in itertools.product(
                (0, slices - 1), (0, rows - 1), (0, columns - 1)
            )
        ]
    )


def corner_error(mine: Corners, theirs: Corners) -> float:
    """The largest distance (mm) from a corner to the same corner of the other."""
    return float(np.max(np.linalg.norm(mine - theirs, axis=1)))


def unordered_corner_error(mine: Corners, theirs: Corners) -> float:
    """The largest distance from each corner to the nearest corner of the other:
    for readers that stack the slices the other way round (same box, same grid)."""
    distances = np.linalg.norm(mine[:, None, :] - theirs[None, :, :], axis=2)
    nearest = (np.min(distances, axis=1), np.min(distances, axis=0))
    return float(max(np.max(nearest[0]), np.max(nearest[1])))


def _cases(folder: Path) -> list[tuple[str, Path, str]]:
    """(name, file, oracle) of each generated case, written under ``folder``."""
    from tests import multiframe_factory as mf

    return [
        ("enhanced CT 2×512×512, 0.389 mm", mf.enhanced_ct(folder / "ct" / "f.dcm"), "sitk"),
        ("RTDOSE 98 frames, 3 mm offsets", mf.rtdose(folder / "dose" / "f.dcm"), "sitk"),
        ("SEG 3 frames, 0.81 mm, oblique", mf.segmentation(folder / "seg" / "f.dcm"), "sitk"),
        ("enhanced MR 56×2 phases, oblique", mf.enhanced_mr(folder / "mr" / "f.dcm", interleaved=False), "nibabel"),
        ("mosaic 14 tiles, oblique", mf.mosaic(folder / "mosaic" / "f.dcm"), "nibabel"),
        ("mosaic 14 tiles, descending", mf.mosaic(folder / "mosaic-desc" / "f.dcm", descending=True), "nibabel"),
    ]  # fmt: skip


def main() -> None:
    """Print dicomkit's corner error against the oracles for every generated case:
    ``python -m tests.oracles`` (from the repository root)."""
    import tempfile

    import dicomkit as dk

    with tempfile.TemporaryDirectory() as tmp:
        for name, path, oracle in _cases(Path(tmp)):
            col = dk.scan(path.parent, progress=False)
            try:
                vol = col.volume(col.series["SeriesInstanceUID"][0])
            except Exception as exc:  # noqa: BLE001 - report, do not stop
                print(f"{name:36} {oracle:8} refused: {str(exc)[:60]}")
                continue
            mine = corners(vol.affine, vol.shape)
            if oracle == "sitk":
                theirs, _ = sitk_corners(path)
                error = corner_error(mine, theirs)
            else:
                error = unordered_corner_error(
                    mine, nibabel_corners(nibabel_wrapper(path))
                )
            print(
                f"{name:36} {oracle:8} shape {vol.shape!s:18} max corner error {error:.2e} mm"
            )


if __name__ == "__main__":
    main()
