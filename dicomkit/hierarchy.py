"""The hierarchy, derived: resends resolved, and patients, studies, series as views.

Pure functions, frames in and frames out; no disk, no pydicom file reading.

* :func:`resolve_resends` applies the DICOM identity rule: one SOPInstanceUID is one
  image, so of several copies the newest is the instance and the others are
  resends, each classified ``identical``, ``modified`` or ``conflict``.
* :func:`level_view` groups the instance frame into one row per patient, study or
  series, with counts and the level's attributes. An attribute the standard makes
  constant at that level but which differs inside a group is listed in ``varying``
  and shown as null: one of the differing values is never picked silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal, TypeVar

import polars as pl

from dicomkit import geometry
from dicomkit.exceptions import DuplicateInstanceError
from dicomkit.schema import LEVEL_ATTRIBUTES, LEVEL_KEYS, OWN_COLUMNS, RESEND_COLUMNS
from dicomkit.text import plural

__all__ = [
    "RESEND_COLUMNS",
    "OnDuplicate",
    "ViewLevel",
    "concat_frames",
    "hierarchy_order",
    "level_view",
    "resolve_resends",
    "slice_order",
    "varying_attributes",
]

OnDuplicate = Literal["newest", "first", "error"]
ViewLevel = Literal["patient", "study", "series"]
#: An eager or a lazy frame: the level views are the same query on either.
Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)

#: The UID chain: a copy that differs here is a uniqueness ``conflict``.
_CHAIN = ("PatientID", "StudyInstanceUID", "SeriesInstanceUID")
_RANK = "_rank"


def resolve_resends(
    copies: pl.DataFrame, *, on_duplicate: OnDuplicate = "newest"
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split every file's row into current instances and superseded resends.

    Parameters
    ----------
    copies
        One row per DICOM file (the instance schema). An optional ``_rank`` column
        orders copies from different scans (a higher rank is newer, whatever the
        file times); within one rank the later ``mtime_ns``, then the later
        ``path``, is newer. ``content_hash`` should be filled for every row whose
        SOPInstanceUID repeats; where it is null the indexed attributes decide.
    on_duplicate
        ``"newest"`` keeps the newest copy (a resend replaces, as the standard
        intends); ``"first"`` keeps the oldest (as Orthanc does by default);
        ``"error"`` raises :class:`~dicomkit.exceptions.DuplicateInstanceError`
        when any SOPInstanceUID is carried by more than one file.

    Returns
    -------
    tuple[polars.DataFrame, polars.DataFrame]
        ``(instances, resends)``. ``resends`` has the instance columns plus
        ``resend`` (``identical | modified | conflict``), ``replaced_by`` (the
        path of the copy kept) and ``differs`` (the indexed attributes whose
        values differ from the copy kept).
    """
    if on_duplicate not in ("newest", "first", "error"):
        msg = f"on_duplicate must be 'newest', 'first' or 'error', not {on_duplicate!r}"
        raise ValueError(msg)
    frame = (
        copies
        if _RANK in copies.columns
        else copies.with_columns(pl.lit(0).alias(_RANK))
    )
    frame = frame.sort(["SOPInstanceUID", _RANK, "mtime_ns", "path"])
    position = pl.int_range(pl.len()).over("SOPInstanceUID")
    count = pl.len().over("SOPInstanceUID")
    keep = position == (count - 1) if on_duplicate != "first" else position == 0
    frame = frame.with_columns(keep.alias("_keep"), count.alias("_count"))
    if on_duplicate == "error" and frame["_count"].max() not in (None, 1):
        raise _duplicate_error(frame.filter(pl.col("_count") > 1))
    instances = frame.filter("_keep").drop("_keep", "_count", _RANK).sort("path")
    losers = frame.filter(~pl.col("_keep")).drop("_keep", "_count", _RANK)
    return instances, _classify(losers, instances)


#: A collection's three frames: instances, resends and errors.
Parts = tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]


