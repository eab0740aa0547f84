"""Compare two sources instance by instance: the resend rule across two collections.

:func:`compare` answers "which of my local instances does the archive lack, hold
identically, or hold differently?" for any two collections (a folder and a
DICOMweb server, two deliveries, two scans of one folder). Pure logic over the
instance frames: no disk, no network.

Each SOPInstanceUID of either side gets one ``status``:

``only_in_a`` / ``only_in_b``
    the other side has no instance with that SOPInstanceUID;
``identical``
    every compared attribute is equal (null equals null);
``modified``
    same PatientID, StudyInstanceUID and SeriesInstanceUID, but other values in
    the attributes listed in ``differs`` (a corrected header);
``conflict``
    the same SOPInstanceUID under another patient, study or series: a broken
    uniqueness guarantee, as :func:`dicomkit.hierarchy.resolve_resends` calls it.

Compared are the DICOM columns both frames hold (dicomkit's own lower-case
columns, such as ``path`` or ``file_size``, never), minus ``ignore``: by default
``TransferSyntaxUID``, which says how the bytes are encoded, not what they hold
(a server may transcode, and WADO-RS metadata usually lacks the file meta).
Pixel data is not compared: the index holds no pixels.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

import polars as pl

__all__ = [
    "STATUSES",
    "Comparison",
    "HasInstances",
    "compare",
    "compare_frames",
    "rollup",
]


class HasInstances(Protocol):
    """Anything with an instance frame: a :class:`dicomkit.Collection`, for one."""

    @property
    def instances(self) -> pl.DataFrame: ...


#: The statuses, in the order summaries show them.
STATUSES = ("identical", "modified", "conflict", "only_in_a", "only_in_b")
_CHAIN = ("PatientID", "StudyInstanceUID", "SeriesInstanceUID")
_DEFAULT_IGNORE = ("TransferSyntaxUID",)


@dataclass(frozen=True)
class Comparison:
    """What :func:`compare` found.

    Attributes
    ----------
    instances
        One row per SOPInstanceUID: ``status``, ``differs`` (the attributes
        whose values differ), the UID chain and ``path`` on each side
        (``…_a`` / ``…_b``).
    series, studies
        Rolled up: one row per series (or study) with ``n_<status>`` counts, an
        overall ``status`` (one status, or ``mixed``) and the union of ``differs``.
    """

    instances: pl.DataFrame
    series: pl.DataFrame
    studies: pl.DataFrame

    @property
    def counts(self) -> dict[str, int]:
        """Instances per status (every status present, zeros included)."""
        found = dict(self.instances.group_by("status").len().iter_rows())
        return {status: int(found.get(status, 0)) for status in STATUSES}

    def __repr__(self) -> str:
        counts = ", ".join(f"{n} {s}" for s, n in self.counts.items() if n)
        return (
            f"dicomkit.Comparison: {self.instances.height} SOPInstanceUIDs "
            f"({counts or 'none'}) in {self.series.height} series, "
            f"{self.studies.height} studies"
        )


def _frame(source: HasInstances | pl.DataFrame) -> pl.DataFrame:
    frame = source if isinstance(source, pl.DataFrame) else source.instances
    if "SOPInstanceUID" not in frame.columns:
        msg = "compare needs instance frames with a SOPInstanceUID column"
        raise ValueError(msg)
    repeated = frame.filter(pl.col("SOPInstanceUID").is_duplicated())
    if repeated.height:
        msg = (
            f"{repeated['SOPInstanceUID'].n_unique()} SOPInstanceUID(s) occur more "
            f"than once in one side (e.g. {repeated['SOPInstanceUID'][0]}); compare "
            "collections (whose resends are resolved), not raw scan rows"
        )
        raise ValueError(msg)
    return frame


def compare(
    a: HasInstances | pl.DataFrame,
    b: HasInstances | pl.DataFrame,
    *,
    ignore: Iterable[str] = _DEFAULT_IGNORE,
) -> Comparison:
    """Compare two collections (or instance frames) per SOPInstanceUID.

    See the module docstring for the statuses. ``ignore`` lists DICOM columns
    left out of the comparison (default ``("TransferSyntaxUID",)``).

    Examples
    --------
    >>> diff = dk.compare(dk.scan("delivery/"), dk.scan_dicomweb(url))  # doctest: +SKIP
    >>> diff.counts                                    # doctest: +SKIP
    {'identical': 210, 'modified': 1, 'conflict': 0, 'only_in_a': 2, 'only_in_b': 0}
    >>> diff.instances.filter(pl.col("status") == "modified")  # doctest: +SKIP
    """
    instances = compare_frames(_frame(a), _frame(b), ignore=ignore)
    return Comparison(
        instances, rollup(instances, "series"), rollup(instances, "study")
    )


def compare_frames(
    a: pl.DataFrame, b: pl.DataFrame, *, ignore: Iterable[str] = _DEFAULT_IGNORE
) -> pl.DataFrame:
    """The per-SOPInstanceUID frame of :func:`compare` (instance frames in)."""
    skipped = set(ignore)
    compared = [
        c
        for c in a.columns
        if c in b.columns
        and not c.islower()
        and c != "SOPInstanceUID"
        and c not in skipped
        and a.schema[c] == b.schema[c]
    ]
    keep = ["SOPInstanceUID", *compared, *(["path"] if "path" in a.columns else [])]
    left = a.select([c for c in keep if c in a.columns]).with_columns(
        pl.lit(True).alias("_in_a")
    )
    right = b.select([c for c in keep if c in b.columns]).with_columns(
        pl.lit(True).alias("_in_b")
    )
    joined = left.join(
        right, on="SOPInstanceUID", how="full", coalesce=True, suffix="_b"
    )
    in_a = pl.col("_in_a").fill_null(False)
    in_b = pl.col("_in_b").fill_null(False)

    def differs(column: str) -> pl.Expr:
        return pl.col(column).ne_missing(pl.col(f"{column}_b"))

    names = pl.concat_list(
        [
            pl.when(differs(c)).then(pl.lit(c)).otherwise(pl.lit(None, pl.Utf8))
            for c in compared
        ]
        or [pl.lit(None, pl.Utf8)]
    ).list.drop_nulls()
    chain = [c for c in _CHAIN if c in compared]
    chain_differs = (
        pl.any_horizontal([differs(c) for c in chain]) if chain else pl.lit(False)
    )
    status = (
        pl.when(~in_b)
        .then(pl.lit("only_in_a"))
        .when(~in_a)
        .then(pl.lit("only_in_b"))
        .when(chain_differs)
        .then(pl.lit("conflict"))
        .when(pl.col("_differs").list.len() == 0)
        .then(pl.lit("identical"))
        .otherwise(pl.lit("modified"))
    )
    both = in_a & in_b
    out = joined.with_columns(
        pl.when(both)
        .then(names)
        .otherwise(pl.lit([], pl.List(pl.Utf8)))
        .alias("_differs")
    ).with_columns(status.alias("status"))
    sides = []
    for column in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "path"):
        if column in out.columns:
            sides.append(pl.col(column).alias(f"{column}_a"))
        if f"{column}_b" in out.columns:
            sides.append(pl.col(f"{column}_b"))
    result: pl.DataFrame = out.select(
        "SOPInstanceUID",
        "status",
        pl.col("_differs").alias("differs"),
        *sides,
    )  # a full join leaves a side's columns null where it lacks the instance
    return result.sort(
        "StudyInstanceUID_a", "SeriesInstanceUID_a", "SOPInstanceUID", nulls_last=True
    )


def rollup(instances: pl.DataFrame, level: Literal["series", "study"]) -> pl.DataFrame:
    """The per-SOPInstanceUID frame of :func:`compare_frames` per series or study.

    An instance counts in the series (study) of side ``a``, or of ``b`` when only
    ``b`` has it; a conflicting instance also counts under ``b``'s series.
    Columns: the key(s), ``n_instances``, ``n_<status>`` for every status,
    ``status`` (the one status of all its instances, else ``mixed``) and
    ``differs`` (the union of the differing attributes).
    """
    keys = ["StudyInstanceUID"] + (["SeriesInstanceUID"] if level == "series" else [])

    def side(suffix: str) -> pl.DataFrame:
        return instances.select(
            [pl.col(f"{k}_{suffix}").alias(k) for k in keys]
            + [pl.col("SOPInstanceUID"), pl.col("status"), pl.col("differs")]
        ).drop_nulls(keys[-1])

    a = side("a")
    b = side("b").filter(pl.col("status").is_in(["only_in_b", "conflict"]))
    rows = pl.concat([a, b]).unique(
        subset=[*keys, "SOPInstanceUID"], maintain_order=True
    )
    counts = [
        (pl.col("status") == s).sum().cast(pl.Int64).alias(f"n_{s}") for s in STATUSES
    ]
    grouped = rows.group_by(keys).agg(
        pl.len().cast(pl.Int64).alias("n_instances"),
        *counts,
        pl.when(pl.col("status").n_unique() == 1)
        .then(pl.col("status").first())
        .otherwise(pl.lit("mixed"))
        .alias("status"),
        pl.col("differs")
        .list.explode(keep_nulls=False, empty_as_null=False)
        .unique()
        .sort()
        .alias("differs"),
    )
    return grouped.sort(keys)
