"""Nothing lost, nothing touched: a process killed (SIGKILL) while it writes leaves
the old state or the new one, never a half file, and the next run succeeds.

Each test runs the write in a subprocess and kills it at several moments: as soon
as its first temporary file appears, and after a few delays. What a kill may leave:

* ``col.write_parquet(path)``: ``path`` is the old index or the new one, whole.
  A temporary ``.dicomkit-<host>-<pid>-….parquet.tmp`` beside it may remain, which
  the next write into its folder removes;
* ``plan.write(dest)``: every ``.dcm`` under ``dest`` is complete; at most one
  temporary ``.dicomkit-<host>-<pid>-….tmp``, which the next write into its folder
  removes. The next run needs ``overwrite=True`` (the files already written are
  targets that exist) and then writes everything;
* ``dk.scan(folder, cache=path)``: ``path`` is absent, the old cache, or a complete
  checkpoint that the next scan resumes from. A temporary
  ``.dicomkit-<host>-<pid>-cache-….parquet.tmp`` beside it may remain, which the
  next write of the cache removes;
* ``dk.scan_to_parquet(folder, dest)``: ``dest`` is absent or the old index, whole;
  the hidden folder the parts were written to remains until the next
  ``scan_to_parquet`` beside it.

The sources are byte-identical after all of it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from pydicom import dcmread

import dicomkit as dk
from dicomkit.corpus import PIXEL_BYTES, write_corpus
from dicomkit.io import cache
from dicomkit.pipeline import scan_files
from dicomkit.schema import DEFAULT_KEYWORDS
from tests.conftest import ROOT, snapshot

#: Delays (s) after the subprocess says it starts writing.
DELAYS = [0.15, 0.5]


def run_and_kill(
    code: str,
    *,
    delay: float | None = None,
    when: Callable[[], bool] | None = None,
) -> bool:
    """Run ``code`` in a new interpreter; once it prints ``ready``, SIGKILL it as
    soon as ``when()`` holds or ``delay`` seconds passed. Returns whether it was
    killed (else it finished, and must have printed ``done``)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != "ready":
        _, err = proc.communicate(timeout=30)
        pytest.fail(f"the subprocess did not start: {line!r} {err}")
    start = time.monotonic()
    while proc.poll() is None:
        due = delay is not None and time.monotonic() - start >= delay
        if due or (when is not None and when()):
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    out, err = proc.communicate(timeout=30)
    if proc.returncode == -signal.SIGKILL:
        return True
    assert (proc.returncode, out.split()[-1:]) == (0, ["done"]), err
    return False


