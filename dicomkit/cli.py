"""The ``dicomkit`` command: scan a folder, print its tree and what is wrong in it.

::

    dicomkit scan DIR -o index.parquet     # scan, save the index, print a summary
    dicomkit scan http://127.0.0.1:8042/dicom-web [--study UID]   # a DICOMweb server
    dicomkit tree DIR                      # the Patient → Study → Series tree
    dicomkit tree index.parquet            # the same, from a saved index
    dicomkit verify DIR [--format table|json|csv] [--strict]
    dicomkit deidentify DIR -o OUT --key-file K [--option ...] [--mapping M.parquet]
    dicomkit --version

Paths may start with ``~``. Exit status: 0 on success; 2 on any error, reported as
one line on stderr that says what to do (a usage error, a source that cannot be
read, an output that cannot be written); ``verify --strict`` exits 1 when a
finding is an error; 130 on Ctrl-C. Output cut short by its reader (``dicomkit
tree DIR | head``) ends quietly, with status 141 as for a tool killed by SIGPIPE.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import shlex
import sys
from collections.abc import Sequence
from typing import NoReturn

import polars as pl

from dicomkit.api import read_parquet, scan, scan_dicomweb, scan_to_parquet
from dicomkit.collection import Collection
from dicomkit.exceptions import DicomkitError
from dicomkit.io.dicomweb import is_url
from dicomkit.io.parquet import PART_GLOB, dicomkit_version
from dicomkit.render import MAX_MESSAGE, Limits, clip
from dicomkit.text import plural

__all__ = ["main"]

# Values from DICOM files are untrusted: printed raw, control characters (ESC
# sequences) would drive the terminal and bidi controls reorder what it shows.
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_C1 = "".join(map(chr, range(0x7F, 0xA0)))  # DEL and C1 (0x9B is an 8-bit CSI)
_JSON_ESCAPES = {ord(c): f"\\u{ord(c):04x}" for c in _C1 + _BIDI}  # lossless
_UNSAFE_IN_CSV = f"[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f{_BIDI}]"


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line that says what to do."""

    def error(self, message: str) -> NoReturn:
        """Print ``message`` as one line and exit with status 2."""
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dicomkit",
        description="Put a folder of DICOM files back into Patient → Study → Series → Instance.",
    )
    parser.add_argument(
        "--version", action="version", version=f"dicomkit {dicomkit_version()}"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("scan", "scan DICOM files, print their tree (optionally save the index)"),
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
        if name in ("scan", "tree"):
            cmd.add_argument(
                "--all", action="store_true", help="do not truncate the tree"
            )
        if name == "verify":
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


def _add_deidentify(sub: argparse._SubParsersAction[_Parser]) -> None:
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
    try:
        return _main(argv)
    except BrokenPipeError:  # the reader went away (``| head``): end quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the exit's flush must not fail too
        return 141
    except KeyboardInterrupt:
        print("dicomkit: interrupted", file=sys.stderr)
        return 130
    except (DicomkitError, OSError, ValueError) as exc:
        print(f"dicomkit: {_one_line(exc)}", file=sys.stderr)
        return 2


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError) and exc.filename:
        return f"no such file or folder: {exc.filename!r}; check the path"
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename!r}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return " ".join(str(exc).split())


def _output_problem(output: str, *, parts: bool) -> str | None:
    """What is wrong with ``-o output``, found before a long scan: or None."""
    target = os.path.abspath(output)
    if not parts and (output.endswith(("/", os.sep)) or os.path.isdir(output)):
        name = os.path.join(output, "index.parquet")
        return (
            f"-o {output}: that is a folder; add --parts to write a partitioned "
            f"index into it, or name a file: -o {name}"
        )
    if parts:
        return None  # the index folder and its parents are created
    parent = os.path.dirname(target)
    if not os.path.isdir(parent):
        return (
            f"-o {output}: the folder {parent!r} does not exist; create it first "
            f"(mkdir -p {shlex.quote(parent)}) or write the index elsewhere"
        )
    if not os.access(parent, os.W_OK):
        return f"-o {output}: cannot write into {parent!r}; choose another folder"
    return None


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    if getattr(args, "source", None) and not is_url(args.source):
        args.source = os.path.expanduser(args.source)
    if args.command == "deidentify":
        for name in ("output", "key_file", "mapping"):
            if getattr(args, name, None):
                setattr(args, name, os.path.expanduser(getattr(args, name)))
        return _deidentify(args)
    if getattr(args, "output", None):
        args.output = os.path.expanduser(args.output)
        problem = _output_problem(args.output, parts=args.parts)
        if problem is not None:
            print(f"dicomkit: {problem}", file=sys.stderr)
            return 2
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
        print(f"dicomkit: {_one_line(exc)}", file=sys.stderr)
        return 2
    if args.command == "verify":
        return _verify(col, args.format, strict=args.strict)
    if args.command == "scan" and args.output:
        try:
            col.write_parquet(args.output)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            print(
                f"dicomkit: cannot write the index to {args.output!r}: {reason}; "
                "choose another path",
                file=sys.stderr,
            )
            return 2
    _print_tree(col, everything=args.all)
    if col.source_stats is not None:
        print(_source_line(col.source_stats))
    if args.command == "scan" and args.output:
        print(f"index written to {args.output}")
    return 0


def _print_tree(col: Collection, *, everything: bool) -> None:
    unlimited = Limits(10**9, 10**9, 10**9, 10**9)
    print(col.to_text(limits=unlimited if everything else None))
    found = col.problems()
    print()
    print(f"What is wrong ({len(found)}):" if found else "Nothing wrong found.")
    for line in found:
        print("  " + line)


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
        print(f"dicomkit: {_one_line(exc)}", file=sys.stderr)
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
