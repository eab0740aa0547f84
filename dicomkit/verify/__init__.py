"""Verify that the UIDs and the geometry of a collection hold what they promise.

Pure: frames in, a findings frame out. ``verify()`` never raises on bad data; it
returns one row per finding with these columns:

``severity``          ``error | warning | info``
``check``             a stable snake_case id (see :data:`CHECKS`)
``level``             ``patient | study | series | instance``
``uid``               the PatientID or UID of the group (or instance) concerned
``message``           what was expected, what was found, where, and what to do
``sop_instance_uids`` the instances concerned (list)
``value``             the measured value, where there is one (mm, degrees, count)

Tolerances are parameters (:class:`Tolerances`) with the defaults of
``split-verify-rules.md`` §3; :mod:`dicomkit.geometry` says what each one means.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from dicomkit.exceptions import VerificationError
from dicomkit.verify._common import CHECKS, FINDING_SCHEMA, SEVERITY_ORDER, Tolerances
from dicomkit.verify.consistency import consistency_findings
from dicomkit.verify.identity import identity_findings
from dicomkit.verify.slices import geometry_findings

__all__ = [
    "CHECKS",
    "FINDING_SCHEMA",
    "Tolerances",
    "VerificationError",
    "describe_checks",
    "series_badges",
    "verify",
]


def series_badges(findings: pl.DataFrame, instances: pl.DataFrame) -> dict[str, str]:
    """The worst severity of the findings about each series (its own, and its
    instances'): ``{SeriesInstanceUID: "error" | "warning" | "info"}``."""
    of_sop = dict(
        zip(instances["SOPInstanceUID"], instances["SeriesInstanceUID"], strict=True)
    )
    series = set(instances["SeriesInstanceUID"].drop_nulls())
    worst: dict[str, str] = {}
    for row in findings.iter_rows(named=True):
        targets = {row["uid"]} & series if row["level"] == "series" else set()
        targets |= {of_sop[s] for s in row["sop_instance_uids"] if of_sop.get(s)}
        for uid in targets:
            if (
                uid not in worst
                or SEVERITY_ORDER[row["severity"]] < SEVERITY_ORDER[worst[uid]]
            ):
                worst[uid] = row["severity"]
    return worst


def describe_checks() -> pl.DataFrame:
    """The catalogue of checks: id, level, default severity and what it detects."""
    return pl.DataFrame(
        [(k, *v) for k, v in CHECKS.items()],
        schema=["check", "level", "severity", "description"],
        orient="row",
    )


def verify(
    instances: pl.DataFrame,
    resends: pl.DataFrame | None = None,
    *,
    frames: pl.DataFrame | None = None,
    tolerances: Tolerances | None = None,
    strict: bool = False,
) -> pl.DataFrame:
    """Run every check and return the findings (never raises unless ``strict``).

    Parameters
    ----------
    instances
        The instance frame.
    resends
        The resend frame (for ``sop_uid_conflict`` and ``modified_resend``).
    frames
        Per-frame geometry of multi-frame instances: ``SOPInstanceUID``,
        ``frame`` (1-based), ``ImagePositionPatient``, ``ImageOrientationPatient``.
        Their frames replace the instance's own position in the geometry checks.
    tolerances
        Geometry tolerances (:class:`Tolerances`).
    strict
        Raise :class:`VerificationError` when any finding is an error.
    """
    tol = tolerances or Tolerances()
    rows: list[dict[str, Any]] = []
    rows += identity_findings(instances, resends)
    rows += consistency_findings(instances)
    rows += geometry_findings(instances, frames, tol)
    findings = pl.DataFrame(rows, schema=FINDING_SCHEMA)
    findings = findings.sort(
        pl.col("severity").replace_strict(SEVERITY_ORDER, return_dtype=pl.Int8),
        "check",
        "uid",
        maintain_order=True,
    )
    if strict and (findings["severity"] == "error").any():
        raise VerificationError(findings)
    return findings
