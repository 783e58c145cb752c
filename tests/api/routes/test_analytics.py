"""GET /v1/metrics/{name} and POST /v1/sql answer what the analytics functions answer, errors as api.md says."""

from __future__ import annotations

from datetime import timedelta

import orjson

from tracelake.queries.engine import Limits
from tracelake.queries.metrics import PUBLIC_METRICS, compute_metric
from tracelake.queries.timewin import parse_time


def test_every_metric_has_the_rows_of_the_cli_code_path(serve, settings, write_lake, agent_run) -> None:
    events = []
    for i in range(4):
        events += agent_run(f"r{i}", "acme", outcome="failure" if i == 0 else "success", minute=i)
    write_lake(settings.lake, events)
    server = serve(settings)
    since, until = "2026-11-24T00:00:00Z", "2026-11-25T00:00:00Z"
    with server.client() as c:
        for name in PUBLIC_METRICS:
            r = c.get(f"/v1/metrics/{name}", params={"since": since, "until": until})
            assert r.status_code == 200, (name, r.text)
            expected = compute_metric(settings.lake, name, since=parse_time(since), until=parse_time(until),
                                      limits=Limits.from_settings(settings),
                                      run_horizon=timedelta(hours=settings.run_max_duration_h))
            assert r.json() == {"rows": orjson.loads(orjson.dumps(expected, option=orjson.OPT_UTC_Z))}, name
        rows = c.get("/v1/metrics/success_rate", params={"group_by": "workflow,tenant",
                                                         "where": ["workflow_version=v3"]}).json()["rows"]
        assert [(r["workflow"], r["tenant"], r["runs"], r["success_rate"]) for r in rows] == [
            ("refund_request", "acme", 4, 0.75)]
        r = c.get("/v1/metrics/no_such_metric")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        for params in ({"group_by": "kafka_offset"}, {"since": "2026-13-01"}, {"where": "x"},
                       {"since": until, "until": since}, {"where": "nope=1"}):
            r = c.get("/v1/metrics/success_rate", params=params)
            assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request", (params, r.text)


def test_sql_answers_errors_truncation_and_timeout(serve, settings, write_lake, agent_run) -> None:
    write_lake(settings.lake, agent_run("r1", "acme"))
    settings.sql_max_rows = 2
    server = serve(settings)
    with server.client() as c:
        r = c.post("/v1/sql", json={"sql": "SELECT event_type, ts FROM events ORDER BY ts"})
        assert r.status_code == 200
        assert r.json() == {"columns": ["event_type", "ts"], "truncated": True, "rows": [
            {"event_type": "run_started", "ts": "2026-11-24T10:00:00Z"},
            {"event_type": "llm_call", "ts": "2026-11-24T10:00:00.100000Z"}]}
        # What `curl -d` sends: with a key header (a browser must preflight it) fine; without, a cross-site
        # page could send the same, so local mode refuses it (tests/api/test_local_mode.py).
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        r = c.post("/v1/sql", content=b'{"sql": "SELECT 1 AS one"}', headers={**form, "X-API-Key": "any"})
        assert r.status_code == 200 and r.json()["rows"] == [{"one": 1}]
        r = c.post("/v1/sql", content=b'{"sql": "SELECT 1 AS one"}', headers=form)
        assert r.status_code == 400 and "Content-Type" in r.json()["error"]["message"]
        r = c.post("/v1/sql", json={"sql": "SELECT no_such_column FROM events"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
        r = c.post("/v1/sql", json={"sql": "DELETE FROM events"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid"
        for body in (b"{}", b"not json", b'{"sql": 5}', b"[]"):
            r = c.post("/v1/sql", content=body, headers={"Content-Type": "application/json"})
            assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request", body
        r = c.post("/v1/sql", json={"sql": "SELECT 170141183460469231731687303715884105727::HUGEINT AS big, "
                                           "INTERVAL 1 DAY AS i, 1.5::DECIMAL(4,2) AS d, '\\x00'::BLOB AS b"})
        assert r.status_code == 200, r.text
    settings.sql_timeout_s = 0.2
    slow = serve(settings)
    with slow.client() as c:
        r = c.post("/v1/sql", json={"sql": "SELECT count(*) FROM range(100000000000) a"})
        assert r.status_code == 504 and r.json()["error"]["code"] == "timeout"
