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
# # 2 · Resending: replace or add?
#
# When a film was reprinted, the new print replaced the old one in the
# envelope: it bore the same data. In DICOM the **SOPInstanceUID** does this job:
#
# - an image sent again with the **same SOPInstanceUID** is a new version of the
#   same image: it **replaces** the earlier copy;
# - an image with a **new SOPInstanceUID** is a different image: it is **added**.
#
# dicomkit applies exactly this rule. Of several files carrying one
# SOPInstanceUID, the newest (later modification time, then later path) is the
# instance; every other copy becomes a row of `col.resends`, classified as
#
# - `identical`: the same content;
# - `modified`: the same UIDs with different content (`differs` names the
#   attributes);
# - `conflict`: the same SOPInstanceUID under another series, study or patient.
#
# Here we play the receiving end. Images "arrive" in a temporary folder, and we
# stamp each file with its arrival time (`os.utime`), so that "newer" is
# explicit. We use five images (29 to 33) of patient A's CT thorax series;
# `data/sample` is only read.

# %%
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pydicom
from IPython.display import display

import dicomkit as dk

SAMPLE = dk.examples.sample()  # the sample folder: only ever read
pl.Config.set_fmt_str_lengths(500)  # whole messages in tables (HTML wraps them)

SERIES = SAMPLE / "PAT001_DOE_JOHN" / "20230314_CT_THORAX" / "SE000002"
DELIVERY = Path(tempfile.mkdtemp(prefix="dicomkit-resending-"))


# %% [markdown]
# Two helpers: `send` puts a copy of a sample file into the delivery folder,
# optionally with changed attributes (written with pydicom), stamped with its
# arrival time; `report` shows what the receiver now holds.


# %%
def arrival(day: int, hour: int, minute: int = 0) -> float:
    return datetime(2023, 3, day, hour, minute, tzinfo=timezone.utc).timestamp()


def send(source: Path, name: str, at: float, **changes: str) -> Path:
    """Copy `source` to DELIVERY/name, with `changes` applied, modified at `at`."""
    target = DELIVERY / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if changes:
        ds = pydicom.dcmread(source)
        for keyword, value in changes.items():
            setattr(ds, keyword, value)
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.save_as(target)
    else:
        shutil.copyfile(source, target)
    os.utime(target, (at, at))
    return target


def short(column: str) -> pl.Expr:
    return pl.col(column).str.strip_prefix(f"{DELIVERY}{os.sep}")


def report(col: dk.Collection) -> None:
    print(
        f"len(col) = {len(col)} | series: {col.series.height}"
        f" | studies: {col.studies.height} | resends: {col.resends.height}"
    )
    rs = col.resends.select(short("path"), "resend", short("replaced_by"), "differs")
    display(rs)
    display(col.verify().select("severity", "check", "level", "message"))


# %% [markdown]
# ## Day 1: the first delivery
#
# The scanner sends images 29 to 33. Image 31 carries a typo in the patient's
# name, `DOE^JON` instead of `DOE^JOHN` (as in the sample, case 3), and verify
# already notices: the patient's name differs inside the study and inside the
# patient.

# %%
for number in range(29, 34):
    send(SERIES / f"IM{number:06d}", f"day1/IM{number:06d}", arrival(14, 9, number))
col = dk.scan(DELIVERY)
report(col)
col.instances.select("InstanceNumber", "PatientName", "SOPInstanceUID", short("path"))

# %% [markdown]
# ## Day 2: the same image again — it replaces
#
# The scanner sends image 30 again, byte for byte. Same SOPInstanceUID, so it
# replaces the earlier copy: still 5 images. The earlier copy is an `identical`
# resend, which is harmless, so verify finds nothing new.

# %%
send(SERIES / "IM000030", "day2/IM000030", arrival(15, 9))
col = dk.scan(DELIVERY)
report(col)

# %% [markdown]
# ## Day 2, later: the same pixels with a new UID — it is added
#
# A workstation exports image 30 once more, but gives it a **new**
# SOPInstanceUID. For DICOM that is a *different* image, so it is added: now 6
# images, two of them at the same position with the same InstanceNumber. verify
# calls the repeated position an **error**: a volume built from this series
# would hold one slice twice.

# %%
copy = send(
    SERIES / "IM000030",
    "day2/export_with_new_uid",
    arrival(15, 11),
    SOPInstanceUID=dk.uid.generate(),
)
col = dk.scan(DELIVERY)
report(col)

# %% [markdown]
# A resend cannot take it back: a file replaces only the image with its own
# UID, so anything carrying the new UID is still an extra image. It has to be
# deleted (in a PACS, by an administrator). We delete it before going on.

# %%
copy.unlink()
col = dk.scan(DELIVERY)
print(len(col), "images")

# %% [markdown]
# ## Day 3: a corrected header — a `modified` resend
#
# The typo is noticed, and image 31 is sent again with the corrected name
# `DOE^JOHN`, same SOPInstanceUID. The correction replaces the typo: every image
# now has the same PatientName and the `patient_mismatch` warnings are gone.
# The earlier copy is a `modified` resend whose `differs` column names exactly
# what changed. verify keeps a `modified_resend` warning so that someone checks
# the change was intended.

# %%
send(SERIES / "IM000031", "day3/IM000031", arrival(16, 9), PatientName="DOE^JOHN")
col = dk.scan(DELIVERY)
report(col)

