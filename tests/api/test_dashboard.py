"""The dashboard pages against a live server: every panel from the lake, the same numbers as /v1, scoped by the key."""

from __future__ import annotations

import html as htmllib
import math
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.api.dashboard.kit import fleet_lake


@pytest.fixture(scope="module")
def fleet_settings(tmp_path_factory: pytest.TempPathFactory, redactor: Any) -> Any:
    """One lake for the module: 250 fleet runs (real redaction) and the alerts one evaluation stores."""
    from tracelake.settings import Settings

    root = tmp_path_factory.mktemp("fleet")
    stored = fleet_lake(root / "lake", root / "work", 250, redactor)
    assert stored >= 1  # the bad canary trips at least one rule
    return Settings(lake=root / "lake", api_spool_dir=root / "spool")


@pytest.fixture(scope="module")
def page(fleet_settings: Any) -> Iterator[tuple[str, Any]]:
    """The dashboard's HTML and the live server it came from (local mode: every tenant)."""
    from tests.api.conftest import ApiServer
    from tracelake.api.app import create_app

    server = ApiServer(create_app(fleet_settings)).start()
    try:
        with server.client() as c:
            r = c.get("/dashboard")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["content-security-policy"].startswith("default-src 'none'")  # no script may run
        yield r.text, server
    finally:
        server.stop()


def attrs(html: str, tag: str, css: str) -> list[dict[str, str]]:
    """The attributes of every ``<tag class="css…"`` (unescaped)."""
    out = []
    for match in re.finditer(rf'<{tag} class="{css}"([^>]*)>', html):
        out.append({k: htmllib.unescape(v) for k, v in re.findall(r'([\w-]+)="([^"]*)"', match.group(1))})
    return out


def metric(server: Any, name: str, **params: str) -> list[dict[str, Any]]:
    with server.client() as c:
        r = c.get(f"/v1/metrics/{name}", params=params)
    assert r.status_code == 200, r.text
    return r.json()["rows"]


def test_every_panel_has_data(page: tuple[str, Any]) -> None:
    html, _ = page
    for section in ("success", "cost", "ttsf", "reasons", "canaries", "alerts", "runs"):
        assert f"id={section}>" in html
    points = attrs(html, "circle", "point")
    assert len(points) >= 10 and {p["data-series"] for p in points} >= {"refund_request v3", "refund_request v4"}
    assert len(attrs(html, "g", "spread")) == 4  # time to safe fallback: one row per workflow
    assert len(re.findall(r'<rect class="bar" [^>]*data-label="[^"]*"', html)) >= 5 + 2  # cost bars, reasons
    assert "<span class='verdict rollback'>rollback</span>" in html  # the bad canary
    assert re.search(r'<rect class="bar" [^>]*fill="#dc2626" data-label="refund_request v4"', html)  # in red
    alerts = html.split("id=alerts>", 1)[1].split("</section>", 1)[0]
    assert alerts.count("<tr>") >= 2 and ">none<" not in alerts  # the stored alerts are listed
    run_list = html.split("id=runs>", 1)[1].split("</section>", 1)[0]  # the controls panel links runs too
    assert len(re.findall(r"href='/dashboard/runs/([^']+)'", run_list)) == 25
    assert "key=" not in html  # links carry no key (local mode needs none; with keys, the cookie carries it)


