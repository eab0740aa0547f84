"""Write the teaching notebooks 01–05 from this one reviewable script.

Run from anywhere::

    .venv/bin/python notebooks/build_notebooks.py

Each notebook is a list of markdown and code cells, written with
``nbformat.v4`` without outputs (the test suite runs every notebook and checks
that the committed copy has none). Cell ids are derived from the notebook name
and the cell's position, so running the script twice gives the same files.

Every notebook finds ``data/sample`` by walking up from the working folder,
only *reads* it, and writes nothing but temporary folders outside the
repository.
"""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import nbformat
from nbformat import v4

HERE = Path(__file__).resolve().parent

Cell = tuple[str, str]


def md(text: str) -> Cell:
    """A markdown cell (the text is dedented and stripped)."""
    return ("markdown", dedent(text).strip())


def code(text: str) -> Cell:
    """A code cell (the text is dedented and stripped)."""
    return ("code", dedent(text).strip())


def exercise(
    number: int,
    question: str,
    placeholder: str,
    check: str,
    answer: str,
    right: str | None = None,
) -> list[Cell]:
    """A question, a cell to fill in, a CHECK cell that never raises, the answer.

    ``check`` is the body of the check cell: it must set ``expected_<n>`` and
    ``hint_<n>``; the comparison (``right``, default ``answer_<n> ==
    expected_<n>``) and the messages are added here.
    """
    n = number
    right = right or f"answer_{n} == expected_{n}"
    return [
        md(f"### ✍️ Exercise {n}\n\n{dedent(question).strip()}"),
        code(f"answer_{n} = {placeholder}"),
        code(
            f"# CHECK exercise {n}: run this cell after filling in answer_{n} above.\n"
            + dedent(check).strip()
            + f"""
if answer_{n} is None or answer_{n} is ...:
    print(f"✗ not yet — hint: {{hint_{n}}}")
elif {right}:
    print("✓ right")
else:
    print(f"✗ not yet — hint: {{hint_{n}}}")"""
        ),
        md(
            "<details><summary>Answer</summary>\n\n"
            + dedent(answer).strip()
            + "\n\n</details>"
        ),
    ]


FIND_SAMPLE = """
ROOT = Path.cwd()
while not (ROOT / "data" / "sample").is_dir():
    if ROOT.parent == ROOT:
        msg = "run this notebook inside the dicomkit repository (no data/sample found)"
        raise FileNotFoundError(msg)
    ROOT = ROOT.parent
SAMPLE = ROOT / "data" / "sample"  # only ever read
"""


def setup(imports: str, after: str = "") -> Cell:
    """The first code cell: imports, then locate the sample data."""
    return code(dedent(imports).strip() + "\n" + FIND_SAMPLE + dedent(after))


# -- 01 envelopes ----------------------------------------------------------------------

