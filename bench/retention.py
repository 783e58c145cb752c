"""What ``tracelake retention apply`` costs on the 10M-event bench lake, against a plain Delta delete.

Works on fresh hard-linked copies (``cp -al``, the ``_delta_log`` folders copied for real) of the cached
compacted lake ``~/.cache/tracelake/bench-fast-10000000-30-1-open1`` (bench/analytics.py builds it: 30 days,
2026-10-01..30, a runs rollup): retention only unlinks data files and writes new ones, so the cache is never
written. Each measurement gets its own fresh copy.

The policy keeps everything 15 days (``default_days = 15``), applied at 2026-10-31T12:00Z: runs whose last
event is before 2026-10-16T12:00Z expire, about half the lake. Fifteen day partitions of ``events`` and of
the ``runs`` rollup are dropped whole, 2026-10-16 is rewritten without its expired runs (the boundary day).

Times, each the median of ``--runs`` fresh copies:

- apply: :func:`tracelake.governance.retention_apply.apply_retention` (the expired runs decided by one SQL
  over the lake's views, each partition's rows counted, dropped or rewritten, the rollup refreshed, each
  changed table vacuumed with a 24 h grace and checkpointed, the governance log appended);
- baseline: the same partitions removed by plain delta-rs deletes without any run logic — ``DELETE WHERE
  event_date = D`` for the old days, ``DELETE WHERE event_date = '2026-10-16' AND ts < cutoff`` (``last_ts``
  for the rollup) for the boundary day — then the same refresh of the rollup and ``control_results`` and the
  same vacuum and checkpoint.

Reports the rows each leaves (the run logic keeps the runs that straddle the cutoff whole).

Then the search an erasure starts with, on the cached lake itself (it only reads): ``tracelake erase
--dry-run`` for one person (an e-mail, a name, a phone: no match in the bench data, so every partition is
searched and none rewritten), against a baseline that reads the same text columns of the same files and
does nothing with them (``count(*)`` over their concatenation). Median of ``--runs``.

Prints one JSON document.

    .venv/bin/python bench/retention.py [--lake DIR] [--runs 3] [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

AT = datetime(2026, 10, 31, 12, 0, tzinfo=UTC)
KEEP_DAYS = 15
CUTOFF = "2026-10-16T12:00:00+00:00"
BOUNDARY = "2026-10-16"
DEFAULT_LAKE = Path.home() / ".cache" / "tracelake" / "bench-fast-10000000-30-1-open1"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def fresh_copy(src: Path, dest: Path) -> Path:
    """``dest``: data files hard-linked (``cp -al``), each ``_delta_log`` a real copy (never written through)."""
    subprocess.run(["cp", "-al", str(src), str(dest)], check=True)
    for log_dir in dest.glob("*/_delta_log"):
        real = log_dir.with_name("_delta_log.copy")
        shutil.copytree(src / log_dir.parent.name / "_delta_log", real)
        shutil.rmtree(log_dir)
        real.rename(log_dir)
    return dest


def counts(root: Path) -> dict[str, int]:
    from tracelake.lake.delta import open_table
    from tracelake.lake.lake import Lake
    from tracelake.lake.tables import EVENTS, RUNS

    out = {}
    for table in (EVENTS, RUNS):
        delta = open_table(Lake.at(root), table)
        out[table.name] = 0 if delta is None else int(delta.to_pyarrow_dataset().count_rows())
    return out


def run_apply(root: Path) -> dict[str, Any]:
    from tracelake.governance.retention_apply import apply_retention
    from tracelake.governance.retention_policy import Policy, PolicyFile

    policy = Policy(PolicyFile(default_days=KEEP_DAYS))
    result = apply_retention(root, policy, AT, vacuum_grace_h=24)
    return {"expired_runs": result.plan.expired_runs, "totals": result.plan.totals()}


def run_baseline(root: Path) -> dict[str, Any]:
    from tracelake.governance.retention_apply import refresh_run_tables
    from tracelake.ingest.compact import maintain_table
    from tracelake.lake.delta import open_table
    from tracelake.lake.lake import Lake
    from tracelake.lake.tables import EVENTS, RUNS

    lake = Lake.at(root)
    days = [f"2026-10-{d:02d}" for d in range(1, 16)]
    for table, column in ((EVENTS, "ts"), (RUNS, "last_ts")):
        delta = open_table(lake, table)
        assert delta is not None
        for day in days:
            delta.delete(f"event_date = '{day}'")
        delta.delete(f"event_date = '{BOUNDARY}' AND {column} < '{CUTOFF}'")
    refresh_run_tables(lake, timedelta(hours=24))
    for table in (EVENTS, RUNS):
        maintain_table(lake, table, retention_hours=24)
    return {}


def erase_search(base: Path, runs: int) -> dict[str, Any]:
    """Median seconds of an erasure's dry run over ``base`` and of reading the same columns (module docstring)."""
    import duckdb

    from tracelake.governance.erase import _text_columns, erase_subject
    from tracelake.governance.erase_subject import Subject
    from tracelake.lake.lake import Lake
    from tracelake.lake.tables import EVENTS
    from tracelake.queries.views import sql_string

    subject = Subject(emails=["dana.lee@example.org"], names=["Dana Lee"], phones=["+1 415 555 0134"])
    files = ", ".join(sql_string(f.uri) for f in Lake.at(base).data_files("events"))
    columns = ", ".join(f't."{c}"' for c in _text_columns(EVENTS))
    read_only = f"SELECT count(*) FROM read_parquet([{files}]) t WHERE concat_ws(chr(0), {columns}) IS NOT NULL"
    search, plain = [], []
    for n in range(runs):
        started = time.perf_counter()
        found = erase_subject(base, subject, dry_run=True)
        search.append(time.perf_counter() - started)
        con = duckdb.connect(config={"threads": 2})
        started = time.perf_counter()
        con.execute(read_only).fetchall()
        plain.append(time.perf_counter() - started)
        con.close()
        log(f"erase dry run #{n + 1}: {search[-1]:.1f} s (runs found: {len(found.runs)}); "
            f"reading the same columns: {plain[-1]:.1f} s")
    return {"dry_run_median_s": round(statistics.median(search), 2),
            "baseline_read_columns_median_s": round(statistics.median(plain), 2),
            "ratio": round(statistics.median(search) / statistics.median(plain), 2)}


