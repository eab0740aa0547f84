"""Benchmark NIfTI export: dicomkit's ``col.to_nifti`` against dcm2niix, same files.

    python -m benchmarks.nifti               # 300 slices of 512×512 CT, best of 3
    python -m benchmarks.nifti --slices 50   # another size
    python -m benchmarks.nifti --quick       # 60 slices, 1 repeat (development)

The series (int16 CT with RescaleIntercept −1024, explicit VR little endian, a
phantom of body, bone and lungs plus noise) is generated once per size into
``<tmp>/dicomkit-nifti-bench-<n>-v<version>`` and reused. Every file is read once
before timing (a warm page cache), and dicomkit's index is built before timing:
the time is what a user who has scanned the folder waits for the files. In one
run, alternating, each into a fresh folder:

- **dicomkit**: ``col.to_nifti(dest, compress=False)`` (``.nii`` + JSON + manifest;
  this series streams: header, then each file's pixel bytes) and the same through
  the volume array (``export_collection(..., stream=False)``), for comparison;
- **dcm2niix**: ``dcm2niix -z n -b y -ba y`` (``.nii`` + JSON) on the folder;
- the same two with gzip: ``compress=True`` (ISA-L level 2 when ``isal`` is
  installed, else zlib level 1; members compressed in threads) and
  ``dcm2niix -z y`` (its default level 6; with pigz on PATH pigz, else its
  internal zlib in one thread: the run says which);
- ``dcm2niix -z y -1``: dcm2niix at its fastest level (larger files);
- dicomkit's stages, each timed alone: reading every file's stored pixels, the
  export's volume (``stored=True``: integers kept), the public ``col.volume()``
  (float32 HU), writing ``.nii`` and ``.nii.gz`` with one fsync.

dcm2niix runs as a process (its start is in its time, a few ms: the binary of the
PyPI package is run directly, not its Python wrapper script); dicomkit runs in
this process, imports done. Times are the best of ``--repeat``; the ratio
dicomkit / dcm2niix is what to compare across machines (target: ≤ 1). The run
also checks that both files hold the same voxels at the same place.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the benchmarks package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import numpy.typing as npt
from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

import dicomkit as dk
from dicomkit.export import export_collection
from dicomkit.io.nifti import deflater

VERSION = 1
SIZE = 512
ROOT = "1.2.826.0.1.3680043.10.1234.99."


def _phantom(k: int, n: int, rng: np.random.Generator) -> npt.NDArray[np.int16]:
    """HU of slice ``k``: a body ellipse, two lungs, a spine, noise (stored +1024)."""
    y, x = np.mgrid[-1 : 1 : SIZE * 1j, -1 : 1 : SIZE * 1j]
    z = k / max(n - 1, 1)
    hu = np.full((SIZE, SIZE), -1000.0)
    hu[(x / 0.85) ** 2 + (y / 0.6) ** 2 < 1] = 40
    for cx in (-0.4, 0.4):
        hu[((x - cx) / 0.25) ** 2 + ((y + 0.05) / (0.35 - 0.1 * z)) ** 2 < 1] = -850
    hu[(x / 0.08) ** 2 + ((y - 0.4) / 0.08) ** 2 < 1] = 700
    hu += rng.normal(0, 12, hu.shape)
    stored: npt.NDArray[np.int16] = np.clip(np.rint(hu) + 1024, 0, 4095).astype(
        np.int16
    )
    return stored


def write_series(folder: Path, n: int) -> None:
    """``n`` axial 512×512 CT slices, 1.25 mm apart, into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(13)
    for k in range(n):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = f"{ROOT}3.{k + 1}"
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PatientID = "BENCH"
        ds.PatientName = "Bench^Nifti"
        ds.StudyInstanceUID = f"{ROOT}1"
        ds.SeriesInstanceUID = f"{ROOT}2"
        ds.FrameOfReferenceUID = f"{ROOT}4"
        ds.StudyDate = "20240101"
        ds.StudyTime = "120000"
        ds.Modality = "CT"
        ds.Manufacturer = "DICOMKIT BENCH"
        ds.SeriesNumber = 3
        ds.SeriesDescription = "Chest 1.25"
        ds.InstanceNumber = k + 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.ImagePositionPatient = [-175.0, -175.0, -400.0 + 1.25 * k]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.68359375, 0.68359375]
        ds.SliceThickness = 1.25
        ds.Rows = ds.Columns = SIZE
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 12
        ds.HighBit = 11
        ds.PixelRepresentation = 1
        ds.RescaleIntercept = -1024
        ds.RescaleSlope = 1
        ds.PixelData = _phantom(k, n, rng).tobytes()
        dcmwrite(folder / f"IM{k + 1:05d}.dcm", ds, enforce_file_format=True)
    (folder.parent / "complete").write_text("ok")