ENVELOPES: list[Cell] = [
    md(
        """
        # 1 · Envelopes: how DICOM keeps an examination together

        In a film-based imaging centre, the films of one examination went into one
        envelope. The envelope *and every film* bore the patient's data, so a film
        that fell out could always be put back in the right envelope.

        In DICOM the envelope is immaterial. Every image carries the labels of its
        envelopes in its own header:

        | label | written into | names |
        | --- | --- | --- |
        | **StudyInstanceUID** | every image of the study | the envelope: one examination |
        | **SeriesInstanceUID** | every image of the series | a sub-envelope: one acquisition or reconstruction |
        | **SOPInstanceUID** | one image | the image itself |

        A UID is issued under a *root* that belongs to an organisation (usually the
        manufacturer), followed by parts the device chooses so that no two are alike.
        These UIDs are why studies, series and images are never mixed up — as long as
        they are unique.

        This notebook shakes every image of the sample out of its folder and shows
        that `dk.scan` puts them all back. Then it takes a few UIDs apart.
        """
    ),
    md("## Setup\n\nThe sample: 3 patients, 5 studies, 9 series, 213 images."),
    setup(
        """
        import os
        import random
        import shutil
        import tempfile
        from pathlib import Path

        import polars as pl

        import dicomkit as dk
        """,
        """
        col = dk.scan(SAMPLE)
        col
        """,
    ),
    md(
        """
        ## The images fall out of their envelopes

        We copy all 219 files of the sample (213 images, 3 superseded copies and 3
        files that cannot be read as images) into **one flat temporary folder**,
        outside the repository, each under a random name without extension. The
        random generator is seeded, so the names are the same on every run.

        One thing we keep is the order in which the files were written (their
        modification time). Names play no part in grouping, but time matters for one
        thing: when two files carry the same SOPInstanceUID, the newer one is the
        current image (notebook 2 is about that).
        """
    ),
    code(
        """
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
        """
    ),
    md(
        """
        ## Putting them back

        `dk.scan` reads each file's header and groups by the UIDs it finds there.
        """
    ),
    code(
        """
        flat_col = dk.scan(flat)
        flat_col
        """
    ),
    md(
        """
        The same summary and the same tree. Let's compare the two scans series by
        series, on their UIDs and their number of images.
        """
    ),
    code(
        """
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
        """
    ),
    md(
        """
        Every series is back, with the same UIDs and the same number of images; the
        superseded copies and the unreadable files are the same too. The hierarchy
        comes from the UIDs inside the files and from nothing else.

        Folders never counted, even in the sample's tidy layout: three images of
        patient B's MR series were filed in patient A's CT folder (case 8 of the
        sample). Their UIDs put them where they belong:
        """
    ),
    code(
        """
        col.instances.filter(
            pl.col("path").str.contains("20230314_CT_THORAX"), pl.col("Modality") == "MR"
        ).select(
            pl.col("path").str.strip_prefix(f"{SAMPLE}{os.sep}"),
            "PatientID",
            "SeriesDescription",
            "InstanceNumber",
        )
        """
    ),
    *exercise(
        1,
        """
        A colleague renames every file of the sample to `IMG0001`, `IMG0002`, … in a
        random order and puts them all into one folder. How many series will
        `dk.scan` find in that folder? Put a number in `answer_1`.
        """,
        "None  # a number",
        """
        expected_1 = col.series.height
        hint_1 = "names and folders play no part: count the SeriesInstanceUIDs"
        """,
        """
        **9**, as before. Every image carries its SeriesInstanceUID, and the sample holds 9
        distinct values; renaming and moving files changes none of them. The scramble
        above did exactly that.
        """,
    ),
    md(
        """
        ## Taking a UID apart

        A UID is digits and dots, at most 64 characters (DICOM PS3.5 §9.1).
        `dk.uid.explain` splits it into three parts:

        - the **root**: the organisation that issued it (here the manufacturer),
          registered so that nobody else uses it;
        - the **device part**: what that organisation chose to name its product,
          device or site;
        - the **suffix**: what makes it unique to one examination, series or image —
          often a time stamp and counters.

        Everything after the root is a heuristic reading: the standard says not to
        parse UIDs, and dicomkit never uses their parts to group anything. It is a
        way to *read* them. Here are the StudyInstanceUIDs of patient A's first CT
        study (Siemens) and of patient B's MR study (GE):
        """
    ),
    code(
        """
        studies = col.studies.select(
            "PatientID", "StudyDate", "StudyDescription", "StudyInstanceUID"
        )
        ct_a = studies.filter(pl.col("PatientID") == "PAT001")["StudyInstanceUID"][0]
        mr_b = studies.filter(pl.col("PatientID") == "PAT002")["StudyInstanceUID"][0]
        for uid in (ct_a, mr_b):
            print(dk.uid.explain(uid), end="\\n\\n")
        """
    ),
    md(
        """
        Notice the time stamps in the suffixes: the Siemens UID writes the study's
        date and time after a `3` (`230314081502` = 2023-03-14 08:15:02), the GE UID
        a Unix time (`1683036310` = 2023-05-02 14:05:10 UTC). And the CT's device part
        `1.4.83504` ends in the same digits as its StationName, `CTAWP83504`.

        ### Envelope, sub-envelope, image

        The three UIDs of one image share the root and the device part. On this CT,
        the suffix is a `3` and the study's time stamp, then a kind digit (1 study,
        2 series, 3 image) and a 5-digit counter: for an image, `SeriesNumber × 1000 +
        InstanceNumber`, so `…302021` is image 21 of series 2.
        """
    ),
    code(
        """
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
        """
    ),
    md(
        """
        ## One device, one prefix

        `dk.uid.common_prefix` returns the longest run of whole components that UIDs
        share. Studies from one device share a long prefix; studies from different
        manufacturers share almost nothing.
        """
    ),
    code(
        """
        a_ct = col.studies.filter(pl.col("PatientID") == "PAT001")["StudyInstanceUID"]
        ge_mr = col.studies.filter(pl.col("modalities").list.contains("MR"))["StudyInstanceUID"]
        every = col.studies["StudyInstanceUID"]
        print("patient A's two CT studies:", dk.uid.common_prefix(a_ct))
        print("the MR studies of B and C: ", dk.uid.common_prefix(ge_mr))
        print("all five studies:          ", dk.uid.common_prefix(every))
        """
    ),
    md(
        """
        Patient A's two CT studies, six months apart, share
        `1.3.12.2.1107.5.1.4.83504`: Siemens' root and the device part. The MR studies
        of patients B and C share GE's root and `2.410.4057621`. All five share only
        `1`, the ISO arc. Different roots can never produce the same UID, and inside
        one root the device and its time stamps and counters keep the suffixes apart.
        """
    ),
    *exercise(
        2,
        """
        Which other patient had a study on the same CT scanner as patient A? Compare
        the StudyInstanceUIDs in `col.studies` with the prefix of patient A's CT
        studies, and put that patient's PatientID (a string) in `answer_2`.
        """,
        'None  # a PatientID, e.g. "PAT00?"',
        """
        prefix_a = dk.uid.common_prefix(a_ct) + "."
        others = col.studies.filter(
            pl.col("StudyInstanceUID").str.starts_with(prefix_a),
            pl.col("PatientID") != "PAT001",
        )
        found = others["PatientID"].unique().to_list()
        expected_2 = found[0] if len(found) == 1 else found
        hint_2 = 'keep the studies whose UID starts with the prefix above: pl.col("StudyInstanceUID").str.starts_with(...)'
        """,
        """
        **`"PAT003"`** (Müller^Jürgen). Its CT ABDOMEN study,
        `1.3.12.2.1107.5.1.4.83504.3231107093000100001`, starts with the same
        `1.3.12.2.1107.5.1.4.83504` as patient A's two CT studies; its StationName is
        `CTAWP83504` too (see `col.series`).
        """,
    ),
    md(
        """
        ## Envelopes in envelopes

        The tree drawn from the flat folder of random names. Notice that patient A
        holds two studies (the baseline and the follow-up), that patient B's one study
        holds four series, and that B's series 3 has all 40 images, including the
        three that were filed in A's folder.
        """
    ),
    code("dk.plot.hierarchy(flat_col)"),
    code(
        """
        shutil.rmtree(flat)  # the temporary copy; data/sample was only read
        """
    ),
    md(
        """
        **Next:** `02_resending` — what happens when an image arrives twice, with the
        same SOPInstanceUID or a new one.
        """
    ),
]


