"""Delivery checks: files that are not instances, and a delivery with no instance.

A scan never raises on a bad file: it becomes a row of ``col.errors``. Those rows
are findings too, so that ``verify()`` (and ``dicomkit verify --strict``) never
says "no findings" about a folder of truncated files, or of nothing at all.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from dicomkit.text import plural, relative
from dicomkit.verify._common import few, finding

#: Error reasons (see the README's table) → (severity, what it means and what to do).
#: A reason not listed here is an error.
REASONS: dict[str, tuple[str, str]] = {
    "truncated": ("error", "the header is cut short, or PixelData declares more bytes than the file holds; the copy is incomplete: ask for the file again"),
    "invalid_dicom": ("error", "pydicom cannot parse the header; ask for the file again, or check it with dciodvfy"),
    "header_too_large": ("error", "the header passes dicomkit's per-file bounds; the file is damaged or hostile"),
    "missing_sop_instance_uid": ("error", "a DICOM data set without SOPInstanceUID cannot be identified; the sender must add one"),
    "unreadable": ("error", "the operating system refused to read it; check the permissions"),
    "unreadable_folder": ("error", "the operating system refused to list it; check the permissions"),
    "missing": ("error", "a path given to scan does not exist"),
    "broken_link": ("warning", "a symbolic link whose target does not exist"),
    "not_dicom": ("warning", "not a DICOM file (no DICM marker, no DICOM element at the start); harmless if it is a README or a report, otherwise it is an image lost"),
    "empty": ("warning", "a 0-byte file; if it should have been an image, ask for it again"),
    "not_regular_file": ("warning", "a FIFO, a device or a socket, never opened"),
    "dicomdir": ("info", "a DICOMDIR: a media index, not an image; dicomkit rebuilds the hierarchy from the files themselves"),
}  # fmt: skip


def file_findings(
    instances: pl.DataFrame, errors: pl.DataFrame | None, root: str = ""
) -> list[dict[str, Any]]:
    """One ``unreadable_file`` finding per error reason, and ``no_instances`` for a
    delivery without any instance. Paths in messages are relative to ``root``."""
    out: list[dict[str, Any]] = []
    if errors is not None and errors.height:
        groups = errors.sort("path").group_by("reason", maintain_order=True).agg("path")
        for reason, paths in groups.sort("reason").iter_rows():
            severity, meaning = REASONS.get(
                reason, ("error", "the file could not be read as an instance")
            )
            shown = few([relative(p, root) for p in paths], 5)
            out.append(
                finding(
                    "unreadable_file",
                    None,
                    f"{plural(len(paths), 'file')} could not be read ({reason}): "
                    f"{shown}. {meaning[0].upper()}{meaning[1:]}. "
                    "col.errors has each file's message.",
                    (),
                    float(len(paths)),
                    severity=severity,
                )
                | {"paths": list(paths)}
            )
    if instances.is_empty():
        seen = 0 if errors is None else errors.height
        out.append(
            finding(
                "no_instances",
                None,
                "the collection holds no DICOM instance"
                + (
                    f": {plural(seen, 'file')} seen, none of them an instance (see "
                    "the unreadable_file findings)"
                    if seen
                    else ": no file was found (an empty folder, or a wrong path?)"
                )
                + ". Check the path and ask for the delivery again.",
                (),
                float(seen),
            )
        )
    return out
