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
# # 6 · De-identification: new envelopes, same structure
#
# Before a delivery is shared or used for training, everything that identifies the
# patient must go: names, IDs, birth dates, the institution, free text — and the
# UIDs, because the sending hospital can look an original UID up.
#
# The hard part is the one the envelopes of notebook 1 are about. Every image
# carries the labels of its envelopes: after de-identification **every image of a
# study must carry the same new StudyInstanceUID, every image of a series the same
# new SeriesInstanceUID**, and every reference from one image to another (Source
# Image Sequence, Referenced Series Sequence, Frame of Reference …) must follow.
# Otherwise studies and series fall apart or get mixed.
#
# dicomkit does it with the standard's own table (PS3.15 Table E.1-1, 621
# attributes, each with an action code) and one keyed function for every UID:
#
# | code | what happens |
# | --- | --- |
# | **X** | removed |
# | **Z** | emptied |
# | **D** | a dummy value (PatientID and PatientName: a keyed pseudonym) |
# | **U** | a new UID: `dk.uid.derive(uid, key)`, the same in every file |
# | **K** / **C** | kept / cleaned, when an option asks for it |
#
# The same key gives the same new UIDs, pseudonyms and date offsets in every run,
# so a second delivery months later lands on the same pseudonyms; another key
# gives unlinkable ones.

# %% [markdown]
# ## Setup

# %%
import tempfile
from html import escape
from pathlib import Path

import polars as pl
from IPython.display import HTML

import dicomkit as dk
from dicomkit.deid import date_offset, pseudonym

SAMPLE = dk.examples.sample()  # the sample folder: only ever read
WORK = Path(tempfile.mkdtemp(prefix="dicomkit-deid-"))
KEY = "our project's secret key"  # in practice: a long random key, kept apart
col = dk.scan(SAMPLE, progress=False, cache=False)
col

# %% [markdown]
# ## The plan: what will happen, and why
#
# `col.deidentify` reads nothing and writes nothing: it says, per attribute class
# (the table's rows grouped by the action they get) and per instance, what will
# happen. `retain_longitudinal_modified_dates` keeps the time between
# examinations: every date of one patient moves by the same keyed number of days.

# %%
plan = col.deidentify(key=KEY, options=["retain_longitudinal_modified_dates"])
plan

# %% [markdown]
# Every table row with the action it gets under these options, and the option that
# decided it:

# %%
plan.rules().filter(pl.col("option") != "basic").select(
    "tag", "name", "table", "option", "action"
).head(8)

# %% [markdown]
# And every element of one file, with its action and the reason (sequence items
# included):

# %%
first = col.instances.sort("path")["SOPInstanceUID"][0]
plan.explain(first).select("where", "keyword", "action", "why").head(25)

# %% [markdown]
# ## Writing: new files only
#
# `plan.write` writes into a new folder, atomically, under paths built from the
# new values only (no original name or folder survives), then rescans the copies.

# %%
new = plan.write(WORK / "shared", progress=False)
sorted(str(p.relative_to(WORK / "shared")) for p in (WORK / "shared").rglob("*.dcm"))[
    :3
]

# %% [markdown]
# ### Before and after, side by side
#
# Same patients, studies and series, same numbers of images; new envelopes.

# %%
HTML(
    "<table><tr><th>before</th><th>after</th></tr><tr>"
    f"<td><pre>{escape(col.to_text())}</pre></td>"
    f"<td><pre>{escape(new.to_text())}</pre></td></tr></table>"
)

# %%
plan.compare(new)

# %% [markdown]
# The time between a patient's studies is kept; the dates themselves are not:


# %%
def study_days(c: dk.Collection) -> pl.DataFrame:
    return (
        c.studies.sort("StudyDate")
        .group_by("PatientID", maintain_order=True)
        .agg(
            pl.col("StudyDate"),
            (pl.col("StudyDate").diff().dt.total_days()).alias("days"),
        )
    )


study_days(col), study_days(new)

# %% [markdown]
# ## The mapping: for the data custodian only
#
# `plan.mapping` is the key to re-identification (old → new for every PatientID,
# UID and date offset). It is never written into the output folder: keep it apart,
# like the key.

# %%
plan.mapping.group_by("kind", "attribute").len()

# %%
plan.mapping.filter(pl.col("kind") != "UID")

# %% [markdown]
# ## A second delivery, months later
#
# The hospital sends Jane Roe's MR again, together with new images. Same key:
# same pseudonym, same date offset, the same new UIDs for the study already sent —
# it joins the first delivery instead of looking like a new patient.

# %%
second = dk.scan(SAMPLE / "PAT002_ROE_JANE", progress=False, cache=False)
plan2 = second.deidentify(key=KEY, options=["retain_longitudinal_modified_dates"])
shared = plan.mapping.join(plan2.mapping, on=["kind", "old"], suffix="_second")
print(f"{shared.height} identifiers in both deliveries; all mapped alike:",
      (shared["new"] == shared["new_second"]).all())  # fmt: skip
shared.filter(pl.col("kind") != "UID")

# %% [markdown]
# With another key nothing links up:

# %%
other = second.deidentify(
    key="another project", options=["retain_longitudinal_modified_dates"]
)
set(other.mapping["new"]) & set(plan.mapping["new"])

# %% [markdown]
# ## Exercise
#
# Without writing anything, find the pseudonym that patient `PAT003` gets with
# `KEY`, and the number of days its dates move. Put them in `answer_1` as a pair
# `(pseudonym, days)`.

# %% tags=["exercise"]
answer_1 = ...  # (pseudonym, days)

# %% tags=["solution"] active="py" jupyter={"source_hidden": true}
# Solution: one way to answer. (The test suite runs it in place of the cell above.)
mapping = plan.mapping.filter(pl.col("old") == "PAT003")
answer_1 = (
    mapping.filter(pl.col("kind") == "PatientID")["new"][0],
    int(mapping.filter(pl.col("kind") == "date_offset_days")["new"][0]),
)

# %% tags=["check"]
# Check exercise 1: run this cell after filling in answer_1 above.
expected_1 = (pseudonym("PAT003", KEY.encode()), date_offset("PAT003", KEY.encode()))
assert expected_1[0] in set(new.instances["PatientID"])  # what was written
hint_1 = "plan.mapping has one row per old value: filter on old == 'PAT003'"
dk.examples.check(1, answer_1, expected_1, hint=hint_1)