# -- 02 resending ----------------------------------------------------------------------

RESENDING: list[Cell] = [
    md(
        """
        # 2 · Resending: replace or add?

        When a film was reprinted, the new print replaced the old one in the
        envelope: it bore the same data. In DICOM the **SOPInstanceUID** does this job:

        - an image sent again with the **same SOPInstanceUID** is a new version of the
          same image: it **replaces** the earlier copy;
        - an image with a **new SOPInstanceUID** is a different image: it is **added**.

        dicomkit applies exactly this rule. Of several files carrying one
        SOPInstanceUID, the newest (later modification time, then later path) is the
        instance; every other copy becomes a row of `col.resends`, classified as

        - `identical`: the same content;
        - `modified`: the same UIDs with different content (`differs` names the
          attributes);
        - `conflict`: the same SOPInstanceUID under another series, study or patient.

        Here we play the receiving end. Images "arrive" in a temporary folder, and we
        stamp each file with its arrival time (`os.utime`), so that "newer" is
        explicit. We use five images (29 to 33) of patient A's CT thorax series;
        `data/sample` is only read.
        """
    ),
    setup(
        """
        import os
        import shutil
        import tempfile
        from datetime import datetime, timezone
        from pathlib import Path

        import polars as pl
        import pydicom
        from IPython.display import display

        import dicomkit as dk
        """,
        """
        SERIES = SAMPLE / "PAT001_DOE_JOHN" / "20230314_CT_THORAX" / "SE000002"
        DELIVERY = Path(tempfile.mkdtemp(prefix="dicomkit-resending-"))
        """,
    ),
    md(
        """
        Two helpers: `send` puts a copy of a sample file into the delivery folder,
        optionally with changed attributes (written with pydicom), stamped with its
        arrival time; `report` shows what the receiver now holds.
        """
    ),
    code(
        """
        def arrival(day: int, hour: int, minute: int = 0) -> float:
            return datetime(2023, 3, day, hour, minute, tzinfo=timezone.utc).timestamp()


        def send(source: Path, name: str, at: float, **changes: str) -> Path:
            \"\"\"Copy `source` to DELIVERY/name, with `changes` applied, modified at `at`.\"\"\"
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
        """
    ),
    md(
        """
        ## Day 1: the first delivery

        The scanner sends images 29 to 33. Image 31 carries a typo in the patient's
        name, `DOE^JON` instead of `DOE^JOHN` (as in the sample, case 3), and verify
        already notices: the patient's name differs inside the study and inside the
        patient.
        """
    ),
    code(
        """
        for number in range(29, 34):
            send(SERIES / f"IM{number:06d}", f"day1/IM{number:06d}", arrival(14, 9, number))
        col = dk.scan(DELIVERY)
        report(col)
        col.instances.select("InstanceNumber", "PatientName", "SOPInstanceUID", short("path"))
        """
    ),
    md(
        """
        ## Day 2: the same image again — it replaces

        The scanner sends image 30 again, byte for byte. Same SOPInstanceUID, so it
        replaces the earlier copy: still 5 images. The earlier copy is an `identical`
        resend, which is harmless, so verify finds nothing new.
        """
    ),
    code(
        """
        send(SERIES / "IM000030", "day2/IM000030", arrival(15, 9))
        col = dk.scan(DELIVERY)
        report(col)
        """
    ),
    md(
        """
        ## Day 2, later: the same pixels with a new UID — it is added

        A workstation exports image 30 once more, but gives it a **new**
        SOPInstanceUID. For DICOM that is a *different* image, so it is added: now 6
        images, two of them at the same position with the same InstanceNumber. verify
        calls the repeated position an **error**: a volume built from this series
        would hold one slice twice.
        """
    ),
    code(
        """
        copy = send(
            SERIES / "IM000030",
            "day2/export_with_new_uid",
            arrival(15, 11),
            SOPInstanceUID=dk.uid.generate(),
        )
        col = dk.scan(DELIVERY)
        report(col)
        """
    ),
    md(
        """
        A resend cannot take it back: a file replaces only the image with its own
        UID, so anything carrying the new UID is still an extra image. It has to be
        deleted (in a PACS, by an administrator). We delete it before going on.
        """
    ),
    code(
        """
        copy.unlink()
        col = dk.scan(DELIVERY)
        print(len(col), "images")
        """
    ),
    md(
        """
        ## Day 3: a corrected header — a `modified` resend

        The typo is noticed, and image 31 is sent again with the corrected name
        `DOE^JOHN`, same SOPInstanceUID. The correction replaces the typo: every image
        now has the same PatientName and the `patient_mismatch` warnings are gone.
        The earlier copy is a `modified` resend whose `differs` column names exactly
        what changed. verify keeps a `modified_resend` warning so that someone checks
        the change was intended.
        """
    ),
    code(
        """
        send(SERIES / "IM000031", "day3/IM000031", arrival(16, 9), PatientName="DOE^JOHN")
        col = dk.scan(DELIVERY)
        report(col)
        """
    ),
    code(
        """
        modified = col.resends.filter(pl.col("resend") == "modified")
        print("differs:", modified["differs"].to_list())
        print("PatientName now:", col.instances["PatientName"].unique().to_list())
        """
    ),
    md(
        """
        ## Day 4: the same SOPInstanceUID in another study — a `conflict`

        Then something goes wrong: a program puts image 32 into **another study and
        series** (a new StudyInstanceUID and SeriesInstanceUID) but keeps its
        SOPInstanceUID.
        """
    ),
    code(
        """
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
        """
    ),
    md(
        """
        **Why this breaks the promise of uniqueness.** A SOPInstanceUID says "this
        image, and no other". Trusting it, the receiver took the newer file as a new
        version of image 32 and dropped the old one: still 5 images, but now in 2
        studies, and patient A's series has lost a slice (`missing_slices`). Had the
        two files arrived in the other order, the other study would have lost it
        instead: which image survives depends on nothing but the order of arrival.
        verify reports a `sop_uid_conflict` **error**: one of the two images needs a
        new SOPInstanceUID. The sample holds such a case between two patients
        (case 11).

        | what arrives | SOPInstanceUID | effect | `col.resends` | verify |
        | --- | --- | --- | --- | --- |
        | the same file again | same | replaces | `identical` | nothing |
        | a copy with a new UID | new | added | — | `duplicate_position` (error) |
        | a corrected header | same | replaces | `modified`, with `differs` | `modified_resend` (warning) |
        | the same UID in another study | same | replaces an image of another study | `conflict` | `sop_uid_conflict` (error) |
        """
    ),
    *exercise(
        1,
        """
        The scanner's clock was wrong on day 3: the corrected image 31 (`DOE^JOHN`)
        arrived stamped one day **before** the first delivery, while the typo copy
        (`DOE^JON`) is stamped on day 1. Which PatientName does image 31 have in the
        collection? Put the name (a string) in `answer_1`.
        """,
        'None  # "DOE^JOHN" or "DOE^JON"',
        """
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
        """,
        """
        **`"DOE^JON"`**, the typo. The newest file is the instance, and by its time
        stamp the typo copy is newer; the correction becomes a `modified` resend. The
        rule cannot know which content is right: it trusts the order of arrival. So
        correct clocks matter, and a `modified_resend` warning deserves a look.
        """,
    ),
    *exercise(
        2,
        """
        Of the three kinds of resend (`identical`, `modified`, `conflict`), which one
        makes `col.verify()` report an **error**? Put the kind (a string) in
        `answer_2`.
        """,
        "None  # one of the three kinds",
        """
        errors = col.verify().filter(pl.col("severity") == "error")
        in_error = col.resends.filter(pl.col("SOPInstanceUID").is_in(errors["uid"].implode()))
        kinds = in_error["resend"].to_list()
        expected_2 = kinds[0] if len(kinds) == 1 else kinds
        hint_2 = 'look at the "severity" of each finding in the last report'
        """,
        """
        **`"conflict"`** (check `sop_uid_conflict`). An identical resend is harmless
        and a modified one a warning to look at; a conflict means two different images
        claim one identity, and one of them has already been dropped.
        """,
    ),
    code(
        """
        shutil.rmtree(DELIVERY)  # the temporary delivery; data/sample was only read
        """
    ),
    md(
        """
        **Next:** `03_quality_check` — verify a whole delivery, look at what is wrong,
        split and merge series, and write the fixed series.
        """
    ),
]


