"""The maintained ``control_results`` (table + tail) equals the verdicts evaluated from scratch, however the events
arrive.

Randomized lakes (one per seed): runs with gates, approvals (self-approvals too), mutating calls with and
without keys (keys shared across runs and tenants, so one run's success fails a later run's), retries,
invalid arguments, fallbacks, budget overruns; runs around midnight UTC (two days) and some days later (inside
and past the key horizon), missing starts and finishes, shuffled (late, out-of-order) events and re-sent
copies in later batches. After
random batches ``refresh_controls`` runs; at those points and at the end, every column of every row equals
the from-scratch rows, through the reader and through a connection's view, tenant-scoped too.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from tracelake.lake.lake import Lake
from tracelake.lake.tables import CONTROL_RESULTS, EVENTS
from tracelake.queries.controls.library import load_library
from tracelake.queries.controls.report import run_verdicts
from tracelake.queries.controls.results import compute_results, read_results, refresh_controls
from tracelake.queries.engine import open_lake

MIDNIGHT = datetime(2026, 11, 24, tzinfo=UTC)
IDENTITY = CONTROL_RESULTS.identity


def _run(rng: random.Random, seed: int, n: int) -> list[dict[str, Any]]:
    run_id = f"s{seed}-r{n}"
    base = {"run_id": run_id, "tenant": rng.choice(("acme", "globex")), "schema_version": "1",
            "workflow": rng.choice(("refund", "access")), "workflow_version": rng.choice(("v1", "v2")),
            "environment": "production"}
    days = rng.choice((0, 0, 0, 0, 2, 3, 5))  # keys compared across runs up to 72 h apart (the default horizon)
    at = MIDNIGHT + timedelta(days=days, seconds=rng.randint(-1800, 1200))
    out: list[dict[str, Any]] = []

    def add(event_type: str, **fields: Any) -> str:
        nonlocal at
        at += timedelta(milliseconds=rng.randint(1, 200_000))
        event_id = f"{run_id}-{len(out)}"
        out.append({**base, "event_id": event_id, "event_type": event_type, "ts": at, **fields})
        return event_id

    if rng.random() > 0.15:
        add("run_started", initiator=rng.choice(("human", "system")), agent="planner")
    calls: list[str] = []
    for _ in range(rng.randint(0, 6)):
        kind = rng.choice(("gate", "approval", "call", "call", "fallback", "budget", "llm"))
        if kind == "gate":
            add("policy_decision", action="refund", risk_tier=rng.choice(("green", "yellow", "red")),
                decision="require_approval")
        elif kind == "approval":
            add("approval", action="refund", decision=rng.choice(("approved", "approved", "rejected")),
                approver=rng.choice(("lead", "executor", "planner")), wait_ms=float(rng.randint(1, 600_000)))
        elif kind == "call":
            fields: dict[str, Any] = {"tool_name": "refund", "mutating": rng.random() < 0.8,
                                      "success": rng.choice((True, False, None)),
                                      "schema_valid": rng.choice((True, True, False)), "agent": "executor",
                                      "duration_ms": float(rng.randint(1, 3000))}
            if rng.random() < 0.8:
                fields["idempotency_key"] = rng.choice(("k1", "k2", "k3", f"{run_id}-own"))
            if calls and rng.random() < 0.4:
                fields["retry_of"] = rng.choice(calls)
            calls.append(add("tool_call", **fields))
        elif kind == "fallback":
            add(rng.choice(("fallback", "escalation")), reason="r")
        elif kind == "budget":
            add("budget_exceeded", budget="cost", limit=0.05, used=0.06)
        else:
            add("llm_call", model="m", cost_usd=rng.choice((0.01, 0.05)))
    if rng.random() > 0.2:
        add("run_finished", outcome=rng.choice(("success", "failure", "halted")))
    return out


def _batches(seed: int, runs: int = 20) -> list[list[dict[str, Any]]]:
    rng = random.Random(seed)
    events = [e for n in range(runs) for e in _run(rng, seed, n)]
    rng.shuffle(events)
    events.extend(dict(e) for e in rng.sample(events, k=max(1, len(events) // 8)))  # re-sent copies
    cuts = sorted(rng.sample(range(1, len(events)), k=min(len(events) - 1, rng.randint(3, 6))))
    return [events[a:b] for a, b in zip([0, *cuts], [*cuts, len(events)], strict=True)]


_counter = [0]


def _append(lake: Lake, batch: list[dict[str, Any]], name: str) -> None:
    _counter[0] += 1
    ingested = MIDNIGHT + timedelta(hours=2, seconds=_counter[0])
    rows = [{**e, "ingested_at": ingested, "source": "file", "kafka_topic": name, "kafka_partition": None,
             "kafka_offset": i, EVENTS.partition: e["ts"].date().isoformat()} for i, e in enumerate(batch)]
    lake.writer(EVENTS).write(EVENTS.to_arrow(rows), name)


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[c] for c in IDENTITY)


def _view(lake: Lake, tenant: str | None = None) -> list[dict[str, Any]]:
    with open_lake(lake, tenant=tenant) as con:
        return con.query("SELECT * FROM control_results ORDER BY tenant, run_id, control_id, control_version",
                         name="t").dicts()


def check(lake: Lake) -> None:
    expected = compute_results(lake).to_pylist()
    assert expected
    assert read_results(lake).to_pylist() == expected
    assert _view(lake) == expected
    assert _view(lake, "acme") == [r for r in expected if r["tenant"] == "acme"]
    # One run's verdicts (timeline, explain) are evaluated from its events (and the other runs' successes under
    # its keys): the same rows. A run failing on a key used by another run when there is one.
    acme = [r for r in expected if r["tenant"] == "acme"]
    run = next((r for r in acme if r["control_id"] == "idempotency_single_success" and r["verdict"] == "fail"),
               acme[0])
    with open_lake(lake, tenant="acme") as con:
        alone = run_verdicts(con, run["run_id"])
    assert alone == [{"control_id": r["control_id"], "control_version": r["control_version"],
                      "severity": r["severity"], "verdict": r["verdict"], "evidence": orjson.loads(r["evidence"])}
                     for r in expected if (r["tenant"], r["run_id"]) == ("acme", run["run_id"])]


@pytest.mark.parametrize("seed", range(6))
def test_maintained_equals_from_scratch(tmp_path: Path, seed: int) -> None:
    lake = Lake.at(tmp_path / "lake")
    rng = random.Random(seed * 31)
    batches = _batches(seed)
    for i, batch in enumerate(batches):
        _append(lake, batch, f"b-{seed}-{i}")
        if rng.random() < 0.5:
            report = refresh_controls(lake)
            assert report.changed and report.runs_evaluated > 0
            assert refresh_controls(lake).changed is False  # nothing new: nothing committed
        if rng.random() < 0.5 or i == len(batches) - 1:
            check(lake)
    refresh_controls(lake)
    check(lake)


def test_an_earlier_run_arriving_late_fails_the_stored_later_run(tmp_path: Path) -> None:
    """The first success under a key passes. When the earlier run's events arrive after the later run was
    stored (as passing), the later run's verdict changes: the refresh and the view re-evaluate it."""
    lake = Lake.at(tmp_path / "lake")

    def refund(run_id: str, at: datetime) -> list[dict[str, Any]]:
        base = {"run_id": run_id, "tenant": "acme", "schema_version": "1", "workflow": "refund",
                "workflow_version": "v1", "environment": "production"}
        return [{**base, "event_id": f"{run_id}-{i}", "ts": at + timedelta(seconds=i), **fields}
                for i, fields in enumerate(({"event_type": "run_started", "initiator": "human"},
                                            {"event_type": "tool_call", "tool_name": "refund", "mutating": True,
                                             "success": True, "idempotency_key": "refund:1"},
                                            {"event_type": "run_finished", "outcome": "success"}))]

    _append(lake, refund("later", MIDNIGHT + timedelta(days=1)), "first-batch")
    refresh_controls(lake)
    control = [r for r in read_results(lake).to_pylist() if r["control_id"] == "idempotency_single_success"]
    assert [r["verdict"] for r in control] == ["pass"]
    _append(lake, refund("earlier", MIDNIGHT), "late-batch")  # a day earlier, in another partition
    check(lake)  # through the tail: `later` re-evaluated although none of its events is new
    report = refresh_controls(lake)
    assert report.runs_evaluated == 2
    check(lake)
    got = {r["run_id"]: (r["verdict"], orjson.loads(r["evidence"])) for r in read_results(lake).to_pylist()
           if r["control_id"] == "idempotency_single_success"}
    assert got == {"earlier": ("pass", ["earlier-1"]), "later": ("fail", ["earlier-1", "later-1"])}


