"""Split and merge plans end to end: apply in memory, write new files, rescan."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import pytest

import dicomkit as dk
from tests.conftest import SAMPLE

LOCALIZED_CT = "1.3.12.2.1107.5.1.4.83504.3230314081502200002"
DUAL_ECHO = "1.2.840.113619.2.410.4057621.1683036310.2.3"
FLAIR = [
    "1.2.840.113619.2.410.4057621.1683036310.2.5",
    "1.2.840.113619.2.410.4057621.1683036310.2.6",
]
KNEE = "1.2.840.113619.2.410.4057621.1700583600.2.3"

# every file make_file wrote is byte-identical at the end of each test
pytestmark = pytest.mark.usefixtures("sources_unchanged")


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def col() -> dk.Collection:
    return dk.scan(SAMPLE, progress=False)


def test_split_explains_itself(col: dk.Collection) -> None:
    plan = col.split_series(LOCALIZED_CT, key="secret")
    summary = plan.summary()
    assert summary["n_instances"].to_list() == [48, 1]
    assert "localizer" in summary["SeriesDescription"][1]
    assert "orientation differs (axial, coronal)" in summary["reason"][0]
    text = repr(plan)
    assert "dicomkit.Plan (split): 49 instances → 2 series" in text
    assert "why: orientation differs" in text
    assert "<b>dicomkit.Plan</b>" in plan._repr_html_()


def test_split_uids_are_deterministic_and_valid(col: dk.Collection) -> None:
    a = col.split_series(DUAL_ECHO, key="k1").frame
    b = col.split_series(DUAL_ECHO, key="k1").frame
    c = col.split_series(DUAL_ECHO, key="k2").frame
    assert a.equals(b)
    assert not a["new_sop_uid"].equals(c["new_sop_uid"])
    for uid in [*a["new_sop_uid"], *a["new_series_uid"]]:
        assert dk.uid.is_valid(uid)
    assert a["new_sop_uid"].n_unique() == 40


def test_dual_echo_kept_as_4d(col: dk.Collection) -> None:
    # EchoNumbers is a List column: this raised InvalidOperationError before
    plan = col.split_series(DUAL_ECHO, repeats="4d", key="k")
    assert plan.summary()["n_instances"].to_list() == [40]
    assert plan.frame["volume"].value_counts().sort("volume").rows() == [
        (1, 20),
        (2, 20),
    ]
    assert "told apart by EchoNumbers, kept together as 2 volumes" in repr(plan)
    new = plan.apply()
    assert new.n_files == col.n_files
    found = new.verify().filter(pl.col("uid") == DUAL_ECHO)
    assert found["check"].to_list() == ["duplicate_position"]
    assert found["severity"].to_list() == ["warning"]  # a clean 4-D repeat


def test_split_everything_and_apply(col: dk.Collection) -> None:
    plan = col.split_series(key="k")
    assert set(plan.frame["source_series_uid"]) == {LOCALIZED_CT, DUAL_ECHO}
    new = plan.apply()
    assert len(new) == len(col)
    # files seen never change: the sample's resends and errors are all kept
    assert (new.n_files, new.resends.height, new.errors.height) == (219, 3, 3)
    assert new.n_files == col.n_files
    assert new.series.height == col.series.height + 2
    moved = new.instances.filter(pl.col("source_series_uid") == DUAL_ECHO)
    assert moved["SeriesInstanceUID"].n_unique() == 2
    assert sorted(moved["InstanceNumber"].unique()) == list(range(1, 21))
    checks = set(new.verify()["check"])
    assert not checks & {
        "mixed_orientation",
        "duplicate_position",
        "instance_number_gaps",
    }


def test_ct_is_never_split_on_dose_or_time(col: dk.Collection) -> None:
    tilted = col.filter(pl.col("SeriesDescription") == "Head seq 5.0 H31s tilt")
    # per-slice values of the keys an MR series is split on (echo, image type,
    # series number), of dose stand-ins and of per-slice times
    varied = (
        tilted.instances.with_columns(
            pl.int_range(pl.len())
            .cast(pl.Float64)
            .alias("EchoTime"),  # stands in for dose
            pl.int_range(pl.len()).cast(pl.Int64).alias("AcquisitionNumber"),
            pl.int_range(1, pl.len() + 1).cast(pl.Int64).alias("_n"),
        )
        .with_columns(
            pl.concat_list(pl.col("_n")).alias("EchoNumbers"),
            (pl.col("SeriesNumber") + pl.col("_n") % 2).alias("SeriesNumber"),
            pl.when(pl.col("_n") % 2 == 0)
            .then(pl.lit(["DERIVED", "SECONDARY", "P"]))
            .otherwise(pl.col("ImageType"))
            .alias("ImageType"),
        )
        .drop("_n")
    )
    plan = dk.Collection(varied).split_series(key="k")
    assert plan.frame.is_empty()
    # the same values in an MR series split it: only the modality guards CT
    as_mr = varied.with_columns(pl.lit("MR").alias("Modality"))
    assert dk.Collection(as_mr).split_series(key="k").summary().height > 1


def test_split_by_keyword_and_unknown_criterion(col: dk.Collection) -> None:
    plan = col.split_series(DUAL_ECHO, by=["EchoTime"], key="k")
    assert plan.summary()["n_instances"].to_list() == [20, 20]
    with pytest.raises(ValueError, match="cannot split by 'NoSuchThing'"):
        col.split_series(DUAL_ECHO, by=["NoSuchThing"], key="k")
    with pytest.raises(dk.UnknownUIDError):
        col.split_series("1.2.3", key="k")


def test_merge_the_vendor_split_series(col: dk.Collection) -> None:
    suggestion = col.suggest_merges()
    assert suggestion["series_uids"].to_list() == [FLAIR]
    plan = col.merge_series(FLAIR, key="k")
    merged = plan.apply()
    series = merged.series.filter(pl.col("SeriesDescription") == "AX T2 FLAIR")
    assert series["n_instances"].to_list() == [20]
    assert (
        merged.verify()
        .filter(pl.col("uid") == series["SeriesInstanceUID"][0])
        .is_empty()
    )
    assert (
        "merged 2 series (#5 AX T2 FLAIR, #6 AX T2 FLAIR)"
        in plan.summary()["reason"][0]
    )


def test_merge_into_keeps_the_target_identity(col: dk.Collection) -> None:
    plan = col.merge_series(FLAIR, into=FLAIR[1], key="k")
    kept = plan.frame.filter(pl.col("source_series_uid") == FLAIR[1])
    assert (kept["new_sop_uid"] == kept["SOPInstanceUID"]).all()
    assert set(plan.frame["new_series_uid"]) == {FLAIR[1]}


def test_merge_across_studies_is_refused_unless_asked(col: dk.Collection) -> None:
    with pytest.raises(
        dk.MergeError,
        match=r"belong to different patients \(PatientID: PAT002, PAT003\) and different studies",
    ):
        col.merge_series([FLAIR[0], KNEE], key="k")
    # the knee is sagittal, in its own frame of reference: a split would separate
    # them again, so the merge needs allow_mixed as well
    with pytest.raises(
        dk.MergeError, match=r"cannot be one series: orientation differs"
    ):
        col.merge_series(
            [FLAIR[0], KNEE], into=FLAIR[0], allow_cross_study=True, key="k"
        )
    plan = col.merge_series(
        [FLAIR[0], KNEE],
        into=FLAIR[0],
        allow_cross_study=True,
        allow_mixed=True,
        key="k",
    )
    reason = plan.summary()["reason"][0]
    assert "harmonised to the target's values: PatientID" in reason
    assert "StudyInstanceUID" in reason
    moved = plan.apply().instances.filter(pl.col("source_series_uid") == KNEE)
    assert moved["PatientID"].unique().to_list() == ["PAT002"]
    with pytest.raises(dk.MergeError, match="at least two"):
        col.merge_series([KNEE], key="k")


def test_write_split_creates_new_files_only(col: dk.Collection, tmp_path: Path) -> None:
    before = digest(SAMPLE)
    plan = col.split_series(LOCALIZED_CT, key="k")
    written = plan.write(tmp_path / "out", progress=False)
    assert digest(SAMPLE) == before  # the sources are byte-identical
    assert len(written) == 49
    assert written.errors.is_empty()
    assert set(written.instances["SOPInstanceUID"]) == set(plan.frame["new_sop_uid"])
    assert written.verify().filter(pl.col("check") == "mixed_orientation").is_empty()
    for path in written.instances["path"]:
        assert Path(path).resolve().is_relative_to((tmp_path / "out").resolve())
    with pytest.raises(FileExistsError, match="overwrite=True"):
        plan.write(tmp_path / "out", progress=False)
    assert len(plan.write(tmp_path / "out", overwrite=True, progress=False)) == 49


def test_write_merge_rescans_to_the_plan(col: dk.Collection, tmp_path: Path) -> None:
    before = digest(SAMPLE)
    written = col.merge_series(FLAIR, key="k").write(
        tmp_path / "merged", progress=False
    )
    assert digest(SAMPLE) == before
    assert written.series["n_instances"].to_list() == [20]
    assert written.verify().is_empty()
    assert written.instances.sort("InstanceNumber")["InstanceNumber"].to_list() == list(
        range(1, 21)
    )


def test_hostile_description_cannot_escape(tmp_path: Path, make_file) -> None:
    for i in range(2):
        make_file(
            f"src/{i}.dcm",
            SOPInstanceUID=f"1.2.3.{i + 1}",
            InstanceNumber=i + 1,
            ImagePositionPatient=[0, 0, i],
            SeriesDescription="../../../../etc/evil",
            PatientID="../..",
            ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER" if i else "AXIAL"],
            ImageOrientationPatient=[1, 0, 0, 0, 0, -1] if i else [1, 0, 0, 0, 1, 0],
        )
    col = dk.scan(tmp_path / "src", progress=False)
    written = col.split_series(by="auto", key="k").write(
        tmp_path / "dest", progress=False
    )
    for path in written.instances["path"]:
        assert Path(path).resolve().is_relative_to((tmp_path / "dest").resolve())
    assert not (tmp_path / "etc").exists()