# %%
modified = col.resends.filter(pl.col("resend") == "modified")
print("differs:", modified["differs"].to_list())
print("PatientName now:", col.instances["PatientName"].unique().to_list())

# %% [markdown]
# ## Day 4: the same SOPInstanceUID in another study — a `conflict`
#
# Then something goes wrong: a program puts image 32 into **another study and
# series** (a new StudyInstanceUID and SeriesInstanceUID) but keeps its
# SOPInstanceUID.

# %%
send(
    SERIES / "IM000032",
    "day4/IM000032",
    arrival(17, 9),
    StudyInstanceUID=dk.uid.generate(),
    SeriesInstanceUID=dk.uid.generate(),
)
col = dk.scan(DELIVERY)
report(col)
col.series.select("StudyInstanceUID", "SeriesInstanceUID", "n_instances")

# %% [markdown]
# **Why this breaks the promise of uniqueness.** A SOPInstanceUID says "this
# image, and no other". Trusting it, the receiver took the newer file as a new
# version of image 32 and dropped the old one: still 5 images, but now in 2
# studies, and patient A's series has lost a slice (`missing_slices`). Had the
# two files arrived in the other order, the other study would have lost it
# instead: which image survives depends on nothing but the order of arrival.
# verify reports a `sop_uid_conflict` **error**: one of the two images needs a
# new SOPInstanceUID. The sample holds such a case between two patients
# (case 11).
#
# | what arrives | SOPInstanceUID | effect | `col.resends` | verify |
# | --- | --- | --- | --- | --- |
# | the same file again | same | replaces | `identical` | nothing |
# | a copy with a new UID | new | added | — | `duplicate_position` (error) |
# | a corrected header | same | replaces | `modified`, with `differs` | `modified_resend` (warning) |
# | the same UID in another study | same | replaces an image of another study | `conflict` | `sop_uid_conflict` (error) |

# %% [markdown]
# ### ✍️ Exercise 1
#
# The scanner's clock was wrong on day 3: the corrected image 31 (`DOE^JOHN`)
# arrived stamped one day **before** the first delivery, while the typo copy
# (`DOE^JON`) is stamped on day 1. Which PatientName does image 31 have in the
# collection? Put the name (a string) in `answer_1`.

# %% tags=["exercise"]
answer_1 = ...  # "DOE^JOHN" or "DOE^JON"

# %% tags=["solution"] active="py" jupyter={"source_hidden": true}
# Solution: one way to answer. (The test suite runs it in place of the cell above.)
answer_1 = "DOE^JON"  # the newest file wins, whatever its content

# %% tags=["check"]
# Check exercise 1: run this cell after filling in answer_1 above.
with tempfile.TemporaryDirectory(prefix="dicomkit-exercise-") as folder:
    typo = Path(folder, "day1", "IM000031")
    fixed = Path(folder, "day3", "IM000031")
    for path in (typo, fixed):
        path.parent.mkdir()
    shutil.copyfile(SERIES / "IM000031", typo)
    ds = pydicom.dcmread(SERIES / "IM000031")
    ds.PatientName = "DOE^JOHN"
    ds.save_as(fixed)
    os.utime(typo, (arrival(14, 9),) * 2)
    os.utime(fixed, (arrival(13, 9),) * 2)
    expected_1 = str(dk.scan(folder).instances["PatientName"][0])
hint_1 = "the newest file (by modification time) is the instance, whatever its content or path"
dk.examples.check(1, answer_1, expected_1, hint=hint_1)

# %% [markdown]
# <details><summary>Why</summary>
#
# **`"DOE^JON"`**, the typo. The newest file is the instance, and by its time
# stamp the typo copy is newer; the correction becomes a `modified` resend. The
# rule cannot know which content is right: it trusts the order of arrival. So
# correct clocks matter, and a `modified_resend` warning deserves a look.
#
# </details>

# %% [markdown]
# ### ✍️ Exercise 2
#
# Of the three kinds of resend (`identical`, `modified`, `conflict`), which one
# makes `col.verify()` report an **error**? Put the kind (a string) in
# `answer_2`.

# %% tags=["exercise"]
answer_2 = ...  # one of the three kinds

# %% tags=["solution"] active="py" jupyter={"source_hidden": true}
# Solution: one way to answer. (The test suite runs it in place of the cell above.)
answer_2 = "conflict"  # two different images claim one identity

# %% tags=["check"]
# Check exercise 2: run this cell after filling in answer_2 above.
errors = col.verify().filter(pl.col("severity") == "error")
in_error = col.resends.filter(pl.col("SOPInstanceUID").is_in(errors["uid"].implode()))
kinds = in_error["resend"].to_list()
expected_2 = kinds[0] if len(kinds) == 1 else kinds
hint_2 = 'look at the "severity" of each finding in the last report'
dk.examples.check(2, answer_2, expected_2, hint=hint_2)

# %% [markdown]
# <details><summary>Why</summary>
#
# **`"conflict"`** (check `sop_uid_conflict`). An identical resend is harmless
# and a modified one a warning to look at; a conflict means two different images
# claim one identity, and one of them has already been dropped.
#
# </details>

# %%
shutil.rmtree(DELIVERY)  # the temporary delivery; data/sample was only read

# %% [markdown]
# **Next:** `03_quality_check` — verify a whole delivery, look at what is wrong,
# split and merge series, and write the fixed series.