def measure(name: str, fn: Callable[[Path], dict[str, Any]], base: Path, work: Path, runs: int) -> dict[str, Any]:
    times, after = [], []
    detail: dict[str, Any] = {}
    for n in range(runs):
        root = fresh_copy(base, work / f"{name}-{n}")
        started = time.perf_counter()
        detail = fn(root)
        times.append(time.perf_counter() - started)
        after.append(counts(root))
        log(f"{name} #{n + 1}: {times[-1]:.1f} s, rows left {after[-1]}")
        shutil.rmtree(root)
    return {"median_s": round(statistics.median(times), 2), "runs_s": [round(t, 2) for t in times],
            "rows_left": after[0], "detail": detail}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lake", type=Path, default=DEFAULT_LAKE)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="work folder (same file system as --lake)")
    args = parser.parse_args()
    if not (args.lake / "events" / "_delta_log").is_dir():
        raise SystemExit(f"{args.lake}: no cached bench lake; build it with bench/analytics.py first")
    work = Path(tempfile.mkdtemp(prefix="bench-retention-", dir=args.dir or args.lake.parent))
    try:
        before = counts(args.lake)
        log(f"lake {args.lake}: {before}; policy: keep {KEEP_DAYS} days, applied at {AT.isoformat()}")
        apply = measure("apply", run_apply, args.lake, work, args.runs)
        baseline = measure("baseline", run_baseline, args.lake, work, args.runs)
        erase = erase_search(args.lake, args.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = {"lake": str(args.lake), "rows_before": before, "policy_keep_days": KEEP_DAYS, "at": AT.isoformat(),
              "apply": apply, "baseline_plain_delete": baseline,
              "ratio_apply_to_baseline": round(apply["median_s"] / baseline["median_s"], 2),
              "erase_search": erase,
              "rows_kept_by_run_logic": {t: apply["rows_left"][t] - baseline["rows_left"][t] for t in before},
              "cpus": os.cpu_count(), "loadavg": os.getloadavg()}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
