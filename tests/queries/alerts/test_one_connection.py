"""Alert jobs and canary verdicts on one connection: the job opens one, a caller's is used as it is, same answers."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.queries.conftest import ingest
from tests.queries.test_alerts import NOW, drift_events
from tests.queries.test_canary import WINDOW, canary_events
from tracelake.queries import engine
from tracelake.queries.alerts.canary import Canary, compare, compare_many, verdict_of
from tracelake.queries.alerts.evaluate import (
    Outcome,
    evaluate,
    evaluation_window,
    new_failure_outcomes,
    new_value_outcomes,
    run_test,
)
from tracelake.queries.alerts.rules import Rule, load_rules
from tracelake.queries.alerts.runner import run_once
from tracelake.queries.alerts.scope import ConnectionScopeError
from tracelake.queries.engine import LakeConnection, open_lake
from tracelake.queries.metrics import run_metric
from tracelake.queries.timewin import Window


@pytest.fixture(scope="module")
def lakes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for name, events in (("drift", drift_events()), ("canary", canary_events())):
        tmp = tmp_path_factory.mktemp(name)
        assert ingest(tmp / "lake", [orjson.dumps(e) for e in events], tmp).rejected == 0
        out[name] = tmp / "lake"
    return out


def reference_compare(con: LakeConnection, rules: list[Rule], canary: Canary, window: Window,
                      by: str = "workflow_version") -> dict[str, Any]:
    """The canary verdict as compare() first computed it: every rule's metric asked per version, ungrouped."""
    chosen = {r.name: r for r in rules if r.workflow is None and not r.settle}  # a settle rule judges no canary
    chosen.update({r.name: r for r in rules if r.workflow == canary.workflow and not r.settle})
    group = {"workflow": canary.workflow}
    outcomes: list[Outcome] = []
    for rule in chosen.values():
        base, cand = (run_metric(con, rule.metric, group_by=(), since=window.since, until=window.until,
                                 where=[("workflow", canary.workflow), (by, version)], internal=True)
                      for version in (canary.baseline, canary.candidate))
        if rule.test == "new_value":
            outcomes.extend(new_value_outcomes(rule, base, cand, (), group) or [
                Outcome(rule.name, rule.metric, group, "ok", None, None, None, None, sum(r["n"] for r in base),
                        sum(r["n"] for r in cand), rule.severity, "no value new in the candidate")])
        elif rule.test == "new_failure":
            outcomes.extend(new_failure_outcomes(rule, base, cand, (), group) or [
                Outcome(rule.name, rule.metric, group, "ok", None, None, None, None,
                        sum(r["n"] + r["passed"] for r in base), sum(r["n"] + r["passed"] for r in cand),
                        rule.severity, "the candidate fails no control the baseline passed")])
        else:
            outcomes.append(run_test(rule, base[0] if base else None, cand[0] if cand else None, group))
    return {"workflow": canary.workflow, "baseline": canary.baseline, "candidate": canary.candidate, "by": by,
            "window_start": window.since, "window_end": window.until,
            "verdict": verdict_of(outcomes, {r.name for r in chosen.values() if r.gate}),
            "tests": [o.as_dict() for o in outcomes]}


def rounded(value: Any) -> Any:
    """``value`` with every float to 12 significant digits (DuckDB's parallel sums may differ in the last bit)."""
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v) for v in value]
    return value


def ids(alerts: list[dict[str, Any]]) -> list[str]:
    return sorted(a["alert_id"] for a in alerts)


def test_an_alert_job_opens_one_connection(lakes: dict[str, Path], tmp_path: Path,
                                           opened: list[engine.LakeConnection]) -> None:
    rules = load_rules(None)
    expected = evaluate(lakes["drift"], rules, NOW)  # on its own connection
    lake = tmp_path / "lake"
    shutil.copytree(lakes["drift"], lake)
    del opened[:]
    first = run_once(lake, rules, NOW)
    assert len(opened) == 1 and opened[0].window == evaluation_window(rules, NOW, timedelta(hours=24))
    assert opened[0].tenant is None
    assert ids(first.alerts) == ids(expected) and first.raised == len(expected) == 3
    again = run_once(lake, rules, NOW)  # the store saw the first run's alerts through the job's connection
    assert again.alerts == [] and again.raised == 3 and len(opened) == 2
    assert run_once(lake, [], NOW).raised == 0 and len(opened) == 2  # no rules: nothing opened