def concat_frames(
    parts: Iterable[Parts],
    *,
    hash_copies: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
    on_duplicate: OnDuplicate = "newest",
) -> Parts:
    """Combine the ``(instances, resends, errors)`` of several collections.

    The logic of :func:`dicomkit.concat`: a later part counts as newer than an
    earlier one (whatever the file times). Every instance and resend of every part
    is a copy, the same file (path, mtime and UID) counted once; the resend rule of
    :func:`resolve_resends` then decides again which copy of each SOPInstanceUID is
    current. Errors are kept, one row per path (the last part's), sorted by path.

    ``hash_copies`` fills ``content_hash`` of the copies whose UID repeats (it
    reads files, so it is passed in: :func:`dicomkit.io.content.fill_content_hashes`
    for files); without it, the hashes the rows carry and the indexed attributes
    decide.

    >>> import polars as pl
    >>> old = pl.DataFrame({"SOPInstanceUID": ["1"], "path": ["/a"], "mtime_ns": [9],
    ...     "content_hash": ["h"], "PatientID": ["P"], "StudyInstanceUID": ["2"],
    ...     "SeriesInstanceUID": ["3"]})
    >>> empty = pl.DataFrame(schema={"path": pl.Utf8()})
    >>> new = old.with_columns(path=pl.lit("/b"), mtime_ns=pl.lit(1))
    >>> instances, resends, _ = concat_frames([(old, old.clear(), empty),
    ...                                         (new, new.clear(), empty)])
    >>> instances["path"].to_list(), resends["resend"].to_list()
    (['/b'], ['identical'])
    """
    items = list(parts)
    if not items:
        msg = "concat needs at least one collection"
        raise ValueError(msg)
    copies = []
    for rank, (instances, resends, _) in enumerate(items):
        resent = resends.drop([c for c in RESEND_COLUMNS if c in resends.columns])
        for frame in (instances, resent):
            copies.append(frame.with_columns(pl.lit(rank).alias(_RANK)))
    merged = pl.concat(copies, how="diagonal_relaxed").unique(
        subset=["path", "mtime_ns", "SOPInstanceUID"], keep="last", maintain_order=True
    )
    if hash_copies is not None:
        merged = hash_copies(merged)
    kept, superseded = resolve_resends(merged, on_duplicate=on_duplicate)
    errors = pl.concat([e for _, _, e in items], how="diagonal_relaxed").unique(
        subset="path", keep="last", maintain_order=True
    )
    return kept, superseded, errors.sort("path")


def _classify(losers: pl.DataFrame, kept: pl.DataFrame) -> pl.DataFrame:
    columns = losers.columns
    if losers.is_empty():
        return pl.DataFrame(schema={**losers.schema, **RESEND_COLUMNS})
    compared = [c for c in columns if c not in OWN_COLUMNS and c != "SOPInstanceUID"]
    joined = losers.join(
        kept.select(["SOPInstanceUID", *compared, "path", "content_hash"]),
        on="SOPInstanceUID",
        how="left",
        suffix="_kept",
    )

    def differs(column: str) -> pl.Expr:
        return pl.col(column).ne_missing(pl.col(f"{column}_kept"))

    diff_names = pl.concat_list(
        [
            pl.when(differs(c)).then(pl.lit(c)).otherwise(pl.lit(None, pl.Utf8))
            for c in compared
        ]
    ).list.drop_nulls()
    same_hash = pl.col("content_hash").is_not_null() & (
        pl.col("content_hash") == pl.col("content_hash_kept")
    )
    no_hash = pl.col("content_hash").is_null() | pl.col("content_hash_kept").is_null()
    chain_differs = pl.any_horizontal([differs(c) for c in _CHAIN])
    kind = (
        pl.when(chain_differs)
        .then(pl.lit("conflict"))
        .when(same_hash | (no_hash & (pl.col("differs").list.len() == 0)))
        .then(pl.lit("identical"))
        .otherwise(pl.lit("modified"))
    )
    return (
        joined.with_columns(diff_names.alias("differs"))
        .with_columns(kind.alias("resend"), pl.col("path_kept").alias("replaced_by"))
        .select([*columns, "resend", "replaced_by", "differs"])
        .sort("path")
    )


