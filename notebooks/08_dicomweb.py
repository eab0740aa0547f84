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
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 8 · The archive as a source: DICOMweb
#
# Hospital images rarely arrive as a folder: they live in a PACS, and more and more
# PACS speak **DICOMweb** — HTTP instead of DICOM's own network protocol. Three
# kinds of request matter here:
#
# * **QIDO-RS** (query): `GET …/studies?PatientID=…` lists studies, and
#   `GET …/studies/{study}/series` the series of one, as DICOM JSON;
# * **WADO-RS metadata** (retrieve): `GET …/studies/{study}/series/{series}/metadata`
#   gives the header of *every instance* of a series in one answer, without pixels;
# * **WADO-RS instances**: `GET …/instances/{sop}` the instance itself, pixels
#   included, when they are needed.
#
# `dk.scan_dicomweb(url)` uses the first two to build the **same Collection** a
# folder scan gives — same columns and types, same resend rule, `verify`, plans and
# explorer — and the third only when pixels are asked for. The envelopes are the
# same whether they sit in files or on a server: every instance carries its Study,
# Series and SOP Instance UIDs.
#
# This notebook runs against the server named by the environment variable
# `DICOMKIT_DICOMWEB_URL` (e.g. `http://127.0.0.1:8042/dicom-web`). Without one it
# says what each step would do, and uses the sample folder where it can.

# %%
import os

import polars as pl

import dicomkit as dk

SAMPLE = dk.examples.sample()  # the sample folder: only ever read
URL = os.environ.get("DICOMKIT_DICOMWEB_URL") or None
folder = dk.scan(SAMPLE, progress=False)
if URL is None:
    print(
        "No DICOMweb server given: set DICOMKIT_DICOMWEB_URL (for example to\n"
        "http://127.0.0.1:8042/dicom-web) and run again to query a real one.\n"
        "The cells below explain themselves meanwhile."
    )
else:
    print(f"DICOMweb server: {URL}")

# %% [markdown]
# ## A server to try it on
#
# Any DICOMweb server will do. A local one in two commands (Debian/Ubuntu):
#
# ```console
# sudo apt-get install orthanc orthanc-dicomweb     # the API is then at
#                                                   # http://127.0.0.1:8042/dicom-web
# curl -X POST http://127.0.0.1:8042/instances --data-binary @some_file.dcm
# ```
#
# The test suite does the same without root: `tests/orthanc.py` starts Orthanc on a
# free port of 127.0.0.1 with a temporary storage folder, and uploads
# `data/sample/` into it.

# %% [markdown]
# ## The scan: few requests, one Collection
#
# One study listing, one series listing per study, one metadata call per series —
# never one request per instance — four at a time, with a progress bar.
# `col.source_stats` counts them and says whether the result is **complete**: a
# server that ignores `offset` while paging, or a series that cannot be read, makes
# it incomplete, with a warning and a row in `col.errors`; it is never presented as
# whole.

# %%
if URL is not None:
    col = dk.scan_dicomweb(URL, progress=False)
    print(col)
    print(col.source_stats)
else:
    col = None
    n_studies, n_series = folder.studies.height, folder.series.height
    print(
        f"A server holding exactly the sample ({n_studies} studies, {n_series} "
        f"series) would be read in 1 + {n_studies} + {n_series} = "
        f"{1 + n_studies + n_series} requests, for {len(folder)} instances."
    )

# %% [markdown]
# The `path` of each instance is its WADO-RS URL: the explorer, `col.volume` and
# `dk.load_pixels` fetch the instance from there when they need its pixels (once per
# session: it is cached). Credentials, if the server needs them, are passed as
# `session=` (a `requests.Session`) or `headers=` and are never written into a frame
# or an index.

# %%
if col is not None:
    print(col.instances.select("SeriesInstanceUID", "InstanceNumber", "path").head(3))
    biggest = col.series.sort("n_instances", descending=True).row(0, named=True)
    vol = col.volume(biggest["SeriesInstanceUID"], allow_irregular=True)
    print("volume of the largest series:", vol.array.shape, "spacing", vol.spacing)
else:
    print(folder.instances.select("SeriesInstanceUID", "InstanceNumber").head(3))
    print("(from a server, `path` would read http://…/studies/…/instances/<SOP UID>)")

# %% [markdown]
# ## Compare a delivery with the archive
#
# `dk.compare(a, b)` applies the resend rule across two sources, per
# SOPInstanceUID: **only_in_a** (the archive lacks it), **only_in_b**,
# **identical**, **modified** (same UID chain, other values: `differs` names them)
# and **conflict** (the same SOPInstanceUID in another study or series). It rolls
# the result up per series and per study.

# %%
archive = col if col is not None else folder
diff = dk.compare(folder, archive)
print(diff)
diff.series.select("SeriesInstanceUID", "n_instances", "status", "differs")

# %% [markdown]
# Against Orthanc holding the sample, one instance is **modified**: the sample
# resends it with a corrected PatientName, and Orthanc keeps the first copy it
# received (its default), where the folder scan keeps the newer one.

# %%
diff.instances.filter(pl.col("status") != "identical").select(
    "SOPInstanceUID", "status", "differs"
)

# %% [markdown]
# ## Exercise
#
# How many requests does `dk.scan_dicomweb(url, modality="MR")` make? Predict it
# from the full collection above (`archive`): one study listing, filtered by the
# server on `ModalitiesInStudy`; one series listing for each study that holds MR;
# one metadata call for each MR series. Write your answer as a number in `answer_1`.

# %% tags=["exercise"]
answer_1 = ...  # a number of requests

# %% tags=["solution"] active="py" jupyter={"source_hidden": true}
# Solution: one way to answer. (The test suite runs it in place of the cell above.)
mr = archive.filter(pl.col("Modality") == "MR")
answer_1 = 1 + mr.studies.height + mr.series.height

# %% tags=["check"]
# Check exercise 1: run this cell after filling in answer_1 above.
mr_series = archive.series.filter(pl.col("Modality") == "MR")
expected_1 = 1 + mr_series["StudyInstanceUID"].n_unique() + mr_series.height
if URL is not None:  # what the server really answered
    measured = dk.scan_dicomweb(URL, modality="MR", progress=False).source_stats
    assert measured is not None
    expected_1 = measured["requests"]
    print("requests the server answered:", expected_1)
hint_1 = "one study listing + one series listing per MR study + one metadata call per MR series"
dk.examples.check(1, answer_1, expected_1, hint=hint_1)
