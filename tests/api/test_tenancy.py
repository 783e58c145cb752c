"""A tenant-scoped key never sees another tenant's rows: metrics, run search, timelines, alerts, SQL."""

from __future__ import annotations

import pytest


@pytest.fixture
def two_tenants(serve, settings, keys, write_lake, agent_run):
    events = []
    for i in range(3):
        events += agent_run(f"acme-{i}", "acme", minute=i)
        events += agent_run(f"globex-{i}", "globex", outcome="failure", tool="wire_money", minute=10 + i)
    write_lake(settings.lake, events)
    settings.api_keys_file = keys["path"]
    return serve(settings), keys


def test_metrics_runs_and_timelines_are_scoped(two_tenants) -> None:
    server, keys = two_tenants
    with server.client(keys["acme-read"]) as c:
        rows = c.get("/v1/metrics/success_rate", params={"group_by": "tenant"}).json()["rows"]
        assert [(r["tenant"], r["runs"], r["success_rate"]) for r in rows] == [("acme", 3, 1.0)]
        rows = c.get("/v1/metrics/cost_attribution", params={"group_by": "tenant"}).json()["rows"]
        assert [r["tenant"] for r in rows] == ["acme"]
        assert {r["run_id"][:4] for r in c.get("/v1/runs").json()["rows"]} == {"acme"}
        assert c.get("/v1/runs", params={"tool_name": "wire_money"}).json()["rows"] == []
        assert c.get("/v1/runs/acme-1").status_code == 200
        r = c.get("/v1/runs/globex-1")  # exists, but not for this key: indistinguishable from absent
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        for path in ("/v1/metrics/success_rate", "/v1/runs"):
            r = c.get(path, params={"where": "tenant=globex"})
            assert r.status_code == 403
            assert r.json() == {"error": {"code": "forbidden", "message": "key acme-read may not read tenant globex"}}
    with server.client(keys["all-read"]) as c:
        rows = c.get("/v1/metrics/success_rate", params={"group_by": "tenant"}).json()["rows"]
        assert [(r["tenant"], r["success_rate"]) for r in rows] == [("acme", 1.0), ("globex", 0.0)]
        assert c.get("/v1/runs/globex-1").status_code == 200


def sql(client, statement: str):
    return client.post("/v1/sql", json={"sql": statement})


def test_sql_sees_only_the_tenant_and_cannot_escape(two_tenants, settings) -> None:
    server, keys = two_tenants
    lake = str(settings.lake)
    with server.client(keys["acme-read"]) as c:
        r = sql(c, "SELECT DISTINCT tenant FROM events")
        assert r.status_code == 200 and r.json() == {"columns": ["tenant"], "rows": [{"tenant": "acme"}],
                                                     "truncated": False}
        for statement in ("SELECT count(*) AS n FROM events WHERE tenant = 'globex' OR tenant IS NULL "
                          "OR run_id LIKE 'globex%'",
                          "SELECT count(*) AS n FROM runs WHERE run_id LIKE 'globex%'",
                          "SELECT count(*) AS n FROM tool_calls WHERE tool_name = 'wire_money'",
                          "SELECT count(*) AS n FROM (SELECT * FROM llm_calls UNION ALL SELECT * FROM llm_calls) "
                          "WHERE tenant <> 'acme'",
                          "SELECT count(*) AS n FROM dead_letters"):
            r = sql(c, statement)
            assert r.status_code == 200 and r.json()["rows"] == [{"n": 0}], (statement, r.text)
        escapes = [
            f"SELECT * FROM read_parquet('{lake}/events/*/*.parquet')",
            f"SELECT * FROM '{lake}/events/*/*.parquet'",
            f"SELECT * FROM parquet_scan('{lake}/events/**/*.parquet')",
            f"SELECT * FROM glob('{lake}/**')",
            "SELECT * FROM information_schema.tables",
            "SELECT * FROM duckdb_views()",
            "SELECT current_setting('allowed_directories')",
            f"WITH x AS (SELECT * FROM read_parquet('{lake}/events/*/*.parquet')) SELECT * FROM x",
            f"SELECT * FROM events UNION ALL SELECT * FROM read_parquet('{lake}/events/*/*.parquet')",
            f"ATTACH '{lake}/x.db' AS x",
            "SET lock_configuration = false",
            f"COPY (SELECT 1) TO '{lake}/out.csv'",
            "CREATE VIEW events2 AS SELECT 1",
            "SELECT 1; SELECT 2",
            "INSTALL httpfs",
            "PRAGMA database_list",
            "SELECT * FROM query('SELECT * FROM events')",
        ]
        for statement in escapes:
            r = sql(c, statement)
            assert r.status_code in (400, 422), (statement, r.status_code, r.text)
            assert r.json()["error"]["code"] in ("invalid", "bad_request") and "Traceback" not in r.text
        assert sql(c, f"SELECT * FROM read_parquet('{lake}/events/*/*.parquet')").status_code == 422
    with server.client(keys["all-read"]) as c:
        rows = sql(c, "SELECT tenant, count(*) AS n FROM runs GROUP BY tenant ORDER BY tenant").json()["rows"]
        assert rows == [{"tenant": "acme", "n": 3}, {"tenant": "globex", "n": 3}]


def test_ingest_keys_cannot_read(two_tenants) -> None:
    server, keys = two_tenants
    with server.client(keys["globex-ingest"]) as c:
        for r in (c.get("/v1/runs"), c.get("/v1/metrics/success_rate"), sql(c, "SELECT 1")):
            assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