def test_a_changed_library_rebuilds(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path / "lake")
    for i, batch in enumerate(_batches(77)):
        _append(lake, batch, f"c{i}")
    assert refresh_controls(lake).rebuilt
    config = tmp_path / "controls.toml"
    config.write_text("[approval_slo_ms]\nyellow = 1\ndefault = 1\n")
    strict = load_library(config)
    # Before its refresh the other library's rows are not read as its own: evaluated from the events.
    assert read_results(lake, library=strict).to_pylist() == compute_results(lake, library=strict).to_pylist()
    report = refresh_controls(lake, library=strict)
    assert report.rebuilt and report.changed
    assert read_results(lake, library=strict).to_pylist() == compute_results(lake, library=strict).to_pylist()
    keys = [_key(r) for r in read_results(lake, library=strict).to_pylist()]
    assert len(keys) == len(set(keys))  # the overwrite left no row of the other library behind


def test_buckets_give_the_rows_of_one_statement(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A large source is evaluated in run buckets (results.CHUNK_BYTES): the same rows as one statement."""
    from tracelake.queries.controls import results

    lake = Lake.at(tmp_path / "lake")
    for i, batch in enumerate(_batches(303)):
        _append(lake, batch, f"k{i}")
    whole = compute_results(lake).to_pylist()
    monkeypatch.setattr(results, "CHUNK_BYTES", 4096)  # several buckets even for this small lake
    assert compute_results(lake).to_pylist() == whole
    report = refresh_controls(lake)
    assert report.rebuilt and report.runs_evaluated == len({(r["tenant"], r["run_id"]) for r in whole})
    assert read_results(lake).to_pylist() == whole