def _duplicate_error(duplicates: pl.DataFrame) -> DuplicateInstanceError:
    groups = duplicates.group_by("SOPInstanceUID", maintain_order=True).agg("path")
    lines = [
        f"  {row['SOPInstanceUID']}: " + ", ".join(row["path"])
        for row in groups.head(10).iter_rows(named=True)
    ]
    more = f"\n  … and {groups.height - 10} more" if groups.height > 10 else ""
    msg = (
        f"{plural(groups.height, 'SOPInstanceUID')} "
        f"{'is' if groups.height == 1 else 'are'} carried by more than one file "
        "(on_duplicate='error'):\n" + "\n".join(lines) + more + "\n"
        "Use on_duplicate='newest' (a resend replaces the earlier copy) or 'first' "
        "to keep one copy and list the others in col.resends."
    )
    return DuplicateInstanceError(msg)


def level_view(instances: Frame, level: ViewLevel) -> Frame:
    """One row per patient, study or series of ``instances``.

    ``instances`` may be a :class:`polars.LazyFrame` (e.g. over a partitioned
    index too big for memory): the view is then a lazy query too, which the
    streaming engine computes in bounded memory.

    Columns: the level's key (``PatientID``, ``StudyInstanceUID`` or
    ``SeriesInstanceUID``), counts (``n_studies``, ``n_series``, ``n_instances``,
    ``n_frames`` as apply), the level's attributes (see
    :data:`dicomkit.schema.LEVEL_ATTRIBUTES`), and ``varying``: the attributes
    that differ inside the group, whose value is then null.

    Patients sort by PatientID; studies by patient, StudyDate and StudyTime;
    series by patient, study date and time, then SeriesNumber.

    An instance without a StudyInstanceUID (SeriesInstanceUID) is in no study
    (series): it is left out of the study (series) view and of the ``n_studies``
    and ``n_series`` counts, never grouped with other such instances into one
    "study" of unrelated images. It still counts in its patient's (and study's)
    ``n_instances``, and verify reports it as ``missing_uid``.
    """
    key = LEVEL_KEYS[level]
    names = instances.collect_schema().names()
    # an instance without the level's UID is in no envelope of that level
    filed = (
        instances if level == "patient" else instances.filter(pl.col(key).is_not_null())
    )
    attributes = [a for a in LEVEL_ATTRIBUTES[level] if a in names]
    counts: list[pl.Expr] = []
    if level == "patient":
        counts.append(
            pl.col("StudyInstanceUID").drop_nulls().n_unique().alias("n_studies")
        )
    if level in ("patient", "study"):
        counts.append(
            pl.col("SeriesInstanceUID").drop_nulls().n_unique().alias("n_series")
        )
    counts += [
        pl.len().cast(pl.Int64).alias("n_instances"),
        pl.col("n_frames").sum().alias("n_frames"),
    ]
    if level != "series":
        counts.append(
            pl.col("Modality").drop_nulls().unique().sort().alias("modalities")
        )
    values: list[pl.Expr] = [
        pl.when(pl.col(a).n_unique() == 1).then(pl.col(a).first()).alias(a)
        for a in attributes
    ]
    varying: pl.Expr = pl.concat_list(
        [
            pl.when(pl.col(a).n_unique() > 1)
            .then(pl.lit(a))
            .otherwise(pl.lit(None, pl.Utf8))
            for a in attributes
        ]
        or [pl.lit(None, pl.Utf8)]
    ).list.drop_nulls()
    view = filed.group_by(key).agg([*counts, *values, varying.alias("varying")])
    return _sort_view(view, instances, level)


def _sort_view(view: Frame, instances: Frame, level: ViewLevel) -> Frame:
    if level == "patient":
        return view.sort("PatientID", nulls_last=True)
    if level == "study":
        return view.sort(
            ["PatientID", "StudyDate", "StudyTime", "StudyInstanceUID"], nulls_last=True
        )
    # Series sort under their study's date and time, taken from the study view so
    # that a series whose study is ambiguous sorts last rather than arbitrarily.
    studies = level_view(instances, "study").select(
        "StudyInstanceUID", "StudyDate", "StudyTime"
    )
    ordered = view.join(studies, on="StudyInstanceUID", how="left", nulls_equal=True)
    return ordered.sort(
        [
            "PatientID",
            "StudyDate",
            "StudyTime",
            "StudyInstanceUID",
            "SeriesNumber",
            "SeriesInstanceUID",
        ],
        nulls_last=True,
    ).drop("StudyDate", "StudyTime")


