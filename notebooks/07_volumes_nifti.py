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
# # Volumes and NIfTI
#
# A series becomes a volume: a `(z, y, x)` array in Hounsfield units (or the MR
# values), its spacing, and an **affine** that says where every voxel is in the
# patient. Export writes it as NIfTI for training pipelines, with a JSON sidecar
# that traces every voxel plane back to its DICOM image. This chapter shows
#
# 1. a volume and its affine, checked against the slice positions;
# 2. the NIfTI file, and the sidecar;
# 3. a whole collection exported: what is split, what is refused, and why;
# 4. where dcm2niix would have split it (or made something else);
# 5. an exercise: export a series with a missing slice, and find the hole.
#
# NIfTI export needs nibabel: `pip install "dicomkit[nifti]"`.

# %%
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
import polars as pl

import dicomkit as dk
from dicomkit import nifti

SAMPLE = dk.examples.sample()  # the sample folder: only ever read
OUT = Path(tempfile.mkdtemp(prefix="dicomkit-nifti-"))  # everything goes here
col = dk.scan(SAMPLE, progress=False)
col.series.select("SeriesNumber", "SeriesDescription", "Modality", "n_instances")

# %% [markdown]
# ## 1. A volume and its affine
#
# Patient C's CT abdomen: 20 slices, 5 mm apart (one of its files is truncated and
# sits in `col.errors`; the volume is made of the 20 good ones).


# %%
def series_uid(description: str) -> str:
    rows = col.series.filter(pl.col("SeriesDescription") == description)
    return str(rows["SeriesInstanceUID"][0])


abdomen = series_uid("Abdomen 5.0 B30f")
vol = col.volume(abdomen)
vol.shape, vol.spacing

# %% [markdown]
# `vol.affine` maps a voxel index `(x, y, z, 1)` — column, row, slice — to DICOM
# patient coordinates (LPS: x to the patient's left, y to the back, z to the
# head). Voxel `(0, 0, k)` is the top-left pixel of slice `k`, so column 3 of the
# affine plus `k` slice steps must land on that slice's ImagePositionPatient:

# %%
print(np.round(vol.affine, 3))
for k in (0, 10, 19):
    corner = vol.affine @ [0, 0, k, 1]
    print(k, corner[:3], vol.positions[k])
    assert np.allclose(corner[:3], vol.positions[k], atol=1e-3)

# %% [markdown]
# NIfTI uses RAS (x to the patient's right, y to the front): the same matrix with
# its first two rows negated, `diag(−1, −1, 1, 1) · LPS` — nothing is resampled
# or flipped in the voxels, the array is only transposed to NIfTI's `(x, y, z)`.

# %%
ras = nifti.ras_affine(vol.affine)
print(np.round(ras, 3))

# %% [markdown]
# ## 2. The file and its sidecar

# %%
path = vol.to_nifti(OUT / "abdomen.nii.gz")
image = nib.Nifti1Image.from_filename(path)
print(image.shape, image.get_data_dtype(), image.header.get_zooms())
assert np.allclose(image.affine, ras, atol=1e-4)
assert np.array_equal(np.asarray(image.dataobj)[:, :, 7], vol.array[7].T)
int(image.header["sform_code"]), int(image.header["qform_code"])  # 1 = scanner

# %% [markdown]
# HU are integers here, so the file stores `int16` exactly (no scaling, no
# rounding); a series with fractional values stays `float32`. `col.to_nifti`
# writes a fuller sidecar than `vol.to_nifti` (which only knows the volume): the
# BIDS keys dcm2niix writes, wherever dicomkit knows the value and it is the same
# for every slice (EchoTime and RepetitionTime in seconds), the SeriesInstanceUID
# and the SOPInstanceUID of every voxel plane — and no name, ID or birth date
# unless you pass `identifying=True`.

# %% [markdown]
# ## 3. A whole collection

# %%
manifest = col.to_nifti(OUT / "all")
with pl.Config(fmt_str_lengths=60, tbl_rows=20):
    print(
        manifest.select(
            pl.col("path").str.split("/").list.last().alias("file"),
            "group",
            "shape",
            "status",
            pl.col("reason").str.slice(0, 60),
        )
    )

# %% [markdown]
# One file per volume. Patient A's thorax series holds a localizer: the split plan
# (`col.split_series`) separates it, and the manifest says why (`reason`). The
# dual-echo MR is split by EchoNumbers. The thorax series with a missing slice is
# **refused** (no file, a row with the verify finding): a NIfTI grid has one
# spacing, and dicomkit never fills a hole silently. The manifest is also saved
# beside the files as `nifti_manifest.parquet`.

# %%
sidecar = json.loads((OUT / "all" / "2_Head_seq_5.0_H31s_tilt.json").read_text())
{
    k: sidecar[k]
    for k in ("Modality", "SeriesDescription", "SliceThickness", "GantryTilt")
}