# -- 03 quality check ------------------------------------------------------------------

QUALITY: list[Cell] = [
    md(
        """
        # 3 · Quality check of a delivery

        A delivery of images arrives — for a study, a second opinion, an AI project.
        Before anyone uses it:

        1. **verify**: list what is wrong;
        2. **look** at what the findings point to;
        3. **split** series that hold more than one volume;
        4. **merge** series that a scanner split;
        5. **write** the fixed series as new files, rescan them and verify again.

        The sample plays the delivery. Its `README.md` lists exactly what a correct
        tool must report; all of it appears below.
        """
    ),
    setup(
        """
        import shutil
        import tempfile
        from pathlib import Path

        import polars as pl

        import dicomkit as dk
        """,
        """
        KEY = "notebook-03"  # makes the new UIDs of splits and merges the same on every run
        col = dk.scan(SAMPLE)
        col
        """,
    ),
    md(
        """
        ## 1. Verify

        `col.verify()` returns one row per finding: its `severity` (`error`, `warning`
        or `info`), a stable `check` id, the `level` and `uid` it concerns, a
        `message` in words and a measured `value`. It never raises (unless you ask
        with `strict=True`).
        """
    ),
    code(
        """
        findings = col.verify()
        findings.select("severity", "check", "level", "uid", "value")
        """
    ),
    md(
        """
        Eight findings: 1 error, 5 warnings, 2 infos. Errors first: here, one
        SOPInstanceUID carried by two different images of two patients (sample
        case 11).
        """
    ),
    code(
        """
        for row in findings.filter(pl.col("severity") == "error").iter_rows(named=True):
            print(row["check"], "—", row["message"])
        """
    ),
    md(
        """
        Grouped by check, with what each check is about (`dk.describe_checks()`
        documents every check):
        """
    ),
    code(
        """
        order = pl.Enum(["error", "warning", "info"])
        (
            findings.group_by("severity", "check")
            .agg(pl.len().alias("n"))
            .join(dk.describe_checks().select("check", "description"), on="check")
            .sort(pl.col("severity").cast(order), "check")
        )
        """
    ),
    md(
        """
        ## 2. Look before you fix

        `dk.plot.slice_positions(col, uid)` draws one dot per image: across, its
        position along the slice normal (mm); up, its InstanceNumber. A regular series
        is an even staircase.

        **The missing slice** (A's follow-up series 3, `Thorax 3.0 B70f`). Notice the
        red band: one step is 6 mm where all others are 3 mm, between InstanceNumber 12
        and 14; the dashed line marks where the missing slice should be, at −224 mm.
        """
    ),
    code(
        """
        uid_of = dict(col.series.select("SeriesDescription", "SeriesInstanceUID").iter_rows())
        dk.plot.slice_positions(col, uid_of["Thorax 3.0 B70f"])
        """
    ),
    *exercise(
        1,
        """
        At which position along the slice normal (in mm) is the missing slice? Read it
        from the figure or from the finding's message, and put a number in
        `answer_1`.
        """,
        "None  # a number, in mm",
        """
        from itertools import pairwise

        positions = sorted(
            p[2] for p in col[uid_of["Thorax 3.0 B70f"]].instances["ImagePositionPatient"]
        )
        steps = [b - a for a, b in pairwise(positions)]
        gap = steps.index(max(steps))
        expected_1 = positions[gap] + min(steps)
        hint_1 = "slices are 3 mm apart; the missing one is in the middle of the 6 mm step"
        """,
        """
        **−224 mm**: the neighbours are InstanceNumber 12 at −227 mm and 14 at −221 mm,
        and the finding says *"the missing position is -224.00 mm, index 12 of 24"*.
        Only the sender can supply it: dicomkit never interpolates a missing slice.
        """,
        right="isinstance(answer_1, (int, float)) and abs(answer_1 - expected_1) < 0.5",
    ),
    md(
        """
        **The tilted CT** (A's follow-up series 2, `Head seq 5.0 H31s tilt`). The dots
        are regular, 4.83 mm apart along the normal, but the title says the slices are
        stacked at 15.0° to their normal: the table moved 5 mm straight along the body
        while the gantry, and so the image planes, were tilted by 15°
        (GantryDetectorTilt 15). A volume built without this shear is distorted.
        """
    ),
    code('dk.plot.slice_positions(col, uid_of["Head seq 5.0 H31s tilt"])'),
    md(
        """
        **A localizer inside an axial series** (A's series 2, `Thorax 2.5 B31f`). Notice
        the purple square in the left lane: InstanceNumber 1 is a coronal localizer,
        at 90° to the 48 axial slices, filed in the same series.
        """
    ),
    code('dk.plot.slice_positions(col, uid_of["Thorax 2.5 B31f"])'),
    md(
        """
        **Two echoes in one series** (B's series 3, `AX PD/T2 DUAL ECHO`). Notice the
        orange stacks: each of the 20 positions holds two images, one per echo
        (EchoNumbers 1 and 2) — a clean repeat, not a mistake in the positions.
        """
    ),
    code('dk.plot.slice_positions(col, uid_of["AX PD/T2 DUAL ECHO"])'),
    md(
        """
        ## 3. Split what is not one volume

        `col.split_series(uid)` plans a split: which images go where, and why. Nothing
        changes until the plan is applied (`.apply()`, in memory) or written
        (`.write(folder)`, as new files).
        """
    ),
    code(
        """
        thorax = uid_of["Thorax 2.5 B31f"]
        col.split_series(thorax, key=KEY)
        """
    ),
    md(
        """
        The automatic criteria give three reasons: the orientation (axial vs coronal),
        the pixel spacing, and the ImageType `LOCALIZER`. The localizer explains all
        three. We name the two criteria that matter, which also keeps the new series'
        descriptions short:
        """
    ),
    code(
        """
        plan_thorax = col.split_series(thorax, by=["orientation", "localizer"], key=KEY)
        columns = ["SeriesNumber", "SeriesDescription", "n_instances", "reason"]
        plan_thorax.summary().select(columns)
        """
    ),
    md(
        """
        Applied, the plan gives a new collection in which the 48 axial slices and the
        localizer are two series with new UIDs; each image keeps where it came from in
        `source_series_uid` and `source_sop_uid`. Then we plan the echo split on that
        new collection; for MR the automatic criteria include EchoNumbers.
        """
    ),
    code(
        """
        step1 = plan_thorax.apply()
        echo = uid_of["AX PD/T2 DUAL ECHO"]
        plan_echo = step1.split_series(echo, key=KEY)
        plan_echo.summary().select(columns)
        """
    ),
    code(
        """
        step2 = plan_echo.apply()
        print(step2.series.height, "series,", len(step2), "images")
        step2.verify().select("severity", "check", "uid")
        """
    ),
    md(
        """
        Eleven series now, and three findings fewer: the `mixed_orientation` and the
        `duplicate_position` are gone, and so is the `modified_resend` (the split gave
        the corrected image 31 a new SOPInstanceUID, of which the earlier copy is no
        resend).

        ## 4. Merge what the scanner split

        B's FLAIR was acquired as one volume of 20 slices, 5 mm apart, but stored as two
        series of 10 (odd and even slices, 10 mm apart each): that is what the two
        `slice_thickness_vs_spacing` infos hinted at. `suggest_merges()` finds such
        pairs and says why.
        """
    ),
    code(
        """
        suggestions = step2.suggest_merges()
        suggestions.select("series_numbers", "n_instances", "spacing", "reason")
        """
    ),
    code(
        """
        pair = suggestions["series_uids"][0].to_list()
        plan_merge = step2.merge_series(pair, key=KEY)
        step3 = plan_merge.apply()
        print(step3.series.height, "series,", len(step3), "images")
        step3.verify().select("severity", "check", "uid")
        """
    ),
    md(
        """
        The merged FLAIR: notice one image per position, evenly 5 mm apart, with no
        gap — the two halves interleave into one regular volume.
        """
    ),
    code(
        """
        flair = plan_merge.summary()["new_series_uid"][0]
        dk.plot.slice_positions(step3, flair)
        """
    ),
    md(
        """
        ## 5. Write the fixed series, rescan, verify again

        A plan writes only the images it changes, as new files with their new UIDs,
        into a folder you choose; the source files are only read. We make the same
        three plans on `col`, the delivery as read from disk (with the same key, so
        they give the same new UIDs as the steps above), write them into one new
        temporary folder, scan that folder, and verify it.
        """
    ),
    code(
        """
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
        """
    ),
    code(
        """
        received = col.series["SeriesInstanceUID"].implode()
        new = step3.instances.filter(~pl.col("SeriesInstanceUID").is_in(received))
        same = set(fixed.instances["SOPInstanceUID"]) == set(new["SOPInstanceUID"])
        print("the files hold the images inspected above:", same)
        print(fixed.verify().height, "findings in the fixed series")
        fixed.series.select("SeriesNumber", "Modality", "SeriesDescription", "n_instances")
        """
    ),
    md(
        """
        No findings in the rewritten series. Put together with the series that needed
        no regrouping, the delivery has 10 series, and three findings are left. None
        of them can be fixed by regrouping; each needs a person: ask the sender for the
        missing slice, use the positions (or resample) for the tilted CT, and have one
        of the two images that share a SOPInstanceUID given a new one.
        """
    ),
    code(
        """
        changed = [thorax, echo, *pair]
        delivery = col.filter(~pl.col("SeriesInstanceUID").is_in(changed)).add(fixed)
        print(delivery.series.height, "series,", len(delivery), "images")
        delivery.verify().select("severity", "check", "message")
        """
    ),
    *exercise(
        2,
        """
        Instead of the two targeted splits, you could call `col.split_series()` with no
        UID: it plans a split of every series that needs one, with the automatic
        criteria. Without any merge, how many series would the delivery then have?
        Put a number in `answer_2`.
        """,
        "None  # a number",
        """
        expected_2 = col.split_series(key=KEY).apply().series.height
        hint_2 = "start from 9 series; which series hold more than one volume, and into how many parts does each split?"
        """,
        """
        **11**: the 9 series, plus one for the localizer split off A's CT thorax, plus
        one for the second echo split off B's dual-echo series. The FLAIR halves stay
        two series until you merge them.
        """,
    ),
    code(
        """
        shutil.rmtree(out)  # the temporary output; data/sample was only read
        """
    ),
    md(
        """
        **Next:** `04_explore` — the same collection in the explorer widget, and the
        plots.
        """
    ),
]


