"""Golden tests: every metric over the hand-made lake of conftest.py, values worked out by hand.

Window W = [2026-11-24, 2026-11-25). Finished runs in W (by run_finished ts):
refund v1: R1 success, R2 escalated, R3 fallback — R9 finishes after W (in flight at W's end);
refund v2: R4 escalated, R5 success, R10 fallback — R6 in flight;
access v1 (tenant globex): R7 success (started the day before), R8 failure.
Every event of 2026-11-24 is stored twice (a replayed batch) and two lines are
sent twice: the numbers below count each event once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tracelake.queries.metrics import (
    METRICS,
    MetricArgumentError,
    build_query,
    compute_metric,
    get_spec,
    parse_group_by,
    parse_where,
)
from tracelake.queries.timewin import Window, parse_time

SINCE, UNTIL = parse_time("2026-11-24T00:00:00Z"), parse_time("2026-11-25T00:00:00Z")


def metric(lake: Path, name: str, **kw) -> list[dict]:
    kw.setdefault("since", SINCE)
    kw.setdefault("until", UNTIL)
    return compute_metric(lake, name, **kw)


def by_group(rows: list[dict], *keys: str) -> dict[tuple, dict]:
    keys = keys or ("workflow", "workflow_version")
    return {tuple(r[k] for k in keys): r for r in rows}


def test_success_rate(golden_anywhere: Path) -> None:
    rows = by_group(metric(golden_anywhere, "success_rate"))
    assert list(rows) == [("access", "v1"), ("refund", "v1"), ("refund", "v2")]  # ordered by group
    assert rows["access", "v1"] == {"workflow": "access", "workflow_version": "v1", "success_rate": 0.5, "runs": 2,
                                    "successes": 1, "success": 1, "failure": 1, "escalated": 0, "fallback": 0,
                                    "halted": 0, "runs_unfinished": 0}
    # refund v1: 1 success of R1, R2, R3; R9 was still running at the window's end.
    assert rows["refund", "v1"]["success_rate"] == pytest.approx(1 / 3)
    assert (rows["refund", "v1"]["runs"], rows["refund", "v1"]["escalated"], rows["refund", "v1"]["fallback"],
            rows["refund", "v1"]["runs_unfinished"]) == (3, 1, 1, 1)
    # refund v2: R5 of R4, R5, R10; R6 in flight.
    assert rows["refund", "v2"]["success_rate"] == pytest.approx(1 / 3)
    assert rows["refund", "v2"]["runs_unfinished"] == 1


def test_success_rate_without_window_counts_the_late_run(golden_anywhere: Path) -> None:
    rows = by_group(compute_metric(golden_anywhere, "success_rate"))
    # R9 (success, finished 2026-11-25) now counts: 2 successes of 4 runs.
    assert (rows["refund", "v1"]["runs"], rows["refund", "v1"]["successes"]) == (4, 2)
    assert rows["refund", "v1"]["success_rate"] == 0.5
    assert rows["refund", "v1"]["runs_unfinished"] == 0


def test_group_values_come_from_run_finished(golden_anywhere: Path) -> None:
    rows = by_group(metric(golden_anywhere, "success_rate", group_by=["team"]), "team")
    # R8 started as team "it" but finished as "it-ops": it counts under it-ops.
    assert {k: (r["runs"], r["successes"]) for k, r in rows.items()} == {
        ("it",): (1, 1), ("it-ops",): (1, 0), ("support",): (6, 2)}


def test_cost_per_success(golden_anywhere: Path) -> None:
    rows = by_group(metric(golden_anywhere, "cost_per_success"))
    # refund v1: R1 0.01 (llm, sent twice, counted once) + 0.002 (tool) + R3 0.02 = 0.032; 1 success.
    assert rows["refund", "v1"]["total_cost_usd"] == pytest.approx(0.032)
    assert rows["refund", "v1"]["cost_per_success"] == pytest.approx(0.032)
    assert rows["refund", "v1"]["cost_per_run"] == pytest.approx(0.032 / 3)
    # refund v2: R5 0.03 + R10 0.001 (R6's 0.05 is in flight, not counted); 1 success.
    assert rows["refund", "v2"]["cost_per_success"] == pytest.approx(0.031)
    assert rows["access", "v1"]["cost_per_success"] == 0.0


def test_cost_per_success_zero_successes_is_null(golden_anywhere: Path) -> None:
    rows = metric(golden_anywhere, "cost_per_success", group_by=["team"], where=[("team", "it-ops")])
    assert rows == [{"team": "it-ops", "cost_per_success": None, "total_cost_usd": 0.0, "cost_per_run": 0.0,
                     "runs": 1, "successes": 0}]


def test_tool_call_validity_and_success(golden_anywhere: Path) -> None:
    validity = by_group(metric(golden_anywhere, "tool_call_validity"))
    # access: R7's call is on 2026-11-23 (outside W); R8's first call has no schema_valid → 0 of 1.
    assert validity["access", "v1"] | {} == {"workflow": "access", "workflow_version": "v1",
                                             "tool_call_validity": 0.0, "tool_calls": 1, "valid_calls": 0}
    # refund v1: R1 valid, R2 invalid, R3 valid.
    assert validity["refund", "v1"]["tool_call_validity"] == pytest.approx(2 / 3)
    assert ("refund", "v2") not in validity  # no tool calls at all: no row
    success = by_group(metric(golden_anywhere, "tool_call_success"))
    assert success["access", "v1"]["tool_call_success"] == 1.0 and success["access", "v1"]["tool_calls"] == 1
    assert success["refund", "v1"]["tool_call_success"] == pytest.approx(1 / 3)


def test_tool_call_validity_zero_denominator_is_null(golden_anywhere: Path) -> None:
    rows = by_group(metric(golden_anywhere, "tool_call_validity", group_by=["workflow", "tool_name"],
                           where=[("workflow", "access")]), "workflow", "tool_name")
    assert rows["access", "lookup_user"]["tool_call_validity"] is None  # R8's call without schema_valid
    assert rows["access", "lookup_user"]["tool_calls"] == 0
    assert rows["access", "grant"]["tool_call_validity"] == 0.0


def test_postcondition_pass_rate(golden_anywhere: Path) -> None:
    assert metric(golden_anywhere, "postcondition_pass_rate") == [
        {"workflow": "refund", "workflow_version": "v1", "postcondition_pass_rate": 0.5, "checks": 2,
         "passed_checks": 1}]


def test_escalation_rate(golden_anywhere: Path) -> None:
    rows = by_group(metric(golden_anywhere, "escalation_rate"))
    assert rows["access", "v1"] == {"workflow": "access", "workflow_version": "v1", "escalation_rate": 0.0,
                                    "runs": 2, "escalated_runs": 0, "reasons": {}}
    assert rows["refund", "v1"]["escalation_rate"] == pytest.approx(1 / 3)  # R2 (R3 fell back, not escalated)
    assert rows["refund", "v1"]["reasons"] == {"invalid_tool_args": 1}
    assert rows["refund", "v2"]["escalation_rate"] == pytest.approx(1 / 3)  # R4, which escalated twice
    assert rows["refund", "v2"]["reasons"] == {"low_confidence": 2}


def test_time_to_safe_fallback(golden_anywhere: Path) -> None:
    rows = by_group(metric(golden_anywhere, "time_to_safe_fallback"))
    # refund v1: R2 = 10:10:02 − (10:10:01 + 200 ms) = 800 (case 1, +02:00 offsets);
    #            R3 = 10:20:03 − (10:20:01 + 1500 ms) = 500 (missing trigger → earliest trouble, case 2).
    # p50 of [500, 800] = 650; p95 = 500 + 0.95 × 300 = 785.
    assert rows["refund", "v1"] == {"workflow": "refund", "workflow_version": "v1", "time_to_safe_fallback": 785.0,
                                    "runs": 2, "p50_ms": 650.0, "p95_ms": 785.0, "max_ms": 800.0}
    # refund v2: R4 = 10:30:10 − run_started 10:30:00 = 10000 (case 3; the block comes after F);
    #            R10 = 11:00:02 − (11:00:00 + 5000 ms) < 0 → 0. p95 = 0.95 × 10000 = 9500.
    assert rows["refund", "v2"] == {"workflow": "refund", "workflow_version": "v2", "time_to_safe_fallback": 9500.0,
                                    "runs": 2, "p50_ms": 5000.0, "p95_ms": 9500.0, "max_ms": 10000.0}
    assert ("access", "v1") not in rows


def test_latency_split(golden_anywhere: Path) -> None:
    rows = by_group(metric(golden_anywhere, "latency_split"))
    # refund v1: model [1000, 0, 2000], tool [500, 200, 1500], run [5000, 3000, null (R3 has no start)].
    v1 = rows["refund", "v1"]
    assert (v1["model_ms_p50"], v1["model_ms_p95"]) == (1000.0, pytest.approx(1900.0))
    assert (v1["tool_ms_p50"], v1["tool_ms_p95"]) == (500.0, pytest.approx(1400.0))
    assert (v1["run_ms_p50"], v1["run_ms_p95"], v1["runs"]) == (4000.0, pytest.approx(4900.0), 3)
    assert v1["latency_split"] == v1["run_ms_p95"]
    # refund v2: model [0, 3000, 5000], run [30000, 10000, 6000].
    v2 = rows["refund", "v2"]
    assert (v2["model_ms_p50"], v2["model_ms_p95"]) == (3000.0, pytest.approx(4800.0))
    assert (v2["run_ms_p50"], v2["run_ms_p95"]) == (10000.0, pytest.approx(28000.0))
    # access: R7 crosses midnight: its start and its 100 ms tool call sit in the previous day's
    # partition and still count (run_ms 120000); R8 tool 50 + 150, run 5000.
    acc = rows["access", "v1"]
    assert (acc["tool_ms_p50"], acc["tool_ms_p95"]) == (150.0, pytest.approx(195.0))
    assert (acc["run_ms_p50"], acc["run_ms_p95"]) == (62500.0, pytest.approx(114250.0))


def test_cost_attribution(golden_anywhere: Path) -> None:
    rows = metric(golden_anywhere, "cost_attribution")
    # By events' own ts, in flight or not: r1 = 0.01 + 0.002 + 0.02; r2 = 0.03 + 0.05 (R6) + 0.001.
    assert [(r["team"], r["workflow"], r["release"]) for r in rows] == [("support", "refund", "r1"),
                                                                          ("support", "refund", "r2")]
    assert [r["cost_usd"] for r in rows] == [pytest.approx(0.032), pytest.approx(0.081)]
    by_model = metric(golden_anywhere, "cost_attribution", group_by=["model"])
    assert [(r["model"], round(r["cost_usd"], 6)) for r in by_model] == [("m-small", 0.111), (None, 0.002)]


def test_where_filters_bind_values_and_repeat_as_in(golden_anywhere: Path) -> None:
    rows = metric(golden_anywhere, "success_rate", group_by=[], where=[("workflow", "refund")])
    assert [(r["runs"], r["successes"]) for r in rows] == [(6, 2)]
    both = metric(golden_anywhere, "success_rate", where=[("workflow_version", "v1"), ("workflow_version", "v2"),
                                                      ("workflow", "refund")])
    assert [(r["workflow"], r["workflow_version"]) for r in both] == [("refund", "v1"), ("refund", "v2")]
    hostile = metric(golden_anywhere, "success_rate", where=[("workflow", "x' OR 1=1 --")])
    assert hostile == []


def test_tenant_scope(golden_anywhere: Path) -> None:
    rows = metric(golden_anywhere, "success_rate", tenant="globex")
    assert [(r["workflow"], r["runs"]) for r in rows] == [("access", 2)]
    assert metric(golden_anywhere, "success_rate", tenant="nobody") == []


def test_empty_lake_gives_no_rows_and_ungrouped_zero_is_null(tmp_path: Path) -> None:
    for name in METRICS:
        if METRICS[name].public:
            assert compute_metric(tmp_path / "missing", name) == [], name
    [row] = compute_metric(tmp_path / "missing", "success_rate", group_by=[])
    assert row["success_rate"] is None and row["runs"] == 0


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"group_by": ["nope"]}, "cannot group by 'nope'"),
        ({"group_by": ["model"]}, "cannot group by 'model'"),
        ({"where": [("outcome; DROP", "x")]}, "cannot filter on"),
        ({"group_by": ["team", "team"]}, "repeats"),
        ({"since": UNTIL, "until": SINCE}, "must be before"),
    ],
)
def test_bad_arguments_are_user_errors(golden_anywhere: Path, kwargs: dict, words: str) -> None:
    with pytest.raises(MetricArgumentError, match=words):
        compute_metric(golden_anywhere, "success_rate", **kwargs)


def test_unknown_metric() -> None:
    with pytest.raises(MetricArgumentError, match="unknown metric"):
        get_spec("error_types")  # internal series are not public metrics


def test_build_query_binds_every_value() -> None:
    sql, params = build_query(get_spec("success_rate"), Window(SINCE, UNTIL), ["team"],
                              [("workflow", "a'b"), ("workflow", "c")])
    assert "a'b" not in sql and '"workflow" IN ($w_0, $w_1)' in sql and 'GROUP BY "team"' in sql
    assert params == {"since": SINCE, "until": UNTIL, "w_0": "a'b", "w_1": "c"}


def test_parse_helpers() -> None:
    assert parse_group_by(None) is None and parse_group_by("") == () and parse_group_by("none") == ()
    assert parse_group_by("team, release") == ("team", "release")
    assert parse_where(["workflow=a=b", "team= x"]) == [("workflow", "a=b"), ("team", " x")]
    with pytest.raises(MetricArgumentError):
        parse_where(["novalue"])
