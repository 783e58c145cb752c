"""What tamper evidence costs on the 10M-event bench lake: a first full seal and ``tracelake verify``.

Works on a hard-linked copy (``cp -al``) of the cached compacted lake
``~/.cache/tracelake/bench-fast-10000000-30-1-open1`` (bench/analytics.py builds it): sealing only *adds*
files (``_chain/``, ``_tracelake/chain.pub``) and verify only reads, so the cache is never written. The
signing key lives in the temporary folder, outside the lake.

Times, each the median of ``--runs`` runs, the page cache warm (one untimed read of every byte first):

- baseline: SHA-256 (hashlib, 8 MiB blocks, as the sealer reads, one thread) of every byte verify reads: each
  live data file and each commit file of every table — raw hashing speed of one core on this machine (seal and
  verify hash up to ``HASH_WORKERS`` files at once, so a ratio below 1 is possible on an idle machine);
- seal: :func:`tracelake.governance.seal.seal_lake` from an empty chain (the chain removed between runs);
- seal with nothing new: what each consumer seal costs when no commit is waiting (reads the chain, lists the
  table folders and logs);
- verify: :func:`tracelake.governance.verify.verify_lake` of the sealed lake (must say ``clean``).

Prints the figures and each ratio to the baseline as one JSON document.

    .venv/bin/python bench/verify.py [--lake DIR] [--runs 3] [--dir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tracelake.governance.chain import CHAIN_DIR
from tracelake.governance.chain_files import BLOCK, HASH_WORKERS
from tracelake.governance.seal import PUBLIC_KEY_PATH, live_paths, seal_lake
from tracelake.governance.signing import generate
from tracelake.governance.verify import verify_lake
from tracelake.lake.lake import Lake

CACHED = Path.home() / ".cache" / "tracelake" / "bench-fast-10000000-30-1-open1"


def read_set(lake: Path) -> list[Path]:
    """Every file verify hashes or reads in full: the live data files and the commit files of every table."""
    the_lake = Lake.at(lake)
    out: list[Path] = []
    for table in sorted(p.name for p in lake.iterdir() if (p / "_delta_log").is_dir() and not p.name.startswith("_")):
        out += [lake / table / path for path in sorted(live_paths(the_lake, table))]
        out += sorted((lake / table / "_delta_log").glob("*.json"))
    return out


def hash_all(files: list[Path]) -> int:
    total = 0
    for path in files:
        digest = hashlib.sha256()
        with path.open("rb") as stream:
            while block := stream.read(BLOCK):
                digest.update(block)
                total += len(block)
    return total


def timed(work: Callable[[], object], runs: int, before: Callable[[], None] | None = None) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        if before is not None:
            before()
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--lake", type=Path, default=CACHED, help="the cached lake to copy (never written)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where the hard-linked copy goes (same filesystem)")
    args = parser.parse_args()
    if not (args.lake / "events" / "_delta_log").is_dir():
        raise SystemExit(f"{args.lake}: no cached bench lake (run bench/analytics.py first)")
    work = Path(tempfile.mkdtemp(prefix="tracelake-verify-", dir=args.dir or args.lake.parent))
    try:
        copy = work / "lake"
        subprocess.run(["cp", "-al", str(args.lake), str(copy)], check=True)
        key = generate(work / "keys" / "chain.pem")
        lake = Lake.at(copy)
        files = read_set(copy)
        size = hash_all(files)  # untimed: warms the page cache for every measurement below

        def unseal() -> None:
            # Only files the seal itself created (never hard links into the cache).
            shutil.rmtree(copy / CHAIN_DIR, ignore_errors=True)
            (copy / PUBLIC_KEY_PATH).unlink(missing_ok=True)

        baseline, _ = timed(lambda: hash_all(files), args.runs)
        seal_s, sealed = timed(lambda: seal_lake(lake, key), args.runs, before=unseal)
        idle_s, _ = timed(lambda: seal_lake(lake, key), args.runs)  # what a consumer's seal costs with nothing new
        verify_s, report = timed(lambda: verify_lake(lake), args.runs)
        status = getattr(report, "status", None)
        if status != "clean":
            raise SystemExit(f"verify of the freshly sealed copy is {status}: {getattr(report, 'findings', None)}")
        print(json.dumps({
            "lake": str(args.lake), "files": len(files), "bytes": size, "runs": args.runs,
            "entries": getattr(sealed, "sealed", None),
            "baseline_sha256_s": round(baseline, 3), "baseline_mb_s": round(size / baseline / 1e6, 1),
            "seal_s": round(seal_s, 3), "seal_ratio": round(seal_s / baseline, 2),
            "seal_nothing_new_s": round(idle_s, 3),
            "verify_s": round(verify_s, 3), "verify_ratio": round(verify_s / baseline, 2),
            "verify_status": status, "hash_threads": HASH_WORKERS,
        }, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
