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
# # 1 · Envelopes: how DICOM keeps an examination together
#
# In a film-based imaging centre, the films of one examination went into one
# envelope. The envelope *and every film* bore the patient's data, so a film
# that fell out could always be put back in the right envelope.
#
# In DICOM the envelope is immaterial. Every image carries the labels of its
# envelopes in its own header:
#
# | label | written into | names |
# | --- | --- | --- |
# | **StudyInstanceUID** | every image of the study | the envelope: one examination |
# | **SeriesInstanceUID** | every image of the series | a sub-envelope: one acquisition or reconstruction |
# | **SOPInstanceUID** | one image | the image itself |
#
# A UID is issued under a *root* that belongs to an organisation (usually the
# manufacturer), followed by parts the device chooses so that no two are alike.
# These UIDs are why studies, series and images are never mixed up — as long as
# they are unique.
#
# This notebook shakes every image of the sample out of its folder and shows
# that `dk.scan` puts them all back. Then it takes a few UIDs apart.

# %% [markdown]
# ## Setup
#
# The sample: 3 patients, 5 studies, 9 series, 213 images.

# %%
import os
import random
import shutil
import tempfile
from pathlib import Path

import polars as pl

import dicomkit as dk

SAMPLE = dk.examples.sample()  # the sample folder: only ever read
pl.Config.set_fmt_str_lengths(500)  # whole messages in tables (HTML wraps them)

col = dk.scan(SAMPLE)
col

# %% [markdown]
# ## The images fall out of their envelopes
#
# We copy all 219 files of the sample (213 images, 3 superseded copies and 3
# files that cannot be read as images) into **one flat temporary folder**,
# outside the repository, each under a random name without extension. The
# random generator is seeded, so the names are the same on every run.
#
# One thing we keep is the order in which the files were written (their
# modification time). Names play no part in grouping, but time matters for one
# thing: when two files carry the same SOPInstanceUID, the newer one is the
# current image (notebook 2 is about that).

# %%
rng = random.Random(1895)  # seeded: the same "random" names on every run
flat = Path(tempfile.mkdtemp(prefix="dicomkit-envelopes-"))
files = sorted(
    (p for p in SAMPLE.rglob("*") if p.is_file()),
    key=lambda p: (p.stat().st_mtime_ns, str(p)),  # oldest first
)
T0 = 1_704_067_200 * 10**9  # 2024-01-01, in nanoseconds
names: set[str] = set()
for rank, source in enumerate(files):
    name = f"{rng.getrandbits(48):012x}"
    while name in names:
        name = f"{rng.getrandbits(48):012x}"
    names.add(name)
    shutil.copyfile(source, flat / name)
    os.utime(flat / name, ns=(T0 + rank * 10**9,) * 2)  # keep the order in time

print(len(files), "files copied into", flat)
print("no sub-folders:", all(p.is_file() for p in flat.iterdir()))
sorted(names)[:6]

# %% [markdown]
# ## Putting them back
#
# `dk.scan` reads each file's header and groups by the UIDs it finds there.

# %%
flat_col = dk.scan(flat)
flat_col


# %% [markdown]
# The same summary and the same tree. Let's compare the two scans series by
# series, on their UIDs and their number of images.


# %%
def envelopes(c: dk.Collection) -> pl.DataFrame:
    return c.series.select(
        "PatientID",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "SeriesDescription",
        "n_instances",
    ).sort("SeriesInstanceUID")


same = envelopes(col).equals(envelopes(flat_col))
print("same series, same UIDs, same counts:", same)
print(
    "resends:",
    sorted(col.resends["resend"]),
    "vs",
    sorted(flat_col.resends["resend"]),
)
print(
    "unreadable files:",
    sorted(col.errors["reason"]),
    "vs",
    sorted(flat_col.errors["reason"]),
)
envelopes(flat_col).join(
    envelopes(col).select("SeriesInstanceUID", "n_instances"),
    on="SeriesInstanceUID",
    suffix="_in_sample",
).drop("StudyInstanceUID")

