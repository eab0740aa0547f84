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
# # 3 · Quality check of a delivery
#
# A delivery of images arrives — for a study, a second opinion, an AI project.
# Before anyone uses it:
#
# 1. **verify**: list what is wrong;
# 2. **look** at what the findings point to;
# 3. **split** series that hold more than one volume;
# 4. **merge** series that a scanner split;
# 5. **write** the fixed series as new files, rescan them and verify again.
#
# The sample plays the delivery. Its `README.md` lists exactly what a correct
# tool must report; all of it appears below.

# %%
import shutil
import tempfile
from pathlib import Path

import polars as pl

import dicomkit as dk

SAMPLE = dk.examples.sample()  # the sample folder: only ever read
pl.Config.set_fmt_str_lengths(500)  # whole messages in tables (HTML wraps them)

KEY = "notebook-03"  # makes the new UIDs of splits and merges the same on every run
col = dk.scan(SAMPLE)
col

# %% [markdown]
# ## 1. Verify
#
# `col.verify()` returns one row per finding: its `severity` (`error`, `warning`
# or `info`), a stable `check` id, the `level` and `uid` it concerns, a
# `message` in words and a measured `value`. It never raises (unless you ask
# with `strict=True`).

# %%
findings = col.verify()
findings.select("severity", "check", "level", "uid", "value")

# %% [markdown]
# Eight findings: 1 error, 5 warnings, 2 infos. Errors first: here, one
# SOPInstanceUID carried by two different images of two patients (sample
# case 11).

# %%
for row in findings.filter(pl.col("severity") == "error").iter_rows(named=True):
    print(row["check"], "—", row["message"])

# %% [markdown]
# Grouped by check, with what each check is about (`dk.describe_checks()`
# documents every check):

# %%
order = pl.Enum(["error", "warning", "info"])
(
    findings.group_by("severity", "check")
    .agg(pl.len().alias("n"))
    .join(dk.describe_checks().select("check", "description"), on="check")
    .sort(pl.col("severity").cast(order), "check")
)

# %% [markdown]
# ## 2. Look before you fix
#
# `dk.plot.slice_positions(col, uid)` draws one dot per image: across, its
# position along the slice normal (mm); up, its InstanceNumber. A regular series
# is an even staircase.
#
# **The missing slice** (A's follow-up series 3, `Thorax 3.0 B70f`). Notice the
# red band: one step is 6 mm where all others are 3 mm, between InstanceNumber 12
# and 14; the dashed line marks where the missing slice should be, at −224 mm.

# %%
uid_of = dict(col.series.select("SeriesDescription", "SeriesInstanceUID").iter_rows())
dk.plot.slice_positions(col, uid_of["Thorax 3.0 B70f"])

# %% [markdown]
# ### ✍️ Exercise 1
#
# At which position along the slice normal (in mm) is the missing slice? Read it
# from the figure or from the finding's message, and put a number in
# `answer_1`.

# %% tags=["exercise"]
answer_1 = ...  # a number, in mm

# %% tags=["solution"] active="py" jupyter={"source_hidden": true}
# Solution: one way to answer. (The test suite runs it in place of the cell above.)
finding = findings.filter(pl.col("check") == "missing_slices").row(0, named=True)
print(finding["message"])  # ... the missing position is -224.00 mm ...
answer_1 = -224.0

# %% tags=["check"]
# Check exercise 1: run this cell after filling in answer_1 above.
from itertools import pairwise

positions = sorted(
    p[2] for p in col[uid_of["Thorax 3.0 B70f"]].instances["ImagePositionPatient"]
)
steps = [b - a for a, b in pairwise(positions)]
gap = steps.index(max(steps))
expected_1 = positions[gap] + min(steps)
hint_1 = "slices are 3 mm apart; the missing one is in the middle of the 6 mm step"
dk.examples.check(1, answer_1, expected_1, hint=hint_1, tolerance=0.5)

# %% [markdown]
# <details><summary>Why</summary>
#
# **−224 mm**: the neighbours are InstanceNumber 12 at −227 mm and 14 at −221 mm,
# and the finding says *"the missing position is -224.00 mm, index 12 of 24"*.
# Only the sender can supply it: dicomkit never interpolates a missing slice.
#
# </details>

# %% [markdown]
# **The tilted CT** (A's follow-up series 2, `Head seq 5.0 H31s tilt`). The dots
# are regular, 4.83 mm apart along the normal, but the title says the slices are
# stacked at 15.0° to their normal: the table moved 5 mm straight along the body
# while the gantry, and so the image planes, were tilted by 15°
# (GantryDetectorTilt 15). A volume built without this shear is distorted.

# %%
dk.plot.slice_positions(col, uid_of["Head seq 5.0 H31s tilt"])

# %% [markdown]
# **A localizer inside an axial series** (A's series 2, `Thorax 2.5 B31f`). Notice
# the purple square in the left lane: InstanceNumber 1 is a coronal localizer,
# at 90° to the 48 axial slices, filed in the same series.

# %%
dk.plot.slice_positions(col, uid_of["Thorax 2.5 B31f"])

# %% [markdown]
# **Two echoes in one series** (B's series 3, `AX PD/T2 DUAL ECHO`). Notice the
# orange stacks: each of the 20 positions holds two images, one per echo
# (EchoNumbers 1 and 2) — a clean repeat, not a mistake in the positions.

# %%
dk.plot.slice_positions(col, uid_of["AX PD/T2 DUAL ECHO"])

# %% [markdown]
# ## 3. Split what is not one volume
#
# `col.split_series(uid)` plans a split: which images go where, and why. Nothing
# changes until the plan is applied (`.apply()`, in memory) or written
# (`.write(folder)`, as new files).