def temporaries(folder: Path, pattern: str) -> list[Path]:
    return [p for p in folder.rglob("*") if re.fullmatch(pattern, p.name)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 files: three series of 100 slices (128 × 128)."""
    folder = tmp_path_factory.mktemp("atomic") / "corpus"
    write_corpus(folder, 300)
    return folder


# -- the parquet index ------------------------------------------------------------

_BIG_INDEX = """
    import sys, numpy as np, polars as pl, dicomkit as dk
    from dicomkit.schema import DEFAULT_KEYWORDS, instance_schema
    n = 1_000_000  # about 20 MB of parquet: a write takes a moment
    schema = instance_schema(DEFAULT_KEYWORDS)
    rng = np.random.default_rng(0)
    values = {
        "SOPInstanceUID": pl.Series(rng.integers(0, 2**62, n)).cast(pl.Utf8),
        "path": pl.Series(rng.integers(0, 2**62, n)).cast(pl.Utf8),
    }
    frame = pl.DataFrame(values).select(
        pl.col(c).cast(t) if c in values else pl.lit(None, t).alias(c)
        for c, t in schema.items()
    )
    col = dk.Collection(frame)
    print("ready", flush=True)
    col.write_parquet(INDEX)
    print("done", flush=True)
"""


def test_killed_write_parquet_leaves_the_old_or_the_new_index(
    corpus: Path, tmp_path: Path
) -> None:
    index = tmp_path / "index.parquet"
    old = dk.scan(corpus, progress=False, cache=False)
    old.write_parquet(index)
    code = _BIG_INDEX.replace("INDEX", repr(str(index)))
    seen = set()
    temp = r"\.dicomkit-.*\.parquet\.tmp"
    for moment in [None, *DELAYS]:  # None: as soon as the temporary file appears
        killed = run_and_kill(
            code,
            delay=moment,
            when=(lambda: bool(temporaries(tmp_path, temp)))
            if moment is None
            else None,
        )
        got = len(dk.read_parquet(index))  # whole, whichever it is
        assert got in (len(old), 1_000_000)
        seen.add((killed, got))
        if got == len(old):
            assert dk.read_parquet(index) == old
        leftovers = [p.name for p in tmp_path.iterdir() if p.name != "index.parquet"]
        assert all(re.fullmatch(temp, n) for n in leftovers)
    assert (True, len(old)) in seen  # killed while the temporary file was written
    assert not run_and_kill(code)  # a re-run completes
    assert len(dk.read_parquet(index)) == 1_000_000
    assert [p.name for p in tmp_path.iterdir()] == ["index.parquet"]  # cleaned up


_PARTS = """
    import dicomkit as dk
    print("ready", flush=True)
    dk.scan_to_parquet({folder!r}, {dest!r}, rows_per_part=20, workers=1)
    print("done", flush=True)
"""


def test_killed_scan_to_parquet_leaves_the_old_index(
    corpus: Path, tmp_path: Path
) -> None:
    before = snapshot(corpus)
    dest = tmp_path / "index"
    old = dk.scan_to_parquet(corpus, dest, progress=False).collect()

    def parts_written() -> bool:  # the scan is under way: a part is in its folder
        return any(p.parent != dest for p in tmp_path.glob("*/part-*.parquet"))

    kills = [
        run_and_kill(_PARTS.format(folder=str(corpus), dest=str(dest)), when=when)
        for when in (parts_written, parts_written)
    ]
    assert any(kills)
    assert dk.read_parquet(dest) == old  # the old index, whole
    hidden = [p for p in tmp_path.iterdir() if p.name.startswith(".dicomkit-")]
    assert hidden  # what the killed scans left, beside the index
    assert not run_and_kill(_PARTS.format(folder=str(corpus), dest=str(dest)))
    assert dk.read_parquet(dest) == old
    assert [p.name for p in tmp_path.iterdir()] == ["index"]  # left folders removed
    assert all(not p.exists() for p in hidden)
    assert snapshot(corpus) == before


# -- plan.write -------------------------------------------------------------------

_PLAN = """
    import dicomkit as dk
    col = dk.read_parquet({index!r})
    plan = col.merge_series({uids!r}, allow_mixed=True, key="k")
    print("ready", flush=True)
    plan.write({dest!r}, overwrite=True, progress=False)
    print("done", flush=True)
"""


def test_killed_plan_write_leaves_only_whole_files(
    corpus: Path, tmp_path: Path
) -> None:
    before = snapshot(corpus)
    col = dk.scan(corpus, progress=False, cache=False)
    index, dest = tmp_path / "index.parquet", tmp_path / "dest"
    col.write_parquet(index)
    uids = col.series["SeriesInstanceUID"].to_list()[:2]
    plan = col.merge_series(uids, allow_mixed=True, key="k")  # CT + MR: a big write
    expected = set(plan.frame["new_sop_uid"])
    code = _PLAN.format(index=str(index), uids=uids, dest=str(dest))
    temp = r"\.dicomkit-[0-9a-f]{8}-[0-9]+-.*\.tmp"
    counts = []
    for moment in [None, *DELAYS]:  # None: as soon as the first temporary appears
        killed = run_and_kill(
            code,
            delay=moment,
            when=(lambda: dest.exists() and bool(temporaries(dest, temp)))
            if moment is None
            else None,
        )
        written = sorted(dest.rglob("*.dcm")) if dest.exists() else []
        for path in written:  # each file whole: parses, all its pixels there
            ds = dcmread(path)
            assert ds.SOPInstanceUID in expected
            assert len(ds.PixelData) == PIXEL_BYTES
        left = temporaries(dest, temp) if dest.exists() else []
        assert len(left) <= 1  # at most the file being written
        assert all(p.name.startswith(".dicomkit-") for p in dest.rglob("*.tmp"))
        counts.append((killed, len(written), len(left)))
    assert counts[0][0], counts  # killed as soon as the first temporary appeared
    assert any(k and n < len(expected) for k, n, _ in counts), counts  # mid-write
    if any(n for _, n, _ in counts):
        with pytest.raises(FileExistsError, match="overwrite=True"):
            plan.write(dest, progress=False)
    rescan = plan.write(dest, overwrite=True, progress=False)  # the re-run
    assert set(rescan.instances["SOPInstanceUID"]) == expected
    assert sorted(dest.rglob("*")) == sorted(
        p for p in dest.rglob("*") if not p.name.startswith(".dicomkit-")
    )  # the killed writers' temporaries are gone
    assert len(list(dest.rglob("*.dcm"))) == len(expected)
    assert snapshot(corpus) == before


def test_only_dead_writers_temporaries_are_removed(
    corpus: Path, tmp_path: Path
) -> None:
    from dicomkit.io.write import write_instances

    plan = pl.DataFrame({"path": [str(next(corpus.rglob("IM*")))]})
    dest = tmp_path / "dest"
    folder = Path(write_instances(plan, dest, progress=False)["written_path"][0]).parent
    other_host = folder / f".dicomkit-00000000-{_dead_pid()}-x.tmp"
    alive = folder / f".dicomkit-{_host()}-{os.getppid()}-y.tmp"  # a live process
    dead = folder / f".dicomkit-{_host()}-{_dead_pid()}-z.tmp"
    for path in (other_host, alive, dead):
        path.write_bytes(b"half a file")
    write_instances(plan, dest, overwrite=True, progress=False)
    assert (other_host.exists(), alive.exists(), dead.exists()) == (True, True, False)


def _host() -> str:
    from dicomkit.io import atomic

    return atomic._HOST


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(proc.stdout)


# -- the scan cache ---------------------------------------------------------------

_SCAN = """
    import dicomkit as dk
    from dicomkit.io import cache
    cache.CHECKPOINT_FILES = 10  # a checkpoint every 10 files: many writes
    print("ready", flush=True)
    dk.scan({folder!r}, cache={path!r}, progress=False, workers=1)
    print("done", flush=True)
"""


def test_killed_cached_scan_leaves_a_usable_cache(corpus: Path, tmp_path: Path) -> None:
    before = snapshot(corpus)
    path = tmp_path / "cache" / "scan.parquet"
    fresh = dk.scan(corpus, progress=False, cache=False)
    code = _SCAN.format(folder=str(corpus), path=str(path))
    temp = r"\.dicomkit-[0-9a-f]{8}-[0-9]+-cache-.*\.parquet\.tmp"
    # as soon as a temporary file appears (a checkpoint is written in a few ms:
    # the poll may miss it), as soon as the first checkpoint is in place, delays
    triggers: list[tuple[Callable[[], bool] | None, float | None]] = [
        (lambda: path.parent.exists() and bool(temporaries(path.parent, temp)), None),
        (path.exists, None),
        (None, 0.05),
        *((None, delay) for delay in DELAYS),
    ]
    states = []
    for when, delay in triggers:
        path.unlink(missing_ok=True)
        killed = run_and_kill(code, delay=delay, when=when)
        if path.exists():  # whole: a checkpoint or the complete cache
            meta = json.loads(pl.read_parquet_metadata(path)[cache.METADATA_KEY])
            rows = pl.read_parquet(path).height
            states.append((killed, meta["complete"], rows))
        else:
            states.append((killed, None, 0))
        # dk.scan's pipeline, for its stats; no warning either
        result = scan_files(corpus, DEFAULT_KEYWORDS, progress=False, cache=path)
        assert dk.Collection(*result.output) == fresh
        assert result.stats.n_cached == states[-1][2]  # resumed from the rows
        left = [p.name for p in path.parent.iterdir() if p != path]
        assert all(re.fullmatch(temp, n) for n in left)
        if result.stats.written:  # a write removes what the killed scan left
            assert left == []
    assert any(k and complete is False for k, complete, _ in states), states
    assert snapshot(corpus) == before
