"""The ``dicomkit`` command: scan a folder, print its tree and what is wrong in it.

::

    dicomkit scan DIR -o index.parquet     # scan, save the index, print a summary
    dicomkit tree DIR                      # the Patient → Study → Series tree
    dicomkit tree index.parquet            # the same, from a saved index
    dicomkit verify DIR [--format table|json|csv] [--strict]
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

from dicomkit.api import read_parquet, scan, scan_to_parquet
from dicomkit.collection import Collection
from dicomkit.exceptions import DicomkitError
from dicomkit.io.parquet import PART_GLOB, dicomkit_version
from dicomkit.render import MAX_MESSAGE, Limits, clip

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
    return parser


def _is_index(source: str) -> bool:
    if os.path.isfile(source):
        return source.endswith(".parquet")
    names = os.listdir(source) if os.path.isdir(source) else []
    return bool(names) and all(fnmatch.fnmatch(n, PART_GLOB) for n in names)


def _load(args: argparse.Namespace) -> Collection:
    source = args.source
    if args.command != "scan" and _is_index(source):
        return read_parquet(source)
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


def _output_problem(output: str, parts: bool) -> str | None:
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
    args.source = os.path.expanduser(args.source)
    if getattr(args, "output", None):
        args.output = os.path.expanduser(args.output)
        problem = _output_problem(args.output, args.parts)
        if problem is not None:
            print(f"dicomkit: {problem}", file=sys.stderr)
            return 2
    if args.command == "scan" and args.parts:
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
        f"{sum(n.values()):,} files = {n['instances']:,} instances in {n_series:,} "
        f"series + {n['resends']:,} resends + {n['errors']:,} errors"
    )
    print(f"index written to {args.output} (dk.scan_parquet / dk.read_parquet)")
    return 0


def _verify(col: Collection, fmt: str, *, strict: bool) -> int:
    findings = col.verify()
    if fmt == "json":  # polars escapes C0 controls; the rest are escaped here
        print(findings.write_json().translate(_JSON_ESCAPES))
    elif fmt == "csv":  # CSV cannot escape them: they are replaced
        flat = findings.with_columns(pl.col("sop_instance_uids").list.join(" "))
        flat = flat.with_columns(
            pl.col(pl.Utf8).str.replace_all(_UNSAFE_IN_CSV, "\ufffd")
        )
        print(flat.write_csv(), end="")
    else:
        counts = findings.group_by("severity", maintain_order=True).len()
        summary = ", ".join(f"{n} {s}" for s, n in counts.iter_rows()) or "no findings"
        print(f"{col.n_files} files, {len(col)} instances: {summary}")
        for row in findings.iter_rows(named=True):
            message = clip(row["message"], MAX_MESSAGE)
            print(f"{row['severity']:<8} {row['check']:<27} {message}")
    errors = int((findings["severity"] == "error").sum())
    return 1 if strict and errors else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
