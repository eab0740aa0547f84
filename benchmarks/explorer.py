"""How fast the explorer reacts: switching series and one slider step.

    python -m benchmarks.explorer            # a 200-slice 512×512 CT series

Measured in one run on the same files: (1) the floor — pydicom reading and
decoding one slice; (2) switching the explorer to the 200-slice series with warm
thumbnails; (3) one slider step to a slice not seen before. Targets on the 2-core
reference machine: switch < 300 ms, step < 100 ms.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from pydicom import dcmread, dcmwrite
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

import dicomkit as dk
from tests.conftest import make_dataset


def write_series(folder: Path, n: int, size: int) -> list[Path]:
    """A CT series of ``n`` slices of ``size``×``size`` (a smooth phantom)."""
    yy, xx = np.mgrid[:size, :size]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n):
        body = (
            (xx - size / 2) ** 2 / (0.4 * size) ** 2
            + (yy - size / 2) ** 2 / (0.3 * size) ** 2
        ) < 1
        image = np.where(body, 1064 + 20 * np.sin(k / 9 + xx / 40), 24).astype("<u2")
        ds = make_dataset(
            SOPInstanceUID=f"1.2.826.0.1.3680043.10.1234.9.{k + 1}",
            SeriesInstanceUID="1.2.826.0.1.3680043.10.1234.9",
            SeriesNumber=9,
            InstanceNumber=k + 1,
            ImagePositionPatient=[0, 0, 1.0 * k],
            Rows=size,
            Columns=size,
            PixelRepresentation=0,
            BitsStored=12,
            PixelData=image.tobytes(),
        )
        path = folder / f"IM{k:04d}"
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dcmwrite(path, ds, enforce_file_format=True)
        paths.append(path)
    return paths


def timed(action: object) -> float:
    start = time.perf_counter()
    action()  # type: ignore[operator]
    return (time.perf_counter() - start) * 1000


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv else 200
    with tempfile.TemporaryDirectory(prefix="dicomkit-bench-") as tmp:
        folder = Path(tmp)
        paths = write_series(folder / "big", n, 512)
        sample = Path(__file__).resolve().parent.parent / "data" / "sample"
        col = dk.concat(
            [dk.scan(sample, progress=False), dk.scan(folder, progress=False)]
        )
        floor = statistics.median(
            timed(lambda p=p: dcmread(p).pixel_array) for p in paths[:20]
        )
        explorer = col.explore()
        big = "1.2.826.0.1.3680043.10.1234.9"
        for _, uid in explorer.series_select.options:  # warm thumbnails
            explorer.thumbnail(uid)
        other = next(uid for _, uid in explorer.series_select.options if uid != big)
        switches = []
        for _ in range(5):
            explorer.series_select.value = other
            switches.append(
                timed(lambda: setattr(explorer.series_select, "value", big))
            )
        steps = []
        for _ in range(30):  # every step shows a slice not decoded before
            value = (explorer.viewer.slider.value - 1 + 7) % n + 1  # 1-based
            steps.append(
                timed(lambda v=value: setattr(explorer.viewer.slider, "value", v))
            )
        assert explorer.viewer.status.value.startswith(f"rendered {big}")
    switch, step = statistics.median(switches), statistics.median(steps)
    print(f"series of {n} slices 512x512")
    print(f"floor: pydicom read + decode one slice  {floor:7.1f} ms")
    print(
        f"switch to the series (warm thumbnails)  {switch:7.1f} ms  = {switch / floor:.1f}x floor  (target < 300 ms)"
    )
    print(
        f"one slider step (a new slice)           {step:7.1f} ms  = {step / floor:.1f}x floor  (target < 100 ms)"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
