"""The ``dicomkit`` command: scan a folder, print its tree and what is wrong in it.

::

    dicomkit scan DIR -o index.parquet     # scan, save the index, print a summary
    dicomkit scan http://127.0.0.1:8042/dicom-web [--study UID]   # a DICOMweb server
    dicomkit tree DIR                      # the Patient → Study → Series tree
    dicomkit tree index.parquet            # the same, from a saved index
    dicomkit verify DIR [--format table|json|csv] [--strict]
    dicomkit deidentify DIR -o OUT --key-file K [--option ...] [--mapping M.parquet]

Exit status: 0 on success, 2 on a usage error or a source that cannot be read;
``verify --strict`` exits 1 when a finding is an error.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import sys
from collections.abc import Sequence

import polars as pl

from dicomkit.api import read_parquet, scan, scan_dicomweb, scan_to_parquet
from dicomkit.collection import Collection
from dicomkit.exceptions import DicomkitError
from dicomkit.io.dicomweb import is_url
from dicomkit.io.parquet import PART_GLOB
from dicomkit.render import MAX_MESSAGE, Limits, clip
from dicomkit.text import plural

__all__ = ["main"]

# Values from DICOM files are untrusted: printed raw, control characters (ESC
# sequences) would drive the terminal and bidi controls reorder what it shows.
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_C1 = "".join(map(chr, range(0x7F, 0xA0)))  # DEL and C1 (0x9B is an 8-bit CSI)
_JSON_ESCAPES = {ord(c): f"\\u{ord(c):04x}" for c in _C1 + _BIDI}  # lossless
_UNSAFE_IN_CSV = f"[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f{_BIDI}]"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dicomkit",
        description="Put a folder of DICOM files back into Patient → Study → Series → Instance.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("scan", "scan DICOM files and print a summary (optionally save the index)"),
        ("tree", "print the Patient → Study → Series tree and what is wrong"),
        ("verify", "check UIDs, consistency and geometry; print the findings"),
    ):
        cmd = sub.add_parser(name, help=text, description=text)
        cmd.add_argument(
            "source",
            help="a folder or a file; tree and verify also take a saved index "
            "(index.parquet, or a folder of parts)",
        )
        cmd.add_argument(
            "--workers", type=int, default=None, help="processes (default: all cores)"
        )
        cmd.add_argument(
            "--no-progress", action="store_true", help="hide the progress bar"
        )
        cmd.add_argument(
            "-k",
            "--keyword",
            action="append",
            default=[],
            metavar="KEYWORD",
            help="index this DICOM keyword too (repeatable)",
        )
        if name == "scan":
            cmd.add_argument(
                "-o", "--output", help="write the index to this parquet file"
            )
            cmd.add_argument(
                "--study",
                action="append",
                default=[],
                metavar="UID",
                help="with a DICOMweb URL as source: only this StudyInstanceUID "
                "(repeatable)",
            )
            cmd.add_argument(
                "--parts",
                action="store_true",
                help="with -o FOLDER: write a partitioned index batch by batch, in "
                "bounded memory (for millions of files)",
            )
        elif name == "tree":
            cmd.add_argument(
                "--all", action="store_true", help="do not truncate the tree"
            )
        else:
            cmd.add_argument(
                "--format",
                choices=("table", "json", "csv"),
                default="table",
                help="how to print the findings (default: table)",
            )
            cmd.add_argument(
                "--strict",
                action="store_true",
                help="exit with status 1 when any finding is an error",
            )
    _add_deidentify(sub)
    return parser


def _add_deidentify(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from dicomkit.deid.table import OPTIONS

    text = (
        "de-identify a folder (PS3.15 Basic Profile + options) into NEW files: "
        "keyed pseudonyms, UIDs and date offsets, references kept"
    )
    cmd = sub.add_parser("deidentify", help=text, description=text)
    cmd.add_argument("source", help="a folder or a file of DICOM instances")
    cmd.add_argument(
        "-o", "--output", required=True, help="a new folder for the copies"
    )
    cmd.add_argument(
        "--key-file",
        required=True,
        help="a file holding the secret key (its bytes, a trailing newline removed); "
        "the same key gives the same pseudonyms and UIDs in every delivery",
    )
    cmd.add_argument(
        "--option",
        action="append",
        default=[],
        choices=sorted(OPTIONS),
        metavar="OPTION",
        help="a PS3.15 option, repeatable: " + ", ".join(sorted(OPTIONS)),
    )
    cmd.add_argument(
        "--mapping",
        help="write old → new (PatientID, UIDs, date offsets) to this parquet file, "
        "outside the output folder: it re-identifies, keep it apart",
    )
    cmd.add_argument(
        "--allow-burned-in",
        action="store_true",
        help="copy instances whose pixels may show text (US, SC, BurnedInAnnotation YES)",
    )
    cmd.add_argument(
        "--workers", type=int, default=None, help="processes (default: all cores)"
    )
    cmd.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _deidentify(args: argparse.Namespace) -> int:
    """``dicomkit deidentify``: 0 when every instance was written, 1 when some were
    refused or failed (listed), 2 on a usage error."""
    import warnings

    from dicomkit.exceptions import DeidentificationWarning
    from dicomkit.io.atomic import write_parquet

    out = os.path.abspath(args.output)
    if args.mapping:
        mapping = os.path.abspath(args.mapping)
        if os.path.commonpath([out, mapping]) == out:
            print(
                f"dicomkit: the mapping {args.mapping} would be inside the output "
                f"folder {args.output}: it re-identifies the copies; write it elsewhere",
                file=sys.stderr,
            )
            return 2
    try:
        with open(args.key_file, "rb") as fp:
            key = fp.read().rstrip(b"\r\n")
        col = scan(
            args.source,
            workers=args.workers,
            progress=False if args.no_progress else None,
        )
        plan = col.deidentify(key, args.option, allow_burned_in=args.allow_burned_in)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeidentificationWarning)  # listed below
            new = plan.write(
                out, workers=args.workers, progress=False if args.no_progress else None
            )
    except (OSError, DicomkitError, ValueError) as exc:
        print(f"dicomkit: {exc}", file=sys.stderr)
        return 2
    if args.mapping:
        write_parquet(
            plan.mapping, mapping, {"dicomkit": "deidentify mapping"}, private=True
        )
    report = plan.report
    if report is None:  # pragma: no cover - write() always sets it
        return 2
    missing = report.filter(pl.col("status") != "written")
    print(
        f"{len(new)} instances written to {args.output} "
        f"({new.patients.height} patients, {new.studies.height} studies, "
        f"{new.series.height} series); {missing.height} not written"
    )
    for row in missing.iter_rows(named=True):
        print(f"  {row['status']:<8} {clip(row['message'], MAX_MESSAGE)}")
    for row in report.filter(pl.col("findings").list.len() > 0).iter_rows(named=True):
        for finding in row["findings"]:
            print(f"  finding  {clip(row['path'], 200)}: {clip(finding, MAX_MESSAGE)}")
    if left := plan.left_out():
        print(f"  not in the plan: {left}")
    if args.mapping:
        print(f"mapping written to {args.mapping} (keep it apart from the copies)")
    return 1 if missing.height else 0


def _is_index(source: str) -> bool:
    if os.path.isfile(source):
        return source.endswith(".parquet")
    names = os.listdir(source) if os.path.isdir(source) else []
    return bool(names) and all(fnmatch.fnmatch(n, PART_GLOB) for n in names)


def _load(args: argparse.Namespace) -> Collection:
    source = args.source
    if args.command != "scan" and _is_index(source):
        return read_parquet(source)
    if args.command == "scan" and is_url(source):  # a DICOMweb server
        return scan_dicomweb(
            source,
            study=args.study or None,
            progress=False if args.no_progress else None,
            keywords=args.keyword,
        )
    if getattr(args, "study", None):
        msg = "--study selects studies of a DICOMweb server: give its URL as source"
        raise ValueError(msg)
    return scan(
        source,
        workers=args.workers,
        progress=False if args.no_progress else None,
        keywords=args.keyword,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "deidentify":
        return _deidentify(args)
    if args.command == "scan" and args.parts:
        if is_url(args.source):
            print(
                "dicomkit: --parts takes a folder, not a DICOMweb URL", file=sys.stderr
            )
            return 2
        return _scan_to_parts(args)
    try:
        col = _load(args)
    except (FileNotFoundError, DicomkitError, ValueError) as exc:
        print(f"dicomkit: {exc}", file=sys.stderr)
        return 2
    if args.command == "verify":
        return _verify(col, args.format, strict=args.strict)
    if args.command == "scan":
        if args.output:
            col.write_parquet(args.output)
        print(col.to_text(limits=Limits(patients=0)))
        if col.source_stats is not None:
            print(_source_line(col.source_stats))
        if args.output:
            print(f"index written to {args.output}")
        return 0
    unlimited = Limits(10**9, 10**9, 10**9, 10**9)
    print(col.to_text(limits=unlimited if args.all else None))
    found = col.problems()
    print()
    print(f"What is wrong ({len(found)}):" if found else "Nothing wrong found.")
    for line in found:
        print("  " + line)
    return 0


def _source_line(stats: dict[str, object]) -> str:
    kinds = stats.get("requests_by_kind")
    detail = (
        ", ".join(f"{n} {k}" for k, n in kinds.items())
        if isinstance(kinds, dict)
        else ""
    )
    state = "complete" if stats.get("complete") else "INCOMPLETE (see the warning)"
    return (
        f"{stats.get('requests')} requests ({detail}) to {stats.get('source')}; "
        f"{stats.get('series')} series; {state}"
    )


def _scan_to_parts(args: argparse.Namespace) -> int:
    if not args.output:
        print("dicomkit: --parts needs -o FOLDER (the index folder)", file=sys.stderr)
        return 2
    try:
        lazy = scan_to_parquet(
            args.source,
            args.output,
            workers=args.workers,
            progress=False if args.no_progress else None,
            keywords=args.keyword,
        )
    except (FileNotFoundError, FileExistsError, DicomkitError, ValueError) as exc:
        print(f"dicomkit: {exc}", file=sys.stderr)
        return 2
    n = {
        name: frame.select(pl.len()).collect().item()
        for name, frame in (
            ("instances", lazy.instances),
            ("resends", lazy.resends),
            ("errors", lazy.errors),
        )
    }
    n_series = lazy.series.select(pl.len()).collect(engine="streaming").item()
    print(
        f"{plural(sum(n.values()), 'file')} = {plural(n['instances'], 'instance')} in "
        f"{plural(n_series, 'series')} + {plural(n['resends'], 'resend')} + "
        f"{plural(n['errors'], 'error')}"
    )
    print(f"index written to {args.output} (dk.scan_parquet / dk.read_parquet)")
    return 0


def _verify(col: Collection, fmt: str, *, strict: bool) -> int:
    findings = col.verify()
    if fmt == "json":  # polars escapes C0 controls; the rest are escaped here
        print(findings.write_json().translate(_JSON_ESCAPES))
    elif fmt == "csv":  # CSV cannot escape them: they are replaced
        flat = findings.with_columns(
            pl.col("sop_instance_uids").list.join(" "), pl.col("paths").list.join(" | ")
        )
        flat = flat.with_columns(
            pl.col(pl.Utf8).str.replace_all(_UNSAFE_IN_CSV, "\ufffd")
        )
        print(flat.write_csv(), end="")
    else:
        counts = findings.group_by("severity", maintain_order=True).len()
        found = [plural(n, s) for s, n in counts.iter_rows()]
        summary = ", ".join(found) or "no findings"
        files = f"{plural(col.n_files, 'file')}, {plural(len(col), 'instance')}"
        print(f"{files}: {summary}")
        for row in findings.iter_rows(named=True):
            message = clip(row["message"], MAX_MESSAGE)
            print(f"{row['severity']:<8} {row['check']:<27} {message}")
    errors = int((findings["severity"] == "error").sum())
    return 1 if strict and errors else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
