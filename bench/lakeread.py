"""Reading the Delta table with DuckDB: delta_scan and read_parquet over the log's file list vs plain read_parquet.

Writes a local Delta table with ``deltalake.write_deltalake(..., partition_by=["event_date"])``: about 2M
events-like rows over 30 days, several files per day (one append per batch). Then, in one process and one
DuckDB connection per method (extensions loaded from their PyPI packages, :mod:`tracelake.lake.duck`),
times a typical aggregate (``GROUP BY`` a column with ``count(*)`` and ``sum``):

(a) ``read_parquet([every data file], hive_partitioning = true)`` (the baseline);
(b) ``delta_scan('<table dir>')``;
(c) ``read_parquet`` over ``deltalake.DeltaTable(dir).file_uris()``, the time to load the DeltaTable included
    (what the views do: the live files from the Delta log).

Prints the median of ``--runs`` runs (the methods take turns; one warm-up round) and each method's ratio
to (a). The issue's goal: reading the table within 1.2x of read_parquet.

    .venv/bin/python bench/lakeread.py [--rows 2000000] [--days 30] [--batches 4] [--runs 7] [--dir DIR]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from tracelake.lake.duck import extension_path

QUERY = ("SELECT event_type, count(*) AS n, sum(cost_usd) AS cost, sum(duration_ms) AS ms "
         "FROM {source} GROUP BY event_type ORDER BY event_type")
EVENT_TYPES = ["llm_call", "tool_call", "run_started", "run_finished", "escalation", "fallback"]


def build_table(where: Path, rows: int, days: int, batches: int) -> None:
    """Write ``rows`` events over ``days`` days in ``batches`` appends (each append: one file per day)."""
    rng = np.random.default_rng(7)
    start = date(2026, 10, 1)
    per_batch = rows // batches
    for batch in range(batches):
        day_index = rng.integers(0, days, per_batch)
        table = pa.table({
            "event_id": pa.array([f"e{batch}-{i}" for i in range(per_batch)]),
            "tenant": pa.array(rng.choice(["acme", "globex", "initech"], per_batch)),
            "event_type": pa.array(rng.choice(EVENT_TYPES, per_batch)),
            "run_id": pa.array([f"r{n}" for n in rng.integers(0, rows // 20, per_batch)]),
            "ts": pa.array((np.datetime64("2026-10-01") + day_index.astype("timedelta64[D]")
                            + rng.integers(0, 86_400_000_000, per_batch).astype("timedelta64[us]")),
                           pa.timestamp("us", tz="UTC")),
            "duration_ms": pa.array(rng.integers(1, 5000, per_batch)),
            "cost_usd": pa.array(rng.random(per_batch) / 100),
            "model": pa.array(rng.choice(["m-small", "m-large", None], per_batch)),
            "event_date": pa.array([(start + timedelta(days=int(d))).isoformat() for d in day_index]),
        })
        write_deltalake(str(where), table, partition_by=["event_date"], mode="append")


def timed(runs: int, methods: dict[str, Callable[[], object]]) -> dict[str, tuple[float, object]]:
    """Median seconds and last answer of each method; the methods take turns within each run (after one
    warm-up round), so load from elsewhere on the machine falls on all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in methods}
    answers: dict[str, object] = {name: work() for name, work in methods.items()}  # warm-up
    for _ in range(runs):
        for name, work in methods.items():
            started = time.perf_counter()
            answers[name] = work()
            times[name].append(time.perf_counter() - started)
    return {name: (statistics.median(times[name]), answers[name]) for name in methods}


def connect(*extensions: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    for name in extensions:
        con.execute(f"LOAD '{extension_path(name)}'")
    return con


def file_list(files: list[str]) -> str:
    return "[" + ", ".join(f"'{f}'" for f in files) + "]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--batches", type=int, default=4, help="appends; each writes one file per day")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--dir", type=Path, help="keep the table here (default: a temporary directory)")
    args = parser.parse_args()
    where = args.dir or Path(tempfile.mkdtemp(prefix="lakeread-")) / "events"
    try:
        if not (where / "_delta_log").exists():
            started = time.perf_counter()
            build_table(where, args.rows, args.days, args.batches)
            print(f"wrote {args.rows} rows in {time.perf_counter() - started:.1f} s")
        uris = DeltaTable(str(where)).file_uris()
        size = sum(Path(u).stat().st_size for u in uris)
        print(f"table {where}: {len(uris)} files over {args.days} days, {size / 2**20:.1f} MiB; "
              f"DuckDB {duckdb.__version__}, median of {args.runs} runs")

        plain = connect()
        delta = connect("delta")
        baseline_sql = QUERY.format(source=f"read_parquet({file_list(uris)}, hive_partitioning = true)")
        scan_sql = QUERY.format(source=f"delta_scan('{where}')")

        def from_log() -> object:
            files = DeltaTable(str(where)).file_uris()
            sql = QUERY.format(source=f"read_parquet({file_list(files)}, hive_partitioning = true)")
            return plain.execute(sql).fetchall()

        results = timed(args.runs, {
            "a": lambda: plain.execute(baseline_sql).fetchall(),
            "b": lambda: delta.execute(scan_sql).fetchall(),
            "c": from_log,
            "load": lambda: DeltaTable(str(where)).file_uris(),
        })
        (base, expected), (scan, scanned), (logged, listed) = results["a"], results["b"], results["c"]
        load = results["load"][0]

        for name, answer in (("delta_scan", scanned), ("file list from the log", listed)):
            if not _same(answer, expected):
                raise SystemExit(f"{name} gave another answer than read_parquet")
        print(f"{'method':58} {'median s':>9} {'ratio':>6}")
        for label, seconds in (
            ("(a) read_parquet([all data files], hive_partitioning)", base),
            ("(b) delta_scan('<table dir>')", scan),
            ("(c) DeltaTable(...).file_uris() + read_parquet([...])", logged),
        ):
            print(f"{label:58} {seconds:9.3f} {seconds / base:6.2f}")
        print(f"    of which loading the DeltaTable and listing its files: {load:.3f} s")
    finally:
        if args.dir is None:
            shutil.rmtree(where.parent, ignore_errors=True)


def _same(left: object, right: object) -> bool:
    assert isinstance(left, list) and isinstance(right, list)
    return len(left) == len(right) and all(
        a[:2] == b[:2] and abs(a[2] - b[2]) < 1e-6 * max(1.0, abs(b[2])) and a[3] == b[3]
        for a, b in zip(left, right, strict=True))


if __name__ == "__main__":
    main()
