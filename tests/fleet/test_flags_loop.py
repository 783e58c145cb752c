"""The loop back, end to end: a bad canary's rollback verdict pins its workflow, and the fleet's agents, reading
flags through the SDK from a real API server, stop running the canary within one refresh (driven explicitly).
Also: the payment system's late confirmations make the canary's claimed successes visibly less real."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.api.conftest import ApiServer
from tests.queries.conftest import ingest
from tracelake.api.app import create_app
from tracelake.api.producer import EventProducer
from tracelake.fleet import Fleet, FleetConfig
from tracelake.fleet.payments import Payments
from tracelake.queries.alerts.canary import compare
from tracelake.queries.alerts.rules import load_rules
from tracelake.queries.flags_auto import FlagAutomation, apply_canary
from tracelake.queries.metrics import compute_metric
from tracelake.queries.timewin import Window
from tracelake.sdk import Client, FlagReader, HttpFlagSource
from tracelake.sdk.transport import MemoryTransport
from tracelake.settings import Settings

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
DAY = Window(NOW - timedelta(days=1), NOW)


def simulate(tmp_path: Path, fleet: Fleet, runs: int) -> list[dict[str, Any]]:
    transport = MemoryTransport()
    with Client(transport=transport, clock=fleet.clock, spool_dir=str(tmp_path / f"spool-{id(fleet)}")) as client:
        fleet.run(client, runs=runs)
        assert client.flush(10)
    return [orjson.loads(record.value) for record in transport.delivered]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("loop")
    fleet = Fleet(FleetConfig(now=NOW, seed=11, payments=Payments()))
    events = simulate(tmp, fleet, 1500)
    assert fleet.stats.confirmations["confirmed"] > 0 and fleet.stats.confirmations["reversed"] > 0
    where = tmp / "lake"
    summary = ingest(where, [orjson.dumps(e) for e in events], tmp)
    assert summary.rejected == 0
    return where


def test_the_verdict_rolls_back_and_the_fleet_obeys_within_one_refresh(lake: Path, tmp_path: Path) -> None:
    result = compare(lake, load_rules(None), workflow="refund_request", baseline="v3", candidate="v4", window=DAY,
                     tenant="acme")
    assert result["verdict"] == "rollback"
    settings = Settings(lake=lake, api_spool_dir=tmp_path / "api-spool")
    producer = EventProducer(None, settings.topic, settings.api_spool_dir, settings.api_spool_max_bytes,
                             transport=MemoryTransport())
    server = ApiServer(create_app(settings, producer=producer)).start()
    try:
        readers = {t: FlagReader(HttpFlagSource(server.url, tenant=t), ttl_s=3600) for t in ("acme", "globex")}
        assert all(reader.refresh() for reader in readers.values())
        before = Fleet(FleetConfig(now=NOW, seed=12, current_share=1.0), flags=readers)
        canary_runs = versions(simulate(tmp_path, before, 200))
        assert canary_runs["acme", "v4"] > 0  # no flag yet: the canary runs

        change = apply_canary(lake, FlagAutomation(canary_rollback="pin_version"), result, tenant="acme")
        assert change is not None and (change.flag.action, change.flag.version) == ("pin_version", "v3")
        assert change.flag.who == "alert:canary"

        stale = Fleet(FleetConfig(now=NOW, seed=13, current_share=1.0), flags=readers)
        assert versions(simulate(tmp_path, stale, 200))["acme", "v4"] > 0  # not refreshed: the last answer holds
        assert readers["acme"].refresh()  # one refresh
        after = Fleet(FleetConfig(now=NOW, seed=14, current_share=1.0), flags=readers)
        obeyed = versions(simulate(tmp_path, after, 200))
        assert obeyed["acme", "v4"] == 0 and obeyed["acme", "v3"] > 0 and after.stats.pinned > 0
        assert obeyed["globex", "v4"] > 0  # flags are per tenant: globex was not rolled back
    finally:
        server.stop()


def versions(events: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    """Runs of refund_request per (tenant, version)."""
    return Counter((e["tenant"], e["workflow_version"]) for e in events
                   if e["event_type"] == "run_started" and e["workflow"] == "refund_request")


def test_confirmed_outcomes_show_the_canary_claims_more_than_it_delivers(lake: Path) -> None:
    rows = {r["workflow_version"]: r for r in compute_metric(
        lake, "success_claim_gap", since=DAY.since - timedelta(days=2), until=DAY.until,
        where=[("workflow", "refund_request")])}
    assert rows["v4"]["reversed_claims"] / rows["v4"]["claimed_successes"] \
        > rows["v3"]["reversed_claims"] / rows["v3"]["claimed_successes"]
    confirmed = compute_metric(lake, "confirmed_success_rate", since=DAY.since - timedelta(days=7), until=DAY.until,
                               where=[("workflow", "refund_request")], group_by=())
    assert 0 < confirmed[0]["confirmed_successes"] < confirmed[0]["claimed_successes"]
