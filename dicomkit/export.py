"""Volumes and collections as NIfTI files: what to write, then the sink writes it.

:meth:`dicomkit.Volume.to_nifti` and :meth:`dicomkit.Collection.to_nifti` run here.
The pure rules (RAS affine, storage type, sidecar, manifest) are
:mod:`dicomkit.nifti`'s; the files are written by :mod:`dicomkit.io.nifti` through
:func:`dicomkit.io.atomic.write_file` (temporary name beside it, fsync, rename).
Names are built from DICOM values and sanitised like the DICOM writer's
(:mod:`dicomkit.io.write`), so no value escapes the destination; a source file is
never a target, and an existing file is replaced only with ``overwrite=True``.

nibabel is an optional dependency: ``pip install "dicomkit[nifti]"``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
import polars as pl

from dicomkit import nifti
from dicomkit.exceptions import NiftiExportError, NotAVolumeError
from dicomkit.geometry import TILT_TOL_DEG
from dicomkit.io.atomic import file_mode, write_file, write_parquet
from dicomkit.io.layout import check_inside as _check_inside
from dicomkit.io.layout import component as _component
from dicomkit.io.layout import identity as _identity
from dicomkit.io.nifti import (
    check_suffix,
    header_bytes,
    nifti_writer,
    require_nibabel,
    sidecar_path,
    stream_writer,
    write_json,
)
from dicomkit.io.parquet import dicomkit_version
from dicomkit.nifti_stream import stream_plan
from dicomkit.verify import BLOCKING_CHECKS

if TYPE_CHECKING:
    from dicomkit.ops import Repeats
    from dicomkit.plan import Plan

__all__ = [
    "MANIFEST_NAME",
    "ExportSource",
    "VolumeLike",
    "export_collection",
    "nifti_image",
    "write_volume",
]

#: The manifest's file name inside the destination.
MANIFEST_NAME = "nifti_manifest.parquet"
#: The key the split plans of an export derive their (unused, internal) UIDs from.
_PLAN_KEY = "dicomkit.nifti-export"
#: Above this many mm between where the affine and DICOM put a slice corner, the
#: export refuses (it would be a bug in the affine, never a property of the data).
GEOMETRY_TOL_MM = 1e-3


class VolumeLike(Protocol):
    """What an export reads of a volume (a :class:`dicomkit.Volume` is one)."""

    @property
    def array(self) -> npt.NDArray[np.float32]: ...
    @property
    def spacing(self) -> tuple[float, float, float]: ...
    @property
    def affine(self) -> npt.NDArray[np.float64] | None: ...
    @property
    def sop_instance_uids(self) -> list[str]: ...
    @property
    def positions(self) -> list[list[float]]: ...
    @property
    def series_instance_uid(self) -> str: ...
    @property
    def repeat_key(self) -> str | None: ...
    @property
    def repeat_values(self) -> list[Any]: ...
    @property
    def frame_numbers(self) -> list[int]: ...
    @property
    def metadata(self) -> dict[str, Any]: ...


class ExportSource(Protocol):
    """What an export reads of a collection (a :class:`dicomkit.Collection` is one)."""

    @property
    def instances(self) -> pl.DataFrame: ...
    @property
    def resends(self) -> pl.DataFrame: ...
    @property
    def series(self) -> pl.DataFrame: ...
    def __getitem__(self, uid: str) -> ExportSource: ...
    def verify(self) -> pl.DataFrame: ...
    def volume(
        self, series_uid: str, *, allow_irregular: bool = False, stored: bool = False
    ) -> VolumeLike: ...
    def split_series(
        self, uid: str | None = None, *, repeats: Repeats = ..., key: str | None = ...
    ) -> Plan[Any]: ...


def _version() -> str:
    return dicomkit_version()


def nifti_image(
    array: npt.NDArray[np.float32],
    lps_affine: npt.NDArray[np.float64],
    *,
    slice_thickness: float | None = None,
    repetition_s: float | None = None,
    reuse: bool = False,
    rescale: tuple[float, float] | None = None,
) -> Any:
    """A ``nibabel.Nifti1Image`` of a ``(z, y, x)`` / ``(t, z, y, x)`` array.

    The RAS affine (:func:`dicomkit.nifti.ras_affine`) is the sform (code 1,
    scanner); the qform gets it too (code 1) unless the axes are sheared (a gantry
    tilt), which a qform cannot hold: then qform_code is 0 and readers use the
    sform. Voxels are stored in the smallest exact type
    (:func:`dicomkit.nifti.storage_array`), without scaling. A single slice gets
    ``slice_thickness`` as its voxel depth, as dcm2niix does. With ``reuse``,
    ``array`` is overwritten by the stored values (see
    :func:`dicomkit.nifti.storage_array`). With ``rescale = (slope, intercept)``
    ``array`` holds a volume's stored integers: they are written as they are,
    with ``scl_slope``/``scl_inter`` (as dcm2niix does), so readers get the
    modality values ``stored × slope + intercept``.
    """
    nib = require_nibabel()
    lps = np.array(lps_affine, dtype=np.float64)
    if array.shape[-3] == 1 and slice_thickness:
        lps[:3, 2] *= float(slice_thickness) / float(np.linalg.norm(lps[:3, 2]))
    ras = nifti.ras_affine(lps)
    if rescale is not None and array.dtype.kind in "iu":
        stored, (slope, inter) = array, rescale
    else:
        stored, slope, inter = nifti.storage_array(array, reuse=reuse), 1.0, 0.0
    data = nifti.nifti_array(stored)  # a view: NIfTI's order
    dtype = data.dtype
    image = nib.Nifti1Image(data, ras)
    header = image.header
    header.set_data_dtype(dtype)
    header.set_slope_inter(slope, inter)
    image.set_sform(ras, code=1)
    if nifti.is_orthogonal(ras):
        image.set_qform(ras, code=1)
    else:
        image.set_qform(None, code=0)
    header.set_xyzt_units("mm", "sec")
    if data.ndim == 4:
        zooms = list(header.get_zooms())
        zooms[3] = repetition_s or 1.0
        header.set_zooms(zooms)
    header["descrip"] = b"dicomkit " + _version().encode()
    return image


def _tilt_check(
    lps: npt.NDArray[np.float64], n_slices: int, tilt: nifti.Tilt, where: str
) -> float:
    if tilt not in ("shear", "refuse"):
        msg = f"tilt must be 'shear' or 'refuse', not {tilt!r}"
        raise ValueError(msg)
    degrees = nifti.tilt_degrees(lps) if n_slices > 1 else 0.0
    if degrees <= TILT_TOL_DEG:
        return 0.0
    if tilt == "refuse":
        msg = (
            f"{where}: the slices are stacked at {degrees:.2f}° to their normal (a "
            "gantry tilt) and tilt='refuse' was asked; pass tilt='shear' to keep "
            "the true geometry in the affine (sform)"
        )
        raise NiftiExportError(msg)
    return degrees


def write_volume(
    volume: VolumeLike,
    path: str | os.PathLike[str],
    *,
    sidecar: bool | dict[str, Any] = True,
    tilt: nifti.Tilt = "shear",
    overwrite: bool = False,
    slice_thickness: float | None = None,
) -> Path:
    """Write ``volume`` to ``path`` (``.nii`` or ``.nii.gz``) and, with ``sidecar``,
    its JSON beside it (``True``: what the volume knows; a dict: that sidecar).

    Raises
    ------
    NiftiExportError
        The volume has no patient geometry (``affine`` is None), or a gantry tilt
        with ``tilt="refuse"``.
    FileExistsError
        ``path`` (or its sidecar) exists and ``overwrite`` is False.
    MissingExtraError
        nibabel is not installed.
    """
    require_nibabel()
    target = os.fspath(path)
    compress = check_suffix(target)
    where = f"series {volume.series_instance_uid or '?'}"
    if volume.affine is None:
        msg = (
            f"{where} has no patient geometry (no ImagePositionPatient / "
            "ImageOrientationPatient): a NIfTI affine would be invented, so none is "
            "written. Export the pixels with numpy instead (vol.array)."
        )
        raise NiftiExportError(msg)
    lps = np.asarray(volume.affine, dtype=np.float64)
    degrees = _tilt_check(lps, volume.array.shape[-3], tilt, where)
    car: dict[str, Any] | None = None
    if sidecar is True:
        car = nifti.sidecar(
            pl.DataFrame(),
            series_instance_uid=volume.series_instance_uid,
            sop_instance_uids=volume.sop_instance_uids,
            frame_numbers=volume.frame_numbers,
            repeat_key=volume.repeat_key,
            repeat_values=volume.repeat_values,
            tilt=tilt,
            tilt_deg=degrees,
            version=_version(),
        )
    elif isinstance(sidecar, dict):
        car = sidecar
    targets = [target] + ([sidecar_path(target)] if car is not None else [])
    existing = [t for t in targets if os.path.lexists(t)]
    if existing and not overwrite:
        msg = f"{existing[0]} exists; pass overwrite=True to replace it"
        raise FileExistsError(msg)
    image = nifti_image(volume.array, lps, slice_thickness=slice_thickness)
    parent = os.path.dirname(os.path.abspath(target))
    os.makedirs(parent, exist_ok=True)
    write_file(
        target,
        nifti_writer(image, compress=compress),
        suffix=".nii.tmp",
        mode=file_mode(),
        overwrite=overwrite,
    )
    if car is not None:
        write_json(car, sidecar_path(target), overwrite=overwrite)
    return Path(target)


# -- a collection -------------------------------------------------------------------


@dataclass
class _Job:
    source_uid: str
    uid: str  # the series (or split group) in ``col``
    col: ExportSource
    group: int | None
    group_key: str | None
    reason: str | None
    stem: str
    source_rows: pl.DataFrame  # the source instances (their own attributes)
    path: str = ""


def export_collection(
    col: ExportSource,
    dest: str | os.PathLike[str],
    *,
    series: str | Sequence[str] | None = None,
    allow_gaps: bool = False,
    tilt: nifti.Tilt = "shear",
    repeats: Literal["split", "4d"] = "split",
    identifying: bool = False,
    compress: bool = True,
    overwrite: bool = False,
    stream: bool = True,
) -> pl.DataFrame:
    """What :meth:`dicomkit.Collection.to_nifti` runs; see there.

    ``stream`` (internal, for the tests and the benchmark): with True (the
    default), a ``.nii`` whose voxels are the files' pixel bytes in slice order
    is written straight from the files (:func:`dicomkit.nifti_stream.stream_plan`); False always builds
    the volume array first. Both write the same bytes.
    """
    require_nibabel()
    if tilt not in ("shear", "refuse"):
        msg = f"tilt must be 'shear' or 'refuse', not {tilt!r}"
        raise ValueError(msg)
    top = os.path.abspath(os.fspath(dest))
    uids = _selection(col, series)
    jobs = _plan_jobs(col, uids, repeats)
    suffix = ".nii.gz" if compress else ".nii"
    taken: set[str] = {MANIFEST_NAME.casefold()}
    for job in jobs:
        job.path = os.path.join(top, _unique(job.stem, taken) + suffix)
    manifest_path = os.path.join(top, MANIFEST_NAME)
    _check_targets(col, jobs, manifest_path, overwrite=overwrite)
    os.makedirs(top, exist_ok=True)
    rows = [
        _export_one(
            job,
            top,
            allow_gaps=allow_gaps,
            tilt=tilt,
            identifying=identifying,
            overwrite=overwrite,
            stream=stream,
        )
        for job in jobs
    ]
    manifest = pl.DataFrame(rows, schema=nifti.MANIFEST_SCHEMA)
    write_parquet(
        manifest,
        manifest_path,
        {"dicomkit_version": _version(), "kind": "nifti_manifest"},
    )
    return manifest


def _selection(col: ExportSource, series: str | Sequence[str] | None) -> list[str]:
    if series is None:
        return [str(u) for u in col.series["SeriesInstanceUID"].drop_nulls()]
    uids = [series] if isinstance(series, str) else list(series)
    known = set(col.instances["SeriesInstanceUID"].drop_nulls().to_list())
    for uid in uids:
        if uid not in known:
            col.volume(uid)  # raises UnknownUIDError naming the closest UIDs
    return uids


def _plan_jobs(
    col: ExportSource, uids: Sequence[str], repeats: Literal["split", "4d"]
) -> list[_Job]:
    """One job per volume to write: a series, or each group of its split plan."""
    jobs: list[_Job] = []
    for uid in uids:
        rows = col.instances.filter(pl.col("SeriesInstanceUID") == uid)
        number = (rows["SeriesNumber"].drop_nulls().to_list() or [""])[0]
        description = (rows["SeriesDescription"].drop_nulls().to_list() or [""])[0]
        plan = col.split_series(uid, repeats=repeats, key=_PLAN_KEY)
        frame = plan.frame
        if frame.height and frame["group"].n_unique() > 1:
            applied = plan.apply()
            groups = frame.group_by("group").agg(pl.all().first()).sort("group")
            for g in groups.iter_rows(named=True):
                stem = _component(f"{g['SeriesNumber']}_{g['SeriesDescription']}")
                jobs.append(
                    _Job(
                        uid,
                        g["new_series_uid"],
                        applied,
                        int(g["group"]),
                        g["group_key"],
                        g["reason"],
                        stem,
                        rows.filter(
                            pl.col("SOPInstanceUID").is_in(
                                frame.filter(pl.col("group") == g["group"])[
                                    "SOPInstanceUID"
                                ].implode()
                            )
                        ),
                    )
                )
        else:
            stem = _component(f"{number}_{description}")
            jobs.append(_Job(uid, uid, col, None, None, None, stem, rows))
    return jobs


def _unique(stem: str, taken: set[str]) -> str:
    n = 1
    while True:
        tail = f"_{n}" if n > 1 else ""
        name = stem[: 64 - len(tail)] + tail
        if name.casefold() not in taken:
            taken.add(name.casefold())
            return name
        n += 1


def _check_targets(
    col: ExportSource, jobs: Sequence[_Job], manifest: str, *, overwrite: bool
) -> None:
    targets = [manifest]
    for job in jobs:
        targets += [job.path, sidecar_path(job.path)]
    for target in targets:
        _check_inside(os.path.dirname(manifest), target)
    existing = [t for t in targets if os.path.lexists(t)]
    if not existing:
        return
    paths = col.instances["path"].to_list() + col.resends["path"].to_list()
    sources = {_identity(p) for p in paths}
    for target in existing:
        if _identity(target) in sources:
            msg = (
                f"refusing to write {target}: it is a source file, and dicomkit never "
                "modifies originals; choose another destination"
            )
            raise ValueError(msg)
    if not overwrite:
        shown = ", ".join(existing[:3]) + (", …" if len(existing) > 3 else "")
        msg = (
            f"{len(existing)} target file(s) already exist ({shown}); nothing was "
            "written. Pass overwrite=True to replace them, or choose an empty destination"
        )
        raise FileExistsError(msg)


def _export_one(
    job: _Job,
    top: str,
    *,
    allow_gaps: bool,
    tilt: nifti.Tilt,
    identifying: bool,
    overwrite: bool,
    stream: bool = True,
) -> dict[str, Any]:
    plan = (
        stream_plan(job.col.instances, job.uid)
        if stream and not job.path.endswith(".gz")
        else None
    )
    try:
        volume, fill = (
            (plan[0], None) if plan is not None else _volume(job, allow_gaps=allow_gaps)
        )
    except (NotAVolumeError, NiftiExportError) as exc:
        return _refused(job, str(exc))
    where = f"series {job.source_uid}" + (
        f" group {job.group} ({job.group_key})" if job.group is not None else ""
    )
    rows = job.col.instances.filter(pl.col("SeriesInstanceUID") == job.uid)
    try:
        if volume.affine is None:
            msg = (
                f"{where} has no patient geometry (no ImagePositionPatient / "
                "ImageOrientationPatient): no affine is invented, no file written"
            )
            raise NiftiExportError(msg)
        lps = fill.affine if fill is not None else np.asarray(volume.affine)
        array = fill.array if fill is not None else volume.array
        degrees = _tilt_check(lps, array.shape[-3], tilt, where)
        _check_geometry(volume, rows, lps, fill, where)
    except NiftiExportError as exc:
        return _refused(job, str(exc))
    source_of = dict(
        zip(
            rows["SOPInstanceUID"].to_list(),
            (
                rows["source_sop_uid"]
                if "source_sop_uid" in rows.columns
                else rows["SOPInstanceUID"]
            ).to_list(),
            strict=True,
        )
    )
    sops: list[str | None] = [source_of.get(s, s) for s in volume.sop_instance_uids]
    frames = list(volume.frame_numbers)
    if fill is not None:
        sops, frames = _with_gaps(sops, frames, fill, array.shape)
    thickness = (rows["SliceThickness"].drop_nulls().to_list() or [None])[0]
    repetition = (rows["RepetitionTime"].drop_nulls().to_list() or [None])[0]
    car = nifti.sidecar(
        job.source_rows,  # the source's SeriesNumber and description, not the plan's
        series_instance_uid=job.source_uid,
        sop_instance_uids=sops,
        frame_numbers=frames,
        repeat_key=volume.repeat_key,
        repeat_values=volume.repeat_values,
        tilt=tilt,
        tilt_deg=degrees,
        missing_slices=fill.missing if fill is not None else (),
        group=None
        if job.group is None
        else {"group": job.group, "key": job.group_key, "reason": job.reason},
        identifying=identifying,
        version=_version(),
    )
    image = nifti_image(
        array,
        lps,
        slice_thickness=thickness,
        repetition_s=repetition / 1000 if repetition and volume.repeat_key else None,
        reuse=True,  # the volume is this export's own: its buffer holds the integers
        rescale=None if fill is not None else volume.metadata.get("stored_rescale"),
    )
    _check_inside(top, job.path)
    write_file(
        job.path,
        stream_writer(header_bytes(image), plan[1])
        if plan is not None
        else nifti_writer(image, compress=job.path.endswith(".gz")),
        suffix=".nii.tmp",
        mode=file_mode(),
        overwrite=overwrite,
    )
    side = sidecar_path(job.path)
    write_json(car, side, overwrite=overwrite)
    zooms = [float(z) for z in image.header.get_zooms()]
    why: str | None = job.reason
    if fill is not None:
        why = _joined(why, f"missing slices kept empty (NaN) at k = {fill.missing}")
    return nifti.manifest_row(
        job.source_uid,
        group=job.group,
        path=job.path,
        sidecar_path=side,
        shape=[int(n) for n in image.shape],
        spacing=zooms,
        reason=why,
    )


def _refused(job: _Job, why: str) -> dict[str, Any]:
    return nifti.manifest_row(
        job.source_uid,
        group=job.group,
        status="refused",
        reason=_joined(job.reason, why),
    )


def _joined(first: str | None, second: str) -> str:
    return f"{first}; {second}" if first else second


def _volume(job: _Job, *, allow_gaps: bool) -> tuple[VolumeLike, nifti.GapFill | None]:
    try:
        return job.col.volume(job.uid, stored=True), None
    except NotAVolumeError:
        if not allow_gaps:
            raise
        checks = set(job.col[job.uid].verify()["check"].to_list()) & BLOCKING_CHECKS
        if checks != {"missing_slices"}:
            raise
    volume = job.col.volume(job.uid, allow_irregular=True)
    if volume.affine is None:
        return volume, None
    n_z = volume.array.shape[-3]
    fill = nifti.fill_gaps(volume.array, volume.positions[:n_z], volume.affine)
    return volume, fill


def _with_gaps(
    sops: list[str | None],
    frames: list[int],
    fill: nifti.GapFill,
    shape: tuple[int, ...],
) -> tuple[list[str | None], list[int]]:
    n_old, n_new = len(fill.slots), shape[-3]
    out_sops: list[str | None] = []
    out_frames: list[int] = []
    for start in range(0, len(sops), n_old):
        block: list[str | None] = [None] * n_new
        fblock = [0] * n_new
        for i, slot in enumerate(fill.slots):
            block[slot] = sops[start + i]
            if frames:
                fblock[slot] = frames[start + i]
        out_sops += block
        out_frames += fblock if frames else []
    return out_sops, out_frames


def _check_geometry(
    volume: VolumeLike,
    rows: pl.DataFrame,
    lps: npt.NDArray[np.float64],
    fill: nifti.GapFill | None,
    where: str,
) -> None:
    """Refuse a file whose affine does not put every slice's corners where the
    DICOM positions, orientation and pixel spacing do."""
    n_z, n_y, n_x = volume.array.shape[-3:]
    positions = volume.positions[:n_z]
    iops = rows["ImageOrientationPatient"].drop_nulls().to_list()
    spacings = rows["PixelSpacing"].drop_nulls().to_list()
    orientation = (
        iops[0]
        if iops
        else list(lps[:3, 0] / np.linalg.norm(lps[:3, 0]))
        + list(lps[:3, 1] / np.linalg.norm(lps[:3, 1]))
    )
    pixel = spacings[0] if spacings else [volume.spacing[1], volume.spacing[2]]
    error = nifti.slice_corner_error(
        nifti.ras_affine(lps),
        positions,
        rows=n_y,
        columns=n_x,
        orientation=orientation,
        pixel_spacing=pixel,
        slots=fill.slots if fill is not None else None,
    )
    if error > GEOMETRY_TOL_MM:
        msg = (
            f"{where}: the affine puts a slice corner {error:.4f} mm from where its "
            "ImagePositionPatient says (the limit is 0.001 mm); not written. Please "
            "report this with the series' positions"
        )
        raise NiftiExportError(msg)
