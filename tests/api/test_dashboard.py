"""The dashboard pages: rendered from the lake, scoped by the key exactly like /v1."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from tracelake.fleet import Fleet, FleetConfig
from tracelake.sdk import Client
from tracelake.sdk.transport import MemoryTransport


def fleet_events(tmp_path: Path, runs: int) -> list[dict[str, Any]]:
    """A fleet's traffic ending now (so the dashboard's day windows hold it)."""
    fleet = Fleet(FleetConfig(seed=5))
    transport = MemoryTransport()
    with Client(transport=transport, clock=fleet.clock, spool_dir=str(tmp_path / "fleet-spool")) as client:
        fleet.run(client, runs=runs)
        assert client.flush(10)
    return [orjson.loads(r.value) for r in transport.delivered]


@pytest.fixture
def fleet_lake(settings, write_lake, tmp_path):
    write_lake(settings.lake, fleet_events(tmp_path, 250))
    return settings


def test_dashboard_shows_every_panel_with_data(fleet_lake, serve) -> None:
    server = serve(fleet_lake)
    with server.client() as c:
        r = c.get("/dashboard")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    for section in ("success", "cost", "ttsf", "reasons", "canaries", "alerts", "runs"):
        assert f"id={section}>" in html
    assert len(re.findall(r'<circle class="point"', html)) >= 10  # success rate per day per version
    assert len(re.findall(r'<rect class="bar"', html)) >= 8
    assert "refund_request v4" in html  # the canary version is on the charts
    assert "Dana" not in html and "@example" not in html  # the pages show redacted data only
    links = re.findall(r"href='/dashboard/runs/([^']+)'", html)
    assert len(links) == 25
    with server.client() as c:
        page = c.get(f"/dashboard/runs/{links[0]}")
    assert page.status_code == 200 and page.text.count("class=event") >= 3


def test_dashboard_is_tenant_scoped_and_needs_a_readable_key(serve, settings, keys, write_lake, agent_run) -> None:
    events = []
    for i in range(3):
        events += agent_run(f"acme-{i}", "acme", minute=i)
        events += agent_run(f"globex-{i}", "globex", outcome="failure", minute=10 + i)
    write_lake(settings.lake, events)
    settings.api_keys_file = keys["path"]
    server = serve(settings)
    with server.client() as c:
        assert c.get("/dashboard").json()["error"]["code"] == "unauthorized"
        html = c.get("/dashboard", params={"key": keys["acme-read"]}).text
        assert "acme-1" in html and "globex" not in html
        assert f"/dashboard/runs/acme-0?key={keys['acme-read']}" in html  # links keep the key
        r = c.get("/dashboard/runs/globex-1", params={"key": keys["acme-read"]})
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        assert c.get("/dashboard/runs/acme-1", params={"key": keys["acme-read"]}).status_code == 200
        r = c.get("/dashboard", params={"key": keys["acme-ingest"]})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        both = c.get("/dashboard", headers={"Authorization": f"Bearer {keys['all-read']}"}).text
        assert "acme-1" in both and "globex-1" in both