# -- 04 explore ------------------------------------------------------------------------

EXPLORE: list[Cell] = [
    md(
        """
        # 4 · Explore: the explorer widget and the plots

        `col.explore()` puts a whole collection into one widget: the series list, the
        images, their tags and their UIDs. The plots of `dk.plot` draw the same data as
        static figures.

        > **Reading this on GitHub?** Widgets need a running Python kernel. Where there
        > is none (GitHub, nbviewer, an HTML export) the explorer of an executed
        > notebook shows a static summary instead: its header, a thumbnail of each of
        > the first 12 series and the Patient → Study → Series tree. This notebook is
        > stored without outputs: run it in Jupyter to see either.
        """
    ),
    setup(
        """
        from pathlib import Path

        import matplotlib.pyplot as plt
        import polars as pl

        import dicomkit as dk
        from dicomkit.hierarchy import varying_attributes
        from dicomkit.window import PRESETS, auto_window
        """,
        """
        col = dk.scan(SAMPLE, progress=False)
        """,
    ),
    md(
        """
        ## The explorer

        - **Left**: every series, under its patient and study, in SeriesNumber order,
          with its number of images and a badge for its worst `verify()` finding
          (⛔ error, ⚠️ warning, ℹ️ info, ✓ nothing). Below it, the patient, study and
          series of the selection.
        - **Series** tab: thumbnails of the study's series, then the slice viewer —
          a slider through the slices in geometric order, the window presets, the
          window width (WW) and level (WL), and the series' findings in words.
        - **Tags** tab: the full header of the image shown, read from its file, with a
          filter; or the attributes that vary across its series.
        - **UID anatomy** tab: the Study, Series and SOP Instance UIDs of the image,
          taken apart.
        """
    ),
    code(
        """
        explorer = col.explore()
        explorer
        """
    ),
    md(
        """
        ## Browsing

        The list on the left, as text. The badges come from `col.verify()`: notice ⛔
        on C's knee series, which holds the image whose SOPInstanceUID patient B's
        series also used (sample case 11), and ✓ on the two clean series.
        """
    ),
    code(
        """
        for label, _uid in explorer.series_select.options:
            print(label)
        """
    ),
    md(
        """
        ## Window and level

        CT values are Hounsfield units, from −1000 (air) to well over +1000 (dense
        bone): far more grey levels than a screen or an eye can tell apart. The *window*
        chooses which range to spread from black to white: values below
        `WL − WW/2` are black, above `WL + WW/2` white. The viewer offers:

        - **DICOM default**: the WindowCenter/WindowWidth stored in the file;
        - **auto**: from the 1st to the 99th percentile of the image shown;
        - the named CT presets below (in HU).
        """
    ),
    code(
        """
        pl.DataFrame(
            [(name, w.width, w.level) for name, w in PRESETS.items()],
            schema=["preset", "WW", "WL"],
            orient="row",
        )
        """
    ),
    md(
        """
        `col.volume(uid)` stacks a series into a `(z, y, x)` array in HU, in geometric
        order. Here every 6th slice of C's CT abdomen, drawn by `dk.plot.montage` twice:
        with the `abdomen` preset and with the automatic percentile window. Notice how
        the soft-tissue window separates organs that the wide automatic window (which
        must also span the air around the body) washes out to near white.
        """
    ),
    code(
        """
        abdomen = col.series.filter(pl.col("SeriesDescription") == "Abdomen 5.0 B30f")[
            "SeriesInstanceUID"
        ][0]
        volume = col.volume(abdomen)
        print("shape", volume.shape, "spacing (mm)", volume.spacing)
        middle = volume.array[len(volume.array) // 2]
        print("auto window of the middle slice:", auto_window(middle))

        every_6th = volume.array[::6]
        labels = [f"z {p[2]:.0f} mm" for p in volume.positions[::6]]
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.5), layout="constrained")
        preset = PRESETS["abdomen"]
        dk.plot.montage(every_6th, window=(preset.level, preset.width), labels=labels, ax=left)
        dk.plot.montage(every_6th, labels=labels, ax=right)
        plt.show()
        """
    ),
    md(
        """
        ## Tags that vary

        The Tags tab has a second view, *varying in series*: every attribute that takes
        more than one value across the series of the image shown. Position and number
        change from slice to slice; identity and acquisition attributes should not. The
        same table for B's dual-echo series: notice EchoNumbers and EchoTime with two
        values each — the reason `verify()` found two images at every position.
        """
    ),
    code(
        """
        uid_of = dict(col.series.select("SeriesDescription", "SeriesInstanceUID").iter_rows())
        varying_attributes(col[uid_of["AX PD/T2 DUAL ECHO"]].instances)
        """
    ),
    md(
        """
        For comparison, B's clean sagittal T1 series: only the image's identity, times
        and position vary.
        """
    ),
    code('varying_attributes(col[uid_of["SAG T1 SE"]].instances)'),
    md(
        """
        ## UID anatomy

        The third tab takes apart the UIDs of the image shown, as `dk.uid.explain` does
        (notebook 1). For the image the explorer opened with — root (organisation) ·
        device part · suffix:
        """
    ),
    code(
        """
        shown = explorer.viewer.current
        print("InstanceNumber", shown["InstanceNumber"], "of", shown["SeriesDescription"])
        for level in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
            e = dk.uid.explain(shown[level])
            print(f"{level:<18} {e.root} ({e.organisation}) · {e.device_part} · {e.suffix}")
        """
    ),
    md(
        """
        ## Studies over time

        `dk.plot.timeline(col)`: one row per patient, one marker per study. Notice
        patient A's two CT studies six months apart (baseline 2023-03-14, follow-up
        2023-09-19) and patient C's CT and MR two weeks apart.
        """
    ),
    code("dk.plot.timeline(col)"),
    md(
        """
        **Next:** `05_at_scale` — the parquet index and polars queries across many
        series.
        """
    ),
]