def test_the_numbers_are_the_apis(page: tuple[str, Any]) -> None:
    """Every chart value equals what /v1/metrics answers for the same window: nothing is defined twice."""
    html, server = page
    now = datetime.fromisoformat(re.search(r'data-now="([^"]+)"', html).group(1))  # type: ignore[union-attr]
    since = datetime.fromisoformat(re.search(r'data-since="([^"]+)"', html).group(1))  # type: ignore[union-attr]
    drawn = {(p["data-series"], p["data-label"]): float(p["data-value"]) for p in attrs(html, "circle", "point")}
    expected = {}
    for i in range(8):
        day = since + timedelta(days=i)
        for row in metric(server, "success_rate", since=day.isoformat(), until=min(day + timedelta(days=1),
                                                                                   now).isoformat()):
            if row["success_rate"] is not None:
                expected[(f"{row['workflow']} {row['workflow_version']}", f"{day:%m-%d}")] = row["success_rate"]
    assert drawn == pytest.approx(expected, rel=1e-12)  # DuckDB's parallel sums may differ in the last bit
    cost = metric(server, "cost_per_success", since=(now - timedelta(days=1)).isoformat(), until=now.isoformat())
    bars = {b["data-label"]: float(b["data-value"]) for b in attrs(html, "rect", "bar")}
    assert cost
    for row in cost:
        if row["cost_per_success"] is not None:
            assert bars[f"{row['workflow']} {row['workflow_version']}"] == pytest.approx(row["cost_per_success"],
                                                                                         rel=1e-12)
    ttsf = metric(server, "time_to_safe_fallback", group_by="workflow", since=since.isoformat(), until=now.isoformat())
    spreads = {s["data-label"]: s for s in attrs(html, "g", "spread")}
    assert set(spreads) == {row["workflow"] for row in ttsf}
    for row in ttsf:
        shown = spreads[row["workflow"]]
        assert (float(shown["data-p50"]), float(shown["data-p95"]), float(shown["data-max"]), int(shown["data-n"])) \
            == pytest.approx((row["p50_ms"], row["p95_ms"], row["max_ms"], row["runs"]), rel=1e-12)
    escalations = metric(server, "escalation_rate", group_by="workflow", since=since.isoformat(), until=now.isoformat())
    totals: dict[str, int] = {}
    for row in escalations:
        for reason, count in (row["reasons"] or {}).items():
            totals[reason] = totals.get(reason, 0) + count
    reasons = html.split("id=reasons>", 1)[1].split("</section>", 1)[0]
    assert {b["data-label"]: float(b["data-value"]) for b in attrs(reasons, "rect", "bar")} == totals


def test_a_run_opens_its_timeline(page: tuple[str, Any]) -> None:
    html, server = page
    run_id = re.findall(r"href='/dashboard/runs/([^']+)'", html)[0]
    with server.client() as c:
        timeline = c.get(f"/dashboard/runs/{run_id}")
        api = c.get(f"/v1/runs/{run_id}").json()
        missing = c.get("/dashboard/runs/no-such-run")
    assert timeline.status_code == 200
    assert timeline.text.count("<li class=event ") == len(api["events"]) >= 3
    assert timeline.text.count("<span class=wf ") == len(api["events"])  # each on the run's time axis
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_keys_scope_the_pages_and_the_sign_in_becomes_a_session(serve, settings, keys, write_lake,
                                                                agent_run) -> None:
    events = []
    for i in range(3):
        events += agent_run(f"acme-{i}", "acme", minute=i)
        events += agent_run(f"globex-{i}", "globex", outcome="failure", minute=10 + i)
    write_lake(settings.lake, events)
    settings.api_keys_file = keys["path"]
    settings.api_cookie_secure = False  # plain http in this test: the client keeps the cookie as a browser would
    server = serve(settings)
    same_origin = {"Origin": server.url, "Sec-Fetch-Site": "same-origin"}  # what the sign-in form's POST carries
    with server.client() as c:
        r = c.get("/dashboard")
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        assert c.post("/dashboard/signin", data={"key": "tlk_bogus"}, headers=same_origin).status_code == 401
        assert c.get("/dashboard", params={"key": keys["acme-read"]}).status_code == 400  # no sign-in by link
        r = c.post("/dashboard/signin", data={"key": keys["acme-read"]}, headers=same_origin)
        assert r.status_code == 303 and r.headers["location"] == "/dashboard"
        cookie = r.headers["set-cookie"]
        assert keys["acme-read"] not in cookie and cookie.startswith("tracelake_session=")
        assert all(flag in cookie.lower() for flag in ("httponly", "samesite=strict", "path=/dashboard"))
        html = c.get("/dashboard").text  # the client keeps the cookie, as a browser does
        assert "acme-1" in html and "globex" not in html and keys["acme-read"] not in html
        r = c.get("/dashboard/runs/globex-1")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        assert c.get("/dashboard/runs/acme-1").status_code == 200
        r = c.post("/dashboard/signin", data={"key": keys["acme-read"], "next": "/dashboard/runs/acme-1?x=1"},
                   headers=same_origin)
        assert r.status_code == 303 and r.headers["location"] == "/dashboard/runs/acme-1?x=1"
        assert c.get("/v1/runs").status_code == 401  # the cookie is the dashboard's only: /v1 wants a header
        r = c.post("/dashboard/signin", data={"key": keys["acme-ingest"]}, headers=same_origin)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    with httpx.Client(base_url=server.url, cookies={"tracelake_session": "v1.acme-read.99999999999.forged"}) as c:
        r = c.get("/dashboard")
        assert r.status_code == 401 and "Max-Age=0" in r.headers["set-cookie"]  # a stale cookie is cleared
    with server.client(keys["all-read"]) as c:
        both = c.get("/dashboard")
        assert both.status_code == 200 and "acme-1" in both.text and "globex-1" in both.text


