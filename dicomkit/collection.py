"""The Collection: a thin, immutable face over the instance, resend and error frames.

A :class:`Collection` owns display and convenience (lookups, filtering, the level
views, parquet). The logic lives in pure functions (:mod:`dicomkit.hierarchy`,
:mod:`dicomkit.render`) and disk access in :mod:`dicomkit.io`.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import Any

import polars as pl

from dicomkit.deid.plan import DeidentifyPlan
from dicomkit.exceptions import UnknownUIDError
from dicomkit.hierarchy import (
    RESEND_COLUMNS,
    OnDuplicate,
    concat_frames,
    hierarchy_order,
    level_view,
    varying_attributes,
)
from dicomkit.io.content import fill_content_hashes
from dicomkit.io.multiframe import multiframe_files, read_frame_geometry
from dicomkit.io.parquet import write_index
from dicomkit.nifti import Tilt
from dicomkit.ops import Repeats, merge_plan, split_plan, suggest_merges
from dicomkit.plan import Plan
from dicomkit.render import Limits, html_summary, problem_lines, text_summary
from dicomkit.schema import ERROR_SCHEMA, LEVEL_KEYS
from dicomkit.text import common_folder
from dicomkit.uid import generate
from dicomkit.verify import Tolerances
from dicomkit.verify import verify as verify_frames
from dicomkit.volume import Volume, build_volume

__all__ = ["Collection", "concat"]


class Collection:
    """DICOM instances grouped by Patient → Study → Series → Instance.

    Build one with :func:`dicomkit.scan` (a folder), :func:`dicomkit.read_parquet`
    (a saved index) or :func:`dicomkit.concat` (several collections). A collection
    never changes: :meth:`filter`, ``col[uid]`` and :meth:`add` return new ones.

    Attributes
    ----------
    instances
        One row per current instance: the truth every other view derives from.
    resends
        Superseded copies: files whose SOPInstanceUID another, newer file carries,
        classified in ``resend`` as ``identical``, ``modified`` or ``conflict``.
    errors
        Files that are not instances, with a ``reason`` code and a ``message``.

    Examples
    --------
    >>> import dicomkit as dk, polars as pl
    >>> col = dk.scan("data/sample")                       # doctest: +SKIP
    >>> col.series.select("SeriesNumber", "Modality", "n_instances")  # doctest: +SKIP
    >>> mr = col.filter(pl.col("Modality") == "MR")          # doctest: +SKIP
    """

    def __init__(
        self,
        instances: pl.DataFrame,
        resends: pl.DataFrame | None = None,
        errors: pl.DataFrame | None = None,
        *,
        source_stats: dict[str, Any] | None = None,
    ) -> None:
        self._source_stats = dict(source_stats) if source_stats is not None else None
        self._instances = hierarchy_order(instances)
        self._resends = (
            resends
            if resends is not None
            else pl.DataFrame(schema={**instances.schema, **RESEND_COLUMNS})
        )
        self._errors = (
            errors if errors is not None else pl.DataFrame(schema=ERROR_SCHEMA)
        )

    # -- the frames -----------------------------------------------------------

    @property
    def instances(self) -> pl.DataFrame:
        """One row per current instance (file), with its full UID chain, in the
        order of the tree: patient, study date, series number, then InstanceNumber
        and slice position (:func:`dicomkit.hierarchy.hierarchy_order`)."""
        return self._instances

    @property
    def resends(self) -> pl.DataFrame:
        """Superseded copies of instances, with ``resend``, ``replaced_by``, ``differs``."""
        return self._resends

    @property
    def errors(self) -> pl.DataFrame:
        """Files that are not instances: ``path``, ``reason``, ``message``."""
        return self._errors

    @property
    def source_stats(self) -> dict[str, Any] | None:
        """How a server source was read (:func:`dicomkit.scan_dicomweb`): requests
        made (``requests``, ``requests_by_kind``, ``requests_per_series``), counts,
        and ``complete`` (false, with ``problems``, when the listing or a series
        could not be read whole). ``None`` for a folder scan or a derived collection.
        """
        return dict(self._source_stats) if self._source_stats is not None else None

    @cached_property
    def patients(self) -> pl.DataFrame:
        """One row per PatientID, with counts and ``varying`` attributes."""
        return level_view(self._instances, "patient")

    @cached_property
    def studies(self) -> pl.DataFrame:
        """One row per StudyInstanceUID, sorted by patient, date and time."""
        return level_view(self._instances, "study")

    @cached_property
    def series(self) -> pl.DataFrame:
        """One row per SeriesInstanceUID, sorted by patient, study, SeriesNumber."""
        return level_view(self._instances, "series")

    @property
    def n_files(self) -> int:
        """Files accounted for: instances + resends + errors."""
        return self._instances.height + self._resends.height + self._errors.height

    def __len__(self) -> int:
        return self._instances.height

    # -- lookups ----------------------------------------------------------------

    def __getitem__(self, uid: str) -> Collection:
        """The sub-collection of a StudyInstanceUID, SeriesInstanceUID or SOPInstanceUID.

        Raises
        ------
        UnknownUIDError
            (a ``KeyError``) naming the closest UIDs present.
        """
        given: object = uid  # annotations do not stop a notebook user
        if not isinstance(given, str):
            msg = f"look up a collection by a UID string, not {type(given).__name__}"
            raise TypeError(msg)
        uid = uid.strip().rstrip("\0")
        for level in ("study", "series", "instance"):
            column = LEVEL_KEYS[level]
            rows = self._instances.filter(pl.col(column) == uid)
            if rows.height:
                return self._sub(rows)
        uids = [
            u
            for level in ("study", "series", "instance")
            for u in self._instances[LEVEL_KEYS[level]].drop_nulls().unique().to_list()
        ]
        raise UnknownUIDError(
            uid, "Study, Series or SOP Instance UID", _closest(uid, uids)
        )

    def patient(self, patient_id: str) -> Collection:
        """The sub-collection of one PatientID.

        Raises
        ------
        UnknownUIDError
            (a ``KeyError``) naming the closest PatientIDs present.
        """
        rows = self._instances.filter(pl.col("PatientID") == patient_id)
        if rows.height == 0:
            ids = self._instances["PatientID"].drop_nulls().unique().to_list()
            raise UnknownUIDError(patient_id, "PatientID", _closest(patient_id, ids))
        return self._sub(rows)

    def filter(self, *predicates: Any, **constraints: Any) -> Collection:
        """A new collection of the instances that match, as :meth:`polars.DataFrame.filter`.

        Resends follow their instance; errors are not carried over (they have no
        DICOM attributes to filter on).

        Examples
        --------
        >>> ct = col.filter(pl.col("Modality") == "CT")     # doctest: +SKIP
        >>> one = col.filter(PatientID="PAT001")              # doctest: +SKIP
        """
        return self._sub(self._instances.filter(*predicates, **constraints))

    def _sub(self, rows: pl.DataFrame) -> Collection:
        kept = rows["SOPInstanceUID"]
        resends = self._resends.filter(pl.col("SOPInstanceUID").is_in(kept.implode()))
        return Collection(rows, resends, pl.DataFrame(schema=self._errors.schema))

    # -- verify, split, merge -----------------------------------------------------

    def verify(
        self, *, strict: bool = False, tolerances: Tolerances | None = None
    ) -> pl.DataFrame:
        """Check the files, UIDs, consistency and geometry; one row per finding.

        Columns: ``severity`` (``error | warning | info``), ``check`` (a stable id,
        see :func:`dicomkit.verify.describe_checks`), ``level``, ``uid``,
        ``message``, ``sop_instance_uids``, ``value``, ``paths``, and where the
        finding is: ``PatientID``, ``StudyDate``, ``SeriesNumber``,
        ``SeriesDescription``, ``Modality``. The rows of :attr:`errors` are
        ``unreadable_file`` findings (one per reason), a collection without
        instances is ``no_instances``. Multi-frame files' per-frame positions are
        read on demand. With ``strict=True`` an error raises
        :class:`~dicomkit.verify.VerificationError` instead.

        Examples
        --------
        >>> col.verify().filter(pl.col("severity") == "error")   # doctest: +SKIP
        >>> col.verify().select("severity", "check", "SeriesNumber", "message")  # doctest: +SKIP
        """
        frames = read_frame_geometry(multiframe_files(self._instances))
        return verify_frames(
            self._instances,
            self._resends,
            errors=self._errors,
            frames=frames,
            tolerances=tolerances,
            strict=strict,
        )

    def split_series(
        self,
        uid: str | None = None,
        *,
        by: str | Sequence[str] = "auto",
        repeats: Repeats = "split",
        key: str | None = None,
    ) -> Plan[Collection]:
        """Plan splitting a series (or every series that needs it, when ``uid`` is None).

        ``by="auto"`` separates what cannot form one volume (SOP class, modality,
        pixel format, orientation, pixel spacing, frame of reference), always a
        localizer, and for MR the image type, echo and series number; or pass
        keywords and criteria (see :func:`dicomkit.ops.split_plan`).
        Instances share a new series only when every criterion agrees (the full
        values: the orientation itself, every pixel-format attribute, …).
        ``repeats="4d"`` keeps clean position repeats (echo, trigger time,
        temporal position, b-value, acquisition …) together, numbered in
        ``volume``.
        ``key`` makes the new UIDs reproducible (default: a fresh random key).

        Returns a :class:`~dicomkit.plan.Plan`: inspect it, then ``.apply()`` or
        ``.write(dest)``.
        """
        if uid is not None:
            self[uid]  # a clear UnknownUIDError for a wrong UID
        frame = split_plan(
            self._instances, uid, by=by, repeats=repeats, key=key or generate()
        )
        return Plan(frame, self, kind="split", wrap=Collection)

    def merge_series(
        self,
        uids: Sequence[str],
        *,
        into: str | None = None,
        allow_cross_study: bool = False,
        allow_mixed: bool = False,
        key: str | None = None,
    ) -> Plan[Collection]:
        """Plan merging several series into one (see :func:`dicomkit.ops.merge_plan`).

        Series of different studies or patients are refused unless
        ``allow_cross_study=True``; the plan then says which patient and study
        attributes it harmonises. Series that a split would separate again
        (orientation, pixel format, … differ) are refused unless
        ``allow_mixed=True``.
        """
        frame = merge_plan(
            self._instances, uids, into=into, allow_cross_study=allow_cross_study,
            allow_mixed=allow_mixed, key=key or generate(),
        )  # fmt: skip
        return Plan(frame, self, kind="merge", wrap=Collection)

    def suggest_merges(self) -> pl.DataFrame:
        """Series that look like one acquisition split by the vendor, and why."""
        return suggest_merges(self._instances)

    # -- pixels -----------------------------------------------------------------------

    def deidentify(
        self,
        key: str | bytes,
        options: Iterable[str] = (),
        *,
        allow_burned_in: bool = False,
    ) -> DeidentifyPlan[Collection]:
        """A de-identification plan (PS3.15 Basic Profile + ``options``), keyed by
        the secret ``key``: inspect it, then ``plan.write(dest)``.

        The same key gives the same pseudonyms, UIDs and date offsets in every
        run and delivery; another key gives unlinkable ones. ``options`` are the
        standard's (:data:`dicomkit.deid.OPTIONS`), e.g.
        ``"retain_longitudinal_modified_dates"``. Instances whose pixels usually
        carry burned-in text (BurnedInAnnotation YES; US, SC, documents) are
        refused unless ``allow_burned_in``.

        Examples
        --------
        >>> plan = col.deidentify(key="project secret",
        ...                       options=["retain_longitudinal_modified_dates"])  # doctest: +SKIP
        >>> plan.mapping                  # old → new, for the data custodian  # doctest: +SKIP
        >>> new = plan.write("shared/")   # new files only; their rescan      # doctest: +SKIP
        """
        from dicomkit.deid.engine import Settings

        settings = Settings.make(key, options, allow_burned_in=allow_burned_in)
        return DeidentifyPlan(self, settings, wrap=Collection)

    def volume(
        self, series_uid: str, *, allow_irregular: bool = False, stored: bool = False
    ) -> Volume:
        """A series as a ``(z, y, x)`` float array with spacing and affine.

        A clean repeat (echoes, phases, b-values …) is ``(t, z, y, x)``; multi-frame
        files and Siemens mosaics give one slice per frame or tile, at their own
        positions (see :mod:`dicomkit.volume`). Slices are stacked along the slice
        normal. A series that is not one regular
        volume (localizer inside, repeated or missing positions, irregular spacing,
        mixed formats) raises :class:`~dicomkit.exceptions.NotAVolumeError` quoting
        the verify finding, unless ``allow_irregular=True``.
        ``stored=True`` keeps the stored integers where every slice has one linear
        rescale, with ``vol.metadata["stored_rescale"] = (slope, intercept)`` (what
        the NIfTI export writes; see :func:`dicomkit.volume.build_volume`).

        Examples
        --------
        >>> vol = col.volume(col.series["SeriesInstanceUID"][0])   # doctest: +SKIP
        >>> vol.array.shape, vol.spacing                           # doctest: +SKIP
        """
        series = self._instances.filter(pl.col("SeriesInstanceUID") == series_uid)
        if series.is_empty():
            uids = self._instances["SeriesInstanceUID"].drop_nulls().unique().to_list()
            raise UnknownUIDError(
                series_uid, "SeriesInstanceUID", _closest(series_uid, uids)
            )
        return build_volume(series, allow_irregular=allow_irregular, stored=stored)

    def varying_attributes(self) -> pl.DataFrame:
        """The DICOM attributes that take more than one value across the instances.

        Columns ``keyword``, ``n_values`` and ``values`` (up to five, as text). The
        teaching view of one series: position and number change from slice to
        slice, identity and acquisition attributes should not.

        >>> col[series_uid].varying_attributes()   # doctest: +SKIP
        """
        return varying_attributes(self.instances)

    def to_nifti(
        self,
        dest: str | os.PathLike[str],
        *,
        series: str | Sequence[str] | None = None,
        allow_gaps: bool = False,
        tilt: Tilt = "shear",
        repeats: Repeats = "split",
        identifying: bool = False,
        compress: bool = True,
        overwrite: bool = False,
    ) -> pl.DataFrame:
        """Write each series (or each of ``series``) as NIfTI files into ``dest``.

        One file per volume, each with a BIDS JSON sidecar (dcm2niix's key names;
        the SeriesInstanceUID and the SOPInstanceUID of every voxel plane; no
        identifying values unless ``identifying=True``). A series that is several
        volumes (a localizer inside, two echoes …) is written as the groups of
        :meth:`split_series` (``repeats="4d"`` keeps clean repeats as one 4-D
        file). Missing slices refuse the series unless ``allow_gaps=True``, which
        writes them as empty NaN planes (never interpolated). A gantry tilt is
        kept in the affine (``tilt="shear"``) or refused (``tilt="refuse"``); the
        sidecar says which. A series with no patient geometry is refused. File
        names are ``<SeriesNumber>_<SeriesDescription>.nii.gz``, sanitised; no
        existing file is replaced unless ``overwrite=True``, and never a source.

        Returns the manifest (also written as ``dest/nifti_manifest.parquet``):
        ``SeriesInstanceUID``, ``group`` (the split group, null when not split),
        ``path``, ``sidecar``, ``shape`` and ``spacing`` (NIfTI order: x, y, z[, t];
        the header's voxel sizes, so a tilted stack's z is the table step),
        ``status`` (``written`` or ``refused``) and ``reason``. Files are written
        one series at a time (memory: one volume). Needs nibabel:
        ``pip install "dicomkit[nifti]"``.

        Examples
        --------
        >>> manifest = col.to_nifti("nifti")                         # doctest: +SKIP
        >>> manifest.filter(pl.col("status") == "refused")           # doctest: +SKIP
        >>> col.to_nifti("nifti", series=uid, allow_gaps=True)       # doctest: +SKIP
        """
        from dicomkit.export import export_collection

        return export_collection(
            self, dest, series=series, allow_gaps=allow_gaps, tilt=tilt,
            repeats=repeats, identifying=identifying, compress=compress,
            overwrite=overwrite,
        )  # fmt: skip

    def explore(self) -> Any:
        """The ipywidgets explorer of this collection (see :class:`dicomkit.widgets.Explorer`)."""
        from dicomkit.widgets import Explorer  # widgets load only when asked for

        return Explorer(self)

    # -- combining and saving ---------------------------------------------------

    def add(
        self, other: Collection, *, on_duplicate: OnDuplicate = "newest"
    ) -> Collection:
        """This collection with ``other``'s files added; ``other`` counts as newer.

        The resend rule applies across the two: an instance of ``other`` with a
        SOPInstanceUID already here replaces it, and the replaced copy is a resend.
        """
        return concat([self, other], on_duplicate=on_duplicate)

    def write_parquet(self, path: str | os.PathLike[str]) -> None:
        """Save instances, resends and errors to one parquet file (atomically).

        :func:`dicomkit.read_parquet` gives back an equal collection.
        """
        write_index(
            path,
            {
                "instance": self._instances,
                "resend": self._resends,
                "error": self._errors,
            },
        )

    # -- display ---------------------------------------------------------------

    def _views(self) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        return self.patients, self.studies, self.series

    def to_text(self, *, limits: Limits | None = None) -> str:
        """The summary and tree as plain text (what ``repr`` shows).

        ``limits`` sets how many patients, studies and series are shown before the
        rest is summarised; see :class:`dicomkit.render.Limits`.
        """
        views = self._views()
        return text_summary(
            self._instances, self._resends, self._errors, views, limits=limits
        )

    def problems(self) -> list[str]:
        """One line per thing wrong: error files, verify findings, and attributes
        that vary inside a patient, study or series (what ``dicomkit tree`` lists
        under "What is wrong"). Identical resends are harmless and not listed.
        Paths are relative to the folder that holds every file."""
        root = common_folder(
            p for f in (self._instances, self._resends, self._errors) for p in f["path"]
        )
        return problem_lines(
            self._errors, self._resends, self.verify(), self._views(), root=root
        )

    def __repr__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        return html_summary(self._instances, self._resends, self._errors, self._views())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Collection):
            return NotImplemented
        return all(
            a.equals(b)
            for a, b in (
                (self._instances, other._instances),
                (self._resends, other._resends),
                (self._errors, other._errors),
            )
        )

    __hash__ = None  # type: ignore[assignment]  # equality is by content; frames are unhashable


def concat(
    collections: Sequence[Collection] | Iterable[Collection],
    *,
    on_duplicate: OnDuplicate = "newest",
) -> Collection:
    """Combine collections; a later collection counts as newer than an earlier one.

    Every instance and resend of every collection is a copy; the resend rule of
    :func:`dicomkit.scan` then decides again which copy of each SOPInstanceUID is
    current. Errors are kept, one row per path. The logic is
    :func:`dicomkit.hierarchy.concat_frames`.
    """
    instances, resends, errors = concat_frames(
        ((c.instances, c.resends, c.errors) for c in collections),
        hash_copies=fill_content_hashes,
        on_duplicate=on_duplicate,
    )
    return Collection(instances, resends, errors)


def _closest(uid: str, candidates: Sequence[str]) -> list[str]:
    close = difflib.get_close_matches(uid, candidates, n=3, cutoff=0.5)
    if close:
        return close

    # UIDs of one device share a long prefix: fall back to the longest match.
    def shared(c: str) -> int:
        return len(os.path.commonprefix([uid, c]))  # noqa: RUF071 - characters are what UIDs share

    return sorted(candidates, key=shared, reverse=True)[:3] if candidates else []
