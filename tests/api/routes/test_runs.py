"""GET /v1/runs and /v1/runs/{run_id} over a lake written by the ingest chain (real redactor)."""

from __future__ import annotations


def test_search_filters_and_pages(serve, settings, write_lake, agent_run) -> None:
    events = []
    for i in range(7):
        events += agent_run(f"r{i}", "acme", outcome=None if i == 6 else ("failure" if i % 3 == 0 else "success"),
                            tool="refund" if i % 2 else "get_order", version="v4" if i >= 5 else "v3", minute=i)
    write_lake(settings.lake, events)
    server = serve(settings)
    with server.client() as c:
        seen, cursor, pages = [], None, 0
        while pages < 10:  # bounded: 7 runs in pages of 3 is 3 pages
            r = c.get("/v1/runs", params={"limit": 3, **({"cursor": cursor} if cursor else {})})
            assert r.status_code == 200, r.text
            seen += [row["run_id"] for row in r.json()["rows"]]
            cursor, pages = r.json()["next_cursor"], pages + 1
            if cursor is None:
                break
        assert seen == [f"r{i}" for i in range(6, -1, -1)] and pages == 3

        def ids(**params) -> list[str]:
            r = c.get("/v1/runs", params=params)
            assert r.status_code == 200, r.text
            return sorted(row["run_id"] for row in r.json()["rows"])

        assert ids(outcome="in_flight") == ["r6"]
        assert ids(outcome="failure") == ["r0", "r3"]
        assert ids(tool_name="refund") == ["r1", "r3", "r5"]
        assert ids(workflow_version="v4") == ["r5", "r6"]
        assert ids(where=["workflow=refund_request", "outcome=success"]) == ["r1", "r2", "r4", "r5"]
        assert ids(since="2026-11-24T10:02:00Z", until="2026-11-24T10:04:00Z") == ["r2", "r3"]
        row = c.get("/v1/runs", params={"outcome": "in_flight"}).json()["rows"][0]
        assert row["outcome"] is None and row["tenant"] == "acme" and row["started_at"] == "2026-11-24T10:06:00Z"
        for params in ({"since": "yesterday"}, {"outcome": "meh"}, {"cursor": "junk"}, {"limit": 0},
                       {"where": "nokey"}, {"where": "kafka_offset=1"}):
            r = c.get("/v1/runs", params=params)
            assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request", params


def test_timeline_is_redacted_in_order_and_nested(serve, settings, write_lake, agent_run) -> None:
    write_lake(settings.lake, agent_run("r1", "acme"))
    server = serve(settings)
    with server.client() as c:
        r = c.get("/v1/runs/r1")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["run"]["run_id"] == "r1" and body["run"]["outcome"] == "success"
        assert [e["event_type"] for e in body["events"]] == ["run_started", "llm_call", "tool_call", "run_finished"]
        started = body["events"][0]
        assert "Dana" not in started["input"] and "dana@example.org" not in started["input"]
        assert started["redactions"]["EMAIL_ADDRESS"] == 1 and started["ts"] == "2026-11-24T10:00:00Z"
        assert body["events"][2]["tool_args"] == {"order_id": "8812"}
        assert body["tree"] == [{"event_id": "r1-1", "children": [
            {"event_id": "r1-2", "children": [{"event_id": "r1-3", "children": []}]},
            {"event_id": "r1-4", "children": []}]}]
        r = c.get("/v1/runs/nope")
        assert r.status_code == 404 and r.json() == {"error": {"code": "not_found", "message": "no run 'nope'"}}