# %% [markdown]
# The head CT has a 15° gantry tilt: the table moved along z while the image
# planes lean. With `tilt="shear"` (the default) the affine's slice axis is the
# table step, so every slice is exactly where its ImagePositionPatient says; a
# qform cannot hold a shear, so only the sform is set. `tilt="refuse"` refuses
# such a series instead.

# %%
head = nib.Nifti1Image.from_filename(OUT / "all" / "2_Head_seq_5.0_H31s_tilt.nii.gz")
round(nifti.tilt_degrees(head.affine), 2), int(head.header["qform_code"])

# %% [markdown]
# ## 4. Where dcm2niix would have split it
#
# dcm2niix ([rordenlab/dcm2niix](https://github.com/rordenlab/dcm2niix)) is the
# reference converter. On this sample it makes the same files where it can, with
# other names — and a few things that are not the same volume:
#
# | series | dicomkit | dcm2niix |
# | --- | --- | --- |
# | Thorax 2.5 B31f (48 axials + localizer) | groups 0 and 1 of the split plan | `_i00002`, `_i00001` (split by orientation) |
# | AX PD/T2 DUAL ECHO | groups 0, 1 (EchoNumbers) | `_e1`, `_e2` |
# | Head seq tilt | one file, sheared affine | one file with the slice axis 3.4 % short (4.9 mm off at the last slice) and a resampled `_Tilt` copy |
# | Thorax 3.0 B70f (slice 13 missing) | refused, or NaN plane with `allow_gaps=True` | 23 slices at 3 mm (wrong after the gap) and an interpolated `_Eq` copy |
# | SAG T1 SE | 19 slices (the 20th file's UID belongs to patient C's knee) | 20 slices |
# | Abdomen 5.0 B30f | 20 slices (the truncated file is in `col.errors`) | nothing (one truncated file drops the series) |
#
# `tests/test_nifti_oracles.py` checks every line of this table on every test run:
# where both make the same volume, each voxel maps to the same place within
# 0.001 mm and holds the same value. If dcm2niix is installed, see for yourself:

# %%
tool = shutil.which("dcm2niix") or shutil.which(
    "dcm2niix", path=str(Path(sys.executable).parent)
)
if tool:
    theirs = OUT / "dcm2niix"
    theirs.mkdir()
    command = [tool, "-z", "n", "-f", "%s_%d", "-o", str(theirs), str(SAMPLE)]
    subprocess.run(command, capture_output=True, check=False)
    print(sorted(p.name for p in theirs.glob("*.nii")))
else:
    print("dcm2niix is not installed (pip install dcm2niix)")

# %% [markdown]
# Before writing anything, the split plan shows the groups and the reasons — what
# dcm2niix only tells in console messages:

# %%
col.split_series(series_uid("Thorax 2.5 B31f")).summary().select(
    "SeriesNumber", "n_instances", "reason"
)

# %% [markdown]
# ## 5. Exercise: the missing slice
#
# Export the thorax series with the missing slice (`"Thorax 3.0 B70f"`) keeping
# the hole (`allow_gaps=True`, into `OUT / "gap"`). Then find, from the file and
# its sidecar only, the z position (in mm; RAS and LPS agree on z) of the empty
# plane, where the missing image would be. Put the number in `answer_1`.

# %% tags=["exercise"]
answer_1 = ...  # a z position, in mm

# %% tags=["solution"] active="py" jupyter={"source_hidden": true}
# Solution: one way to answer. (The test suite runs it in place of the cell above.)
gap = col.to_nifti(OUT / "gap", series=series_uid("Thorax 3.0 B70f"), allow_gaps=True)
gap_image = nib.Nifti1Image.from_filename(gap["path"][0])
gap_sidecar = json.loads(Path(gap["sidecar"][0]).read_text())
empty_k = gap_sidecar["MissingSlices"][0]  # the index of the empty plane
assert np.isnan(np.asarray(gap_image.dataobj)[:, :, empty_k]).all()
answer_1 = float((gap_image.affine @ [0, 0, empty_k, 1])[2])

# %% tags=["check"]
# Check exercise 1: run this cell after filling in answer_1 above.
z = sorted(
    p[2] for p in col[series_uid("Thorax 3.0 B70f")].instances["ImagePositionPatient"]
)
steps = np.diff(z)
expected_1 = z[int(np.argmax(steps))] + float(np.min(steps))  # the hole's middle
hint_1 = "the sidecar's MissingSlices says which plane is empty; the affine says where"
dk.examples.check(1, answer_1, expected_1, hint=hint_1, tolerance=1e-3)

# %%
shutil.rmtree(OUT)  # the exported files were only for this chapter