def test_a_callers_connection_is_used_and_left_open(lakes: dict[str, Path], tmp_path: Path,
                                                    opened: list[engine.LakeConnection]) -> None:
    rules = load_rules(None)
    lake = tmp_path / "lake"
    shutil.copytree(lakes["drift"], lake)
    with open_lake(lake) as con:
        report = run_once(lake, rules, NOW, con=con)
        assert ids(report.alerts) == ids(evaluate(lake, rules, NOW, con=con)) and len(report.alerts) == 3
        assert con.query("SELECT 1", name="still open").rows == [(1,)]
    assert len(opened) == 1


def test_a_canary_on_a_shared_connection_equals_its_own(lakes: dict[str, Path],
                                                        opened: list[engine.LakeConnection]) -> None:
    rules, lake = load_rules(None), lakes["canary"]
    alone = {c: compare(lake, rules, workflow="refund", baseline="v1", candidate=c, window=WINDOW)
             for c in ("v2", "v3", "v4", "v5")}
    assert len(opened) == 4
    with open_lake(lake, window=WINDOW.widened(timedelta(days=3))) as con:
        shared = {c: compare(lake, rules, workflow="refund", baseline="v1", candidate=c, window=WINDOW, con=con)
                  for c in ("v2", "v3", "v4", "v5")}
    assert len(opened) == 5
    assert shared == alone
    assert [shared[c]["verdict"] for c in ("v2", "v3", "v4", "v5")] == ["rollback", "promote", "hold", "rollback"]


def test_many_canaries_at_once_equal_each_asked_per_version(lakes: dict[str, Path]) -> None:
    """compare_many asks each metric once, grouped by version; the answers are those of asking per version
    (groups without rows included: no tool calls here at all, a version with five runs, another workflow)."""
    # access gets its own success_rate_drop, not a gate: its v1 has no runs, yet v2 is promoted
    rules = [*load_rules(None), Rule("success_rate_drop", "success_rate", "proportion_drop", workflow="access",
                                     min_delta=0.5)]
    canaries = [Canary("refund", "v1", c) for c in ("v2", "v3", "v4", "v5")]
    canaries += [Canary("access", "v1", "v2"), Canary("refund", "v9", "v1"), Canary("nothing", "a", "b")]
    with open_lake(lakes["canary"], window=WINDOW.widened(timedelta(hours=24))) as con:
        many = compare_many(lakes["canary"], rules, canaries, window=WINDOW, con=con)
        expected = [reference_compare(con, rules, c, WINDOW) for c in canaries]
    assert rounded(many) == rounded(expected)
    assert [m["verdict"] for m in many] == ["rollback", "promote", "hold", "rollback", "promote", "hold", "hold"]
    with pytest.raises(ValueError, match="differ"):
        compare_many(lakes["canary"], rules, [Canary("refund", "v1", "v1")], window=WINDOW)


def test_a_connection_that_cannot_answer_is_refused(lakes: dict[str, Path]) -> None:
    rules, lake = load_rules(None), lakes["canary"]
    with open_lake(lake, window=WINDOW) as narrow, pytest.raises(ConnectionScopeError, match="needs"):
        compare(lake, rules, workflow="refund", baseline="v1", candidate="v2", window=WINDOW, con=narrow)
    with open_lake(lake, tenant="acme") as scoped, pytest.raises(ConnectionScopeError, match="tenant"):
        compare(lake, rules, workflow="refund", baseline="v1", candidate="v2", window=WINDOW, con=scoped)
    with open_lake(lake, window=Window(NOW - timedelta(days=1), NOW)) as short, \
            pytest.raises(ConnectionScopeError):
        run_once(lake, rules, NOW, con=short)
