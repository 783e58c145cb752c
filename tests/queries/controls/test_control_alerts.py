"""Drift rules and canary gates on the controls: a candidate that fails a control the baseline passed is a
rollback; a control failing now that passed in the baseline window raises control_regression."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.queries.controls.helpers import T0, RunBuilder, write
from tracelake.queries.alerts.canary import compare
from tracelake.queries.alerts.evaluate import evaluate
from tracelake.queries.alerts.rules import load_rules
from tracelake.queries.timewin import Window

DAY = Window(T0 - timedelta(hours=10), T0 + timedelta(hours=14))


def _approved(run_id: str, version: str, approver: str, start_hours: float = 0.0) -> RunBuilder:
    run = RunBuilder(run_id, version=version, start=T0 + timedelta(hours=start_hours))
    run.start()
    run.gate("yellow")
    run.approve(approver)
    run.mutate(key=run_id)
    run.finish()
    return run


def _fired(result: dict, rule: str) -> list[dict]:
    return [t for t in result["tests"] if t["rule"] == rule and t["status"] == "fired"]


def test_a_candidate_failing_a_control_the_baseline_passed_is_a_rollback(tmp_path: Path) -> None:
    runs = [_approved(f"b{i}", "v1", "lead") for i in range(3)]
    runs += [_approved("c0", "v2", "lead"), _approved("c1", "v2", "executor")]  # one self-approval
    lake = write(tmp_path, *runs)
    rules = [r for r in load_rules(None) if r.name == "control_regression"]
    result = compare(lake, rules, workflow="refund", baseline="v1", candidate="v2", window=DAY)
    assert result["verdict"] == "rollback"
    (fired,) = _fired(result, "control_regression")
    assert fired["group"] == {"workflow": "refund", "control_id": "separation_of_duties"}
    assert (fired["n_baseline"], fired["current_value"]) == (3, 1.0)
    # The other way round the candidate fails nothing the baseline passed.
    back = compare(lake, rules, workflow="refund", baseline="v2", candidate="v1", window=DAY)
    assert back["verdict"] == "promote" and not _fired(back, "control_regression")


def test_no_rollback_when_the_baseline_failed_the_control_too(tmp_path: Path) -> None:
    runs = [_approved("b0", "v1", "lead"), _approved("b1", "v1", "executor"),
            _approved("c0", "v2", "executor")]
    rules = [r for r in load_rules(None) if r.name == "control_regression"]
    result = compare(write(tmp_path, *runs), rules, workflow="refund", baseline="v1", candidate="v2", window=DAY)
    assert result["verdict"] == "promote"


def test_control_regression_drift_alert(tmp_path: Path) -> None:
    # Baseline window: the 7 days before the last 24 h; current window: the last 24 h before now.
    now = T0 + timedelta(days=3)
    runs = [_approved(f"old{i}", "v1", "lead", start_hours=24 + i) for i in range(3)]
    runs.append(_approved("new", "v1", "executor", start_hours=60))
    rules = [r for r in load_rules(None) if r.name in ("control_regression", "control_pass_rate_drop")]
    alerts = evaluate(write(tmp_path, *runs), rules, now)
    assert [(a["rule"], a["group"]) for a in alerts] == [
        ("control_regression", {"workflow": "refund", "control_id": "separation_of_duties"})]
