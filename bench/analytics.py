"""Analytics speed: every metric on a 30-day lake of ≥ 10 M events, pruned vs full, vs Polars, vs the glob read.

    python bench/analytics.py [--events 10000000] [--days 30] [--batches-per-day 1] [--repeats 3] [--threads 2]
                              [--sections peer,glob,log] [--log-commits 1000]

1. Generates (once; cached under ``~/.cache/tracelake/bench-delta-<events>-<days>-<batches>``)
   a 30-day lake with the ingest path's writer (the Delta writer,
   ``Lake.at(root).writer("events")``, each day appended in ``--batches-per-day``
   transactions), vectorised with numpy/pyarrow: runs of 8 events
   (start, 2 LLM calls, 2 tool calls, a post-condition check, a retrieval or an
   escalation/fallback, finish) over 10 workflows × 3 versions × 5 tenants,
   plus 0.05 % re-delivered duplicates (later ``ingested_at``) so the views'
   de-duplication does real work.
2. ``peer``: for each metric, ``tracelake.queries.metrics.compute_metric`` for one
   workflow over one day and over all days (median of ``--repeats`` runs, each on a
   fresh connection as the CLI and API do). Partition pruning must make the
   day ≥ 10× faster. The same computation hand-written in Polars (lazy scan of the
   same files, same de-duplication, same run semantics), also median; tracelake
   must not be slower than 1.5× Polars. The results of both routes are compared
   (an independent check of the SQL).
3. ``glob``: the same metrics (one day, all days) with today's views — the files
   listed from the Delta log — against the same views over the pre-Delta source,
   ``read_parquet(['<table>/event_date=X/*.parquet', …])`` per partition (the
   views' ``source_sql`` swapped in this process for the old code; the files are
   the same, in the same ``event_date=`` directories), alternating, median of
   ``--repeats``; results compared. Target: the Delta route no slower.
4. ``log``: the time to list the live files of ``events`` from the Delta log
   (``lake.data_files``), cold (table opened from its log, as a fresh CLI process
   does) and warm (the process's cached snapshot brought up to date, as the API
   does), on the bench lake and on a lake of ``--log-commits`` small appends
   (an ingest stream before compaction); beside it, the old per-partition
   directory listing with its footer checks.
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from tracelake.lake import delta as delta_module
from tracelake.lake import files as lake_files
from tracelake.lake.lake import Lake, LakeRef, as_lake
from tracelake.lake.layout import DATA_GLOB
from tracelake.lake.tables import EVENTS, EVENTS_SCHEMA, Table, by_name
from tracelake.queries import views
from tracelake.queries.engine import Limits
from tracelake.queries.metrics import METRICS, PUBLIC_METRICS, compute_metric, connection_window
from tracelake.queries.timewin import Window
from tracelake.queries.views import partition_days, partitions

START = date(2026, 10, 1)
WORKFLOWS = [f"wf_{i}" for i in range(10)]
VERSIONS = ["v1", "v2", "v3"]
TENANTS = [f"tenant_{i}" for i in range(5)]
TEAMS = ["support", "it", "finance", "ops"]
TOOLS = ["get_order", "create_refund", "lookup_user", "grant_access", "search_kb", "send_email"]
MODELS = ["m-small", "m-large"]
ERRORS = ["TimeoutError", "SchemaError", "RateLimited"]
# the 8 events of every run, in order
PATTERN = ["run_started", "llm_call", "tool_call", "llm_call", "tool_call", "postcondition_check", "extra",
           "run_finished"]
HORIZON = timedelta(hours=24)
TARGET_WORKFLOW = "wf_3"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- generation -------------------------------------------------------------------------------
def _strings(prefix: str, values: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(pa.scalar(prefix), pc.cast(pa.array(values), pa.string()), "")


def _pick(choices: list[str], idx: np.ndarray) -> pa.Array:
    return pc.take(pa.array(choices), pa.array(idx))


def day_table(day_index: int, runs: int, first_run: int, rng: np.random.Generator) -> pa.Table:
    """One day of runs as an Arrow table in EVENTS_SCHEMA (vectorised: no per-event Python objects)."""
    n = runs * len(PATTERN)
    day = START + timedelta(days=day_index)
    midnight = np.datetime64(day.isoformat(), "us").astype(np.int64)
    run_ids = np.arange(first_run, first_run + runs)
    wf = rng.integers(0, len(WORKFLOWS), runs)
    ver = rng.integers(0, len(VERSIONS), runs)
    tenant = rng.integers(0, len(TENANTS), runs)
    team = wf % len(TEAMS)
    # run starts spread over the day, ending before midnight so the day's partition holds the whole run
    start = midnight + rng.integers(0, 86_000_000_000, runs)
    step = rng.integers(200_000, 4_000_000, (runs, len(PATTERN)))  # µs between events
    offsets = np.cumsum(step, axis=1) - step[:, :1]
    ts = (start[:, None] + offsets).reshape(n)
    per_event = np.repeat(np.arange(runs), len(PATTERN))
    kind = np.tile(np.arange(len(PATTERN)), runs)
    etype = np.array(PATTERN, dtype=object)[kind]
    # quality depends on the version: v3 is a little worse, so the metrics have something to show
    p_fail = np.array([0.05, 0.08, 0.15])[ver]
    tool_ok = rng.random(n) > np.repeat(p_fail, len(PATTERN))
    valid = rng.random(n) > np.repeat(p_fail / 2, len(PATTERN))
    passed = rng.random(runs) > p_fail
    extra = rng.random(runs)
    extra_type = np.where(extra < 0.05, "escalation", np.where(extra < 0.10, "fallback", "retrieval"))
    etype = np.where(kind == 6, np.repeat(extra_type, len(PATTERN)), etype)
    outcome_roll = rng.random(runs)
    outcome = np.where(extra < 0.05, "escalated", np.where(extra < 0.10, "fallback",
                       np.where(outcome_roll < p_fail, "failure", "success")))
    is_llm, is_tool = etype == "llm_call", etype == "tool_call"
    duration = np.where(is_llm, rng.gamma(2.0, 400.0, n), np.where(is_tool, rng.gamma(2.0, 80.0, n), np.nan))
    cost = np.where(is_llm, rng.gamma(2.0, 0.001, n), np.where(is_tool & (rng.random(n) < 0.2), 0.0005, np.nan))
    run_of = per_event
    event_ids = pc.binary_join_element_wise(_strings("r", run_ids[run_of]), pc.cast(pa.array(kind), pa.string()), "-")
    status_err = is_tool & ~tool_ok
    err_idx = rng.integers(0, len(ERRORS), n)
    error = pc.if_else(pa.array(status_err), pc.binary_join_element_wise(
        pa.scalar('{"type": "'), _pick(ERRORS, err_idx), pa.scalar('", "message": "failed"}'), ""),
        pa.nulls(n, pa.string()))
    trigger = pc.if_else(pa.array(kind == 6), pc.binary_join_element_wise(
        _strings("r", run_ids[run_of]), pa.scalar("2"), "-"), pa.nulls(n, pa.string()))
    ts_arr = pa.array(ts, pa.timestamp("us", tz="UTC"))
    columns: dict[str, pa.Array] = {
        "event_id": event_ids,
        "schema_version": pa.array(np.full(n, "1", dtype=object), pa.string()),
        "event_type": pa.array(etype, pa.string()),
        "ts": ts_arr,
        "run_id": _strings("r", run_ids[run_of]),
        "workflow": _pick(WORKFLOWS, wf[run_of]),
        "workflow_version": _pick(VERSIONS, ver[run_of]),
        "tenant": _pick(TENANTS, tenant[run_of]),
        "team": _pick(TEAMS, team[run_of]),
        "release": pc.binary_join_element_wise(pa.scalar("rel-"), _pick(VERSIONS, ver[run_of]), ""),
        "environment": pa.array(np.full(n, "production", dtype=object), pa.string()),
        "duration_ms": pa.array(duration, pa.float64(), from_pandas=True),
        "status": pa.array(np.where(status_err, "error", "ok"), pa.string()),
        "error": error,
        "outcome": pa.array(np.where(kind == 7, np.repeat(outcome, len(PATTERN)), None), pa.string()),
        "model": pa.array(np.where(is_llm, np.array(MODELS, dtype=object)[rng.integers(0, 2, n)], None), pa.string()),
        "input_tokens": pa.array(np.where(is_llm, rng.integers(200, 4000, n), 0), pa.int64()),
        "output_tokens": pa.array(np.where(is_llm, rng.integers(20, 800, n), 0), pa.int64()),
        "cost_usd": pa.array(cost, pa.float64(), from_pandas=True),
        "tool_name": pa.array(np.where(is_tool, np.array(TOOLS, dtype=object)[rng.integers(0, len(TOOLS), n)], None),
                              pa.string()),
        "schema_valid": pa.array(np.where(is_tool, valid, None), pa.bool_()),
        "success": pa.array(np.where(is_tool, tool_ok, None), pa.bool_()),
        "reason": pa.array(np.where((kind == 6) & (etype != "retrieval"), "low_confidence", None), pa.string()),
        "trigger_event_id": pc.if_else(pa.array(etype == "retrieval"), pa.nulls(n, pa.string()), trigger),
        "check": pa.array(np.where(kind == 5, "invariant", None), pa.string()),
        "passed": pa.array(np.where(kind == 5, np.repeat(passed, len(PATTERN)), None), pa.bool_()),
        "cost_source": pa.array(np.where(np.isnan(cost), None, "reported"), pa.string()),
        "redactions": pa.array(np.full(n, "{}", dtype=object), pa.string()),
        "ingested_at": pa.array(ts + 1_500_000, pa.timestamp("us", tz="UTC")),
        "source": pa.array(np.full(n, "kafka", dtype=object), pa.string()),
        "kafka_topic": pa.array(np.full(n, "tracelake.events.v1", dtype=object), pa.string()),
        "kafka_partition": pa.array((run_ids[run_of] % 12).astype(np.int32), pa.int32()),
        "kafka_offset": pa.array(np.arange(first_run * 8, first_run * 8 + n), pa.int64()),
        "event_date": pa.array(np.full(n, day.isoformat(), dtype=object), pa.string()),
    }
    table = pa.table({f.name: columns.get(f.name, pa.nulls(n, f.type)) for f in EVENTS_SCHEMA}, schema=EVENTS_SCHEMA)
    # 0.05 % re-delivered: the same events again, ingested later (the views keep the first copy)
    dup = np.flatnonzero(rng.random(n) < 0.0005)
    redelivered = table.take(pa.array(dup))
    later = pc.add(redelivered.column("ingested_at"), pa.scalar(60_000_000, pa.duration("us")))
    redelivered = redelivered.set_column(EVENTS_SCHEMA.get_field_index("ingested_at"), "ingested_at",
                                         later.cast(EVENTS_SCHEMA.field("ingested_at").type))
    table = pa.concat_tables([table, redelivered])
    return table.take(pc.sort_indices(table, [("ts", "ascending")]))


def build_lake(root: Path, events: int, days: int, batches_per_day: int = 1) -> Path:
    """The bench lake at ``root``: ``events`` over ``days`` days through the Delta writer, each day appended in
    ``batches_per_day`` transactions (ingest's commits before compaction; 1 = a compacted lake)."""
    marker = root / "COMPLETE"
    if marker.exists():
        log(f"reusing the cached lake {root}")
        return root
    shutil.rmtree(root, ignore_errors=True)
    rng = np.random.default_rng(42)
    runs_per_day = math.ceil(events / len(PATTERN) / days)
    writer = Lake.at(root).writer("events")
    started = time.perf_counter()
    for d in range(days):
        table = day_table(d, runs_per_day, d * runs_per_day, rng)
        step = math.ceil(table.num_rows / batches_per_day)
        for b in range(0, table.num_rows, step):
            writer.write(table.slice(b, step), f"bench-day-{d:03d}-{b // step:04d}")
        log(f"  day {d + 1}/{days}: {table.num_rows:,} rows ({time.perf_counter() - started:.0f} s)")
    marker.write_text(f"{events} {days} {batches_per_day}\n")
    return root


# -- the Polars peer ----------------------------------------------------------------------------
def pl_events(files: list[str]) -> pl.LazyFrame:
    """Same as the ``events`` view: one row per event_id, the first ingested copy."""
    return (pl.scan_parquet(files, hive_partitioning=False)
            .sort(["ingested_at", "kafka_partition", "kafka_offset"])
            .unique(subset=["event_id"], keep="first"))


ATTRS = ["tenant", "workflow", "workflow_version", "team", "release", "environment"]


def pl_runs(ev: pl.LazyFrame) -> pl.LazyFrame:
    """Same as the ``runs`` view."""
    order = ["ts", "event_id"]

    def first_of(kind: str | None, prefix: str) -> pl.LazyFrame:
        frame = ev if kind is None else ev.filter(pl.col("event_type") == kind)
        return (frame.sort(order).group_by("run_id")
                .agg([pl.col(a).first().alias(prefix + a) for a in [*ATTRS, "outcome"]]
                     + [pl.col("ts").first().alias(prefix + "ts")]))

    t = pl.col("event_type")
    agg = ev.group_by("run_id").agg(
        pl.col("cost_usd").sum().alias("total_cost_usd"),
        (t == "llm_call").sum().alias("llm_calls"), (t == "tool_call").sum().alias("tool_calls"),
        pl.col("duration_ms").filter(t == "llm_call").sum().alias("model_ms"),
        pl.col("duration_ms").filter(t == "tool_call").sum().alias("tool_ms"),
        (t == "escalation").any().alias("escalated"), (t == "fallback").any().alias("fell_back"))
    out = (agg.join(first_of("run_finished", "f_"), on="run_id", how="left")
           .join(first_of("run_started", "s_"), on="run_id", how="left")
           .join(first_of(None, "x_"), on="run_id", how="left"))
    pick = [pl.when(pl.col("f_ts").is_not_null()).then(pl.col("f_" + a))
            .when(pl.col("s_ts").is_not_null()).then(pl.col("s_" + a)).otherwise(pl.col("x_" + a)).alias(a)
            for a in ATTRS]
    return out.select(
        "run_id", *pick, pl.col("s_ts").alias("started_at"), pl.col("f_ts").alias("finished_at"),
        pl.col("f_outcome").alias("outcome"), "total_cost_usd", "llm_calls", "tool_calls", "model_ms", "tool_ms",
        ((pl.col("f_ts") - pl.col("s_ts")).dt.total_microseconds() / 1000.0).alias("run_ms"),
        "escalated", "fell_back", pl.col("x_ts").alias("first_ts"))


def _finished(runs: pl.LazyFrame, w: Window, workflow: str) -> pl.LazyFrame:
    return runs.filter((pl.col("finished_at") >= w.since) & (pl.col("finished_at") < w.until)
                       & (pl.col("workflow") == workflow))


def _events_in(ev: pl.LazyFrame, w: Window, workflow: str) -> pl.LazyFrame:
    return ev.filter((pl.col("ts") >= w.since) & (pl.col("ts") < w.until) & (pl.col("workflow") == workflow))


def _rate(x: pl.Expr, n: pl.Expr) -> pl.Expr:
    return pl.when(n > 0).then(x / n).otherwise(None)


G = ["workflow", "workflow_version"]


def polars_metric(name: str, files: list[str], w: Window, workflow: str) -> pl.DataFrame:
    ev = pl_events(files)
    t = pl.col("event_type")
    if name == "success_rate":
        runs = pl_runs(ev).filter(pl.col("workflow") == workflow)
        done = (pl.col("finished_at") >= w.since) & (pl.col("finished_at") < w.until)
        flight = (pl.col("finished_at").is_null() | (pl.col("finished_at") >= w.until)) \
            & (pl.col("first_ts") >= w.since) & (pl.col("first_ts") < w.until)
        ok = done & (pl.col("outcome") == "success")
        q = runs.filter(done | flight).group_by(G).agg(
            _rate(ok.sum(), done.sum()).alias("success_rate"), done.sum().alias("runs"),
            flight.sum().alias("runs_unfinished"))
    elif name == "cost_per_success":
        q = _finished(pl_runs(ev), w, workflow).group_by(G).agg(
            _rate(pl.col("total_cost_usd").sum(), (pl.col("outcome") == "success").sum()).alias("cost_per_success"),
            pl.col("total_cost_usd").sum().alias("total_cost_usd"))
    elif name in ("tool_call_validity", "tool_call_success"):
        col = "schema_valid" if name == "tool_call_validity" else "success"
        q = _events_in(ev, w, workflow).filter(t == "tool_call").group_by(G).agg(
            _rate(pl.col(col).sum(), pl.col(col).count()).alias(name), pl.col(col).count().alias("tool_calls"))
    elif name == "postcondition_pass_rate":
        q = _events_in(ev, w, workflow).filter(t == "postcondition_check").group_by(G).agg(
            _rate(pl.col("passed").sum(), pl.len()).alias(name), pl.len().alias("checks"))
    elif name == "escalation_rate":
        q = _finished(pl_runs(ev), w, workflow).group_by(G).agg(
            _rate(pl.col("escalated").sum(), pl.len()).alias(name), pl.len().alias("runs"))
    elif name == "latency_split":
        q = _finished(pl_runs(ev), w, workflow).group_by(G).agg(
            pl.col("run_ms").quantile(0.95, "linear").alias(name),
            pl.col("model_ms").quantile(0.5, "linear").alias("model_ms_p50"), pl.len().alias("runs"))
    elif name == "time_to_safe_fallback":
        fin = _finished(pl_runs(ev), w, workflow).select("run_id", *G, "started_at", "first_ts")
        e = ev.join(fin.select("run_id"), on="run_id", how="semi").with_columns(
            (pl.col("ts").dt.epoch("us") + pl.col("duration_ms").fill_null(0) * 1000).alias("obs"))
        f = (e.filter(t.is_in(["fallback", "escalation"])).sort(["ts", "event_id"]).group_by("run_id")
             .agg(pl.col("ts").first().dt.epoch("us").alias("f_us"), pl.col("trigger_event_id").first()))
        trig = f.join(e.select("run_id", pl.col("event_id").alias("trigger_event_id"), pl.col("obs").alias("t_us")),
                      on=["run_id", "trigger_event_id"], how="inner").select("run_id", "t_us")
        trouble_expr = ((pl.col("status") == "error")
                        | ((t == "tool_call") & ((pl.col("schema_valid") == False) | (pl.col("success") == False)))  # noqa: E712
                        | ((t == "policy_decision") & (pl.col("decision") == "block")) | (t == "budget_exceeded")
                        | ((t == "postcondition_check") & (pl.col("passed") == False)))  # noqa: E712
        trouble = (e.filter(trouble_expr).join(f.select("run_id", "f_us"), on="run_id")
                   .filter(pl.col("obs") <= pl.col("f_us")).sort(["ts", "event_id"]).group_by("run_id")
                   .agg(pl.col("obs").first().alias("r_us")))
        per = (fin.join(f, on="run_id").join(trig, on="run_id", how="left").join(trouble, on="run_id", how="left")
               .with_columns(((pl.col("f_us") - pl.coalesce("t_us", "r_us", pl.coalesce("started_at", "first_ts")
                                                              .dt.epoch("us"))) / 1000.0).clip(lower_bound=0)
                             .alias("ttsf")))
        q = per.group_by(G).agg(pl.col("ttsf").quantile(0.95, "linear").alias(name), pl.len().alias("runs"))
    elif name == "cost_attribution":
        q = _events_in(ev, w, workflow).filter(pl.col("cost_usd").is_not_null()).group_by(
            ["team", "workflow", "release"]).agg(pl.col("cost_usd").sum())
    else:
        raise KeyError(name)
    return q.collect()


# -- timing ------------------------------------------------------------------------------------
def median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def files_for(lake: Path, name: str, w: Window) -> list[str]:
    """The files tracelake reads for this metric and window (the Polars peer reads the same)."""
    available = partitions(lake, "events")
    need = connection_window(METRICS[name], w, HORIZON)
    return sorted(f.uri for day in partition_days(need, list(available)) for f in available[day])


# -- the pre-Delta source, for the same-run comparison ---------------------------------------
def glob_source_sql(root: LakeRef, table: Table | str, window: Window | None = None) -> str | None:
    """The views' source as it was before the Delta table (commit 3dba10f): the table's ``event_date=``
    directories listed on disk, each file footer-checked (cached), each partition read by its glob."""
    lake = as_lake(root)
    spec = table if isinstance(table, Table) else by_name(table)
    available = lake_files.partitions(lake.local_root, spec.name)
    days = partition_days(window, list(available)) if window else sorted(available)
    sources: list[str] = []
    skipped: list[lake_files.BadFile] = []
    for day in days:
        good, bad = lake_files.split_partition(available[day])
        skipped.extend(bad)
        if not bad:
            if good:
                sources.append(str(available[day] / DATA_GLOB))
        else:
            sources.extend(good)
    views._note(skipped)
    if not sources:
        return None
    files = ", ".join(views.sql_string(source) for source in sources)
    return f"read_parquet([{files}], hive_partitioning = true, union_by_name = true)"


DELTA_SOURCE_SQL = views.source_sql


def use_source(glob: bool) -> None:
    views.source_sql = glob_source_sql if glob else DELTA_SOURCE_SQL


def same_files(lake: Path) -> None:
    """Both sources must cover exactly the same files (a compacted-away file would make the glob read more)."""
    live = sorted(f.uri for f in Lake.at(lake).data_files(EVENTS))
    on_disk = sorted(str(p) for d in lake_files.partitions(lake, EVENTS.name).values() for p in d.glob(DATA_GLOB))
    if live != on_disk:
        raise SystemExit(f"the Delta log lists {len(live)} files, the directories hold {len(on_disk)}: not comparable")


def same_rows(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    """Same rows, floats equal to 1e-9 (a parallel sum's order changes its last digits between runs)."""
    def close(x: Any, y: Any) -> bool:
        if isinstance(x, float) and isinstance(y, float):
            return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
        return bool(x == y)

    def rows(found: list[dict[str, Any]]) -> list[list[tuple[str, Any]]]:
        return sorted((sorted(r.items()) for r in found), key=lambda r: repr([v for v in r if not
                                                                               isinstance(v[1], float)]))

    left, right = rows(a), rows(b)
    return len(left) == len(right) and all(
        len(x) == len(y) and all(kx == ky and close(vx, vy) for (kx, vx), (ky, vy) in zip(x, y, strict=True))
        for x, y in zip(left, right, strict=True))


def glob_comparison(lake: Path, metrics: list[str], windows: list[tuple[str, Window]], limits: Limits,
                    repeats: int) -> None:
    same_files(lake)
    print(f"\nmetric queries, Delta-log file list vs the pre-Delta per-partition glob (same files, same run; "
          f"median of {repeats}, alternating; warm log snapshot as in a long-lived process)")
    header = f"{'metric':<26}" + "".join(f"{label + ' delta':>16}{label + ' glob':>15}{'ratio':>8}"
                                         for label, _ in windows) + "  same result"
    print(header)
    print("-" * len(header))
    ratios = []
    for name in metrics:
        cells, same = [], True
        for _, w in windows:
            times: dict[bool, list[float]] = {False: [], True: []}
            results: dict[bool, Any] = {}
            for i in range(repeats * 2):
                glob = bool(i % 2) if (i // 2) % 2 == 0 else not bool(i % 2)  # ABBA order
                use_source(glob)
                try:
                    started = time.perf_counter()
                    results[glob] = compute_metric(lake, name, since=w.since, until=w.until,
                                                   where=[("workflow", TARGET_WORKFLOW)], limits=limits,
                                                   run_horizon=HORIZON)
                    times[glob].append(time.perf_counter() - started)
                finally:
                    use_source(False)
            d, g = statistics.median(times[False]), statistics.median(times[True])
            ratios.append(d / g)
            same = same and same_rows(results[False], results[True])
            cells.append(f"{d:>15.3f}s{g:>14.3f}s{d / g:>7.2f}×")
        print(f"{name:<26}{''.join(cells)}  {'yes' if same else 'NO'}", flush=True)
    geo = math.exp(statistics.fmean(math.log(r) for r in ratios))
    print(f"ratio = Delta ÷ glob (target ≤ 1.00×); geometric mean {geo:.2f}×, worst {max(ratios):.2f}×")


# -- listing the live files ------------------------------------------------------------------
def listing_times(lake: Path, repeats: int) -> tuple[float, float, float, int]:
    """(cold, warm, old directory listing) seconds to list the files of ``events``, and the file count."""
    the_lake = Lake.at(lake)
    cold, warm, old = [], [], []
    count = 0
    for _ in range(max(repeats, 5)):
        delta_module._SNAPSHOTS._tables.clear()
        started = time.perf_counter()
        count = len(the_lake.data_files(EVENTS))
        cold.append(time.perf_counter() - started)
        started = time.perf_counter()
        the_lake.data_files(EVENTS)
        warm.append(time.perf_counter() - started)
        started = time.perf_counter()
        for directory in lake_files.partitions(lake, EVENTS.name).values():
            lake_files.split_partition(directory)
        old.append(time.perf_counter() - started)
    return statistics.median(cold), statistics.median(warm), statistics.median(old), count


def commits_lake(root: Path, commits: int, days: int) -> Path:
    """A lake of ``commits`` small appends (a few hundred events each) spread over ``days`` days."""
    marker = root / "COMPLETE"
    if marker.exists():
        log(f"reusing the cached lake {root}")
        return root
    shutil.rmtree(root, ignore_errors=True)
    rng = np.random.default_rng(7)
    writer = Lake.at(root).writer("events")
    per_day = math.ceil(commits / days)
    started = time.perf_counter()
    for c in range(commits):
        table = day_table(c // per_day, 40, c * 40, rng)
        writer.write(table, f"commit-{c:06d}")
        if (c + 1) % 250 == 0:
            log(f"  {c + 1}/{commits} commits ({time.perf_counter() - started:.0f} s)")
    marker.write_text(f"{commits} {days}\n")
    return root


def log_listing(lakes: list[tuple[str, Path]], repeats: int) -> None:
    print(f"\nlisting the live files of events (median of {max(repeats, 5)})")
    header = f"{'lake':<44}{'commits':>9}{'files':>8}{'cold':>10}{'warm':>10}{'old dir scan':>14}"
    print(header)
    print("-" * len(header))
    for label, lake in lakes:
        version = Lake.at(lake).writer("events")._open().version()
        cold, warm, old, count = listing_times(lake, repeats)
        print(f"{label:<44}{version + 1:>9}{count:>8}{cold * 1000:>8.1f}ms{warm * 1000:>8.1f}ms"
              f"{old * 1000:>12.1f}ms", flush=True)
    print("cold = table opened from its log (a fresh CLI process); warm = cached snapshot + update_incremental "
          "(the API); old dir scan = the pre-Delta listing of partition directories with cached footer checks")


def check(name: str, ours: list[dict[str, Any]], theirs: pl.DataFrame) -> str:
    value = METRICS[name].value
    keys = ["team", "workflow", "release"] if name == "cost_attribution" else G
    mine = {tuple(r[k] for k in keys): r[value] for r in ours}
    peer = {tuple(r[k] for k in keys): r[value] for r in theirs.to_dicts()}
    if mine.keys() != peer.keys():
        return "groups differ"
    for key, v in mine.items():
        p = peer[key]
        if (v is None) != (p is None) or (v is not None and not math.isclose(v, p, rel_tol=1e-9, abs_tol=1e-9)):
            return f"differs at {key}: {v} vs {p}"
    return "same"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--batches-per-day", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--metrics", default=",".join(PUBLIC_METRICS))
    parser.add_argument("--sections", default="peer,glob,log", help="any of peer, glob, log")
    parser.add_argument("--log-commits", type=int, default=1000,
                        help="commits of the small-appends lake the log section also lists (0: none)")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "tracelake")
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    metrics = args.metrics.split(",")
    pl.thread_pool_size()  # Polars sizes its pool from POLARS_MAX_THREADS at import; see README
    lake = build_lake(args.cache / f"bench-delta-{args.events}-{args.days}-{args.batches_per_day}", args.events,
                      args.days, args.batches_per_day)
    live = Lake.at(lake).data_files(EVENTS)
    stored = sum(f.size for f in live)
    limits = Limits(timeout_s=600, memory_limit="8GB", threads=args.threads)
    start = datetime.combine(START, datetime.min.time(), tzinfo=UTC)
    last_day = Window(start + timedelta(days=args.days - 1), start + timedelta(days=args.days))
    everything = Window(start, start + timedelta(days=args.days))
    print(f"lake: {lake} (Delta table, {stored / 1e6:.0f} MB Parquet in {len(live)} files, {args.days} days, "
          f"≥ {args.events:,} events); one workflow ({TARGET_WORKFLOW}); median of {args.repeats}; "
          f"DuckDB threads {args.threads}, Polars threads {pl.thread_pool_size()}")
    if "peer" in sections:
        peer_table(lake, metrics, last_day, everything, limits, args.repeats, args.days)
    if "glob" in sections:
        glob_comparison(lake, metrics, [("1 day", last_day), (f"{args.days} days", everything)], limits,
                        args.repeats)
    if "log" in sections:
        lakes = [(f"bench lake ({args.batches_per_day} commit(s)/day)", lake)]
        if args.log_commits:
            lakes.append((f"{args.log_commits} small appends", commits_lake(
                args.cache / f"bench-delta-commits-{args.log_commits}-{args.days}", args.log_commits, args.days)))
        log_listing(lakes, args.repeats)


def peer_table(lake: Path, metrics: list[str], last_day: Window, everything: Window, limits: Limits,
               repeats: int, days: int) -> None:
    header = (f"{'metric':<26}{'1 day':>9}{f'{days} days':>9}{'pruning':>9}{'polars 1d':>11}"
              f"{f'polars {days}d':>12}{'ratio 1d':>10}{f'ratio {days}d':>11}  same result")
    print(header)
    print("-" * len(header))
    for name in metrics:
        row = []
        for w in (last_day, everything):
            t_ours, ours = median_time(lambda w=w, name=name: compute_metric(
                lake, name, since=w.since, until=w.until, where=[("workflow", TARGET_WORKFLOW)], limits=limits,
                run_horizon=HORIZON), repeats)
            files = files_for(lake, name, w)
            t_peer, theirs = median_time(
                lambda w=w, files=files, name=name: polars_metric(name, files, w, TARGET_WORKFLOW), repeats)
            row.append((t_ours, t_peer, check(name, ours, theirs)))
        (d1, p1, c1), (d30, p30, c30) = row
        same = "yes" if c1 == c30 == "same" else f"1d: {c1}; all: {c30}"
        print(f"{name:<26}{d1:>8.3f}s{d30:>8.3f}s{d30 / d1:>8.1f}×{p1:>10.3f}s{p30:>11.3f}s"
              f"{d1 / p1:>9.2f}×{d30 / p30:>10.2f}×  {same}", flush=True)
    print("pruning = all days ÷ 1 day (target ≥ 10×); ratio = tracelake ÷ Polars (target ≤ 1.5×)")


if __name__ == "__main__":
    main()
