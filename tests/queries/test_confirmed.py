"""Confirmed-outcome metrics (metrics.md "Confirmed outcomes"), worked out by hand on a small lake.

Six runs of ``refund v1`` finished on 2026-11-24, each costing 1.0:

| run | claims  | confirmation (latest wins)                                      |
|-----|---------|-----------------------------------------------------------------|
| R1  | success | confirmed by run_id, a day later                                |
| R2  | success | confirmed by the idempotency key of its mutating tool call (2 d) |
| R3  | success | confirmed, then reversed                                        |
| R4  | success | none for acme (a globex confirmation names the same run_id)     |
| R5  | failure | confirmed (the system of record wins over the claim)            |
| R6  | failure | none                                                            |
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.queries.conftest import ev
from tracelake.queries.engine import open_lake
from tracelake.queries.metrics import CONFIRMATION_DELAY, METRICS, compute_metric, connection_window
from tracelake.queries.rollup import refresh_runs
from tracelake.queries.timewin import Window, parse_time

SINCE, UNTIL = parse_time("2026-11-24T00:00:00Z"), parse_time("2026-11-25T00:00:00Z")


def confirmed(ts: str, run_id: str, state: str, event_id: str, **fields: Any) -> dict[str, Any]:
    return ev("outcome_confirmed", ts, run_id, "refund", "v1", event_id=event_id, confirmation=state,
              confirmation_source="payments", tenant=fields.pop("tenant", "acme"), **fields)


def events() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    claims = {"R1": "success", "R2": "success", "R3": "success", "R4": "success", "R5": "failure", "R6": "failure"}
    for i, (run, outcome) in enumerate(claims.items()):
        at = f"2026-11-24T1{i}:00:"
        common = {"tenant": "acme"}
        out.append(ev("run_started", at + "00Z", run, "refund", "v1", event_id=f"{run}-s", **common))
        out.append(ev("llm_call", at + "01Z", run, "refund", "v1", event_id=f"{run}-l", model="m", cost_usd=1.0,
                      **common))
        out.append(ev("tool_call", at + "02Z", run, "refund", "v1", event_id=f"{run}-t", tool_name="refund",
                      mutating=True, idempotency_key=f"key-{run}", **common))
        out.append(ev("run_finished", at + "30Z", run, "refund", "v1", event_id=f"{run}-f", outcome=outcome,
                      **common))
    out += [
        confirmed("2026-11-25T09:00:00Z", "R1", "confirmed", "c1", amount=10.0),
        confirmed("2026-11-26T09:00:00Z", "pay-2", "confirmed", "c2", idempotency_key="key-R2", amount=20.0),
        confirmed("2026-11-25T09:00:00Z", "R3", "confirmed", "c3a", amount=30.0),
        confirmed("2026-11-26T09:00:00Z", "R3", "reversed", "c3b", amount=30.0),
        confirmed("2026-11-25T09:00:00Z", "R4", "confirmed", "c4", tenant="globex"),
        confirmed("2026-11-25T10:00:00Z", "R5", "confirmed", "c5", amount=50.0),
    ]
    return out


@pytest.fixture(params=[False, True], ids=["events", "rollup"])
def lake(request: pytest.FixtureRequest, make_lake: Any) -> Path:
    where: Path = make_lake(events())
    if request.param:
        assert refresh_runs(where).changed
    return where


def metric(lake: Path, name: str, **kwargs: Any) -> list[dict[str, Any]]:
    return compute_metric(lake, name, since=SINCE, until=UNTIL, **kwargs)


def test_confirmed_success_rate(lake: Path) -> None:
    assert metric(lake, "confirmed_success_rate") == [{
        "workflow": "refund", "workflow_version": "v1", "confirmed_success_rate": 0.5, "runs": 6,
        "confirmed_successes": 3, "claimed_successes": 4, "reversed": 1, "unconfirmed": 2}]


def test_cost_per_confirmed_success(lake: Path) -> None:
    assert metric(lake, "cost_per_confirmed_success", group_by=()) == [{
        "cost_per_confirmed_success": 2.0, "total_cost_usd": 6.0, "runs": 6, "confirmed_successes": 3,
        "confirmed_amount": 80.0}]


def test_success_claim_gap(lake: Path) -> None:
    assert metric(lake, "success_claim_gap", group_by=("tenant",)) == [{
        "tenant": "acme", "success_claim_gap": 0.5, "claimed_successes": 4, "unconfirmed_claims": 2,
        "confirmed_claims": 2, "reversed_claims": 1, "pending_claims": 1}]


def test_tenant_scope_keeps_confirmations_apart(lake: Path) -> None:
    assert metric(lake, "confirmed_success_rate", tenant="globex") == []
    rows = metric(lake, "success_claim_gap", tenant="acme", where=[("workflow", "refund")])
    assert rows[0]["pending_claims"] == 1  # globex's confirmation of "R4" settles no acme run


def test_confirmations_are_no_run_facts(lake: Path) -> None:
    """A confirmation neither makes a run of its own ("pay-2") nor changes its run's facts."""
    assert metric(lake, "success_rate")[0]["runs"] == 6
    with open_lake(lake) as con:
        rows = con.query("SELECT run_id, events, last_ts FROM runs ORDER BY run_id", name="runs").dicts()
    assert [r["run_id"] for r in rows] == ["R1", "R2", "R3", "R4", "R5", "R6"]
    assert {r["events"] for r in rows} == {4}
    assert all(r["last_ts"] < UNTIL for r in rows)


def test_a_window_reaches_its_late_confirmations() -> None:
    for name in ("confirmed_success_rate", "cost_per_confirmed_success", "success_claim_gap"):
        needed = connection_window(METRICS[name], Window(SINCE, UNTIL), CONFIRMATION_DELAY)
        assert needed.until == UNTIL + CONFIRMATION_DELAY
    assert connection_window(METRICS["success_rate"], Window(SINCE, UNTIL), CONFIRMATION_DELAY).until == UNTIL
    assert connection_window(METRICS["success_claim_gap"], Window.of(SINCE, None), CONFIRMATION_DELAY).until \
        == Window.of(SINCE, None).until
