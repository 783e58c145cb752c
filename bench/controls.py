"""What the controls cost (docs/controls.md): the one-off build of control_results, the dashboard's controls
panel with and without it, and the incremental refresh a consumer pays after each write.

    .venv/bin/python bench/controls.py [--events 10000000] [--days 30] [--repeats 5] [--slow-repeats 3]
                                       [--increments 3] [--increment-runs 2000] [--json PATH]

Reads the fast lake ``bench/analytics.py`` prepared (``~/.cache/tracelake/bench-fast-<events>-<days>-1-open1``:
29 days compacted, the runs rollup built) and works on its own hard-linked copy
(``bench-controls-<events>``, remade each run; the cached lakes are never written). In order:

1. the controls panel (``controls_data``: ``control_pass_rate`` since the dashboard's first day and the newest
   failing runs, on one connection pruned as the dashboard's page) **without** control_results: every run
   evaluated from the events (median of ``--slow-repeats``, a fresh connection each);
2. the one-off build of control_results (``refresh_controls`` on a lake without it, in a child process so its
   peak memory is its own; beside it, the same child's ``compute_runs`` time: the runs rollup's SQL over the
   same events, the baseline);
3. the same panel **with** control_results (median of ``--repeats``), and both answers compared;
4. ``--increments`` rounds of one consumer-sized append (``--increment-runs`` new runs, 8 events each, to the
   open day) followed by ``refresh_runs`` then ``refresh_controls``, timed apart: what the consumer's refresh
   step costs with the controls against without (the ratio in the same run).

The bench lake's runs carry no mutating calls or approvals, so nearly every verdict is ``not_applicable``:
the cost measured is the scans, joins and rows written (one row per run and control). Prints the load
average beside the figures (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import analytics
import numpy as np

from tracelake.lake.lake import Lake

HERE = Path(__file__).resolve()


def peak_mb() -> float:
    """This process's own peak resident memory (``VmHWM``), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def panel(lake: Path, days: int) -> tuple[float, Any]:
    """Seconds and answer of the dashboard's controls panel as of the end of the lake's last day."""
    from tracelake.api.dashboard.controls_panel import controls_data
    from tracelake.api.dashboard.data import history_start, page_window
    from tracelake.queries.engine import Limits, open_lake

    now = datetime.combine(analytics.START + timedelta(days=days), datetime.min.time(), tzinfo=UTC)
    horizon = timedelta(hours=24)
    started = time.perf_counter()
    with open_lake(lake, window=page_window(now, horizon), limits=Limits(timeout_s=900), run_horizon=horizon) as con:
        answer = controls_data(con, history_start(now), now)
    return time.perf_counter() - started, answer


def child(argv: list[str]) -> None:
    """``build LAKE`` → one JSON line: the build's seconds, rows, peak MB, and compute_runs' seconds."""
    from tracelake.queries.controls.results import refresh_controls
    from tracelake.queries.rollup import compute_runs

    lake = Path(argv[1])
    started = time.perf_counter()
    runs = compute_runs(lake).num_rows
    runs_s = time.perf_counter() - started
    report = refresh_controls(lake)
    print(json.dumps({"build_s": report.seconds, "rows": report.rows_written, "runs": runs, "runs_sql_s": runs_s,
                      "peak_mb": peak_mb()}))


def increments(lake: Path, days: int, rounds: int, runs: int) -> dict[str, list[float]]:
    from tracelake.queries.controls.results import refresh_controls
    from tracelake.queries.rollup import refresh_runs

    writer = Lake.at(lake).writer("events")
    rng = np.random.default_rng(13)
    out: dict[str, list[float]] = {"runs_s": [], "controls_s": []}
    for i in range(rounds):
        writer.write(analytics.day_table(days - 1, runs, 2 * 10**8 + i * runs, rng), f"bench-controls-{i:03d}")
        out["runs_s"].append(refresh_runs(lake).seconds)
        out["controls_s"].append(refresh_controls(lake).seconds)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--slow-repeats", type=int, default=3)
    parser.add_argument("--increments", type=int, default=3)
    parser.add_argument("--increment-runs", type=int, default=2000)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "tracelake")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    base = args.cache / f"bench-fast-{args.events}-{args.days}-1-open1"
    if not (base / "COMPLETE").exists():
        raise SystemExit(f"{base} is not there: run bench/analytics.py --events {args.events} --sections fast first")
    dest = args.cache / f"bench-controls-{args.events}"
    shutil.rmtree(dest, ignore_errors=True)
    subprocess.run(["cp", "-al", str(base), str(dest)], check=True)
    shutil.rmtree(dest / "control_results", ignore_errors=True)  # a fast lake built after this bench has one
    figures: dict[str, Any] = {"events": args.events, "load_before": os.getloadavg()}
    try:
        slow = [panel(dest, args.days) for _ in range(args.slow_repeats)]
        figures["panel_events_s"] = statistics.median(s for s, _ in slow)
        done = subprocess.run([sys.executable, str(HERE), "--child", "build", str(dest)], stdout=subprocess.PIPE,
                              text=True, check=True, timeout=1800)
        figures["build"] = json.loads(done.stdout.strip().splitlines()[-1])
        fast = [panel(dest, args.days) for _ in range(args.repeats)]
        figures["panel_table_s"] = statistics.median(s for s, _ in fast)
        figures["same_answer"] = fast[0][1] == slow[0][1]
        figures["increments"] = increments(dest, args.days, args.increments, args.increment_runs)
        figures["load_after"] = os.getloadavg()
    finally:
        shutil.rmtree(dest, ignore_errors=True)
    inc = figures["increments"]
    runs_med, controls_med = statistics.median(inc["runs_s"]), statistics.median(inc["controls_s"])
    build = figures["build"]
    print(f"controls on {args.events:,} events ({build['runs']:,} runs), load {figures['load_before'][0]:.1f} → "
          f"{figures['load_after'][0]:.1f}")
    print(f"  one-off build of control_results: {build['build_s']:.1f} s, {build['rows']:,} rows, "
          f"peak {build['peak_mb']:.0f} MB (the runs rollup's SQL over the same events: {build['runs_sql_s']:.1f} s)")
    print(f"  dashboard controls panel: {figures['panel_table_s']:.2f} s with control_results, "
          f"{figures['panel_events_s']:.2f} s evaluated from the events "
          f"(×{figures['panel_events_s'] / figures['panel_table_s']:.0f}); same answer: {figures['same_answer']}")
    print(f"  refresh after a {args.increment_runs}-run append (median of {args.increments}): runs rollup "
          f"{runs_med:.2f} s, control_results {controls_med:.2f} s (the consumer's refresh step ×"
          f"{(runs_med + controls_med) / runs_med:.2f} of the rollup's alone)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1, default=str))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2:])
    else:
        main()
