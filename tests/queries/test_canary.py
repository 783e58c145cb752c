"""Canary verdicts: rollback when a rule fires against the candidate, hold without data, else promote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tracelake.queries.alerts.canary import EXIT_CODES, compare, verdict_of
from tracelake.queries.alerts.evaluate import Outcome
from tracelake.queries.alerts.rules import load_rules
from tracelake.queries.timewin import Window, parse_time

from .conftest import ev, ingest, runs_of

WINDOW = Window(parse_time("2026-11-23T00:00:00Z"), parse_time("2026-11-24T00:00:00Z"))
DAY = "2026-11-23"


def canary_events() -> list[dict[str, Any]]:
    events = list(runs_of("refund", "v1", DAY, 100, successes=92))
    events += runs_of("refund", "v2", DAY, 100, successes=60, start_hour=2)  # bad canary
    events += runs_of("refund", "v3", DAY, 100, successes=93, start_hour=4)  # as good as v1
    events += runs_of("refund", "v4", DAY, 5, successes=5, start_hour=6)  # too new to judge
    events += runs_of("refund", "v5", DAY, 100, successes=93, start_hour=8)  # good rate, but a new error
    events += [ev("custom", f"{DAY}T09:00:0{i}Z", f"v5-{i}", "refund", "v5", name="step", status="error",
                  error={"type": "KeyError", "message": "x"}) for i in range(5)]
    events += runs_of("access", "v2", DAY, 100, successes=10, start_hour=10)  # another workflow: ignored
    return events


@pytest.fixture(scope="module")
def canary_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("canary")
    ingest(tmp / "lake", [orjson.dumps(e) for e in canary_events()], tmp)
    return tmp / "lake"


def verdict(lake: Path, candidate: str, **kw: Any) -> dict[str, Any]:
    return compare(lake, load_rules(None), workflow="refund", baseline="v1", candidate=candidate, window=WINDOW, **kw)


def test_bad_canary_rolls_back_with_evidence(canary_lake: Path) -> None:
    result = verdict(canary_lake, "v2")
    assert result["verdict"] == "rollback"
    [drop] = [t for t in result["tests"] if t["rule"] == "success_rate_drop"]
    assert drop["status"] == "fired" and (drop["baseline_value"], drop["current_value"]) == (0.92, 0.6)
    assert (drop["n_baseline"], drop["n_current"]) == (100, 100) and drop["p_value"] < 0.01
    # Every rule judges the canary but those waiting for late data (success_claim_gap_rise: settle).
    assert {t["rule"] for t in result["tests"]} == {r.name for r in load_rules(None) if not r.settle}


def test_good_canary_is_promoted(canary_lake: Path) -> None:
    result = verdict(canary_lake, "v3")
    assert result["verdict"] == "promote"
    assert all(t["status"] != "fired" for t in result["tests"])


def test_too_little_data_holds(canary_lake: Path) -> None:
    result = verdict(canary_lake, "v4")
    assert result["verdict"] == "hold"
    [drop] = [t for t in result["tests"] if t["rule"] == "success_rate_drop"]
    assert drop["status"] == "insufficient_data" and drop["n_current"] == 5


def test_a_new_error_type_in_the_candidate_rolls_back(canary_lake: Path) -> None:
    result = verdict(canary_lake, "v5")
    assert result["verdict"] == "rollback"
    [fired] = [t for t in result["tests"] if t["status"] == "fired"]
    assert fired["rule"] == "new_error_type" and fired["group"]["error_type"] == "KeyError"


def test_verdict_rules_and_exit_codes() -> None:
    def outcome(rule: str, status: str) -> Outcome:
        return Outcome(rule, "m", {}, status, None, None, None, None, 0, 0, "warning", "")  # type: ignore[arg-type]

    assert verdict_of([outcome("a", "ok"), outcome("b", "insufficient_data")], gates={"a"}) == "promote"
    assert verdict_of([outcome("a", "insufficient_data")], gates={"a"}) == "hold"
    assert verdict_of([outcome("a", "insufficient_data"), outcome("b", "fired")], gates={"a"}) == "rollback"
    assert EXIT_CODES == {"promote": 0, "rollback": 1, "hold": 3}


def test_same_versions_refused(canary_lake: Path) -> None:
    with pytest.raises(ValueError, match="must differ"):
        verdict(canary_lake, "v1")
