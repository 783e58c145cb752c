"""Late confirmations and the runs rollup: an ``outcome_confirmed`` is no fact of a run, however late it comes
(beyond the run horizon too), so the rollup still equals the event-level ``runs`` view, and the confirmed metrics
give the same rows over rollup + tail as over the events."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from tracelake.lake.lake import Lake
from tracelake.queries.metrics import compute_metric
from tracelake.queries.rollup import refresh_runs

from .test_runs_rollup import MIDNIGHT, _append, _batches, _same, check, tail_runs

CONFIRMED = ("confirmed_success_rate", "cost_per_confirmed_success", "success_claim_gap")


def _confirmations(rng: random.Random, batches: list[list[dict[str, Any]]], seed: int) -> list[dict[str, Any]]:
    """For about half of the runs: one to three confirmations, minutes to days later (some beyond the 24 h
    horizon), by run_id or by the idempotency key of a mutating tool call; a few for runs that do not exist."""
    runs: dict[str, dict[str, Any]] = {}
    for event in (e for batch in batches for e in batch):
        runs.setdefault(event["run_id"], event)
    out: list[dict[str, Any]] = []
    for n, (run_id, first) in enumerate(sorted(runs.items())):
        if rng.random() < 0.5:
            continue
        for k in range(rng.randint(1, 3)):
            late = timedelta(minutes=rng.randint(1, 60 * 24 * 4))
            by_key = rng.random() < 0.4
            out.append({
                "schema_version": "1", "event_id": f"c{seed}-{n}-{k}", "event_type": "outcome_confirmed",
                "ts": first["ts"] + late, "run_id": f"pay-{run_id}" if by_key else run_id,
                "tenant": first["tenant"] if rng.random() > 0.05 else "other-tenant",
                "workflow": "payments", "workflow_version": "1",
                "idempotency_key": f"key-{run_id}" if by_key else None,
                "attributes": orjson.dumps({"confirmation": rng.choice(("confirmed", "reversed")),
                                            "amount": 10.0}).decode(),
            })
    return out


def _with_keys(batches: list[list[dict[str, Any]]]) -> list[list[dict[str, Any]]]:
    """Every run's first tool call becomes a mutating call with the run's idempotency key."""
    seen: set[str] = set()
    for batch in batches:
        for event in batch:
            if event["event_type"] == "tool_call" and event["run_id"] not in seen:
                seen.add(event["run_id"])
                event.update(mutating=True, idempotency_key=f"key-{event['run_id']}")
    return batches


@pytest.mark.parametrize("seed", range(4))
def test_late_confirmations_leave_the_rollup_equal_to_the_view(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed * 31 + 5)
    lake = Lake.at(tmp_path / "lake")
    batches = _with_keys(_batches(700 + seed))
    confirmations = _confirmations(rng, batches, seed)
    # Those a day or more after midnight land in days whose horizon misses the runs' first day (the 23rd): a
    # run recomputed from there would lose its earlier events.
    late = [c for c in confirmations if c["ts"] >= MIDNIGHT + timedelta(days=1)]
    early = [c for c in confirmations if c["ts"] < MIDNIGHT + timedelta(days=1)]
    assert late and early
    for i, batch in enumerate([*batches, early]):
        _append(lake, batch, f"b{seed}-{i}")
    refresh_runs(lake)
    _append(lake, late, f"late-{seed}")  # in the tail
    assert tail_runs(lake) > 0
    check(lake)
    since, until = MIDNIGHT - timedelta(minutes=20), MIDNIGHT + timedelta(minutes=15)
    for name in CONFIRMED:
        for group_by, tenant in ((None, None), (("tenant",), None), ((), "acme")):
            fast, slow = (compute_metric(lake, name, group_by=group_by, since=since, until=until, tenant=tenant,
                                         rollup=rollup) for rollup in (True, False))
            assert slow, name
            assert len(fast) == len(slow), name
            for a, b in zip(fast, slow, strict=True):
                assert all(_same(a[c], b[c]) for c in b), (name, a, b)
    refresh_runs(lake)
    check(lake)
    rows = compute_metric(lake, "success_claim_gap", group_by=(), since=since, until=until)
    assert rows[0]["confirmed_claims"] + rows[0]["reversed_claims"] > 0  # the confirmations were matched