# %%
thorax = uid_of["Thorax 2.5 B31f"]
col.split_series(thorax, key=KEY)

# %% [markdown]
# The automatic criteria give three reasons: the orientation (axial vs coronal),
# the pixel spacing, and the ImageType `LOCALIZER`. The localizer explains all
# three. We name the two criteria that matter, which also keeps the new series'
# descriptions short:

# %%
plan_thorax = col.split_series(thorax, by=["orientation", "localizer"], key=KEY)
columns = ["SeriesNumber", "SeriesDescription", "n_instances", "reason"]
plan_thorax.summary().select(columns)

# %% [markdown]
# Applied, the plan gives a new collection in which the 48 axial slices and the
# localizer are two series with new UIDs; each image keeps where it came from in
# `source_series_uid` and `source_sop_uid`. Then we plan the echo split on that
# new collection; for MR the automatic criteria include EchoNumbers.

# %%
step1 = plan_thorax.apply()
echo = uid_of["AX PD/T2 DUAL ECHO"]
plan_echo = step1.split_series(echo, key=KEY)
plan_echo.summary().select(columns)

# %%
step2 = plan_echo.apply()
print(step2.series.height, "series,", len(step2), "images")
step2.verify().select("severity", "check", "uid")

# %% [markdown]
# Eleven series now, and three findings fewer: the `mixed_orientation` and the
# `duplicate_position` are gone, and so is the `modified_resend` (the split gave
# the corrected image 31 a new SOPInstanceUID, of which the earlier copy is no
# resend).
#
# ## 4. Merge what the scanner split
#
# B's FLAIR was acquired as one volume of 20 slices, 5 mm apart, but stored as two
# series of 10 (odd and even slices, 10 mm apart each): that is what the two
# `slice_thickness_vs_spacing` infos hinted at. `suggest_merges()` finds such
# pairs and says why.

# %%
suggestions = step2.suggest_merges()
suggestions.select("series_numbers", "n_instances", "spacing", "reason")

# %%
pair = suggestions["series_uids"][0].to_list()
plan_merge = step2.merge_series(pair, key=KEY)
step3 = plan_merge.apply()
print(step3.series.height, "series,", len(step3), "images")
step3.verify().select("severity", "check", "uid")

# %% [markdown]
# The merged FLAIR: notice one image per position, evenly 5 mm apart, with no
# gap — the two halves interleave into one regular volume.

# %%
flair = plan_merge.summary()["new_series_uid"][0]
dk.plot.slice_positions(step3, flair)

# %% [markdown]
# ## 5. Write the fixed series, rescan, verify again
#
# A plan writes only the images it changes, as new files with their new UIDs,
# into a folder you choose; the source files are only read. We make the same
# three plans on `col`, the delivery as read from disk (with the same key, so
# they give the same new UIDs as the steps above), write them into one new
# temporary folder, scan that folder, and verify it.

# %%
plans = [
    col.split_series(thorax, by=["orientation", "localizer"], key=KEY),
    col.split_series(echo, key=KEY),
    col.merge_series(pair, key=KEY),
]
out = Path(tempfile.mkdtemp(prefix="dicomkit-qc-"))
for plan in plans:
    plan.write(out, progress=False)
fixed = dk.scan(out)
fixed

# %%
received = col.series["SeriesInstanceUID"].implode()
new = step3.instances.filter(~pl.col("SeriesInstanceUID").is_in(received))
same = set(fixed.instances["SOPInstanceUID"]) == set(new["SOPInstanceUID"])
print("the files hold the images inspected above:", same)
print(fixed.verify().height, "findings in the fixed series")
fixed.series.select("SeriesNumber", "Modality", "SeriesDescription", "n_instances")

# %% [markdown]
# No findings in the rewritten series. Put together with the series that needed
# no regrouping, the delivery has 10 series, and three findings are left. None
# of them can be fixed by regrouping; each needs a person: ask the sender for the
# missing slice, use the positions (or resample) for the tilted CT, and have one
# of the two images that share a SOPInstanceUID given a new one.

# %%
changed = [thorax, echo, *pair]
delivery = col.filter(~pl.col("SeriesInstanceUID").is_in(changed)).add(fixed)
print(delivery.series.height, "series,", len(delivery), "images")
delivery.verify().select("severity", "check", "message")

# %% [markdown]
# ### ✍️ Exercise 2
#
# Instead of the two targeted splits, you could call `col.split_series()` with no
# UID: it plans a split of every series that needs one, with the automatic
# criteria. Without any merge, how many series would the delivery then have?
# Put a number in `answer_2`.

# %% tags=["exercise"]
answer_2 = ...  # a number

# %% tags=["solution"] active="py" jupyter={"source_hidden": true}
# Solution: one way to answer. (The test suite runs it in place of the cell above.)
answer_2 = col.split_series(key=KEY).apply().series.height

# %% tags=["check"]
# Check exercise 2: run this cell after filling in answer_2 above.
expected_2 = col.split_series(key=KEY).apply().series.height
hint_2 = "start from 9 series; which series hold more than one volume, and into how many parts does each split?"
dk.examples.check(2, answer_2, expected_2, hint=hint_2)

# %% [markdown]
# <details><summary>Why</summary>
#
# **11**: the 9 series, plus one for the localizer split off A's CT thorax, plus
# one for the second echo split off B's dual-echo series. The FLAIR halves stay
# two series until you merge them.
#
# </details>

# %%
shutil.rmtree(out)  # the temporary output; data/sample was only read

# %% [markdown]
# **Next:** `04_explore` — the same collection in the explorer widget, and the
# plots.
