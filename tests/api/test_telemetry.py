"""Prometheus export: latency by route template, ingest counters by entity type, lake redactions."""

from __future__ import annotations

import orjson
from prometheus_client import generate_latest

from tracelake.api.telemetry import ApiMetrics, IngestCountersCollector, LakeRedactionsCollector
from tracelake.ingest import metrics as ingest_metrics


def test_ingest_counters_and_lake_redactions(settings, write_lake, agent_run) -> None:
    counters = ingest_metrics.Counters()
    counters.inc(ingest_metrics.EVENTS_STORED, 7)
    counters.inc(ingest_metrics.REDACTIONS, 2, label="EMAIL_ADDRESS")
    counters.inc(ingest_metrics.REDACTIONS, 1, label="PERSON")
    write_lake(settings.lake, agent_run("r1", "acme"))
    registry = ApiMetrics()
    registry.add_collector(IngestCountersCollector(counters))
    registry.add_collector(LakeRedactionsCollector(settings.lake))
    text = generate_latest(registry.registry).decode()
    assert "tracelake_ingest_events_stored_total 7.0" in text
    assert 'tracelake_ingest_redactions_total{entity_type="EMAIL_ADDRESS"} 2.0' in text
    assert 'tracelake_lake_redactions{entity_type="EMAIL_ADDRESS"} 1.0' in text  # from the stored run
    assert 'tracelake_lake_redactions{entity_type="PERSON"} 1.0' in text


def test_latency_is_labelled_by_route_template(serve, settings, memory_producer, event) -> None:
    server = serve(settings, producer=memory_producer)
    with server.client() as c:
        for run in ("a", "b"):
            c.get(f"/v1/runs/{run}")
        c.post("/v1/events", content=orjson.dumps([event("e1")]), headers={"Content-Type": "application/json"})
        text = c.get("/metrics").text
    count = 'tracelake_api_request_duration_seconds_count{method="GET",route="/v1/runs/{run_id}",status="404"}'
    assert f"{count} 2.0" in text
    assert 'route="/v1/runs/a"' not in text
    assert 'tracelake_api_events_accepted_total{source="http"} 1.0' in text
