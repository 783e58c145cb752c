"""Drift alerts end to end on a lake built through the ingest path: evaluate, store once, announce."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest

from tracelake.queries.alerts.evaluate import alert_id, evaluate, run_test
from tracelake.queries.alerts.rules import Rule, load_rules
from tracelake.queries.alerts.runner import Webhook, run_once
from tracelake.queries.alerts.sinks import COUNTERS, WEBHOOK_FAILED, payloads, post_webhook
from tracelake.queries.alerts.store import list_alerts
from tracelake.queries.engine import open_lake
from tracelake.queries.timewin import parse_time

from .conftest import ev, runs_of

NOW = parse_time("2026-11-24T00:00:00Z")
BASELINE_DAYS = [f"2026-11-{d:02d}" for d in range(16, 23)]  # 7 days before the current day
CURRENT_DAY = "2026-11-23"


def drift_events() -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for day in BASELINE_DAYS:
        events += runs_of("refund", "v1", day, 20, successes=18)  # 90 %
        events += runs_of("access", "v1", day, 20, successes=18)
        events += [ev("tool_call", f"{day}T12:00:0{i}Z", f"t-{day}-{i}", "refund", "v1", tool_name="get_order",
                      schema_valid=True, success=True) for i in range(3)]
    events += runs_of("refund", "v1", CURRENT_DAY, 100, successes=60)  # 60 %: a drop
    events += runs_of("access", "v1", CURRENT_DAY, 100, successes=88)  # 88 %: too small a drop
    events += runs_of("tiny", "v1", CURRENT_DAY, 10, successes=1)  # too few runs
    events += [ev("tool_call", f"{CURRENT_DAY}T13:00:0{i}Z", f"n-{i}", "refund", "v1", tool_name="brand_new_tool",
                  schema_valid=True, success=True) for i in range(6)]
    events += [ev("tool_call", f"{CURRENT_DAY}T13:00:0{i}Z", f"g-{i}", "refund", "v1", tool_name="get_order",
                  schema_valid=True, success=True) for i in range(6)]
    events += [ev("custom", f"{CURRENT_DAY}T14:00:0{i}Z", f"x-{i}", "access", "v1", name="oops", status="error",
                  error={"type": "NewError", "message": "boom"}) for i in range(5)]
    return events


@pytest.fixture(scope="module")
def drift_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from .conftest import ingest

    tmp = tmp_path_factory.mktemp("drift")
    lake = tmp / "lake"
    summary = ingest(lake, [orjson.dumps(e) for e in drift_events()], tmp)
    assert summary.rejected == 0
    return lake


def test_evaluate_raises_exactly_the_drifts(drift_lake: Path) -> None:
    alerts = evaluate(drift_lake, load_rules(None), NOW)
    assert sorted((a["rule"], orjson.dumps(a["group"], option=orjson.OPT_SORT_KEYS).decode()) for a in alerts) == [
        ("new_error_type", '{"error_type":"NewError","workflow":"access"}'),
        ("new_tool_name", '{"tool_name":"brand_new_tool","workflow":"refund"}'),
        ("success_rate_drop", '{"workflow":"refund"}'),
    ]
    drop = next(a for a in alerts if a["rule"] == "success_rate_drop")
    assert (drop["baseline_value"], drop["current_value"]) == (pytest.approx(0.9), pytest.approx(0.6))
    assert drop["delta"] == pytest.approx(-0.3) and (drop["n_baseline"], drop["n_current"]) == (140, 100)
    assert drop["p_value"] < 1e-6 and drop["severity"] == "critical"
    assert (drop["window_start"], drop["window_end"]) == (NOW - timedelta(hours=24), NOW)
    assert drop["alert_id"] == alert_id("success_rate_drop", {"workflow": "refund"}, NOW)


def test_run_twice_stores_once(drift_lake: Path, tmp_path: Path) -> None:
    import shutil

    lake = tmp_path / "lake"
    shutil.copytree(drift_lake, lake)
    first = run_once(lake, load_rules(None), NOW)
    assert len(first.alerts) == 3 and first.raised == 3
    again = run_once(lake, load_rules(None), NOW)
    assert again.alerts == [] and again.raised == 3
    later = run_once(lake, load_rules(None), NOW + timedelta(seconds=1))  # a new evaluation time: new ids
    assert len(later.alerts) == 3
    with open_lake(lake) as con:
        stored = list_alerts(con)
        assert len(stored) == 6
        assert {a["alert_id"] for a in stored} == {a["alert_id"] for a in first.alerts + later.alerts}
        assert stored[0]["group"] and isinstance(stored[0]["group"], dict)
        assert list_alerts(con, rule="success_rate_drop")[0]["n_current"] == 100
    assert len(list((lake / "alerts").rglob("*.parquet"))) == 2
    with open_lake(lake, tenant="acme") as con:  # default rules do not group by tenant: no tenant sees them
        assert list_alerts(con) == []


def test_rules_grouped_by_tenant_are_visible_to_that_tenant(drift_lake: Path, tmp_path: Path) -> None:
    import shutil

    lake = tmp_path / "lake"
    shutil.copytree(drift_lake, lake)
    rule = Rule("success_rate_drop", "success_rate", "proportion_drop", group_by=("tenant", "workflow"))
    assert len(run_once(lake, [rule], NOW).alerts) == 1
    with open_lake(lake, tenant="acme") as con:
        [alert] = list_alerts(con)
        assert alert["group"] == {"tenant": "acme", "workflow": "refund"} and alert["tenant"] == "acme"
    with open_lake(lake, tenant="globex") as con:
        assert list_alerts(con) == []


def test_per_workflow_rules(drift_lake: Path) -> None:
    rules = load_rules(None)
    from tracelake.queries.alerts.rules import build_rules

    rules = build_rules({"workflows": {"access": {"rules": {"success_rate_drop": {"min_delta": 0.01,
                                                                                   "p_value": 0.9}}}}})
    fired = {(a["rule"], a["group"].get("workflow")) for a in evaluate(drift_lake, rules, NOW)}
    assert ("success_rate_drop", "access") in fired and ("success_rate_drop", "refund") in fired


def test_run_test_thresholds() -> None:
    rule = Rule("r", "success_rate", "proportion_drop")
    base = {"runs": 100, "successes": 90, "success_rate": 0.9}
    assert run_test(rule, base, {"runs": 100, "successes": 75, "success_rate": 0.75}, {}).status == "fired"
    assert run_test(rule, base, {"runs": 100, "successes": 87, "success_rate": 0.87}, {}).status == "ok"  # < 0.05
    assert run_test(rule, base, {"runs": 29, "successes": 0, "success_rate": 0.0}, {}).status == "insufficient_data"
    assert run_test(rule, base, None, {}).status == "insufficient_data"
    rise = Rule("r", "escalation_rate", "proportion_rise")
    assert run_test(rise, {"runs": 100, "escalated_runs": 5, "escalation_rate": 0.05},
                    {"runs": 100, "escalated_runs": 20, "escalation_rate": 0.2}, {}).status == "fired"
    cost = Rule("c", "cost_per_success", "ratio_rise", factor=1.25)
    assert run_test(cost, {"successes": 30, "cost_per_success": 1.0},
                    {"successes": 30, "cost_per_success": 1.25}, {}).status == "fired"
    assert run_test(cost, {"successes": 30, "cost_per_success": 1.0},
                    {"successes": 30, "cost_per_success": 1.24}, {}).status == "ok"
    assert run_test(cost, {"successes": 30, "cost_per_success": 0.0},
                    {"successes": 30, "cost_per_success": 0.0}, {}).status == "ok"  # no rise from nothing


# -- webhook against a real local server -------------------------------------------------------
class Recorder(http.server.BaseHTTPRequestHandler):
    failures_left: ClassVar[int] = 0
    bodies: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        cls = type(self)
        if cls.failures_left > 0:
            cls.failures_left -= 1
            self.send_response(503)
            self.end_headers()
            return
        cls.bodies.append(body)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[Recorder]]]:
    handler = type("Handler", (Recorder,), {"failures_left": 0, "bodies": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/hook", handler
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def _alert(i: int) -> dict[str, Any]:
    return {"alert_id": f"a{i}", "rule": "success_rate_drop", "metric": "success_rate", "group": {"workflow": "w"},
            "baseline_value": 0.9, "current_value": 0.6, "p_value": 1e-9, "n_baseline": 140, "n_current": 100,
            "severity": "critical", "window_end": NOW}


def test_webhook_retries_with_backoff_then_delivers(server: tuple[str, type[Recorder]]) -> None:
    url, handler = server
    handler.failures_left = 2
    waits: list[float] = []
    delivery = post_webhook(url, [_alert(1)], retries=3, backoff_s=0.5, sleep=waits.append)
    assert (delivery.messages_sent, delivery.messages_failed, delivery.attempts) == (1, 0, 3)
    assert waits == [0.5, 1.0]  # exponential backoff
    [body] = handler.bodies
    text = orjson.loads(body)["text"]
    assert set(orjson.loads(body)) == {"text"}
    assert "success_rate_drop (workflow=w)" in text and "0.9 → 0.6" in text


def test_webhook_failures_are_counted_and_alerts_stay_stored(server: tuple[str, type[Recorder]],
                                                             drift_lake: Path, tmp_path: Path) -> None:
    import shutil

    url, handler = server
    handler.failures_left = 10**6
    lake = tmp_path / "lake"
    shutil.copytree(drift_lake, lake)
    before = COUNTERS.get(WEBHOOK_FAILED)
    report = run_once(lake, load_rules(None), NOW, webhook=Webhook(url, timeout_s=2, retries=1, backoff_s=0.01))
    assert report.delivery is not None and report.delivery.messages_failed == 1 and report.delivery.attempts == 2
    assert COUNTERS.get(WEBHOOK_FAILED) == before + 1
    with open_lake(lake) as con:
        assert len(list_alerts(con)) == 3


def test_webhook_unreachable_does_not_raise() -> None:
    delivery = post_webhook("http://127.0.0.1:9/none", [_alert(1)], timeout_s=1, retries=1, sleep=lambda s: None)
    assert delivery.messages_failed == 1 and delivery.errors


def test_payloads_are_chunked() -> None:
    bodies = payloads([_alert(i) for i in range(45)], chunk=20)
    assert len(bodies) == 3 and orjson.loads(bodies[2])["text"].count("\n") == 5
