"""Identity checks: UIDs valid and present, resends that change or collide."""

from __future__ import annotations

from typing import Any

import polars as pl

from dicomkit.text import plural, relative
from dicomkit.uid import problems as uid_problems
from dicomkit.verify._common import few, finding

_UID_COLUMNS = (
    ("StudyInstanceUID", "study"),
    ("SeriesInstanceUID", "series"),
    ("SOPInstanceUID", "instance"),
    ("FrameOfReferenceUID", "series"),
    ("SOPClassUID", "instance"),
)


def identity_findings(
    instances: pl.DataFrame, resends: pl.DataFrame | None, root: str = ""
) -> list[dict[str, Any]]:
    """UIDs valid and present, resends that change or collide; paths in messages
    are relative to ``root``."""
    out: list[dict[str, Any]] = []
    for column, level in _UID_COLUMNS:
        if column not in instances.columns:
            continue
        values = instances.group_by(column).agg(pl.col("SOPInstanceUID").alias("_sops"))
        values = values.drop_nulls(column)
        for uid, sops in values.iter_rows():
            found = uid_problems(uid)
            if found:
                out.append(
                    finding(
                        "invalid_uid",
                        uid,
                        f"{column} {uid!r} is not a valid UID: {'; '.join(found)}. "
                        "Fix it at the source, or give the data new UIDs "
                        "(col.split_series / merge_series write valid ones).",
                        sops,
                        level=level,
                    )
                )
    for column in ("StudyInstanceUID", "SeriesInstanceUID"):
        missing = instances.filter(pl.col(column).is_null())
        if missing.height:
            paths = [relative(p, root) for p in missing["path"].sort()]
            out.append(
                finding(
                    "missing_uid",
                    None,
                    f"{plural(missing.height, 'instance')} "
                    f"{'has' if missing.height == 1 else 'have'} no {column}, so "
                    f"{'it is' if missing.height == 1 else 'they are'} filed in no "
                    f"{column[:-11].lower()} (shown as 'not filed' in the tree): "
                    f"{few(paths, 5)}. Add one with a DICOM editor, or drop these files.",
                    missing["SOPInstanceUID"].to_list(),
                    float(missing.height),
                )
            )
    if resends is not None and resends.height:
        for row in resends.filter(pl.col("resend") == "conflict").iter_rows(named=True):
            out.append(
                finding(
                    "sop_uid_conflict",
                    row["SOPInstanceUID"],
                    f"SOPInstanceUID {row['SOPInstanceUID']} is carried by two different "
                    f"images: {relative(row['path'], root)} (patient {row['PatientID']}, "
                    f"series {row['SeriesInstanceUID']}) and "
                    f"{relative(row['replaced_by'], root)}, which was kept. "
                    f"They differ in {few(row['differs'])}. One of them needs a new "
                    "SOPInstanceUID; until then a PACS keeps only one of the two.",
                    [row["SOPInstanceUID"]],
                )
            )
        for row in resends.filter(pl.col("resend") == "modified").iter_rows(named=True):
            changed = (
                ", ".join(row["differs"]) or "content outside the indexed attributes"
            )
            out.append(
                finding(
                    "modified_resend",
                    row["SOPInstanceUID"],
                    f"{relative(row['replaced_by'], root)} replaced an earlier copy "
                    f"{relative(row['path'], root)} of the same "
                    f"instance with different {changed}. Check that the correction was "
                    "intended; col.resends has the earlier values.",
                    [row["SOPInstanceUID"]],
                )
            )
    return out