def hierarchy_order(instances: pl.DataFrame) -> pl.DataFrame:
    """``instances`` in the order of the tree: patient, study (date, time), series
    (number), then InstanceNumber, then the position along the slice normal, then
    path. Missing values sort last.

    A study sorts by its earliest StudyDate and StudyTime, a series by its lowest
    SeriesNumber, so that an attribute that varies inside a group never scatters
    its instances.
    """
    names = set(instances.columns)
    if instances.height < 2 or "SOPInstanceUID" not in names:
        return instances
    keys: list[pl.Expr] = []

    def add(column: str, group: str | None = None) -> None:
        if column not in names:
            return
        expr = pl.col(column)
        keys.append(expr.min().over(group) if group and group in names else expr)

    add("PatientID")
    add("StudyDate", "StudyInstanceUID")
    add("StudyTime", "StudyInstanceUID")
    add("StudyInstanceUID")
    add("SeriesNumber", "SeriesInstanceUID")
    add("SeriesInstanceUID")
    add("InstanceNumber")
    if {"ImagePositionPatient", "ImageOrientationPatient"} <= names:
        keys.append(_along_normal())
    add("path")
    keys.append(pl.col("SOPInstanceUID"))
    return instances.sort(keys, nulls_last=True, maintain_order=True)


def _along_normal() -> pl.Expr:
    """ImagePositionPatient projected on its own orientation's normal (null when
    either is missing or malformed)."""
    iop, ipp = pl.col("ImageOrientationPatient"), pl.col("ImagePositionPatient")
    ok = (iop.list.len() == 6) & (ipp.list.len() == 3)
    r = [iop.list.get(i, null_on_oob=True) for i in range(3)]
    c = [iop.list.get(i, null_on_oob=True) for i in range(3, 6)]
    p = [ipp.list.get(i, null_on_oob=True) for i in range(3)]
    normal = (
        r[1] * c[2] - r[2] * c[1],
        r[2] * c[0] - r[0] * c[2],
        r[0] * c[1] - r[1] * c[0],
    )
    along = p[0] * normal[0] + p[1] * normal[1] + p[2] * normal[2]
    return pl.when(ok).then(along)


def slice_order(series: pl.DataFrame) -> pl.DataFrame:
    """The instances of one series in viewing order, one row per frame.

    :func:`dicomkit.geometry.slice_order` (the one order of verify, the volume
    and the viewer) on the instances' positions: along the normal of the first
    orientation, ties by InstanceNumber, frame, path; instances without a
    position last. Multi-frame instances give one row per frame (``frame`` is
    0-based).
    """
    frames = series.with_columns(
        pl.int_ranges(0, pl.col("n_frames").fill_null(1)).alias("frame")
    ).explode("frame")
    orientation = frames["ImageOrientationPatient"].drop_nulls()
    order = geometry.slice_order(
        frames["ImagePositionPatient"].to_list(),
        orientation[0].to_list() if orientation.len() else None,
        instance_numbers=frames["InstanceNumber"].to_list(),
        frames=frames["frame"].to_list(),
        paths=frames["path"].to_list(),
    )
    return frames[order]


def varying_attributes(instances: pl.DataFrame) -> pl.DataFrame:
    """The DICOM attributes that take more than one value across ``instances``.

    Columns: ``keyword``, ``n_values`` and ``values`` (up to five, as text). The
    teaching view of a series: position and number change per slice, identity and
    acquisition attributes should not.
    """
    rows = []
    for name in instances.columns:
        if name.islower():  # dicomkit's own columns
            continue
        column = instances[name]
        if isinstance(column.dtype, pl.List):
            column = column.cast(pl.List(pl.Utf8)).list.join("\\")
        distinct = column.cast(pl.Utf8).unique(maintain_order=True)
        if distinct.len() > 1:
            shown = ["(empty)" if v is None else v for v in distinct.head(5).to_list()]
            rows.append({"keyword": name, "n_values": distinct.len(), "values": shown})
    return pl.DataFrame(
        rows,
        schema={
            "keyword": pl.Utf8(),
            "n_values": pl.Int64(),
            "values": pl.List(pl.Utf8()),
        },
    )
