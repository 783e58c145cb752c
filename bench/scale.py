"""How cost grows: the same lake at several sizes, every metric over all its days on three routes.

    .venv/bin/python bench/scale.py [--sizes 1000000,10000000,30000000] [--days 30] [--budget 3600]
                                    [--repeats 5] [--slow-repeats 1] [--spark-master local[2]]
                                    [--spark-memory 4g] [--no-spark] [--open-days 1] [--reuse-fast]
                                    [--spark-only] [--spark-paths fast,event] [--json PATH]

For each size (events over ``--days`` days), in this order, all within ``--budget`` seconds per size
(whatever is left when it runs out is printed as ``budget``, never run):

1. the lake, built once by ``bench/analytics.py``'s generator and Delta writer (cached under
   ``~/.cache/tracelake/bench-delta-<events>-<days>-1``; the build time is the one recorded when it was
   built);
2. the one-off cost of the fast path (``analytics.prepare_fast_lake``, in a child process so its peak
   memory is its own): a hard-linked copy (``bench-fast-…``), every day but the last ``--open-days``
   compacted, the runs rollup built by ``refresh_runs``;
3. bytes and files: the live files of ``events`` before and after compaction, of the ``runs`` rollup, the
   Delta logs;
4. every public metric for one workflow over all days through ``compute_metric``: the fast path (median of
   ``--repeats``, a fresh connection each, the product's default limits) and the event-level path
   (``rollup=False``, median of ``--slow-repeats``, ``--memory``); the peak memory of one event-level
   metric (``--peak-metric``, in a child process);
5. the same metrics on Spark (``tracelake.spark.metrics.compute_metric``, ``--spark-master``, the Delta
   jars of ``tracelake spark install``), on each route of ``--spark-paths``: ``fast`` (the runs rollup and
   its tail, clean days without de-duplication) and ``event`` (``rollup=False``: every run from the
   events); one session for the whole run, its start-up timed apart; a metric still running when the
   budget ends is cancelled (``cancelAllJobs``);
6. last (it writes the fast copy): ``--increments`` rounds of one consumer-sized append to the open day
   (``--increment-runs`` new runs) and the incremental ``refresh_runs`` after it, in a child (peak memory).

Every answer is compared with the event-level one (``same result``: every column, floats to 1e-9). Prints
the load average beside each size (the machine is shared) and writes every figure to ``--json``.

``--spark-only``: Spark alone on the fast lakes already prepared (``bench-fast-…``, read, never written; no
build, no compaction, no increments): per metric DuckDB's fast path once (the reference every Spark answer is
compared with), then Spark on each route of ``--spark-paths``, with the load average before each Spark figure.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import analytics
import numpy as np
import pyarrow.parquet as pq
from analytics import (
    START,
    TARGET_WORKFLOW,
    OneOff,
    Paths,
    Row,
    Timing,
    build_lake,
    build_seconds,
    fast_lake_path,
    loadavg,
    log,
    same_rows,
    timed,
)

from tracelake.lake.lake import Lake
from tracelake.lake.tables import EVENTS, RUNS
from tracelake.queries.engine import Limits
from tracelake.queries.metrics import PUBLIC_METRICS, get_spec
from tracelake.queries.timewin import Window

HERE = Path(__file__).resolve()


class Budget:
    """The time left for one size; every step asks it before starting and bounds itself by what is left."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def spent(self) -> bool:
        return self.left() <= 1.0


@dataclass
class Size:
    """Everything measured for one lake size (seconds; None: not measured, see ``notes``)."""

    events: int
    rows: int = 0
    runs: int = 0
    clean_days: int = 0
    build_s: float | None = None
    compaction_s: float | None = None
    refresh_s: float | None = None
    prep_peak_mb: float | None = None
    increment_s: list[float] = field(default_factory=list)
    increment_runs: int = 0
    increment_peak_mb: float | None = None
    event_peak_mb: float | None = None
    files: dict[str, int] = field(default_factory=dict)
    mb: dict[str, float] = field(default_factory=dict)
    fast: dict[str, float | None] = field(default_factory=dict)
    event: dict[str, float | None] = field(default_factory=dict)
    spark: dict[str, float | None] = field(default_factory=dict)
    spark_event: dict[str, float | None] = field(default_factory=dict)
    spark_load: dict[str, str] = field(default_factory=dict)
    same: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    load: list[str] = field(default_factory=list)


