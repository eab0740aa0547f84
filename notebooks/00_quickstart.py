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
# # dicomkit quick start
#
# Every DICOM image carries the label of its envelope: the **StudyInstanceUID** of its study,
# the **SeriesInstanceUID** of its series and its own **SOPInstanceUID**. So a folder of files,
# whatever their names and folders, can always be put back into Patient → Study → Series →
# Instance. `dk.scan` does exactly that.

# %%
import polars as pl

import dicomkit as dk

SAMPLE = dk.examples.sample()  # the sample folder (generated once when installed)
pl.Config.set_fmt_str_lengths(500)  # whole messages in tables (HTML wraps them)
col = dk.scan(SAMPLE)
col

# %% [markdown]
# The summary counts every file: instances + resends + errors = files seen. Nothing is
# dropped silently. The tree comes only from the UIDs inside the files.
#
# ## The levels are DataFrames
#
# `col.series` has one row per SeriesInstanceUID, with counts. Notice the `varying` column:
# attributes that should be constant in a series but differ inside it would be listed there.

# %%
col.series.select(
    "PatientID",
    "SeriesNumber",
    "Modality",
    "SeriesDescription",
    "n_instances",
    "varying",
)

# %% [markdown]
# ## What could not be read, and what was replaced
#
# `col.errors` lists files that are not instances, each with a stable `reason`.
# `col.resends` lists the copies that a newer file with the same SOPInstanceUID replaced:
# an `identical` copy, a `modified` one (see `differs`), and a `conflict` — the same
# SOPInstanceUID in another patient's study, which breaks the promise of uniqueness.

# %%
col.errors.select(pl.col("path").str.replace(str(SAMPLE.resolve()) + "/", ""), "reason")

# %%
col.resends.select(
    pl.col("path").str.replace(str(SAMPLE.resolve()) + "/", ""),
    "resend",
    "differs",
    "PatientID",
)

# %% [markdown]
# ## Is it sound?
#
# `col.verify()` checks what the UIDs and the geometry promise and returns a DataFrame of
# findings, one row each: `severity`, a stable `check` id, the `level` and `uid` it is about
# and a `message` that says what was expected, what was found and what to do. It never
# raises unless you ask (`col.verify(strict=True)`). The sample holds its twelve deliberate
# cases on purpose; notebook 3 works through them.

# %%
findings = col.verify()
findings.select("severity", "check", "message")

# %%
findings.group_by("severity").len().sort("severity")

# %% [markdown]
# ## Sub-collections
#
# Filter with any polars expression, or look a study, series or instance up by its UID.

# %%
mr = col.filter(pl.col("Modality") == "MR")
first_series = col.series["SeriesInstanceUID"][0]
print(len(mr), "MR instances;", len(col[first_series]), "instances in", first_series)

# %% [markdown]
# ## Save the index
#
# `write_parquet` keeps instances, resends and errors in one file; `dk.read_parquet` gives the
# same collection back, and any parquet reader (polars, DuckDB, pandas) can query it.

# %%
import tempfile

with tempfile.TemporaryDirectory() as tmp:
    col.write_parquet(f"{tmp}/index.parquet")
    again = dk.read_parquet(f"{tmp}/index.parquet")
assert again == col
again.studies.select(
    "PatientID", "StudyDate", "StudyDescription", "n_series", "modalities"
)
