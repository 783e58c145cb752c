"""The runs rollup equals the runs view, row for row, however the events arrive.

Randomized lakes (one small lake per seed: tens of runs over two tenants, runs around midnight UTC so many
span two days, runs without run_started or run_finished, late and out-of-order events, re-sent copies of
events stored again by a later batch). The events reach the Delta table in random batches through the
exactly-once writer; the rollup is refreshed after random batches. At every refresh point and at the end:

- rollup + still-open tail (``read_runs``) == the ``runs`` view (every view column) and == the rollup rows
  computed from scratch (every rollup column);
- right after a refresh the tail is empty.

Also: a second refresh changes nothing; a refresh racing appends loses nothing.
"""

from __future__ import annotations

import math
import random
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tracelake.lake.lake import Lake
from tracelake.lake.tables import EVENTS, RUNS
from tracelake.queries.engine import open_lake
from tracelake.queries.rollup import compute_runs, pending_files, read_runs, refresh_runs

MIDNIGHT = datetime(2026, 11, 24, tzinfo=UTC)
TROUBLE = ("tool_call", "llm_call", "postcondition_check", "policy_decision", "budget_exceeded")


def _run_events(rng: random.Random, seed: int, n: int) -> list[dict[str, Any]]:
    """The events of run ``n``: a start, a few steps, maybe escalations/fallbacks, a finish (some missing)."""
    run_id = f"s{seed}-r{n}"
    tenant = rng.choice(("acme", "globex"))
    workflow, version = rng.choice((("refund", "v1"), ("refund", "v2"), ("access", "v1")))
    base = {"run_id": run_id, "tenant": tenant, "workflow": workflow, "workflow_version": version,
            "team": rng.choice(("support", "it")), "release": rng.choice(("r1", "r2")),
            "environment": "production", "schema_version": "1"}
    start = MIDNIGHT + timedelta(seconds=rng.randint(-1800, 1200))
    at = start
    out: list[dict[str, Any]] = []

    def add(event_type: str, **fields: Any) -> dict[str, Any]:
        event = {**base, "event_id": f"{run_id}-{len(out)}", "event_type": event_type, "ts": at, **fields}
        out.append(event)
        return event

    if rng.random() > 0.15:
        add("run_started")
    for _ in range(rng.randint(0, 6)):
        at += timedelta(milliseconds=rng.randint(1, 400_000))
        kind = rng.choice((*TROUBLE, "escalation", "fallback"))
        if kind == "llm_call":
            add(kind, duration_ms=float(rng.randint(1, 5000)), cost_usd=rng.choice((None, 0.01, 0.003)),
                cost_source="reported")
        elif kind == "tool_call":
            add(kind, duration_ms=float(rng.randint(1, 3000)), tool_name=rng.choice(("get", "put")),
                schema_valid=rng.choice((True, False, None)), success=rng.choice((True, False, None)),
                status=rng.choice((None, "ok", "error")), cost_usd=rng.choice((None, 0.002)),
                cost_source="estimated")
        elif kind == "postcondition_check":
            add(kind, check="ok", passed=rng.choice((True, False)))
        elif kind == "policy_decision":
            add(kind, decision=rng.choice(("allow", "block")))
        elif kind == "budget_exceeded":
            add(kind, budget="usd")
        else:
            trigger = rng.choice([None, "missing", *(e["event_id"] for e in out)])
            add(kind, reason=rng.choice(("slow", "low_confidence", None)), trigger_event_id=trigger)
    if rng.random() > 0.2:
        at += timedelta(milliseconds=rng.randint(1, 600_000))
        extra = {"team": "it-ops"} if rng.random() < 0.2 else {}
        add("run_finished", outcome=rng.choice(("success", "failure", "escalated", "fallback")), **extra)
        if rng.random() < 0.1:  # a second run_finished: the earliest counts
            add("run_finished", outcome="halted")
    return out


