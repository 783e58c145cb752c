"""What the confirmed-outcome metrics cost against their claim-only peers, on the 10 M-event fast bench lake.

    python bench/confirmed.py [--lake ~/.cache/tracelake/bench-fast-10000000-30-1-open1] [--share 0.1]
                              [--days 5] [--repeats 5] [--keep]

Confirmations are joined to runs when a metric is asked (docs/contract/metrics.md "Confirmed outcomes"), not
stored in the runs rollup, because they arrive days after their run's horizon. This measures that choice:

1. A hard-linked copy of the cached fast lake (``cp -al``; the cached lake is never written), plus one
   ``outcome_confirmed`` event for ``--share`` of the successful runs of the last ``--days`` days (1 to 48 h
   after the run, 5 % reversed, half by run_id, half by an idempotency key), appended in one commit; the runs
   rollup brought up to date (confirmations touch no run); the days they dirtied compacted again (a live lake
   compacts each day with its own confirmations in it).
2. For one workflow, over the last compacted day and over all days: each pair (claim-only, confirmed) on a fresh
   connection each time (as the CLI and API do), alternating, median of ``--repeats``; the ratio of medians.
   Every confirmed answer is checked against the event-level path (``rollup=False``) once.

Prints one JSON document; the figures live in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

DEFAULT_LAKE = Path.home() / ".cache/tracelake/bench-fast-10000000-30-1-open1"
PAIRS = (("success_rate", "confirmed_success_rate"), ("success_rate", "success_claim_gap"),
         ("cost_per_success", "cost_per_confirmed_success"))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def add_confirmations(lake: Path, share: float, days: int) -> int:
    """Append confirmations for ``share`` of the successful runs (module docstring); returns how many."""
    from tracelake.lake.lake import Lake
    from tracelake.lake.tables import EVENTS
    from tracelake.queries.engine import open_lake

    with open_lake(lake) as con:
        # The runs of the last `days` days only: the days their confirmations land in are compacted again below.
        runs = con.query(f"SELECT tenant, run_id, workflow, workflow_version, finished_at FROM runs "
                         f"WHERE outcome = 'success' AND finished_at >= (SELECT max(finished_at) FROM runs) "
                         f"- INTERVAL {int(days)} DAY USING SAMPLE {share * 100}% (bernoulli, 7)",
                         name="bench: sample", max_rows=10_000_000).dicts()
    rng = np.random.default_rng(7)
    n = len(runs)
    delay = rng.uniform(1, 48, n)
    reversed_ = rng.random(n) < 0.05
    by_key = rng.random(n) < 0.5
    ts = [r["finished_at"] + timedelta(hours=float(d)) for r, d in zip(runs, delay, strict=True)]
    rows = {
        "event_id": [f"conf-{i}" for i in range(n)],
        "schema_version": ["1"] * n,
        "event_type": ["outcome_confirmed"] * n,
        "ts": ts,
        "run_id": [f"pay-{r['run_id']}" if k else r["run_id"] for r, k in zip(runs, by_key, strict=True)],
        "workflow": [r["workflow"] for r in runs],
        "workflow_version": [r["workflow_version"] for r in runs],
        "tenant": [r["tenant"] for r in runs],
        "idempotency_key": [f"key-{r['run_id']}" if k else None for r, k in zip(runs, by_key, strict=True)],
        "attributes": [orjson.dumps({"confirmation": "reversed" if rv else "confirmed"}).decode() for rv in reversed_],
        "ingested_at": ts,
        "source": ["file"] * n,
        "kafka_topic": ["bench-confirmations"] * n,
        "kafka_partition": [None] * n,
        "kafka_offset": list(range(n)),
        EVENTS.partition: [t.strftime("%Y-%m-%d") for t in ts],
    }
    table = pa.table({k: pa.array(v, type=EVENTS.schema.field(k).type) for k, v in rows.items()})
    # The bench lake's tool calls carry no idempotency keys, so the keyed half settles no run; the join through
    # the tool calls is still planned and read, which is the cost measured.
    Lake.at(lake).writer(EVENTS).write(table, "bench-confirmations")
    return n


def same(a: Any, b: Any) -> bool:
    """Rows equal, floats to 1e-9 relative (the two paths add in another order)."""
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def timed(lake: Path, name: str, since: Any, until: Any, workflow: str, rollup: bool = True) -> tuple[float, Any]:
    from tracelake.queries.metrics import compute_metric

    started = time.perf_counter()
    rows = compute_metric(lake, name, since=since, until=until, where=[("workflow", workflow)], rollup=rollup)
    return time.perf_counter() - started, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", type=Path, default=DEFAULT_LAKE)
    parser.add_argument("--share", type=float, default=0.1)
    parser.add_argument("--days", type=int, default=5, help="confirm runs of the last DAYS days only")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the copy (printed) instead of deleting it")
    args = parser.parse_args()
    from tracelake.queries.engine import QueryTooLarge
    from tracelake.queries.rollup import refresh_runs

    if not (args.lake / "events").exists():
        sys.exit(f"no bench lake at {args.lake}: run bench/analytics.py first")
    work = Path(tempfile.mkdtemp(prefix="bench-confirmed-", dir=args.lake.parent))
    copy = work / "lake"
    subprocess.run(["cp", "-al", str(args.lake), str(copy)], check=True)
    try:
        started = time.perf_counter()
        added = add_confirmations(copy, args.share, args.days)
        append_s = time.perf_counter() - started
        report = refresh_runs(copy)
        log(f"{added} confirmations appended in {append_s:.1f} s; rollup refresh {report.seconds:.2f} s, "
            f"{report.runs_recomputed} runs recomputed")
        # A live lake's confirmations land in each day as it is written and are compacted with it; appended here
        # in one go they dirty every day, so the closed days are compacted again, as `tracelake compact` would.
        from tracelake.ingest.compact import compact_lake
        from tracelake.queries.engine import open_lake

        with open_lake(copy) as con:
            last_day = con.query("SELECT max(event_date) AS d FROM runs", name="bench: last day").rows[0][0]
        started = time.perf_counter()
        compact_lake(copy, older_than_days=1, today=last_day)
        compact_s = time.perf_counter() - started
        log(f"closed days compacted again in {compact_s:.1f} s")

        with open_lake(copy) as con:
            bounds = con.query("SELECT min(finished_at) AS lo, max(finished_at) AS hi, any_value(workflow) AS w "
                               "FROM runs", name="bench: bounds").dicts()[0]
        day_end = bounds["hi"].replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
        windows = {"one day": (day_end - timedelta(days=1), day_end), "all days": (bounds["lo"], bounds["hi"])}
        results: list[dict[str, Any]] = []
        for label, (since, until) in windows.items():
            for plain, confirmed in PAIRS:
                times: dict[str, list[float]] = {plain: [], confirmed: []}
                for _ in range(args.repeats):
                    for name in (plain, confirmed):
                        seconds, _rows = timed(copy, name, since, until, bounds["w"])
                        times[name].append(seconds)
                _, fast = timed(copy, confirmed, since, until, bounds["w"])
                try:
                    _, slow = timed(copy, confirmed, since, until, bounds["w"], rollup=False)
                except QueryTooLarge:  # the event-level path over every day may not fit the default budget
                    slow = None
                a, b = statistics.median(times[plain]), statistics.median(times[confirmed])
                results.append({"window": label, "metric": confirmed, "peer": plain, "peer_s": round(a, 3),
                                "confirmed_s": round(b, 3), "ratio": round(b / a, 2),
                                "same_as_event_level": None if slow is None else same(fast, slow), "rows": fast})
                log(f"{label:8s} {confirmed:28s} {b:.3f} s vs {plain} {a:.3f} s: ×{b / a:.2f}")
        print(json.dumps({"lake": str(args.lake), "confirmations": added, "append_s": round(append_s, 1),
                          "compact_s": round(compact_s, 1),
                          "results": results}, default=str, indent=1))
    finally:
        if args.keep:
            log(f"kept {copy}")
        else:
            shutil.rmtree(work)


if __name__ == "__main__":
    main()