# %% [markdown]
# Every series is back, with the same UIDs and the same number of images; the
# superseded copies and the unreadable files are the same too. The hierarchy
# comes from the UIDs inside the files and from nothing else.
#
# Folders never counted, even in the sample's tidy layout: three images of
# patient B's MR series were filed in patient A's CT folder (case 8 of the
# sample). Their UIDs put them where they belong:

# %%
col.instances.filter(
    pl.col("path").str.contains("20230314_CT_THORAX"), pl.col("Modality") == "MR"
).select(
    pl.col("path").str.strip_prefix(f"{SAMPLE}{os.sep}"),
    "PatientID",
    "SeriesDescription",
    "InstanceNumber",
)

# %% [markdown]
# ### ✍️ Exercise 1
#
# A colleague renames every file of the sample to `IMG0001`, `IMG0002`, … in a
# random order and puts them all into one folder. How many series will
# `dk.scan` find in that folder? Put a number in `answer_1`.

# %% tags=["exercise"]
answer_1 = ...  # a number

# %% tags=["solution"] active="py" jupyter={"source_hidden": true}
# Solution: one way to answer. (The test suite runs it in place of the cell above.)
answer_1 = col.series.height  # names and folders play no part

# %% tags=["check"]
# Check exercise 1: run this cell after filling in answer_1 above.
expected_1 = col.series.height
hint_1 = "names and folders play no part: count the SeriesInstanceUIDs"
dk.examples.check(1, answer_1, expected_1, hint=hint_1)

# %% [markdown]
# <details><summary>Why</summary>
#
# **9**, as before. Every image carries its SeriesInstanceUID, and the sample holds 9
# distinct values; renaming and moving files changes none of them. The scramble
# above did exactly that.
#
# </details>

# %% [markdown]
# ## Taking a UID apart
#
# A UID is digits and dots, at most 64 characters (DICOM PS3.5 §9.1).
# `dk.uid.explain` splits it into three parts:
#
# - the **root**: the organisation that issued it (here the manufacturer),
#   registered so that nobody else uses it;
# - the **device part**: what that organisation chose to name its product,
#   device or site;
# - the **suffix**: what makes it unique to one examination, series or image —
#   often a time stamp and counters.
#
# Everything after the root is a heuristic reading: the standard says not to
# parse UIDs, and dicomkit never uses their parts to group anything. It is a
# way to *read* them. Here are the StudyInstanceUIDs of patient A's first CT
# study (Siemens) and of patient B's MR study (GE):

# %%
studies = col.studies.select(
    "PatientID", "StudyDate", "StudyDescription", "StudyInstanceUID"
)
ct_a = studies.filter(pl.col("PatientID") == "PAT001")["StudyInstanceUID"][0]
mr_b = studies.filter(pl.col("PatientID") == "PAT002")["StudyInstanceUID"][0]
for uid in (ct_a, mr_b):
    print(dk.uid.explain(uid), end="\n\n")

# %% [markdown]
# Notice the time stamps in the suffixes: the Siemens UID writes the study's
# date and time after a `3` (`230314081502` = 2023-03-14 08:15:02), the GE UID
# a Unix time (`1683036310` = 2023-05-02 14:05:10 UTC). And the CT's device part
# `1.4.83504` ends in the same digits as its StationName, `CTAWP83504`.
#
# ### Envelope, sub-envelope, image
#
# The three UIDs of one image share the root and the device part. On this CT,
# the suffix is a `3` and the study's time stamp, then a kind digit (1 study,
# 2 series, 3 image) and a 5-digit counter: for an image, `SeriesNumber × 1000 +
# InstanceNumber`, so `…302021` is image 21 of series 2.