# -- child processes: their own peak memory --------------------------------------------------------------------
def run_child(args: list[str], timeout_s: float) -> dict[str, Any] | None:
    """Run this script with ``args`` in a child process, killed after ``timeout_s``; return the JSON object it
    printed last, or None when it failed or was killed."""
    try:
        done = subprocess.run([sys.executable, str(HERE), *args], stdout=subprocess.PIPE, text=True,
                              timeout=max(1.0, timeout_s))
    except subprocess.TimeoutExpired:
        return None
    lines = done.stdout.strip().splitlines()
    return json.loads(lines[-1]) if done.returncode == 0 and lines else None


def peak_mb() -> float:
    """This process's peak resident memory in MB, from ``VmHWM`` (its own memory since it started: not
    ``ru_maxrss``, which Linux also charges with the parent's peak when a child is spawned)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child_main(argv: list[str]) -> None:
    """``prepare BASE DEST DAYS OPEN_DAYS`` → ``{"oneoff": …, "peak_mb": …}``; ``event LAKE METRIC DAYS MEMORY``
    → ``{"seconds": …, "peak_mb": …}`` (one event-level answer), each as one JSON line on stdout."""
    what, *rest = argv
    if what == "prepare":
        base, dest, days, open_days = Path(rest[0]), Path(rest[1]), int(rest[2]), int(rest[3])
        oneoff = analytics.prepare_fast_lake(base, dest, days, open_days)
        print(json.dumps({"oneoff": asdict(oneoff), "peak_mb": peak_mb()}))
    elif what == "event":
        lake, name, days, memory = Path(rest[0]), rest[1], int(rest[2]), rest[3]
        paths = Paths.on(lake, Limits(), slow_limits(memory, 2, 3600), TARGET_WORKFLOW)
        started = time.perf_counter()
        paths.event_level(name, whole(days))
        print(json.dumps({"seconds": time.perf_counter() - started, "peak_mb": peak_mb()}))
    elif what == "increment":
        lake, days, rounds, runs = Path(rest[0]), int(rest[1]), int(rest[2]), int(rest[3])
        print(json.dumps({**increments(lake, days, rounds, runs), "peak_mb": peak_mb()}))
    else:
        raise SystemExit(f"unknown child task {what!r}")


def increments(lake: Path, days: int, rounds: int, runs: int) -> dict[str, list[float]]:
    """``rounds`` times: append one consumer-sized batch (``runs`` new runs of the open last day, 8 events each,
    as one Delta append) to ``lake`` and bring the runs rollup up to date (``refresh_runs``); the refresh
    seconds and the runs it recomputed each round. Writes ``lake`` (the bench's own copy)."""
    from tracelake.queries.rollup import refresh_runs

    writer = Lake.at(lake).writer("events")
    rng = np.random.default_rng(11)
    seconds, recomputed = [], []
    for i in range(rounds):
        # run ids far above the generator's, so the batch's Kafka offsets are new to every source
        writer.write(analytics.day_table(days - 1, runs, 10**8 + i * runs, rng), f"bench-increment-{i:03d}")
        started = time.perf_counter()
        report = refresh_runs(lake)
        seconds.append(time.perf_counter() - started)
        recomputed.append(float(report.runs_recomputed))
    return {"refresh_s": seconds, "runs": recomputed}


# -- measuring -----------------------------------------------------------------------------------------------
def whole(days: int) -> Window:
    start = datetime.combine(START, datetime.min.time(), tzinfo=UTC)
    return Window(start, start + timedelta(days=days))


def slow_limits(memory: str, threads: int, timeout_s: float) -> Limits:
    return Limits(timeout_s=max(1.0, timeout_s), memory_limit=memory, threads=threads, temp_max_size="16GiB")


def table_stats(lake: Path) -> tuple[dict[str, int], dict[str, float], int]:
    """Live files and MB of ``events`` and ``runs``, MB of every Delta log, and the live ``events`` rows."""
    where = Lake.at(lake)
    files, mb = {}, {}
    rows = 0
    for table in (EVENTS, RUNS):
        live = where.data_files(table)
        files[table.name] = len(live)
        mb[table.name] = sum(f.size for f in live) / 1e6
        if table is EVENTS:
            rows = sum(pq.ParquetFile(f.uri).metadata.num_rows for f in live)
    mb["logs"] = sum(p.stat().st_size for p in lake.glob("*/_delta_log/*") if p.is_file()) / 1e6
    return files, mb, rows


def budget_cell(budget: Budget, fn: Callable[[float], Any], repeats: int) -> Timing:
    """``fn(timeout_s)`` timed (median of ``repeats``) within what is left of ``budget``."""
    if budget.spent():
        return Timing(None, error="budget")
    return timed(partial(fn, budget.left()), repeats)


def spark_call(session: Any, lake: Path, name: str, w: Window, timeout_s: float, rollup: bool = True) -> list[Row]:
    """One metric on Spark (``rollup``: the fast path, else the event-level one), its jobs cancelled after
    ``timeout_s`` (the query then fails in one line)."""
    from tracelake.spark import metrics as spark_metrics

    cancel = threading.Timer(timeout_s, session.sparkContext.cancelAllJobs)
    cancel.daemon = True
    cancel.start()
    try:
        return spark_metrics.compute_metric(session, lake, name, since=w.since, until=w.until,
                                            where=[("workflow", TARGET_WORKFLOW)], run_horizon=analytics.HORIZON,
                                            rollup=rollup)
    finally:
        cancel.cancel()


def spark_cell(session: Any, budget: Budget, lake: Path, name: str, w: Window, rollup: bool = True) -> Timing:
    """:func:`spark_call` within ``budget``. A failure the product does not turn into a ``QueryError`` (a JVM
    ``OutOfMemoryError`` arrives as a ``Py4JJavaError`` and takes the SparkContext down) is an error cell."""
    try:
        return budget_cell(budget, partial(spark_call, session, lake, name, w, rollup=rollup), 1)
    except Exception as exc:  # noqa: BLE001 - any JVM failure is a figure here, not a crash of the bench
        lines = [line for line in str(exc).splitlines() if "Error" in line or "Exception" in line]
        return Timing(None, error=f"Spark failed: {(lines or [type(exc).__name__])[0].strip()[:200]}")


def spark_alive(session: Any) -> bool:
    try:
        return not session.sparkContext._jsc.sc().isStopped()
    except Exception:  # noqa: BLE001 - a dead gateway is a dead session
        return False


def jvm_peak_mb(session: Any) -> float | None:
    """The Spark JVM's peak resident memory so far (``VmHWM``), MB; None when it cannot be read."""
    try:
        pid = session._jvm.java.lang.ProcessHandle.current().pid()
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except Exception:  # noqa: BLE001 - a JVM that is gone has no figure
        return None
    return None


def measure_size(size: Size, args: argparse.Namespace, metrics: list[str], spark: Any,
                 save: Callable[[], None]) -> None:
    """Measure ``size`` (steps in the module docstring), calling ``save`` after every figure, so a run that is
    killed keeps what it measured."""
    events = size.events
    size.load.append(loadavg())
    budget = Budget(args.budget)
    base = args.cache / f"bench-delta-{events}-{args.days}-1"
    try:
        build_lake(base, events, args.days, 1, deadline=budget.deadline)
    except TimeoutError as exc:
        size.notes.append(str(exc))
        return
    size.build_s = build_seconds(base)
    files, mb, size.rows = table_stats(base)
    size.files["events before"], size.mb["events before"] = files[EVENTS.name], mb[EVENTS.name]
    fast = fast_lake_path(base, args.open_days)
    oneoff_file = fast / "ONEOFF.json"
    if args.reuse_fast and oneoff_file.exists():
        oneoff = OneOff(**json.loads(oneoff_file.read_text()))
        size.notes.append("one-off figures of an earlier run (--reuse-fast)")
    else:
        log(f"{events:,} events: compaction and rollup in a child process ...")
        prepared = run_child(["--child", "prepare", str(base), str(fast), str(args.days), str(args.open_days)],
                             budget.left())
        if prepared is None:
            size.notes.append("compaction + rollup did not finish (out of budget, or an error above)")
            return
        oneoff = OneOff(**prepared["oneoff"])
        size.prep_peak_mb = prepared["peak_mb"]
    size.compaction_s, size.refresh_s, size.runs = oneoff.compaction_s, oneoff.refresh_s, oneoff.runs
    files, mb, _ = table_stats(fast)
    size.clean_days = len(Lake.at(fast).clean_days(EVENTS, Lake.at(fast).partitions(EVENTS)))
    size.files.update(files)
    size.mb.update(mb)
    save()
    w = whole(args.days)
    paths = Paths.on(fast, Limits(threads=args.threads), slow_limits(args.memory, args.threads, 3600),
                     TARGET_WORKFLOW)
    answers: dict[str, dict[str, Timing]] = {}

    def record() -> None:
        for name, got in answers.items():
            size.same[name] = verdict(got)
        save()

    for name in metrics:
        got = answers.setdefault(name, {})
        got["fast"] = budget_cell(budget, partial(paths.fast, name, w), args.repeats)
        got["event"] = budget_cell(budget, partial(paths.event_level, name, w), args.slow_repeats)
        size.fast[name], size.event[name] = got["fast"].seconds, got["event"].seconds
        log(f"  {name}: fast {got['fast'].seconds}, event {got['event'].seconds} {got['event'].error}")
        record()
    if args.peak_metric and not budget.spent():
        measured = run_child(["--child", "event", str(fast), args.peak_metric, str(args.days), args.memory],
                             budget.left())
        size.event_peak_mb = None if measured is None else measured["peak_mb"]
        save()
    if spark is not None:
        for name in metrics:
            got = answers[name]
            for route in args.spark_paths:
                got[f"spark {route}"] = spark_route(spark, budget, fast, name, w, route, size)
                record()
        size.notes.append(f"Spark JVM peak resident memory so far: {jvm_peak_mb(spark) or 0:.0f} MB")
    if args.increments and not budget.spent():
        # last: it appends to the fast lake, after every route has answered on the same files
        measured = run_child(["--child", "increment", str(fast), str(args.days), str(args.increments),
                              str(args.increment_runs)], budget.left())
        if measured is not None:
            size.increment_s, size.increment_peak_mb = measured["refresh_s"], measured["peak_mb"]
            size.increment_runs = int(max(measured["runs"]))
        (fast / "ONEOFF.json").unlink(missing_ok=True)  # the copy has changed: never --reuse-fast it
    for name, got in answers.items():
        size.same[name] = verdict(got)
        for label, t in got.items():
            if t.error and t.error != "budget":
                size.notes.append(f"{name} {label}: {t.error}")
    size.load.append(loadavg())
    save()


def spark_route(spark: Any, budget: Budget, lake: Path, name: str, w: Window, route: str, size: Size) -> Timing:
    """One Spark figure on ``route`` (``fast`` / ``event``), stored in ``size`` with the load average before it;
    none for a metric DuckDB alone computes (``MetricSpec.spark``)."""
    if not get_spec(name).spark:
        return Timing(None)  # not a Spark metric: no cell, no note
    load = loadavg()
    got = (spark_cell(spark, budget, lake, name, w, rollup=route == "fast") if spark_alive(spark)
           else Timing(None, error="Spark stopped after an earlier failure"))
    (size.spark if route == "fast" else size.spark_event)[name] = got.seconds
    size.spark_load[f"{name} {route}"] = load
    log(f"  {name}: spark {route} {got.seconds} {got.error} ({load})")
    return got


def measure_spark_only(size: Size, args: argparse.Namespace, metrics: list[str], spark: Any,
                       save: Callable[[], None]) -> None:
    """``--spark-only`` (module docstring): the prepared fast lake of ``size``, read only."""
    lake = fast_lake_path(args.cache / f"bench-delta-{size.events}-{args.days}-1", args.open_days)
    if not (lake / "COMPLETE").exists():
        size.notes.append(f"no prepared fast lake at {lake}: run without --spark-only first")
        return
    size.load.append(loadavg())
    budget = Budget(args.budget)
    files, mb, size.rows = table_stats(lake)
    size.files.update(files)
    size.mb.update(mb)
    size.clean_days = len(Lake.at(lake).clean_days(EVENTS, Lake.at(lake).partitions(EVENTS)))
    w = whole(args.days)
    paths = Paths.on(lake, Limits(threads=args.threads), slow_limits(args.memory, args.threads, 3600),
                     TARGET_WORKFLOW)
    for name in metrics:
        got = {"duckdb": budget_cell(budget, partial(paths.fast, name, w), 1)}
        size.fast[name] = got["duckdb"].seconds
        for route in args.spark_paths:
            got[f"spark {route}"] = spark_route(spark, budget, lake, name, w, route, size)
        size.same[name] = verdict(got, "duckdb")
        for key, t in got.items():
            if t.error and t.error != "budget":
                size.notes.append(f"{name} {key}: {t.error}")
        save()
    size.notes.append(f"Spark JVM peak resident memory so far: {jvm_peak_mb(spark) or 0:.0f} MB")
    size.load.append(loadavg())
    save()


def verdict(got: dict[str, Timing], reference_route: str = "event") -> str:
    """``yes`` when every route that answered gave the reference route's rows; else what differs."""
    reference = got.get(reference_route)
    if reference is None or reference.rows is None:
        return f"no {reference_route} answer"
    differs = [label for label, t in got.items() if label != reference_route and t.rows is not None
               and not same_rows(t.rows, reference.rows)]
    return "yes" if not differs else " and ".join(differs) + " differ"


# -- printing -------------------------------------------------------------------------------------------------
def seconds(value: float | None, width: int) -> str:
    return f"{'–':>{width}}" if value is None else f"{value:>{width - 1}.2f}s"


def label(events: int) -> str:
    return f"{events / 1e6:g}M"


def print_report(sizes: list[Size], metrics: list[str], spark_start: float | None) -> None:
    print("\nthe lake at each size (30 days; compaction leaves the last day open)")
    header = (f"{'events':>12}{'runs':>11}{'build':>9}{'compact':>9}{'rollup':>9}{'prep peak':>11}"
              f"{'events MB':>11}{'files':>7}{'→ MB':>8}{'files':>7}{'clean':>7}{'runs MB':>9}{'files':>7}"
              f"{'logs MB':>9}")
    print(header)
    print("-" * len(header))
    for s in sizes:
        peak = f"{s.prep_peak_mb:>9.0f}MB" if s.prep_peak_mb else f"{'–':>11}"
        print(f"{s.rows:>12,}{s.runs:>11,}{seconds(s.build_s, 9)}{seconds(s.compaction_s, 9)}"
              f"{seconds(s.refresh_s, 9)}{peak}{s.mb.get('events before', 0):>11.0f}"
              f"{s.files.get('events before', 0):>7}{s.mb.get('events', 0):>8.0f}{s.files.get('events', 0):>7}"
              f"{s.clean_days:>7}{s.mb.get('runs', 0):>9.1f}{s.files.get('runs', 0):>7}{s.mb.get('logs', 0):>9.2f}")
    print("events MB/files: as written, then → after compaction; rollup = refresh_runs building every run; "
          "clean = partitions compaction marked clean (read without de-duplication);\n"
          "prep peak = peak resident memory of the compaction + rollup process")
    print("\nevery metric, one workflow, all days: fast path / event-level path / Spark "
          + ("" if spark_start is None else f"(Spark session start-up {spark_start:.1f} s, apart)"))
    header = f"{'metric':<26}" + "".join(f"{label(s.events) + ' fast':>11}{'event':>9}{'spark':>9}" for s in sizes)
    print(header + "  same result")
    print("-" * (len(header) + 13))
    for name in metrics:
        cells = "".join(f"{seconds(s.fast.get(name), 11)}{seconds(s.event.get(name), 9)}"
                        f"{seconds(s.spark.get(name), 9)}" for s in sizes)
        same = "; ".join(f"{label(s.events)}: {s.same.get(name, '–')}" for s in sizes)
        print(f"{name:<26}{cells}  {same}")
    totals = "".join(f"{seconds(sum(v for v in s.fast.values() if v), 11)}"
                     f"{seconds(sum(v for v in s.event.values() if v), 9)}"
                     f"{seconds(sum(v for v in s.spark.values() if v) or None, 9)}" for s in sizes)
    print(f"{'sum of the metrics':<26}{totals}")
    for s in sizes:
        peak = f"; event-level peak memory {s.event_peak_mb:.0f} MB" if s.event_peak_mb else ""
        print(f"{label(s.events)}: {' → '.join(s.load)}{peak}")
        if s.increment_s:
            print(f"    after one appended batch ({s.increment_runs} new runs): incremental refresh "
                  f"{', '.join(f'{t:.2f}' for t in s.increment_s)} s, peak memory {s.increment_peak_mb or 0:.0f} MB")
        for note in s.notes:
            print(f"    {note}")


def print_spark_report(sizes: list[Size], metrics: list[str], spark_start: float | None) -> None:
    print(f"\nSpark alone (session start-up {spark_start or 0:.1f} s, apart): DuckDB fast path (reference), "
          "Spark fast path, Spark event-level path; one workflow, all days")
    for s in sizes:
        print(f"\n{label(s.events)} ({s.rows:,} events rows, {s.clean_days} clean days): {' → '.join(s.load)}")
        print(f"{'metric':<28}{'duckdb':>9}{'spark fast':>12}{'spark event':>13}  same result  load before Spark")
        for name in metrics:
            load = " / ".join(v.removeprefix("load average ") for k, v in s.spark_load.items()
                              if k.rsplit(" ", 1)[0] == name)
            print(f"{name:<28}{seconds(s.fast.get(name), 9)}{seconds(s.spark.get(name), 12)}"
                  f"{seconds(s.spark_event.get(name), 13)}  {s.same.get(name, '–'):<11}  {load}")
        for note in s.notes:
            print(f"    {note}")


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000000,10000000,30000000", help="events per lake, comma-separated")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--budget", type=float, default=3600, help="seconds per size, everything included")
    parser.add_argument("--repeats", type=int, default=5, help="runs per fast-path median")
    parser.add_argument("--slow-repeats", type=int, default=1, help="runs per event-level median")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory", default="8GB", help="DuckDB memory of the event-level path")
    parser.add_argument("--peak-metric", default="time_to_safe_fallback",
                        help="the event-level metric whose peak memory is measured in a child ('' = none)")
    parser.add_argument("--metrics", default=",".join(PUBLIC_METRICS))
    parser.add_argument("--open-days", type=int, default=1)
    parser.add_argument("--reuse-fast", action="store_true", help="keep the fast copies of an earlier run")
    parser.add_argument("--increments", type=int, default=3,
                        help="rounds of one appended batch + incremental rollup refresh, timed (0 = none)")
    parser.add_argument("--increment-runs", type=int, default=625,
                        help="new runs per appended batch (8 events each: 625 = 5 000 events)")
    parser.add_argument("--no-spark", action="store_true")
    parser.add_argument("--spark-master", default="local[2]")
    parser.add_argument("--spark-memory", default="4g", help="spark.driver.memory (local mode: all of Spark)")
    parser.add_argument("--spark-paths", default="fast",
                        help="Spark routes, comma-separated: fast (rollup, clean days), event (rollup=False)")
    parser.add_argument("--spark-only", action="store_true",
                        help="Spark alone on the prepared fast lakes, against DuckDB's fast path (read only)")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "tracelake")
    parser.add_argument("--json", type=Path, default=Path.home() / ".cache" / "tracelake" / "scale-results.json")
    args = parser.parse_args()
    metrics = args.metrics.split(",")
    args.spark_paths = [p for p in args.spark_paths.split(",") if p]
    if any(p not in ("fast", "event") for p in args.spark_paths):
        parser.error("--spark-paths takes fast and/or event")
    if args.spark_only and args.no_spark:
        parser.error("--spark-only needs Spark")
    spark, spark_start = None, None
    if not args.no_spark:
        import tracelake.spark.metrics  # noqa: F401 - imported once, before any edit of the tree can race it
        from tracelake.spark.session import spark_session

        started = time.perf_counter()
        spark = spark_session(args.spark_master, conf={"spark.driver.memory": args.spark_memory,
                                                       "spark.sql.shuffle.partitions": str(args.threads)})
        spark_start = time.perf_counter() - started
        log(f"Spark {args.spark_master} started in {spark_start:.1f} s")
    sizes: list[Size] = []

    def save() -> None:
        args.json.write_text(json.dumps({"spark_start_s": spark_start, "sizes": [asdict(s) for s in sizes]},
                                        indent=1) + "\n")

    try:
        for events in (int(n) for n in args.sizes.split(",")):
            sizes.append(Size(events))
            (measure_spark_only if args.spark_only else measure_size)(sizes[-1], args, metrics, spark, save)
    finally:
        if spark is not None and spark_alive(spark):
            spark.stop()
    (print_spark_report if args.spark_only else print_report)(sizes, metrics, spark_start)
    print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
