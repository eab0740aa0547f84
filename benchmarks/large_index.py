"""Level views of a 5,000,000-instance partitioned index, in bounded memory.

    python -m benchmarks.large_index              # 5,000,000 instances
    python -m benchmarks.large_index 500000       # another size
    python -m benchmarks.large_index --eager      # also the in-memory Collection

The index is synthetic (no files): rows with every column of the default instance
schema, written as a partitioned index (``part-*.parquet``, 100,000 rows each, as
``dk.scan_to_parquet`` writes them) into ``<tmp>/dicomkit-index-<n>-v<version>``
and reused by later runs. 100 instances per series, 4 series per study, 3 studies
per patient; 0.1% resends and 0.5% error rows, so the record filter has work to do.

Each measurement is a fresh subprocess (imports excluded), reporting its time and
its peak memory (``ru_maxrss``), on the same index in one run:

- **floor**: read the columns the series view needs, streaming, and count them
  (the I/O and decode cost any engine pays);
- **series / studies / patients**: ``dk.scan_parquet(dir).series.collect(
  engine="streaming")`` etc.;
- **eager** (``--eager``): ``dk.read_parquet(dir).series`` — all in memory.

Target (issue 7): the series view in under 30 s and under 4 GB.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from dicomkit.io.parquet import index_columns, index_schema, write_part
from dicomkit.schema import DEFAULT_KEYWORDS

VERSION = 2
ROWS_PER_PART = 100_000
PER_SERIES, PER_STUDY, PER_PATIENT = 100, 4, 3
ROOT = "1.2.826.0.1.3680043.10.1234"


def _scramble(i: pl.Expr) -> pl.Expr:
    """A repeatable, unordered number per row: UIDs and names are not sequential."""
    return (i * 2_654_435_761 + 12_345) % 4_294_967_291


def _time(seconds: pl.Expr) -> pl.Expr:
    """A time of day from seconds since midnight."""
    return (seconds * 1_000_000_000).cast(pl.Time)


def index_rows(start: int, stop: int) -> pl.DataFrame:
    """Rows ``start`` … ``stop - 1`` of the synthetic index, every column typed."""
    schema = index_schema(DEFAULT_KEYWORDS)
    i = pl.int_range(start, stop, dtype=pl.Int64)
    series = i // PER_SERIES
    study = series // PER_STUDY
    patient = study // PER_PATIENT
    slice_ = (i % PER_SERIES).cast(pl.Float64)
    mr = (series % 3) == 0
    day = pl.date(2015, 1, 1) + pl.duration(days=study % 3000)
    record = (
        pl.when(i % 1000 == 7)
        .then(pl.lit("resend"))
        .when(i % 200 == 3)
        .then(pl.lit("error"))
        .otherwise(pl.lit("instance"))
    )
    made: dict[str, pl.Expr] = {
        "PatientID": pl.format("PAT{}", patient),
        "StudyInstanceUID": pl.format(ROOT + ".1.{}", study),
        "SeriesInstanceUID": pl.format(ROOT + ".2.{}", series),
        "SOPInstanceUID": pl.format(ROOT + ".3.{}.{}", i, _scramble(i)),
        "SOPClassUID": pl.when(mr)
        .then(pl.lit("1.2.840.10008.5.1.4.1.1.4"))
        .otherwise(pl.lit("1.2.840.10008.5.1.4.1.1.2")),
        "FrameOfReferenceUID": pl.format(ROOT + ".4.{}", study),
        "SpecificCharacterSet": pl.concat_list(pl.lit("ISO_IR 100")),
        "TransferSyntaxUID": pl.lit("1.2.840.10008.1.2.1"),
        "PatientName": pl.format("Patient^{}", patient),
        "PatientBirthDate": pl.date(1950, 1, 1) + pl.duration(days=patient % 20000),
        "PatientSex": pl.when(patient % 2 == 0)
        .then(pl.lit("F"))
        .otherwise(pl.lit("M")),
        "StudyDate": day,
        "StudyTime": _time(8 * 3600 + 60 * (study % 600)),
        "StudyDescription": pl.when(mr)
        .then(pl.lit("MR BRAIN"))
        .otherwise(pl.lit("CT HEAD")),
        "AccessionNumber": pl.format("ACC{}", study),
        "StudyID": (study % 10000).cast(pl.Utf8),
        "SeriesNumber": series % PER_STUDY + 1,
        "SeriesDescription": pl.format("Series {}", series % PER_STUDY + 1),
        "SeriesDate": day,
        "SeriesTime": _time(8 * 3600 + 60 * (study % 600) + series % 60),
        "Modality": pl.when(mr).then(pl.lit("MR")).otherwise(pl.lit("CT")),
        "BodyPartExamined": pl.lit("HEAD"),
        "ProtocolName": pl.format("Protocol {}", series % 7),
        "Manufacturer": pl.lit("ACME"),
        "ManufacturerModelName": pl.format("Model {}", patient % 5),
        "StationName": pl.format("ST{}", patient % 11),
        "InstitutionName": pl.lit("Teaching Hospital"),
        "InstanceNumber": i % PER_SERIES + 1,
        "ImageType": pl.concat_list(
            pl.lit("ORIGINAL"), pl.lit("PRIMARY"), pl.lit("AXIAL")
        ),
        "AcquisitionNumber": pl.lit(1, pl.Int64),
        "AcquisitionTime": _time(9 * 3600 + i % 3600),
        "ImagePositionPatient": pl.concat_list(
            pl.lit(-125.0), pl.lit(-125.0), slice_ * 2.5
        ),
        "ImageOrientationPatient": pl.concat_list(
            *(pl.lit(v) for v in (1.0, 0.0, 0.0, 0.0, 1.0, 0.0))
        ),
        "PixelSpacing": pl.concat_list(pl.lit(0.48828125), pl.lit(0.48828125)),
        "SliceThickness": pl.lit(2.5),
        "SliceLocation": slice_ * 2.5,
        "Rows": pl.lit(512, pl.Int64),
        "Columns": pl.lit(512, pl.Int64),
        "SamplesPerPixel": pl.lit(1, pl.Int64),
        "PhotometricInterpretation": pl.lit("MONOCHROME2"),
        "BitsAllocated": pl.lit(16, pl.Int64),
        "BitsStored": pl.lit(12, pl.Int64),
        "PixelRepresentation": pl.lit(0, pl.Int64),
        "RescaleSlope": pl.lit(1.0),
        "RescaleIntercept": pl.lit(-1024.0),
        "WindowCenter": pl.concat_list(pl.lit(40.0)),
        "WindowWidth": pl.concat_list(pl.lit(80.0)),
        "path": pl.format(
            "/archive/PAT{}/{}/{}/IM{}.dcm", patient, study, series, _scramble(i)
        ),
        "file_size": pl.lit(530_000, pl.Int64) + i % 997,
        "mtime_ns": pl.lit(1_700_000_000_000_000_000, pl.Int64) + i,
        "n_frames": pl.lit(1, pl.Int64),
        "has_pixel_data": pl.lit(True),
        "bad_values": pl.lit([], pl.List(pl.Utf8)),
        "resend": pl.when(record == "resend").then(pl.lit("identical")),
        "replaced_by": pl.when(record == "resend").then(
            pl.format("/archive/again/IM{}.dcm", i)
        ),
        "differs": pl.when(record == "resend").then(pl.lit([], pl.List(pl.Utf8))),
        "reason": pl.when(record == "error").then(pl.lit("not_dicom")),
        "message": pl.when(record == "error").then(
            pl.lit("no DICM marker and no DICOM element at the start")
        ),
        "record": record,
    }
    columns = [
        made[name].cast(dtype).alias(name)
        if name in made
        else pl.lit(None, dtype).alias(name)
        for name, dtype in schema.items()
    ]
    return pl.select(columns)


def ensure_index(folder: Path, n: int) -> Path:
    """The index of ``n`` rows in ``folder``, generated unless already there."""
    stamp = (
        folder.parent / f"{folder.name}.complete"
    )  # beside: the folder holds parts only
    if stamp.exists() and stamp.read_text() == f"{n} v{VERSION}":
        return folder
    if folder.exists():
        for part in folder.glob("part-*.parquet"):
            part.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    meta = {
        "columns": index_columns(DEFAULT_KEYWORDS),
        "keywords": list(DEFAULT_KEYWORDS),
    }
    started = time.perf_counter()
    for number, start in enumerate(range(0, n, ROWS_PER_PART)):
        write_part(
            folder, number, index_rows(start, min(n, start + ROWS_PER_PART)), meta
        )
        print(
            f"\rgenerating: {min(n, start + ROWS_PER_PART):,} / {n:,} rows",
            end="",
            flush=True,
        )
    print(f" ({time.perf_counter() - started:.0f} s)")
    stamp.write_text(f"{n} v{VERSION}")
    return folder


_CHILD = """
import json, resource, sys, time
import polars as pl
import dicomkit as dk
from dicomkit.schema import LEVEL_ATTRIBUTES
folder, what = sys.argv[1], sys.argv[2]
started = time.perf_counter()
if what == "floor":
    needed = sorted({"SeriesInstanceUID", "StudyInstanceUID", "n_frames", "record",
                     *LEVEL_ATTRIBUTES["series"], *LEVEL_ATTRIBUTES["study"]})
    rows = pl.scan_parquet(folder).select(needed).filter(pl.col("record") == "instance")
    height = rows.collect(engine="streaming").height
