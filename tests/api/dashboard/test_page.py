from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from tracelake.api.dashboard.page import dashboard_html, timeline_html, waterfall

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def event(event_id: str, seconds: float, duration_ms: float | None = None, **fields: Any) -> dict[str, Any]:
    out = {"event_id": event_id, "event_type": "custom", "ts": T0 + timedelta(seconds=seconds), **fields}
    if duration_ms is not None:
        out["duration_ms"] = duration_ms
    return out


def test_waterfall_places_each_event_on_the_runs_time_axis() -> None:
    places = waterfall([event("a", 0, 2000), event("b", 2, 6000), event("c", 10), event("d", 5, None, ts="bad")])
    assert places["a"] == (0.0, 20.0, 0.0)
    assert places["b"] == (20.0, 60.0, 2000.0)
    assert places["c"] == (99.5, 0.5, 10_000.0)  # no duration: a thin mark, kept inside the axis
    assert "d" not in places  # ts is not a datetime
    assert waterfall([event("x", 0), event("y", 0)]) == {"x": (0.0, 0.5, 0.0), "y": (0.0, 0.5, 0.0)}
    assert waterfall([]) == {}


def test_timeline_nests_by_span_without_recursion_and_escapes() -> None:
    depth = 3000  # deeper than Python's recursion limit
    events = [event(f"e{i}", i, 10, span_id=f"s{i}", parent_span_id=f"s{i - 1}" if i else None,
                    input="<script>alert(1)</script>" if i == 0 else None) for i in range(depth)]
    tree: list[dict[str, Any]] = [{"event_id": "e0", "children": []}]
    node = tree[0]
    for i in range(1, depth):
        child = {"event_id": f"e{i}", "children": []}
        node["children"].append(child)
        node = child
    html = timeline_html({"run": {"run_id": "r'1", "workflow": "w", "workflow_version": "v1"}, "events": events,
                          "tree": tree})
    assert html.count("<li class=event ") == depth
    assert html.count("<ul>") == html.count("</ul>") == depth and html.count("</li>") == depth
    assert "<script>" not in html and "&lt;script&gt;" in html


def dashboard_data(**overrides: Any) -> dict[str, Any]:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    data: dict[str, Any] = {"now": now, "since": datetime(2026, 11, 18, tzinfo=UTC), "tenant": "acme",
                            "days": ["11-24", "11-25"], "success": {}, "cost": [], "ttsf": [], "reasons": [],
                            "alerts": [], "canaries": [], "canary_error": None, "runs": []}
    return {**data, **overrides}


def test_dashboard_page_links_runs_without_a_key_and_escapes_ids() -> None:
    run = {"run_id": "run'<1>", "workflow": "refund", "workflow_version": "v3", "outcome": None, "tenant": "acme",
           "total_cost_usd": 0.5, "started_at": "2026-11-25 10:00:00"}
    html = dashboard_html(dashboard_data(runs=[run]))
    assert "href='/dashboard/runs/run%27%3C1%3E'" in html and "run'<1>" not in html
    assert "in flight" in html and "acme · 2026-11-25 12:00 UTC" in html


def test_a_broken_rules_file_is_said_in_the_canary_panel() -> None:
    html = dashboard_html(dashboard_data(canary_error="rules.toml: line 3: <bad>"))
    canaries = html.split("id=canaries>", 1)[1].split("</section>", 1)[0]
    assert "no verdicts: rules.toml: line 3: &lt;bad&gt;" in canaries


def test_the_rolled_back_canary_is_red_and_alerts_are_listed() -> None:
    html = dashboard_html(dashboard_data(
        cost=[{"workflow": "refund", "workflow_version": "v3", "cost_per_success": 0.01},
              {"workflow": "refund", "workflow_version": "v4", "cost_per_success": 0.03}],
        canaries=[{"workflow": "refund", "baseline": "v3", "candidate": "v4", "verdict": "rollback",
                   "tests": [{"rule": "success_rate_drop", "status": "fired"}, {"rule": "x", "status": "ok"}]}],
        alerts=[{"created_at": "2026-11-25 11:00:00", "rule": "success_rate_drop", "group": {"workflow": "refund"},
                 "baseline_value": 0.9, "current_value": 0.5, "p_value": 0.001, "severity": "warning"}]))
    red = re.findall(r'fill="#dc2626" data-label="([^"]+)"', html)
    assert red == ["refund v4"]
    assert "<td>success_rate_drop</td></tr>" in html  # fired rules only
    assert '{"workflow": "refund"}' in html.replace("&quot;", '"') and ">0.001<" in html