def test_local_mode_ignores_a_key_and_an_empty_lake_renders(serve, settings) -> None:
    server = serve(settings)  # no keys file, no lake yet
    with server.client() as c:
        r = c.get("/dashboard", params={"key": "anything"})
    assert r.status_code == 200 and r.text.count("no data in this window") == 4
    assert "no workflow runs two versions" in r.text


def test_the_page_opens_one_connection_and_answers_as_each_question_alone(fleet_settings: Any,
                                                                           opened: list[Any]) -> None:
    """Every panel on the page's one connection equals the same question asked on its own connection, the
    canaries (each rule's metric asked once for all of them) equal to asking per version."""
    from types import SimpleNamespace

    from tests.queries.alerts.test_one_connection import reference_compare, rounded
    from tracelake.api.dashboard.data import RUNS, dashboard_data, history_start
    from tracelake.lake.lake import Lake
    from tracelake.queries import engine
    from tracelake.queries.alerts.canary import Canary
    from tracelake.queries.alerts.rules import load_rules
    from tracelake.queries.alerts.store import list_alerts
    from tracelake.queries.metrics import compute_metric
    from tracelake.queries.runs import Search, search_runs
    from tracelake.queries.timewin import Window

    lake = Lake.from_settings(fleet_settings)
    ctx = SimpleNamespace(settings=fleet_settings, lake=lake)
    now = datetime.now().astimezone()
    data = dashboard_data(ctx, None, now)  # type: ignore[arg-type]
    assert len(opened) == 1 and opened[0].tenant is None
    assert opened[0].window == Window(history_start(now) - timedelta(hours=24), now)

    day = now - timedelta(days=1)
    assert rounded(data["cost"]) == rounded(compute_metric(lake, "cost_per_success", since=day, until=now))
    assert rounded(data["ttsf"]) == rounded(compute_metric(lake, "time_to_safe_fallback", group_by=["workflow"],
                                                           since=data["since"], until=now))
    rules = load_rules(None)
    assert len(data["canaries"]) == 1  # the fleet rolls out one canary (refund_request v4)
    with engine.open_lake(lake, window=Window(day, now).widened(timedelta(hours=24))) as con:
        for verdict in data["canaries"]:  # as compare() asked it: every rule's metric per version, ungrouped
            canary = Canary(verdict["workflow"], verdict["baseline"], verdict["candidate"])
            assert rounded(verdict) == rounded(reference_compare(con, rules, canary, Window(day, now)))
    with engine.open_lake(lake) as every_day:  # the run and alert lists as a connection over every partition has them
        expected = search_runs(every_day, Search(limit=RUNS))[0]
        # Sums of floats over another set of files come out in another order: equal to the last digit or so.
        diffs = [(i, k, a[k], b.get(k)) for i, (a, b) in enumerate(zip(data["runs"], expected, strict=True))
                 for k in a if a[k] != b.get(k)
                 and not (isinstance(a[k], float) and math.isclose(a[k], b[k], rel_tol=1e-9))]
        assert not diffs and len(data["runs"]) == RUNS
        assert data["alerts"] == list_alerts(every_day, limit=20) and data["alerts"]

    del opened[:]
    quiet = dashboard_data(ctx, "no-such-tenant", now)  # type: ignore[arg-type]
    assert quiet["runs"] == [] and quiet["cost"] == []
    assert len(opened) == 2 and opened[1].window is None  # fewer than RUNS runs in 8 days: older ones looked up
