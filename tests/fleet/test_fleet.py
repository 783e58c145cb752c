"""The fleet simulator: valid events, placed in time as promised, a canary that is really worse."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from tracelake.contract import Rejection, validate_event
from tracelake.fleet import Canary, Fleet, FleetConfig
from tracelake.sdk import Client
from tracelake.sdk.transport import MemoryTransport

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def simulate(tmp_path: Path, runs: int, **config: Any) -> tuple[Fleet, list[dict[str, Any]]]:
    fleet = Fleet(FleetConfig(now=NOW, **config))
    transport = MemoryTransport()
    with Client(transport=transport, clock=fleet.clock, spool_dir=str(tmp_path / "spool")) as client:
        fleet.run(client, runs=runs)
        assert client.flush(10)
    return fleet, [orjson.loads(record.value) for record in transport.delivered]


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> tuple[Fleet, list[dict[str, Any]]]:
    return simulate(tmp_path_factory.mktemp("fleet"), 1500, seed=3)


def test_every_event_is_a_valid_contract_event(stream) -> None:
    _, events = stream
    rejected = [r for r in (validate_event(orjson.dumps(e)) for e in events) if isinstance(r, Rejection)]
    assert not rejected
    assert {e["event_type"] for e in events} == {
        "run_started", "run_finished", "llm_call", "tool_call", "retrieval", "policy_decision", "approval",
        "escalation", "fallback", "postcondition_check", "budget_exceeded"}


def test_runs_are_whole_and_outcomes_match_the_stats(stream) -> None:
    fleet, events = stream
    by_run: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_run[event["run_id"]].append(event)
    assert len(by_run) == fleet.stats.runs == 1500
    outcomes: dict[str, int] = defaultdict(int)
    for run in by_run.values():
        kinds = [e["event_type"] for e in run]
        assert kinds[0] == "run_started" and kinds[-1] == "run_finished" and kinds.count("run_finished") == 1
        outcomes[run[-1]["outcome"]] += 1
    assert dict(outcomes) == dict(fleet.stats.outcomes)
    assert set(outcomes) == {"success", "failure", "escalated", "fallback", "halted"}


def test_triggers_point_at_an_earlier_event_of_the_same_run(stream) -> None:
    _, events = stream
    by_id = {e["event_id"]: e for e in events}
    for event in events:
        if event["event_type"] in ("fallback", "escalation"):
            trigger = by_id[event["trigger_event_id"]]
            assert trigger["run_id"] == event["run_id"] and trigger["ts"] <= event["ts"]


def test_time_placement_history_current_and_never_in_the_future(stream) -> None:
    _, events = stream
    stamps = [datetime.fromisoformat(e["ts"].replace("Z", "+00:00")) for e in events]
    assert min(stamps) >= NOW - timedelta(days=8) and max(stamps) <= NOW
    finished = [s for s, e in zip(stamps, events, strict=True) if e["event_type"] == "run_finished"]
    current = sum(s >= NOW - timedelta(days=1) for s in finished)
    assert 0.35 < current / len(finished) < 0.55  # current_share 0.45


def test_the_canary_is_only_in_the_current_window_and_is_worse(stream) -> None:
    _, events = stream
    finished = [e for e in events if e["event_type"] == "run_finished" and e["workflow"] == "refund_request"]
    candidate = [e for e in finished if e["workflow_version"] == "v4"]
    assert len(candidate) >= 60
    assert all(e["ts"] >= (NOW - timedelta(days=1)).isoformat().replace("+00:00", "") for e in candidate)
    cost: dict[str, float] = defaultdict(float)
    for e in events:
        if e["workflow"] == "refund_request":
            cost[e["workflow_version"]] += e.get("cost_usd") or 0.0

    def success(version: str) -> float:
        runs = [e for e in finished if e["workflow_version"] == version]
        return sum(e["outcome"] == "success" for e in runs) / len(runs)

    runs = {v: sum(e["workflow_version"] == v for e in finished) for v in ("v3", "v4")}
    assert success("v4") < success("v3") - 0.15
    assert cost["v4"] / runs["v4"] > 1.5 * cost["v3"] / runs["v3"]


def test_traces_carry_personal_data_and_repeating_system_prompts(stream) -> None:
    _, events = stream
    text = b"\n".join(orjson.dumps(e) for e in events)
    assert b"@" in text and b"card_number" in text
    prompts = [e["prompt"] for e in events if e["event_type"] == "llm_call"]
    assert len(set(prompts)) == 4 < len(prompts)


def test_same_seed_same_traffic(tmp_path: Path) -> None:
    def shape(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [(e["event_type"], e["ts"], e.get("workflow_version"), e.get("outcome"), e.get("tool_args"))
                for e in events]

    _, a = simulate(tmp_path / "a", 60, seed=9)
    _, b = simulate(tmp_path / "b", 60, seed=9)
    _, c = simulate(tmp_path / "c", 60, seed=10)
    assert shape(a) == shape(b) != shape(c)


def test_no_canary_means_baseline_versions_only(tmp_path: Path) -> None:
    _, events = simulate(tmp_path, 200, seed=4, canary=None)
    assert {e["workflow_version"] for e in events if e["workflow"] == "refund_request"} == {"v3"}
    _, events = simulate(tmp_path / "x", 200, seed=4, canary=Canary(share=1.0))
    assert "v4" in {e["workflow_version"] for e in events if e["workflow"] == "refund_request"}


def test_the_fleet_never_runs_unbounded() -> None:
    with pytest.raises(ValueError, match="never runs unbounded"):
        Fleet().run(Client(transport=MemoryTransport()))
