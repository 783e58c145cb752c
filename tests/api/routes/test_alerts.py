"""GET /v1/alerts (tenant-scoped stored alerts) and POST /v1/alerts/compare (canary verdict, admin only)."""

from __future__ import annotations

from datetime import UTC, datetime

from tracelake.queries.alerts.store import store_new
from tracelake.queries.engine import open_lake


def alert(rule: str, tenant: str | None, hour: int) -> dict:
    at = datetime(2026, 11, 24, hour, tzinfo=UTC)
    return {"alert_id": f"{rule}-{tenant}-{hour}", "rule": rule, "metric": "success_rate",
            "group": {"workflow": "refund_request", **({"tenant": tenant} if tenant else {})},
            "window_start": at, "window_end": at, "baseline_value": 0.9, "current_value": 0.5, "delta": -0.4,
            "p_value": 0.001, "n_baseline": 100, "n_current": 100, "severity": "critical", "created_at": at,
            "tenant": tenant}


def test_alerts_are_listed_per_tenant(serve, settings, keys) -> None:
    with open_lake(settings.lake) as con:
        store_new(settings.lake, con, [alert("success_rate_drop", "acme", 9), alert("success_rate_drop", "globex", 10),
                                       alert("new_tool_name", "acme", 11), alert("new_error_type", None, 12)])
    settings.api_keys_file = keys["path"]
    server = serve(settings)
    with server.client(keys["acme-read"]) as c:
        r = c.get("/v1/alerts")
        assert r.status_code == 200
        assert [a["alert_id"] for a in r.json()["rows"]] == ["new_tool_name-acme-11", "success_rate_drop-acme-9"]
        assert r.json()["rows"][0]["group"] == {"workflow": "refund_request", "tenant": "acme"}
        rows = c.get("/v1/alerts", params={"rule": "success_rate_drop"}).json()["rows"]
        assert [a["alert_id"] for a in rows] == ["success_rate_drop-acme-9"]
        assert c.get("/v1/alerts", params={"since": "2026-11-24T10:00:00Z"}).json()["rows"][0]["tenant"] == "acme"
        assert c.get("/v1/alerts", params={"since": "soon"}).status_code == 400
    with server.client(keys["all-read"]) as c:
        assert len(c.get("/v1/alerts").json()["rows"]) == 4


def test_compare_gives_the_cli_verdict_and_needs_admin(serve, settings, keys, write_lake, agent_run) -> None:
    events = []
    for i in range(40):
        events += agent_run(f"base-{i}", "acme", version="v3", minute=i % 60)
        events += agent_run(f"cand-{i}", "acme", version="v4", outcome="failure" if i % 2 else "success",
                            minute=i % 60)
    write_lake(settings.lake, events)
    settings.api_keys_file = keys["path"]
    server = serve(settings)
    body = {"workflow": "refund_request", "baseline": "v3", "candidate": "v4",
            "since": "2026-11-24T00:00:00Z", "until": "2026-11-25T00:00:00Z"}
    with server.client(keys["acme-read"]) as c:
        r = c.post("/v1/alerts/compare", json=body)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    with server.client(keys["acme-admin"]) as c:
        r = c.post("/v1/alerts/compare", json=body)
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["verdict"] == "rollback"
        fired = {t["rule"] for t in answer["tests"] if t["status"] == "fired"}
        assert "success_rate_drop" in fired
        r = c.post("/v1/alerts/compare", json={**body, "candidate": "v3"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
        r = c.post("/v1/alerts/compare", json={"workflow": "refund_request"})
        assert r.status_code == 400
    with server.client(keys["globex-read"]) as c:  # another tenant's admin would see no runs: hold
        assert c.post("/v1/alerts/compare", json=body).status_code == 403