# %%
image = col.instances.filter(
    pl.col("SeriesDescription") == "Thorax 2.5 B31f", pl.col("InstanceNumber") == 21
).row(0, named=True)
parts = []
for level in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
    e = dk.uid.explain(image[level])
    parts.append(
        {
            "level": level,
            "root": e.root,
            "organisation": e.organisation,
            "device part": e.device_part,
            "suffix": e.suffix,
        }
    )
pl.DataFrame(parts)

# %% [markdown]
# ## One device, one prefix
#
# `dk.uid.common_prefix` returns the longest run of whole components that UIDs
# share. Studies from one device share a long prefix; studies from different
# manufacturers share almost nothing.

# %%
a_ct = col.studies.filter(pl.col("PatientID") == "PAT001")["StudyInstanceUID"]
ge_mr = col.studies.filter(pl.col("modalities").list.contains("MR"))["StudyInstanceUID"]
every = col.studies["StudyInstanceUID"]
print("patient A's two CT studies:", dk.uid.common_prefix(a_ct))
print("the MR studies of B and C: ", dk.uid.common_prefix(ge_mr))
print("all five studies:          ", dk.uid.common_prefix(every))

# %% [markdown]
# Patient A's two CT studies, six months apart, share
# `1.3.12.2.1107.5.1.4.83504`: Siemens' root and the device part. The MR studies
# of patients B and C share GE's root and `2.410.4057621`. All five share only
# `1`, the ISO arc. Different roots can never produce the same UID, and inside
# one root the device and its time stamps and counters keep the suffixes apart.

# %% [markdown]
# ### ✍️ Exercise 2
#
# Which other patient had a study on the same CT scanner as patient A? Compare
# the StudyInstanceUIDs in `col.studies` with the prefix of patient A's CT
# studies, and put that patient's PatientID (a string) in `answer_2`.

# %% tags=["exercise"]
answer_2 = ...  # a PatientID, e.g. "PAT00?"

# %% tags=["solution"] active="py" jupyter={"source_hidden": true}
# Solution: one way to answer. (The test suite runs it in place of the cell above.)
prefix_a = dk.uid.common_prefix(a_ct) + "."
same_scanner = col.studies.filter(
    pl.col("StudyInstanceUID").str.starts_with(prefix_a),
    pl.col("PatientID") != "PAT001",
)
answer_2 = same_scanner["PatientID"].unique().item()

# %% tags=["check"]
# Check exercise 2: run this cell after filling in answer_2 above.
prefix_a = dk.uid.common_prefix(a_ct) + "."
others = col.studies.filter(
    pl.col("StudyInstanceUID").str.starts_with(prefix_a),
    pl.col("PatientID") != "PAT001",
)
found = others["PatientID"].unique().to_list()
expected_2 = found[0] if len(found) == 1 else found
hint_2 = 'keep the studies whose UID starts with the prefix above: pl.col("StudyInstanceUID").str.starts_with(...)'
dk.examples.check(2, answer_2, expected_2, hint=hint_2)

# %% [markdown]
# <details><summary>Why</summary>
#
# **`"PAT003"`** (Müller^Jürgen). Its CT ABDOMEN study,
# `1.3.12.2.1107.5.1.4.83504.3231107093000100001`, starts with the same
# `1.3.12.2.1107.5.1.4.83504` as patient A's two CT studies; its StationName is
# `CTAWP83504` too (see `col.series`).
#
# </details>

# %% [markdown]
# ## Envelopes in envelopes
#
# The tree drawn from the flat folder of random names. Notice that patient A
# holds two studies (the baseline and the follow-up), that patient B's one study
# holds four series, and that B's series 3 has all 40 images, including the
# three that were filed in A's folder.

# %%
dk.plot.hierarchy(flat_col)

# %%
shutil.rmtree(flat)  # the temporary copy; data/sample was only read

# %% [markdown]
# **Next:** `02_resending` — what happens when an image arrives twice, with the
# same SOPInstanceUID or a new one.
