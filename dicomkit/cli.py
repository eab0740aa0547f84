"""The ``dicomkit`` command: scan a folder, print its tree and what is wrong in it.

::

    dicomkit scan DIR -o index.parquet     # scan, save the index, print a summary
    dicomkit tree DIR                      # the Patient → Study → Series tree
    dicomkit tree index.parquet            # the same, from a saved index

Exit status: 0 on success, 2 on a usage error or a source that cannot be read.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from dicomkit.api import read_parquet, scan
from dicomkit.collection import Collection
from dicomkit.exceptions import DicomkitError
from dicomkit.render import Limits

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dicomkit",
        description="Put a folder of DICOM files back into Patient → Study → Series → Instance.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("scan", "scan DICOM files and print a summary (optionally save the index)"),
        ("tree", "print the Patient → Study → Series tree and what is wrong"),
    ):
        cmd = sub.add_parser(name, help=text, description=text)
        cmd.add_argument("source", help="a folder, a file, or (tree) an index.parquet")
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
        else:
            cmd.add_argument(
                "--all", action="store_true", help="do not truncate the tree"
            )
    return parser


def _load(args: argparse.Namespace) -> Collection:
    source = args.source
    if source.endswith(".parquet") and os.path.isfile(source):
        return read_parquet(source)
    return scan(
        source,
        workers=args.workers,
        progress=False if args.no_progress else None,
        keywords=args.keyword,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        col = _load(args)
    except (FileNotFoundError, DicomkitError, ValueError) as exc:
        print(f"dicomkit: {exc}", file=sys.stderr)
        return 2
    if args.command == "scan":
        if args.output:
            col.write_parquet(args.output)
        print(col.to_text(limits=Limits(patients=0)))
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


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