def ensure_series(n: int) -> Path:
    top = Path(tempfile.gettempdir()) / f"dicomkit-nifti-bench-{n}-v{VERSION}"
    if not (top / "complete").exists():
        shutil.rmtree(top / "files", ignore_errors=True)
        write_series(top / "files", n)
    return top / "files"


def dcm2niix() -> str:
    """The dcm2niix executable itself: the PyPI package's binary, not its Python
    wrapper script (whose interpreter start would be counted in dcm2niix's time)."""
    try:
        import dcm2niix as package  # type: ignore[import-untyped]

        if Path(package.bin).exists():
            return str(package.bin)
    except ImportError:
        pass
    found = shutil.which("dcm2niix") or str(Path(sys.executable).parent / "dcm2niix")
    if not Path(found).exists():
        raise SystemExit("dcm2niix is not installed: pip install dcm2niix")
    return found


def gzip_tool() -> str:
    """How ``dcm2niix -z y`` compresses here: pigz (parallel) when on PATH, else
    its internal zlib, one thread."""
    pigz = shutil.which("pigz")
    return f"pigz ({pigz})" if pigz else "internal zlib, 1 thread (no pigz on PATH)"


def best(run: Callable[[Path], None], work: Path, repeat: int, label: str) -> float:
    """The best time of ``repeat`` runs, each into a fresh folder. Before each run
    the files written so far reach the disk (``os.sync``, untimed): dicomkit's
    atomic write ends with an fsync, which on ext4 would otherwise also flush the
    other tool's 150 MB of the previous run (dcm2niix does not sync)."""
    times = []
    for i in range(repeat):
        dest = work / f"{label}-{i}"
        os.sync()
        start = time.perf_counter()
        run(dest)
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="60 slices, 1 repeat")
    args = parser.parse_args(argv)
    n, repeat = (60, 1) if args.quick else (args.slices, args.repeat)
    files = ensure_series(n)
    for path in files.iterdir():  # a warm page cache for both tools
        path.read_bytes()
    col = dk.scan(files, progress=False)
    tool = dcm2niix()

    def ours(compress: bool, *, stream: bool = True) -> Callable[[Path], None]:
        def run(dest: Path) -> None:
            manifest = (
                col.to_nifti(dest, compress=compress)
                if stream
                else export_collection(col, dest, compress=compress, stream=False)
            )
            if manifest["status"].to_list() != ["written"]:
                raise SystemExit(f"dicomkit did not write the series: {manifest}")

        return run

    def theirs(compress: bool, level: int | None = None) -> Callable[[Path], None]:
        def run(dest: Path) -> None:
            dest.mkdir()
            cmd = [tool, "-z", "y" if compress else "n", "-b", "y", "-ba", "y"]
            if level is not None:
                cmd.append(f"-{level}")
            subprocess.run(
                [*cmd, "-f", "%s", "-o", str(dest), str(files)],
                check=True,
                capture_output=True,
            )

        return run

    with tempfile.TemporaryDirectory(prefix="dicomkit-nifti-bench-") as tmp:
        work = Path(tmp)
        results = []
        runs: list[tuple[str, bool, int | None]] = [
            ("nii", False, None),
            ("gz", True, None),
            ("gz1", True, 1),
        ]
        for label, compress, level in runs:
            t_ours = t_theirs = float("inf")
            for i in range(repeat):  # alternating: both see the same machine state
                if level is None:  # dicomkit's own level: one run per format
                    t_ours = min(
                        t_ours, best(ours(compress), work, 1, f"dk-{label}-{i}")
                    )
                t_theirs = min(
                    t_theirs,
                    best(theirs(compress, level), work, 1, f"d2n-{label}-{i}"),
                )
            results.append((label, t_ours, t_theirs))
        t_array = min(
            best(ours(False, stream=False), work, 1, f"dk-array-{i}")
            for i in range(repeat)
        )
        results[2] = ("gz1", results[1][1], results[2][2])
        sizes = {
            label: _size(work, label)
            for label in (
                "dk-nii-0-0",
                "d2n-nii-0-0",
                "dk-gz-0-0",
                "d2n-gz-0-0",
                "d2n-gz1-0-0",
            )
        }
        _check_same(work, compress=False)
    uid = str(col.series["SeriesInstanceUID"][0])
    stages = _stages(col, uid, repeat)
    print(f"NIfTI export of a {n}-slice {SIZE}×{SIZE} CT series, best of {repeat}:")
    print(f"{'output':<30}{'dicomkit s':>12}{'dcm2niix s':>12}{'ratio':>8}")
    names = {
        "nii": ".nii",
        "gz": ".nii.gz (dcm2niix -z y)",
        "gz1": ".nii.gz (dcm2niix -z y -1)",
    }
    for label, t_ours, t_theirs in results:
        print(
            f"{names[label]:<30}{t_ours:>12.3f}{t_theirs:>12.3f}"
            f"{t_ours / t_theirs:>8.2f}"
        )
    print(
        f"{'.nii through the array':<30}{t_array:>12.3f}{results[0][2]:>12.3f}"
        f"{t_array / results[0][2]:>8.2f}  (stream=False: the volume built first)"
    )
    print(f"dcm2niix: {tool}; -z y compresses with {gzip_tool()}, level 6 unless -1")
    print(f"dicomkit compresses with {deflater()[2]}, gzip members in threads")
    print(
        "file sizes MB: "
        + ", ".join(f"{k} {v / 1e6:.1f}" for k, v in sizes.items() if v is not None)
    )
    print("dicomkit stages (best of each):")
    for name, seconds in stages.items():
        print(f"  {name:<44}{seconds:>8.3f} s")
    return 0