def _batches(seed: int, runs: int = 24) -> list[list[dict[str, Any]]]:
    """The seed's events in random batches: shuffled (out of order, late), with re-sent copies."""
    rng = random.Random(seed)
    events = [e for n in range(runs) for e in _run_events(rng, seed, n)]
    rng.shuffle(events)
    resent = [dict(e) for e in rng.sample(events, k=max(1, len(events) // 8))]
    events.extend(resent)
    rng.shuffle(events[len(events) // 2:])  # copies arrive in the second half, mostly
    cuts = sorted(rng.sample(range(1, len(events)), k=min(len(events) - 1, rng.randint(3, 6))))
    return [events[a:b] for a, b in zip([0, *cuts], [*cuts, len(events)], strict=True)]


_counter = [0]


def _append(lake: Lake, batch: list[dict[str, Any]], name: str) -> None:
    """Write ``batch`` to the events table as one ingest batch would (its own source, later ingested_at)."""
    _counter[0] += 1
    ingested = MIDNIGHT + timedelta(hours=2, seconds=_counter[0])
    rows = []
    for offset, event in enumerate(batch):
        rows.append({**event, "ingested_at": ingested, "source": "file", "kafka_topic": name,
                     "kafka_partition": None, "kafka_offset": offset,
                     EVENTS.partition: event["ts"].date().isoformat()})
    lake.writer(EVENTS).write(EVENTS.to_arrow(rows), name)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


def _diff(left: list[dict[str, Any]], right: list[dict[str, Any]]) -> list[str]:
    def key(row: dict[str, Any]) -> tuple[str, str]:
        return row["tenant"], row["run_id"]

    if [key(r) for r in left] != [key(r) for r in right]:
        return [f"runs differ: {sorted({key(r) for r in left} ^ {key(r) for r in right})}"]
    return [f"{a['run_id']}.{c}: {a[c]!r} != {b[c]!r}"
            for a, b in zip(left, right, strict=True) for c in RUNS.schema.names if not _same(a[c], b[c])]


def _view_rows(lake: Lake, *, rollup: bool) -> list[dict[str, Any]]:
    with open_lake(lake, rollup=rollup) as con:
        return con.query("SELECT * FROM runs ORDER BY tenant, run_id", name="runs view").dicts()


def check(lake: Lake) -> None:
    """Every column equal, row for row: the runs view of a connection (rollup + tail), the event-level runs
    view, the rollup's reader and the rows computed from scratch."""
    fast = _view_rows(lake, rollup=True)
    assert not _diff(fast, _view_rows(lake, rollup=False))
    assert not _diff(fast, read_runs(lake).to_pylist())
    assert not _diff(fast, compute_runs(lake).to_pylist())


def tail_runs(lake: Lake) -> int:
    """Events files the rollup does not cover yet."""
    return pending_files(lake) or 0


@pytest.mark.parametrize("seed", range(10))
def test_rollup_plus_tail_equals_the_runs_view(tmp_path: Path, seed: int) -> None:
    lake = Lake.at(tmp_path / "lake")
    rng = random.Random(seed * 7919)
    batches = _batches(seed)
    for i, batch in enumerate(batches):
        _append(lake, batch, f"batch-{seed}-{i}")
        if rng.random() < 0.5:
            report = refresh_runs(lake)
            assert report.changed and report.runs_recomputed > 0
            assert tail_runs(lake) == 0
        if rng.random() < 0.5 or i == len(batches) - 1:
            check(lake)  # with or without an open tail
    refresh_runs(lake)
    assert tail_runs(lake) == 0
    check(lake)


def test_refresh_twice_changes_nothing(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path / "lake")
    for i, batch in enumerate(_batches(101)):
        _append(lake, batch, f"b{i}")
    first = refresh_runs(lake)
    before = read_runs(lake)
    second = refresh_runs(lake)
    assert first.changed and not second.changed
    assert second.covered_before == second.covered_after == first.covered_after
    assert read_runs(lake).equals(before)


def test_late_event_moves_a_finished_run(tmp_path: Path) -> None:
    """A run finished and rolled up, then an earlier event (another day) and a re-sent finish arrive."""
    lake = Lake.at(tmp_path / "lake")
    base = {"run_id": "late", "tenant": "acme", "workflow": "refund", "workflow_version": "v1",
            "schema_version": "1"}
    start = {**base, "event_id": "late-s", "event_type": "run_started", "ts": MIDNIGHT + timedelta(minutes=1)}
    finish = {**base, "event_id": "late-f", "event_type": "run_finished", "ts": MIDNIGHT + timedelta(minutes=2),
              "outcome": "success"}
    _append(lake, [start, finish], "one")
    refresh_runs(lake)
    early = {**base, "event_id": "late-t", "event_type": "tool_call", "ts": MIDNIGHT - timedelta(minutes=3),
             "duration_ms": 10.0, "schema_valid": False}
    _append(lake, [early, finish], "two")
    check(lake)  # through the tail
    report = refresh_runs(lake)
    assert report.runs_recomputed == 1
    row = read_runs(lake).to_pylist()[0]
    assert row["first_ts"] == MIDNIGHT - timedelta(minutes=3) and row["tool_calls"] == 1
    assert row["events"] == 3
    check(lake)


def test_refresh_racing_appends_loses_nothing(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path / "lake")
    batches = [b for s in (201, 202) for b in _batches(s, runs=12)]
    done = threading.Event()
    failures: list[Exception] = []

    def appender() -> None:
        try:
            for i, batch in enumerate(batches):
                _append(lake, batch, f"race-{i}")
        except Exception as exc:  # noqa: BLE001 -- reported by the test thread
            failures.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=appender)
    thread.start()
    covered: list[int] = []
    for _ in range(50):  # bounded: refreshes while the appends land
        report = refresh_runs(lake)
        if report.covered_after is not None:
            covered.append(report.covered_after)
        if done.is_set():
            break
    thread.join(timeout=120)
    assert not failures and not thread.is_alive()
    assert covered == sorted(covered)
    refresh_runs(lake)
    assert tail_runs(lake) == 0
    check(lake)


def test_empty_lake(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path / "lake")
    assert not refresh_runs(lake).changed
    table = read_runs(lake)
    assert table.num_rows == 0 and set(RUNS.schema.names) <= set(table.column_names)
    assert isinstance(table, pa.Table)


RUN_METRICS = ("success_rate", "cost_per_success", "latency_split", "time_to_safe_fallback", "escalation_rate")


@pytest.mark.parametrize("seed", range(3))
def test_run_metrics_over_rollup_equal_the_event_level_path(tmp_path: Path, seed: int) -> None:
    """Every run metric gives the same rows over rollup + tail as over the events, tenant-scoped or not."""
    from tracelake.queries.metrics import compute_metric

    lake = Lake.at(tmp_path / "lake")
    batches = _batches(300 + seed)
    for i, batch in enumerate(batches):
        _append(lake, batch, f"m{i}")
        if i == len(batches) // 2:
            refresh_runs(lake)  # the rest stays in the tail
    assert tail_runs(lake) > 0
    since, until = MIDNIGHT - timedelta(minutes=20), MIDNIGHT + timedelta(minutes=15)
    for name in RUN_METRICS:
        for group_by, tenant in ((None, None), (("tenant",), None), ((), "acme"), (None, "globex")):
            rows = {rollup: compute_metric(lake, name, group_by=group_by, since=since, until=until, tenant=tenant,
                                           rollup=rollup) for rollup in (True, False)}
            fast, slow = rows[True], rows[False]
            assert slow or tenant, name
            assert len(fast) == len(slow), name
            for a, b in zip(fast, slow, strict=True):
                assert all(_same(a[c], b[c]) for c in b), (name, a, b)


def test_refreshes_racing_each_other(tmp_path: Path) -> None:
    """Two refreshes at once: both finish, the covered version never goes back, the rows are the view's."""
    lake = Lake.at(tmp_path / "lake")
    for i, batch in enumerate(_batches(401)):
        _append(lake, batch, f"r{i}")
    reports: list[Any] = []
    threads = [threading.Thread(target=lambda: reports.append(refresh_runs(lake))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(reports) == 2
    assert not refresh_runs(lake).changed
    assert tail_runs(lake) == 0
    check(lake)


def test_lake_rollup_command(tmp_path: Path) -> None:
    import orjson
    from click.testing import CliRunner

    from tracelake.cli.main import cli

    lake = Lake.at(tmp_path / "lake")
    for i, batch in enumerate(_batches(501)):
        _append(lake, batch, f"c{i}")
    runner = CliRunner()
    first = runner.invoke(cli, ["lake", "rollup", "--lake", str(tmp_path / "lake"), "--format", "json"])
    assert first.exit_code == 0, first.output
    (report,) = orjson.loads(first.output)
    assert report["runs_recomputed"] > 0 and report["rollup_version"] is not None
    assert tail_runs(lake) == 0
    again = runner.invoke(cli, ["lake", "rollup", "--lake", str(tmp_path / "lake"), "--format", "json"])
    assert orjson.loads(again.output)[0]["rollup_version"] is None  # nothing new: nothing committed
    check(lake)


def test_the_tail_reads_covered_files_only_where_the_runs_it_recomputes_have_events(tmp_path: Path) -> None:
    from tracelake.queries.rollup import runs_view_statement

    lake = Lake.at(tmp_path / "lake")
    batches = _batches(301)
    for i, batch in enumerate(batches):
        _append(lake, batch, f"b{i}")
    refresh_runs(lake)
    covered = [f.uri for f in lake.data_files(EVENTS)]
    covered_events = [e for batch in batches for e in batch]

    # A tail of new runs only: their events are all in the new file; no covered file is read.
    _append(lake, [e for n in range(3) for e in _run_events(random.Random(n), 999, n)], "new-runs")
    statement = runs_view_statement(lake)
    assert statement is not None and not any(uri in statement for uri in covered)
    check(lake)

    # A late event of a covered run: the covered files are read, only between that run's first and last event.
    late = dict(covered_events[0], event_id="late-step", event_type="llm_call", duration_ms=5.0, cost_usd=0.5)
    _append(lake, [late], "late")
    statement = runs_view_statement(lake)
    assert statement is not None and "ts BETWEEN TIMESTAMPTZ" in statement
    assert any(uri in statement for uri in covered)
    check(lake)
    refresh_runs(lake)
    check(lake)