elif what == "eager":
    height = dk.read_parquet(folder).series.height
else:
    height = getattr(dk.scan_parquet(folder), what).collect(engine="streaming").height
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
try:  # this process's own high-water mark (ru_maxrss may include its parent's)
    with open("/proc/self/status") as status:
        hwm = [line for line in status if line.startswith("VmHWM:")]
    peak = int(hwm[0].split()[1]) / 1024
except (OSError, IndexError, ValueError):
    pass
print(json.dumps({"seconds": seconds, "peak_mb": peak, "rows": height}))
"""


def measure(folder: Path, what: str) -> dict[str, float]:
    """Run one measurement in a fresh process: ``{"seconds", "peak_mb", "rows"}``."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(folder), what],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"measuring {what} failed:\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n", type=int, nargs="?", default=5_000_000)
    parser.add_argument("--dir", type=Path, help="where the index is generated")
    parser.add_argument("--eager", action="store_true", help="also the in-memory view")
    args = parser.parse_args(argv)
    folder = (
        args.dir or Path(tempfile.gettempdir()) / f"dicomkit-index-{args.n}-v{VERSION}"
    )
    ensure_index(folder, args.n)
    size = sum(p.stat().st_size for p in folder.glob("part-*.parquet"))
    n_parts = len(list(folder.glob("part-*.parquet")))
    print(
        f"index: {args.n:,} rows, {n_parts} parts, {size / 1e6:,.0f} MB on disk, {folder}"
    )
    names = ["floor", "series", "studies", "patients"] + (
        ["eager"] if args.eager else []
    )
    results = {name: measure(folder, name) for name in names}
    floor = results["floor"]["seconds"]
    print(f"{'':<10}{'seconds':>9}{'peak MB':>10}{'rows':>12}{'/ floor':>9}")
    for name, r in results.items():
        print(
            f"{name:<10}{r['seconds']:>9.2f}{r['peak_mb']:>10,.0f}{r['rows']:>12,}"
            f"{r['seconds'] / floor:>8.1f}×"
        )
    series = results["series"]
    verdict = (
        "met" if series["seconds"] < 30 and series["peak_mb"] < 4096 else "NOT met"
    )
    print(f"target (series view < 30 s and < 4 GB): {verdict}")
    print(
        f"(this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB peak)"
    )
    return results


if __name__ == "__main__":
    main()