def _size(work: Path, label: str) -> int | None:
    found = [p for p in (work / label).glob("*.nii*") if p.is_file()]
    return found[0].stat().st_size if found else None


def _stages(col: dk.Collection, uid: str, repeat: int) -> dict[str, float]:
    """Where dicomkit's time goes, each stage the best of ``repeat``."""
    from dicomkit.export import nifti_image
    from dicomkit.io import nifti as nifti_io
    from dicomkit.io.pixels import read_stored

    paths = col.instances["path"].to_list()
    found: dict[str, float] = {}

    def clock(name: str, run: Callable[[], object]) -> object:
        result: object = None
        for _ in range(repeat):
            start = time.perf_counter()
            result = run()
            elapsed = time.perf_counter() - start
            found[name] = min(found.get(name, float("inf")), elapsed)
        return result

    clock(
        "read_stored of every file (header + pixels)",
        lambda: [read_stored(p) for p in paths],
    )
    stored = clock(
        "col.volume(stored=True) (the export's)", lambda: col.volume(uid, stored=True)
    )
    clock("col.volume() (public: float32 HU)", lambda: col.volume(uid))
    vol: Any = stored
    image = nifti_image(
        vol.array, vol.affine, rescale=vol.metadata.get("stored_rescale")
    )
    with tempfile.TemporaryDirectory(prefix="dicomkit-nifti-stage-") as tmp:
        for compress in (False, True):
            target = Path(tmp) / ("v.nii.gz" if compress else "v.nii")

            def write(target: Path = target, compress: bool = compress) -> None:
                with target.open("wb") as fp:
                    nifti_io.nifti_writer(image, compress=compress)(fp)
                    fp.flush()
                    os.fsync(fp.fileno())

            clock(f"write {target.name} (+ one fsync)", write)
    return found


def _check_same(work: Path, *, compress: bool) -> None:
    """Both tools' first ``.nii`` hold the same voxels at the same place."""
    import nibabel as nib

    suffix = ".nii.gz" if compress else ".nii"
    mine = nib.Nifti1Image.from_filename(next((work / "dk-nii-0-0").glob(f"*{suffix}")))
    other = nib.Nifti1Image.from_filename(
        next((work / "d2n-nii-0-0").glob(f"*{suffix}"))
    )
    a = nib.as_closest_canonical(mine)  # type: ignore[no-untyped-call]
    b = nib.as_closest_canonical(other)  # type: ignore[no-untyped-call]
    if not np.allclose(a.affine, b.affine, atol=1e-3) or not np.array_equal(
        np.asarray(a.dataobj), np.asarray(b.dataobj)
    ):
        raise SystemExit(
            "dicomkit's and dcm2niix's files differ: not a fair comparison"
        )


if __name__ == "__main__":
    raise SystemExit(main())
