"""Analytics speed: every metric on a 30-day lake of ≥ 10 M events: fast path, event level, Polars, glob read.

    python bench/analytics.py [--events 10000000] [--days 30] [--batches-per-day 1] [--repeats 3] [--threads 2]
                              [--sections fast,peer,glob,log] [--log-commits 1000]
                              [--open-days 1] [--one-day open|closed] [--reuse-fast] [--fast-repeats 5]
                              [--peer-repeats 1] [--memory 8GB]

1. Generates (once; cached under ``~/.cache/tracelake/bench-delta-<events>-<days>-<batches>``)
   a 30-day lake with the ingest path's writer (the Delta writer,
   ``Lake.at(root).writer("events")``, each day appended in ``--batches-per-day``
   transactions), vectorised with numpy/pyarrow: runs of 8 events
   (start, 2 LLM calls, 2 tool calls, a post-condition check, a retrieval or an
   escalation/fallback, finish) over 10 workflows × 3 versions × 5 tenants,
   plus 0.05 % re-delivered duplicates (later ``ingested_at``) so the views'
   de-duplication does real work.
2. ``fast`` (first): the fast path as a live lake has it, on a copy (``bench-fast-<…>-open<N>``, data files
   hard-linked; the cached lake is never written): every day but the last ``--open-days`` compacted
   (``compact_lake``, which also marks them clean and builds the runs rollup), the rollup brought up to date
   (``refresh_runs``); that one-off cost is printed (compaction and rollup apart). Then for every public
   metric, one workflow, over one day (``--one-day``: the last, open day, or the last compacted one) and
   over all days: the fast path (``compute_metric`` under the product's default limits, a fresh connection
   each, median of ``--fast-repeats``) against its targets (≤ 0.05 s, ≤ 0.3 s), the event-level path
   (``compute_metric(..., rollup=False)``, median of ``--repeats``), the Polars peer (median of
   ``--peer-repeats``) and ``same result`` (fast equals event level on every column and Polars on the
   metric column, both windows); last, the dashboard page's server time on that lake (``bench/dashboard.py``).
3. ``peer``: for each metric, ``tracelake.queries.metrics.compute_metric`` for one
   workflow over one day and over all days (median of ``--repeats`` runs, each on a
   fresh connection as the CLI and API do). Partition pruning must make the
   day ≥ 10× faster. The same computation hand-written in Polars (lazy scan of the
   same files, same de-duplication, same run semantics), also median; tracelake
   must not be slower than 1.5× Polars. The results of both routes are compared
   (an independent check of the SQL).
4. ``glob``: the same metrics (one day, all days) with today's views — the files
   listed from the Delta log — against the same views over the pre-Delta source,
   ``read_parquet(['<table>/event_date=X/*.parquet', …])`` per partition (the
   views' ``source_sql`` swapped in this process for the old code; the files are
   the same, in the same ``event_date=`` directories), alternating, median of
   ``--repeats``; results compared. Target: the Delta route no slower.
5. ``log``: the time to list the live files of ``events`` from the Delta log
   (``lake.data_files``), cold (table opened from its log, as a fresh CLI process
   does) and warm (the process's cached snapshot brought up to date, as the API
   does), on the bench lake and on a lake of ``--log-commits`` small appends
   (an ingest stream before compaction); beside it, the old per-partition
   directory listing with its footer checks.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tracelake.lake import delta as delta_module
from tracelake.lake import files as lake_files
from tracelake.lake.lake import Lake, LakeRef, as_lake
from tracelake.lake.layout import DATA_GLOB
from tracelake.lake.tables import EVENTS, EVENTS_SCHEMA, RUNS, Table, by_name
from tracelake.queries import views
from tracelake.queries.engine import Limits, QueryError
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


def build_lake(root: Path, events: int, days: int, batches_per_day: int = 1, deadline: float | None = None) -> Path:
    """The bench lake at ``root``: ``events`` over ``days`` days through the Delta writer, each day appended in
    ``batches_per_day`` transactions (ingest's commits before compaction; 1 = a compacted lake).

    The ``COMPLETE`` marker's second line records how long the build took (:func:`build_seconds`). Raises
    ``TimeoutError`` when ``time.monotonic()`` passes ``deadline`` between two days (the half-built lake is
    left without its marker, so the next call starts again)."""
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
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"building {root.name}: out of time after {d} of {days} days")
        table = day_table(d, runs_per_day, d * runs_per_day, rng)
        step = math.ceil(table.num_rows / batches_per_day)
        for b in range(0, table.num_rows, step):
            writer.write(table.slice(b, step), f"bench-day-{d:03d}-{b // step:04d}")
        log(f"  day {d + 1}/{days}: {table.num_rows:,} rows ({time.perf_counter() - started:.0f} s)")
    marker.write_text(f"{events} {days} {batches_per_day}\nbuilt in {time.perf_counter() - started:.1f} s\n")
    return root


def build_seconds(root: Path) -> float | None:
    """How long :func:`build_lake` took to build ``root``; None for a lake cached before the time was kept."""
    lines = (root / "COMPLETE").read_text().splitlines()
    if len(lines) < 2 or not lines[1].startswith("built in "):
        return None
    return float(lines[1].removeprefix("built in ").removesuffix(" s"))


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


POLARS_PEERS = frozenset({"success_rate", "cost_per_success", "tool_call_validity", "tool_call_success",
                          "postcondition_pass_rate", "escalation_rate", "latency_split", "time_to_safe_fallback",
                          "cost_attribution"})
"""The metrics the Polars peer computes (metrics added later are cross-checked against the event level only)."""


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


# -- the fast path: compacted days and the runs rollup, against the event-level path ------------------------------
TARGET_DAY_S = 0.05  # issue 15: every metric over one day of the 10 M-event lake
TARGET_ALL_S = 0.3  # … and over its 30 days (median of 5, a fresh connection each)
Row = dict[str, Any]


@dataclass(frozen=True)
class OneOff:
    """What readying a lake for the fast path cost: compacting its closed days (``partitions`` compacted,
    ``rows_dropped`` re-delivered copies removed, ``events_files`` live files after) and building the runs
    rollup (``runs`` rows written)."""

    compaction_s: float
    partitions: int
    rows_dropped: int
    events_files: int
    refresh_s: float
    runs: int
    tidied_copies: int = 0
    tail_rows: int = 0


def link_copy(src: Path, dest: Path, skip: Sequence[str] = ()) -> None:
    """``dest``: a copy of the lake ``src`` (names in ``skip`` left out, at any depth) whose data files are hard
    links and every other file (Delta logs, checkpoints, markers) a real copy. Safe for a shared cached lake:
    Delta never writes into a data file (compaction writes new ones, vacuum unlinks), so ``src`` never changes.
    Raises ``OSError`` when ``dest`` exists or the two are on different file systems."""
    def copy(source: str, target: str) -> str:
        if source.endswith(".parquet") and "_delta_log" not in source:
            os.link(source, target)
        else:
            shutil.copy2(source, target)
        return target

    shutil.copytree(src, dest, copy_function=copy, ignore=shutil.ignore_patterns(*skip))


def fast_lake_path(base: Path, open_days: int) -> Path:
    """Where the fast copy of the cached bench lake ``base`` lives (a sibling: ``bench-fast-…-open<N>``)."""
    return base.with_name(base.name.replace("bench-delta-", "bench-fast-", 1) + f"-open{open_days}")


def prepare_fast_lake(base: Path, dest: Path, days: int, open_days: int, *, reuse: bool = False) -> OneOff:
    """Make ``dest`` a copy of the bench lake ``base`` ready for the fast path, and say what that cost: every day
    but the last ``open_days`` compacted (``compact_lake``, its "today" set inside the bench's calendar, so the
    last days stay open as a live lake's do), then the runs rollup built by ``refresh_runs``. ``reuse``: keep an
    earlier ``dest`` and its recorded figures (``ONEOFF.json``) instead. ``base`` is never written."""
    from tracelake.ingest.compact import compact_lake
    from tracelake.ingest.derived import refresh_derived_isolated

    record = dest / "ONEOFF.json"
    if reuse and record.exists():
        # The derived tables brought up to date with this checkout (a changed controls library rebuilds
        # control_results); the recorded one-off figures are those of the lake's first preparation.
        started = time.perf_counter()
        refresh_derived_isolated(Lake.at(dest), timedelta(hours=24), timeout_s=1800)
        log(f"reusing the fast lake {dest} (upkeep {time.perf_counter() - started:.1f} s)")
        return OneOff(**json.loads(record.read_text()))
    shutil.rmtree(dest, ignore_errors=True)
    shutil.rmtree(dest.with_name(dest.name + "-events-only"), ignore_errors=True)
    link_copy(base, dest)
    log(f"compacting {dest.name} (all but the last {open_days} day(s)) ...")
    started = time.perf_counter()
    report = compact_lake(dest, older_than_days=1, today=START + timedelta(days=days - open_days))
    compaction_s = time.perf_counter() - started
    # compact_lake brings the runs rollup up to date itself (here: builds it); its share is the rollup's cost
    built = getattr(report, "rollup", None)
    log(f"  {compaction_s:.1f} s; the consumer's upkeep (tidy the open day, runs rollup, control results) ...")
    started = time.perf_counter()
    upkeep = refresh_derived_isolated(Lake.at(dest), timedelta(hours=24), timeout_s=1800)
    refresh_s = time.perf_counter() - started
    runs = upkeep.runs.runs_recomputed
    if built is not None:
        compaction_s -= built.seconds
        refresh_s += built.seconds
        runs += built.runs_recomputed
    done = [p for p in report.partitions if p.table == EVENTS.name and p.action != "skipped"]
    oneoff = OneOff(compaction_s, len(done), sum(p.rows_in - p.rows_out for p in done),
                    len(Lake.at(dest).data_files(EVENTS)), refresh_s, runs,
                    sum(t.copies for t in upkeep.tidied))
    record.write_text(json.dumps(asdict(oneoff)) + "\n")
    return oneoff


TAIL_RUNS = 625
"""Runs in the tail appended after the upkeep: one consumer batch (5 000 events) the next upkeep has not seen."""


def append_tail(lake: Lake, day_index: int) -> int:
    """Append to day ``day_index`` what a consumer writes between two upkeeps: one batch of new runs (with the
    generator's re-deliveries) plus re-sent copies of 8 events already on that day (later ingest time, new
    positions), so queries de-duplicate a tail against the day's clean prefix. Returns the rows appended."""
    rng = np.random.default_rng(7)
    batch = day_table(day_index, TAIL_RUNS, 50_000_000, rng)
    day = (START + timedelta(days=day_index)).isoformat()
    files = [f.uri for f in lake.data_files(EVENTS) if f.day.isoformat() == day]
    resent = pq.read_table(files[0]).slice(0, 8)
    resent = resent.append_column("event_date", pa.array([day] * resent.num_rows, pa.string()))
    resent = resent.select(EVENTS_SCHEMA.names).cast(EVENTS_SCHEMA)
    for name, value in (("kafka_offset", pc.add(resent.column("kafka_offset"), 900_000_000)),
                        ("ingested_at", pc.add(resent.column("ingested_at"),
                                               pa.scalar(3_600_000_000, pa.duration("us"))))):
        index = EVENTS_SCHEMA.get_field_index(name)
        resent = resent.set_column(index, name, value.cast(EVENTS_SCHEMA.field(name).type))
    rows = pa.concat_tables([batch, resent])
    lake.writer("events").write(rows, "bench-tail")
    return rows.num_rows


def rollup_switch() -> bool:
    """Whether ``compute_metric`` takes ``rollup=`` (False: the event-level path on a lake that has a rollup)."""
    return "rollup" in inspect.signature(compute_metric).parameters


@dataclass(frozen=True)
class Paths:
    """The two DuckDB routes to one metric on a fast lake, each a fresh connection through ``compute_metric``:
    ``fast`` (what the CLI and API read: the runs rollup and its open tail, under the product's default
    limits) and ``event_level`` (runs recomputed from the events, under ``slow_limits``). Until
    ``compute_metric`` takes ``rollup=False``, the event-level route reads ``events_only``, a hard-linked copy
    of the lake without its ``runs`` table."""

    lake: Path
    fast_limits: Limits
    slow_limits: Limits
    where: list[tuple[str, str]]
    events_only: Path | None = None

    @classmethod
    def on(cls, lake: Path, fast_limits: Limits, slow_limits: Limits, workflow: str | None) -> Paths:
        events_only = None
        if not rollup_switch():
            events_only = lake.with_name(lake.name + "-events-only")
            shutil.rmtree(events_only, ignore_errors=True)
            link_copy(lake, events_only, skip=(RUNS.name, "ONEOFF.json"))
        return cls(lake, fast_limits, slow_limits, [("workflow", workflow)] if workflow else [], events_only)

    def fast(self, name: str, w: Window, timeout_s: float | None = None) -> list[Row]:
        return compute_metric(self.lake, name, since=w.since, until=w.until, where=self.where,
                              limits=self.fast_limits, run_horizon=HORIZON, timeout_s=timeout_s)

    def event_level(self, name: str, w: Window, timeout_s: float | None = None) -> list[Row]:
        switch: dict[str, Any] = {} if self.events_only else {"rollup": False}
        return compute_metric(self.events_only or self.lake, name, since=w.since, until=w.until, where=self.where,
                              limits=self.slow_limits, run_horizon=HORIZON, timeout_s=timeout_s, **switch)

    def describe(self) -> str:
        if self.events_only is None:
            return "event level = compute_metric(..., rollup=False) on the same lake"
        return f"event level = the same lake without its runs table ({self.events_only.name}, hard links)"


@dataclass(frozen=True)
class Timing:
    """A median time and the answer of the last run, or the one-line error that stopped it."""

    seconds: float | None
    rows: Any = None
    error: str = ""

    def cell(self, width: int) -> str:
        if self.seconds is None:
            return f"{'error':>{width}}"
        return f"{self.seconds:>{width - 1}.3f}s"


def timed(fn: Callable[[], Any], repeats: int) -> Timing:
    """:func:`median_time` of ``fn``; a :class:`QueryError` (time limit, memory) becomes an error cell."""
    try:
        seconds, rows = median_time(fn, repeats)
    except QueryError as exc:
        return Timing(None, error=str(exc).splitlines()[0])
    return Timing(seconds, rows)


def first_question(fn: Callable[[], Any]) -> Callable[[], Any]:
    """``fn`` asked as the first question at a new lake version: the pooled query databases re-create their
    views and compute the tails again (:func:`tracelake.queries.pool.forget_views`; the Parquet footers they
    read stay cached, as for a server whose lake just gained a batch)."""
    from tracelake.queries import pool

    def first() -> Any:
        pool.forget_views()
        return fn()
    return first


def agreement(name: str, fast: Timing, others: Sequence[tuple[str, Timing]]) -> list[str]:
    """What differs between the fast answer and each other route's (empty: all the same). Polars answers
    (data frames) are compared on the metric column by :func:`check`, DuckDB/Spark rows on every column."""
    problems = []
    for label, other in others:
        if fast.rows is None or other.rows is None:
            problems.append(f"{label}: no answer ({fast.error or other.error})")
        elif isinstance(other.rows, pl.DataFrame):
            verdict = check(name, fast.rows, other.rows)
            if verdict != "same":
                problems.append(f"{label}: {verdict}")
        elif not same_rows(fast.rows, other.rows):
            problems.append(f"{label} differs")
    return problems


def met(t: Timing, target: float) -> str:
    if t.seconds is None:
        return "error"
    return "met" if t.seconds <= target else "MISSED"


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f}"


def fast_table(paths: Paths, metrics: list[str], day: Window, everything: Window, days: int, repeats: int,
               slow_repeats: int, peer_repeats: int, tail: Paths | None = None) -> None:
    """Per metric: the fast path over one day and all days against its targets, the event-level path, the
    Polars peer, and whether all of them give the same answer."""
    header = (f"{'metric':<28}{'fast 1d':>9}{'≤ 0.05 s':>10}{'+tail 1d':>10}{'≤ 0.05 s':>10}{'first':>8}"
              f"{f'fast {days}d':>10}"
              f"{'≤ 0.3 s':>9}{'event 1d':>10}{f'event {days}d':>11}{'gain':>8}{'polars 1d':>11}"
              f"{f'polars {days}d':>12}  same result")
    print(header)
    print("-" * len(header))
    hits = 0
    for name in metrics:
        row: dict[str, Timing] = {}
        for label, w in (("1d", day), ("all", everything)):
            row["fast " + label] = timed(partial(paths.fast, name, w), repeats)
            row["event " + label] = timed(partial(paths.event_level, name, w), slow_repeats)
            files = files_for(paths.lake, name, w)
            row["polars " + label] = (
                timed(partial(polars_metric, name, files, w, TARGET_WORKFLOW), peer_repeats) if name in POLARS_PEERS
                else Timing(None, error=""))
        if tail is not None:
            row["tail 1d"] = timed(partial(tail.fast, name, day), repeats)
            row["tail first"] = timed(first_question(partial(tail.fast, name, day)), repeats)
            row["tail event 1d"] = timed(partial(tail.event_level, name, day), slow_repeats)
        problems = [f"{label}: {p}" for label in ("1d", "all")
                    for p in agreement(name, row["fast " + label],
                                       [("event", row["event " + label])]
                                       + ([("polars", row["polars " + label])] if name in POLARS_PEERS else []))]
        if tail is not None:
            problems += [f"tail: {p}" for p in agreement(name, row["tail 1d"], [("event", row["tail event 1d"])])]
        f1, fa, ea = row["fast 1d"], row["fast all"], row["event all"]
        t1, first = row.get("tail 1d", Timing(None)), row.get("tail first", Timing(None))
        hits += (met(f1, TARGET_DAY_S) == "met") + (met(fa, TARGET_ALL_S) == "met") + (met(t1, TARGET_DAY_S) == "met")
        gain = f"{ea.seconds / fa.seconds:>7.0f}×" if ea.seconds and fa.seconds else f"{'–':>8}"
        print(f"{name:<28}{f1.cell(9)}{met(f1, TARGET_DAY_S):>10}{t1.cell(10)}{met(t1, TARGET_DAY_S):>10}"
              f"{first.cell(8)}{fa.cell(10)}{met(fa, TARGET_ALL_S):>9}"
              f"{row['event 1d'].cell(10)}{ea.cell(11)}{gain}{row['polars 1d'].cell(11)}"
              f"{row['polars all'].cell(12)}  {'; '.join(problems) or 'yes'}", flush=True)
        for t in row.values():
            if t.error:
                print(f"    {t.error}")
    print(f"targets met: {hits} of {(3 if tail is not None else 2) * len(metrics)}; fast = median of {repeats}, "
          f"event = median of {slow_repeats}, polars = median of {peer_repeats} ('error' with no message: no Polars "
          f"peer for that metric); +tail = the same lake with one consumer batch the upkeep has not seen yet "
          f"(asked again: its tail computed once per database, kept in the process's pool); first = the same, as "
          f"the process's first question at that version (views and tails made again: the cost of a new batch); "
          f"gain = event {days}d ÷ fast {days}d; same result = fast equals event (every column) and Polars (metric "
          f"column) on both windows, and +tail equals the event level on that lake")


def fast_section(base: Path, metrics: list[str], day: Window, everything: Window, args: argparse.Namespace) -> None:
    """The ``fast`` section (module docstring, item 2)."""
    print(f"\nfast path ({loadavg()})")
    fast = fast_lake_path(base, args.open_days)
    oneoff = prepare_fast_lake(base, fast, args.days, args.open_days, reuse=args.reuse_fast)
    lake = Lake.at(fast)
    runs = lake.data_files(RUNS)
    clean = len(lake.clean_days(EVENTS, lake.partitions(EVENTS)))
    print(f"one-off: compaction of {oneoff.partitions} closed days {oneoff.compaction_s:.1f} s "
          f"({oneoff.rows_dropped:,} re-delivered copies dropped, {oneoff.events_files} events files after, "
          f"{clean} partitions marked clean: read without de-duplication); "
          f"runs rollup built {oneoff.refresh_s:.1f} s ({oneoff.runs:,} runs, {len(runs)} files, "
          f"{sum(f.size for f in runs) / 1e6:.0f} MB); last {args.open_days} day(s) left open and tidied "
          f"by the consumer's upkeep ({oneoff.tidied_copies} copies deleted)")
    tail_lake = fast.with_name(fast.name + "-tail")
    shutil.rmtree(tail_lake, ignore_errors=True)
    link_copy(fast, tail_lake)
    tail_rows = append_tail(Lake.at(tail_lake), (day.since.date() - START).days)
    print(f"+tail: {tail_lake.name}, the same lake plus {tail_rows:,} rows on the 1-day window's day (one consumer "
          f"batch the next upkeep has not seen yet: not tidied, not in the runs rollup; every query reads it)")
    fast_limits = Limits(threads=args.threads)
    slow_limits = Limits(timeout_s=600, memory_limit=args.memory, threads=args.threads, temp_max_size="16GiB")
    paths = Paths.on(fast, fast_limits, slow_limits, TARGET_WORKFLOW)
    tail = Paths.on(tail_lake, fast_limits, slow_limits, TARGET_WORKFLOW)
    print(f"{fast}; one workflow ({TARGET_WORKFLOW}); 1d = {day.since.date()} ({args.one_day} day); "
          f"fast = compute_metric under the product's default limits "
          f"({fast_limits.memory_limit}, {fast_limits.threads} threads); {paths.describe()} "
          f"({slow_limits.memory_limit})")
    fast_table(paths, metrics, day, everything, args.days, args.fast_repeats, args.repeats, args.peer_repeats, tail)
    print(f"({loadavg()})")
    dashboard_page(fast, args.threads)


def dashboard_page(lake: Path, threads: int) -> None:
    """The dashboard page's server time on ``lake`` (``bench/dashboard.py``, another engineer's bench, run as
    it is, median of 3; target ≤ 1 s); skipped when that script is not there. Bounded to 15 minutes."""
    script = Path(__file__).with_name("dashboard.py")
    if not script.exists():
        print("dashboard page: bench/dashboard.py not found, skipped")
        return
    print("\ndashboard page on the fast lake (bench/dashboard.py, target ≤ 1 s server time)", flush=True)
    try:
        done = subprocess.run([sys.executable, str(script), "--lake", str(lake), "--repeats", "3",
                               "--threads", str(threads)], capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        print("dashboard page: no answer within 15 minutes")
        return
    print(done.stdout.rstrip() or f"dashboard page: exit {done.returncode}: {done.stderr.strip()[-300:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--batches-per-day", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--metrics", default=",".join(PUBLIC_METRICS))
    parser.add_argument("--sections", default="fast,peer,glob,log", help="any of fast, peer, glob, log")
    parser.add_argument("--open-days", type=int, default=1,
                        help="fast: the last days left uncompacted (a live lake's open days)")
    parser.add_argument("--one-day", choices=["open", "closed"], default="open",
                        help="fast: the one-day window is the last (open) day or the last compacted one")
    parser.add_argument("--reuse-fast", action="store_true",
                        help="fast: keep the compacted copy and rollup of an earlier run (its one-off figures)")
    parser.add_argument("--fast-repeats", type=int, default=5, help="fast: runs per fast-path median")
    parser.add_argument("--peer-repeats", type=int, default=1, help="fast: runs per Polars median")
    parser.add_argument("--memory", default="8GB", help="DuckDB memory of the event-level path")
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
    if "fast" in sections:
        back = args.open_days if args.one_day == "closed" else 0
        one_day = Window(last_day.since - timedelta(days=back), last_day.until - timedelta(days=back))
        fast_section(lake, metrics, one_day, everything, args)
    if "peer" in sections:
        print("\nthe lake as ingest wrote it (no compaction, no rollup): today's event-level path")
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
            t_ours, ours = median_time(partial(
                compute_metric, lake, name, since=w.since, until=w.until, where=[("workflow", TARGET_WORKFLOW)],
                limits=limits, run_horizon=HORIZON), repeats)
            files = files_for(lake, name, w)
            t_peer, theirs = median_time(partial(polars_metric, name, files, w, TARGET_WORKFLOW), repeats)
            row.append((t_ours, t_peer, check(name, ours, theirs)))
        (d1, p1, c1), (d30, p30, c30) = row
        same = "yes" if c1 == c30 == "same" else f"1d: {c1}; all: {c30}"
        print(f"{name:<26}{d1:>8.3f}s{d30:>8.3f}s{d30 / d1:>8.1f}×{p1:>10.3f}s{p30:>11.3f}s"
              f"{d1 / p1:>9.2f}×{d30 / p30:>10.2f}×  {same}", flush=True)
    print("pruning = all days ÷ 1 day (target ≥ 10×); ratio = tracelake ÷ Polars (target ≤ 1.5×)")


if __name__ == "__main__":
    main()
