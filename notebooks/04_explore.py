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
# # 4 · Explore: the explorer widget and the plots
#
# `col.explore()` puts a whole collection into one widget: the series list, the
# images, their tags and their UIDs. The plots of `dk.plot` draw the same data as
# static figures.
#
# > **Reading this on GitHub?** Widgets need a running Python kernel. Where there
# > is none (GitHub, nbviewer, an HTML export) the explorer of an executed
# > notebook shows a static summary instead: its header, a thumbnail of each of
# > the first 12 series and the Patient → Study → Series tree. This notebook is
# > stored without outputs: run it in Jupyter to see either.

# %%
import matplotlib.pyplot as plt
import polars as pl

import dicomkit as dk

SAMPLE = dk.examples.sample()  # the sample folder: only ever read
pl.Config.set_fmt_str_lengths(500)  # whole messages in tables (HTML wraps them)

col = dk.scan(SAMPLE, progress=False)

# %% [markdown]
# ## The explorer
#
# - **Top left**: every series, under its patient and study, in SeriesNumber
#   order, with its number of images and a badge for its worst `verify()` finding
#   (✗ error, ⚠ warning, ℹ info, ✓ nothing). **To its right**: the patient, study
#   and series of the selection. **Below both**, three tabs:
# - **Series** tab: thumbnails of the study's series, then the slice viewer —
#   a slider through the slices in geometric order, the window presets, the
#   window width (WW) and level (WL), and the series' findings in words.
# - **Tags** tab: the full header of the image shown, read from its file, with a
#   filter; or the attributes that vary across its series.
# - **UID anatomy** tab: the Study, Series and SOP Instance UIDs of the image,
#   taken apart.

# %%
explorer = col.explore()
explorer

# %% [markdown]
# ## Browsing
#
# The list on the left, as text. The badges come from `col.verify()`: notice ✗
# on C's knee series, which holds the image whose SOPInstanceUID patient B's
# series also used (sample case 11), and ✓ on the two clean series.

# %%
for label, _uid in explorer.series_select.options:
    print(label)

# %% [markdown]
# ## Window and level
#
# CT values are Hounsfield units, from −1000 (air) to well over +1000 (dense
# bone): far more grey levels than a screen or an eye can tell apart. The *window*
# chooses which range to spread from black to white: values below
# `WL − WW/2` are black, above `WL + WW/2` white. The viewer offers:
#
# - **DICOM default**: the WindowCenter/WindowWidth stored in the file;
# - **auto**: from the 1st to the 99th percentile of the image shown;
# - the named CT presets below (in HU).

# %%
pl.DataFrame(
    [(name, w.width, w.level) for name, w in dk.window.PRESETS.items()],
    schema=["preset", "WW", "WL"],
    orient="row",
)

# %% [markdown]
# `col.volume(uid)` stacks a series into a `(z, y, x)` array in HU, in geometric
# order. Here every 6th slice of C's CT abdomen, drawn by `dk.plot.montage` twice:
# with the `abdomen` preset and with the automatic percentile window. Notice how
# the soft-tissue window separates organs that the wide automatic window (which
# must also span the air around the body) washes out to near white.

# %%
abdomen = col.series.filter(pl.col("SeriesDescription") == "Abdomen 5.0 B30f")[
    "SeriesInstanceUID"
][0]
volume = col.volume(abdomen)
print("shape", volume.shape, "spacing (mm)", volume.spacing)
middle = volume.array[len(volume.array) // 2]
print("auto window of the middle slice:", dk.window.auto_window(middle))

every_6th = volume.array[::6]
labels = [f"z {p[2]:.0f} mm" for p in volume.positions[::6]]
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.5), layout="constrained")
preset = dk.window.PRESETS["abdomen"]
dk.plot.montage(every_6th, window=(preset.level, preset.width), labels=labels, ax=left)
dk.plot.montage(every_6th, labels=labels, ax=right)
plt.show()

# %% [markdown]
# ## Tags that vary
#
# The Tags tab has a second view, *varying in series*: every attribute that takes
# more than one value across the series of the image shown. Position and number
# change from slice to slice; identity and acquisition attributes should not. The
# same table for B's dual-echo series: notice EchoNumbers and EchoTime with two
# values each — the reason `verify()` found two images at every position.

# %%
uid_of = dict(col.series.select("SeriesDescription", "SeriesInstanceUID").iter_rows())
col[uid_of["AX PD/T2 DUAL ECHO"]].varying_attributes()

# %% [markdown]
# For comparison, B's clean sagittal T1 series: only the image's identity, times
# and position vary.

# %%
col[uid_of["SAG T1 SE"]].varying_attributes()

# %% [markdown]
# ## UID anatomy
#
# The third tab takes apart the UIDs of the image shown, as `dk.uid.explain` does
# (notebook 1). For the image the explorer opened with — root (organisation) ·
# device part · suffix:

# %%
shown = explorer.viewer.current
print("InstanceNumber", shown["InstanceNumber"], "of", shown["SeriesDescription"])
for level in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
    e = dk.uid.explain(shown[level])
    print(f"{level:<18} {e.root} ({e.organisation}) · {e.device_part} · {e.suffix}")

# %% [markdown]
# ## Studies over time
#
# `dk.plot.timeline(col)`: one row per patient, one marker per study. Notice
# patient A's two CT studies six months apart (baseline 2023-03-14, follow-up
# 2023-09-19) and patient C's CT and MR two weeks apart.

# %%
dk.plot.timeline(col)

# %% [markdown]
# **Next:** `05_at_scale` — the parquet index and polars queries across many
# series.