# -- 05 at scale -----------------------------------------------------------------------

AT_SCALE: list[Cell] = [
    md(
        """
        # 5 · At scale: the parquet index and polars

        A scan is a table: one row per image. Saved as parquet, it can be reopened and
        queried with polars (or DuckDB, pandas, Spark) without reading a single DICOM
        file again. This notebook saves the sample's index, queries it across series,
        and then scans a larger synthetic collection.
        """
    ),
    setup(
        """
        import shutil
        import sys
        import tempfile
        import time
        from pathlib import Path

        import polars as pl

        import dicomkit as dk
        """,
        """
        col = dk.scan(SAMPLE)
        work = Path(tempfile.mkdtemp(prefix="dicomkit-at-scale-"))
        """,
    ),
    md(
        """
        ## The index file

        `col.write_parquet(path)` saves instances, resends and errors in one file
        (atomically); `dk.read_parquet(path)` gives back an equal collection.
        """
    ),
    code(
        """
        index = work / "sample.parquet"
        col.write_parquet(index)
        again = dk.read_parquet(index)
        print("equal:", again == col, f"— {index.stat().st_size / 1024:.0f} KiB")
        again
        """
    ),
    md(
        """
        In the file, the three tables are stacked and told apart by a `record`
        column: `instance`, `resend` or `error`. Any parquet reader sees them:
        """
    ),
    code('pl.read_parquet(index).group_by("record").len().sort("record")'),
    md(
        """
        ## Queries across series

        Every level view is a polars DataFrame, so questions across the whole
        collection are one expression. Series and images per modality:
        """
    ),
    code(
        """
        col.series.group_by("Modality").agg(
            pl.len().alias("series"), pl.col("n_instances").sum().alias("images")
        ).sort("Modality")
        """
    ),
    md("Images per study, from the instance table:"),
    code(
        """
        col.instances.group_by("PatientID", "StudyDate", "StudyDescription").agg(
            pl.len().alias("images"), pl.col("SeriesInstanceUID").n_unique().alias("series")
        ).sort("PatientID", "StudyDate")
        """
    ),
    md(
        """
        Which series have a finding? `col.verify()` is a DataFrame too. A series-level
        finding names its SeriesInstanceUID; an instance-level one names a
        SOPInstanceUID, which the instance table maps to its series. One join each:
        """
    ),
    code(
        """
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
        """
    ),
    md(
        """
        ## Lazy queries on the index file

        `pl.scan_parquet` reads nothing until `.collect()`; polars then pushes the
        filter and the column choice into the file reader. Notice in the plan
        (`explain()`) that only the columns the query needs are read (`PROJECT`) and
        that the `record == "instance"` filter is applied while scanning
        (`SELECTION`).
        """
    ),
    code(
        """
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
        """
    ),
    md(
        """
        ## A larger collection

        The benchmark corpus (`benchmarks/corpus.py`) writes synthetic CT and MR files
        with realistic headers, 100 slices per series, in a patient/study/series
        layout. We write 3,000 files into the temporary folder and time the scan.
        """
    ),
    code(
        """
        sys.dont_write_bytecode = True  # write nothing into the repository, not even .pyc
        sys.path.insert(0, str(ROOT))  # the repository root, for the benchmarks package
        from benchmarks.corpus import write_corpus

        N_FILES = 3_000
        corpus = work / "corpus"
        start = time.perf_counter()
        write_corpus(corpus, N_FILES)
        print(f"wrote {N_FILES:,} files in {time.perf_counter() - start:.1f} s")
        """
    ),
    code(
        """
        start = time.perf_counter()
        cache = work / "scan-cache.parquet"  # an explicit cache file, removed below
        big = dk.scan(corpus, cache=cache)
        seconds = time.perf_counter() - start
        print(f"scanned {big.n_files:,} files in {seconds:.1f} s")
        print(f"{big.n_files / seconds:,.0f} files/s")
        print(f"{big.patients.height} patients, {big.studies.height} studies,")
        print(f"{big.series.height} series, {len(big):,} images")
        """
    ),
    md(
        """
        The same queries, unchanged. Images per modality, and what verify finds: the
        benchmark corpus is not clinically realistic (each of its studies mixes CT and
        MR series with two different StudyDescriptions), and verify says so.
        """
    ),
    code(
        """
        big.series.group_by("Modality").agg(
            pl.len().alias("series"), pl.col("n_instances").sum().alias("images")
        ).sort("Modality")
        """
    ),
    code('big.verify().group_by("severity", "check").len()'),
    code(
        """
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
        """
    ),
    md(
        """
        A second scan of the same folder reads no file at all: the scan above kept an
        index of every file's path, size and modification time (`cache=`; by default
        in your user cache folder for folders of 1,000 files or more), so only files
        that were added, removed or changed are read again.
        """
    ),
    code(
        """
        start = time.perf_counter()
        again = dk.scan(corpus, cache=cache)
        print(f"rescanned in {time.perf_counter() - start:.2f} s, equal: {again == big}")
        """
    ),
    md(
        """
        ## Too big for memory: a partitioned index

        A `Collection` holds every row in memory, which is fine for thousands of
        files and too much for millions. `dk.scan_to_parquet` writes each batch of
        headers to disk as it is read (`part-00000.parquet`, `part-00001.parquet` …),
        so memory stays flat whatever the number of files, and returns a
        `LazyCollection`: the same frames and views as polars LazyFrames, computed
        only when collected. (`rows_per_part` is small here to make several parts.)
        """
    ),
    code(
        """
        parts = work / "corpus-index"
        lazy = dk.scan_to_parquet(corpus, parts, rows_per_part=1_000)
        print(sorted(p.name for p in parts.iterdir()))
        lazy.series.collect(engine="streaming").select(
            "PatientID", "SeriesNumber", "Modality", "n_instances"
        ).head()
        """
    ),
    md(
        """
        The folder holds nothing but parts with the same columns, so any engine
        reads it as one table: polars below, or DuckDB with
        `SELECT … FROM 'corpus-index/*.parquet'`. And `dk.read_parquet` opens it
        whole, equal to the scan:
        """
    ),
    code(
        """
        print(pl.scan_parquet(parts).group_by("record").len().collect())
        print("equal:", dk.read_parquet(parts) == big)
        """
    ),
    code(
        """
        shutil.rmtree(work)  # the index files and the corpus; data/sample was only read
        """
    ),
]


NOTEBOOKS: dict[str, list[Cell]] = {
    "01_envelopes": ENVELOPES,
    "02_resending": RESENDING,
    "03_quality_check": QUALITY,
    "04_explore": EXPLORE,
    "05_at_scale": AT_SCALE,
}


def build(stem: str, cells: list[Cell]) -> nbformat.NotebookNode:
    """One notebook: the cells, without outputs, with stable ids and a kernelspec."""
    nb = v4.new_notebook()
    nb.metadata = {
        "kernelspec": {
            "display_name": "Python 3",
            "language": "python",
            "name": "python3",
        },
        "language_info": {"name": "python"},
    }
    prefix = stem.replace("_", "-")
    for index, (kind, source) in enumerate(cells):
        if kind == "markdown":
            cell = v4.new_markdown_cell(source)
        else:
            cell = v4.new_code_cell(source)
            cell.outputs = []
            cell.execution_count = None
        cell.id = f"{prefix}-{index:02d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def main() -> None:
    for stem, cells in NOTEBOOKS.items():
        path = HERE / f"{stem}.ipynb"
        nbformat.write(build(stem, cells), path)
        print(f"wrote {path.relative_to(HERE.parent)} ({len(cells)} cells)")


if __name__ == "__main__":
    main()
