# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 5 · At scale: the parquet index and polars
#
# A scan is a table: one row per image. Saved as parquet, it can be reopened and
# queried with polars (or DuckDB, pandas, Spark) without reading a single DICOM
# file again. This notebook saves the sample's index, queries it across series,
# and then scans a larger synthetic collection.

# %%
import shutil
import tempfile
import time
from pathlib import Path

import polars as pl

import dicomkit as dk

SAMPLE = dk.examples.sample()  # the sample folder: only ever read
pl.Config.set_fmt_str_lengths(500)  # whole messages in tables (HTML wraps them)

col = dk.scan(SAMPLE)
work = Path(tempfile.mkdtemp(prefix="dicomkit-at-scale-"))

# %% [markdown]
# ## The index file
#
# `col.write_parquet(path)` saves instances, resends and errors in one file
# (atomically); `dk.read_parquet(path)` gives back an equal collection.

# %%
index = work / "sample.parquet"
col.write_parquet(index)
again = dk.read_parquet(index)
print("equal:", again == col, f"— {index.stat().st_size / 1024:.0f} KiB")
again

# %% [markdown]
# In the file, the three tables are stacked and told apart by a `record`
# column: `instance`, `resend` or `error`. Any parquet reader sees them:

# %%
pl.read_parquet(index).group_by("record").len().sort("record")

# %% [markdown]
# ## Queries across series
#
# Every level view is a polars DataFrame, so questions across the whole
# collection are one expression. Series and images per modality:

# %%
col.series.group_by("Modality").agg(
    pl.len().alias("series"), pl.col("n_instances").sum().alias("images")
).sort("Modality")

# %% [markdown]
# Images per study, from the instance table:

# %%
col.instances.group_by("PatientID", "StudyDate", "StudyDescription").agg(
    pl.len().alias("images"), pl.col("SeriesInstanceUID").n_unique().alias("series")
).sort("PatientID", "StudyDate")

# %% [markdown]
# Which series have a finding? `col.verify()` is a DataFrame too. A series-level
# finding names its SeriesInstanceUID; an instance-level one names a
# SOPInstanceUID, which the instance table maps to its series. One join each:

# %%
findings = col.verify()
by_series = findings.filter(pl.col("level") == "series").rename(
    {"uid": "SeriesInstanceUID"}
)
by_instance = findings.filter(pl.col("level") == "instance").join(
    col.instances.select("SOPInstanceUID", "SeriesInstanceUID"),
    left_on="uid",
    right_on="SOPInstanceUID",
)
flagged = pl.concat(
    [
        by_series.select("SeriesInstanceUID", "severity", "check"),
        by_instance.select("SeriesInstanceUID", "severity", "check"),
    ]
)
col.series.join(flagged, on="SeriesInstanceUID").select(
    "PatientID", "SeriesNumber", "SeriesDescription", "severity", "check"
).sort("PatientID", "SeriesNumber")

# %% [markdown]
# ## Lazy queries on the index file
#
# `pl.scan_parquet` reads nothing until `.collect()`; polars then pushes the
# filter and the column choice into the file reader. Notice in the plan
# (`explain()`) that only the columns the query needs are read (`PROJECT`) and
# that the `record == "instance"` filter is applied while scanning
# (`SELECTION`).

# %%
lazy = (
    pl.scan_parquet(index)
    .filter(pl.col("record") == "instance")
    .group_by("StationName", "Modality")
    .agg(
        pl.col("StudyInstanceUID").n_unique().alias("studies"),
        pl.len().alias("images"),
    )
    .sort("StationName")
)
print(lazy.explain())
lazy.collect()

# %% [markdown]
# ## A larger collection
#
# `dk.examples.corpus(dest, n)` (the generator the benchmarks use too) writes synthetic CT and MR files
# with realistic headers, 100 slices per series, in a patient/study/series
# layout. We write 3,000 files into the temporary folder and time the scan.

# %%
N_FILES = 3_000
corpus = work / "corpus"
start = time.perf_counter()
dk.examples.corpus(corpus, N_FILES)
print(f"wrote {N_FILES:,} files in {time.perf_counter() - start:.1f} s")

# %%
start = time.perf_counter()
cache = work / "scan-cache.parquet"  # an explicit cache file, removed below
big = dk.scan(corpus, cache=cache)
seconds = time.perf_counter() - start
print(f"scanned {big.n_files:,} files in {seconds:.1f} s")
print(f"{big.n_files / seconds:,.0f} files/s")
print(f"{big.patients.height} patients, {big.studies.height} studies,")
print(f"{big.series.height} series, {len(big):,} images")

# %% [markdown]
# The same queries, unchanged. Images per modality, and what verify finds: the
# benchmark corpus is not clinically realistic (each of its studies mixes CT and
# MR series with two different StudyDescriptions), and verify says so.

# %%
big.series.group_by("Modality").agg(
    pl.len().alias("series"), pl.col("n_instances").sum().alias("images")
).sort("Modality")

# %%
big.verify().group_by("severity", "check").len()

# %%
big_index = work / "corpus.parquet"
start = time.perf_counter()
big.write_parquet(big_index)
reopened = dk.read_parquet(big_index)
print(
    f"index written and read back in {time.perf_counter() - start:.2f} s,"
    f" {big_index.stat().st_size / 2**20:.1f} MiB, equal: {reopened == big}"
)
(
    pl.scan_parquet(big_index)
    .filter(pl.col("record") == "instance")
    .group_by("PatientID")
    .agg(
        pl.col("StudyInstanceUID").n_unique().alias("studies"),
        pl.col("SeriesInstanceUID").n_unique().alias("series"),
        pl.len().alias("images"),
    )
    .sort("PatientID")
    .collect()
)

# %% [markdown]
# A second scan of the same folder reads no file at all: the scan above kept an
# index of every file's path, size and modification time (`cache=`; by default
# in your user cache folder for folders of 1,000 files or more), so only files
# that were added, removed or changed are read again.

# %%
start = time.perf_counter()
again = dk.scan(corpus, cache=cache)
print(f"rescanned in {time.perf_counter() - start:.2f} s, equal: {again == big}")

# %% [markdown]
# ## Too big for memory: a partitioned index
#
# A `Collection` holds every row in memory, which is fine for thousands of
# files and too much for millions. `dk.scan_to_parquet` writes each batch of
# headers to disk as it is read (`part-00000.parquet`, `part-00001.parquet` …),
# so memory stays flat whatever the number of files, and returns a
# `LazyCollection`: the same frames and views as polars LazyFrames, computed
# only when collected. (`rows_per_part` is small here to make several parts.)

# %%
parts = work / "corpus-index"
lazy = dk.scan_to_parquet(corpus, parts, rows_per_part=1_000)
print(sorted(p.name for p in parts.iterdir()))
lazy.series.collect(engine="streaming").select(
    "PatientID", "SeriesNumber", "Modality", "n_instances"
).head()

# %% [markdown]
# The folder holds nothing but parts with the same columns, so any engine
# reads it as one table: polars below, or DuckDB with
# `SELECT … FROM 'corpus-index/*.parquet'`. And `dk.read_parquet` opens it
# whole, equal to the scan:

# %%
print(pl.scan_parquet(parts).group_by("record").len().collect())
print("equal:", dk.read_parquet(parts) == big)

# %%
shutil.rmtree(work)  # the index files and the corpus; data/sample was only read
