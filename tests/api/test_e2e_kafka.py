"""The whole path on real Kafka: HTTP (and OTLP) → API → Kafka → consumer → lake → GET /v1/runs/{id}.

Run on a local lake and on an ``s3://`` lake on the loopback S3 server (a real S3Proxy process): the API
reads the same answers from either.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka.admin import KafkaAdminClient, NewTopic

from tracelake.localkafka import LocalKafka
from tracelake.settings import Settings

pytestmark = pytest.mark.kafka


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def lake_location(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path | str:
    """A local lake directory, or an ``s3://`` lake in a fresh bucket (its AWS_* variables set for this test)."""
    if request.param == "local":
        return tmp_path / "lake"
    import uuid

    server = request.getfixturevalue("s3_server")
    bucket = f"e2e-{uuid.uuid4().hex[:10]}"
    server.create_bucket(bucket)
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    return f"s3://{bucket}/lake"


@pytest.fixture
def pipeline(kafka_broker: LocalKafka, topic: str, tmp_path: Path, redactor: Any, keys,
             lake_location: Path | str) -> Iterator[tuple]:
    """Settings for the API and an in-process consumer (real redactor) on a fresh topic."""
    from tracelake.ingest.backends.kafka import KafkaBackend
    from tracelake.ingest.consumer import Consumer, lake_resume
    from tracelake.ingest.pipeline import build_pipeline
    from tracelake.ingest.setup import make_parts
    from tracelake.lake.lake import Lake

    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
    try:
        admin.create_topics([NewTopic(topic, 3, 1)])
    finally:
        admin.close()
    settings = Settings(lake=lake_location, kafka_bootstrap=kafka_broker.bootstrap, topic=topic,
                        group=f"g-{topic}", batch_max_age_s=0.2, api_spool_dir=tmp_path / "spool",
                        api_keys_file=keys["path"])
    lake = Lake.from_settings(settings)
    parts = make_parts(settings, redactor=redactor, lake=lake)
    consumer = Consumer(KafkaBackend(kafka_broker.bootstrap, topic, settings.group),
                        lambda commit: build_pipeline(parts, commit), parts.counters, resume=lake_resume(lake))
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,), name="test-consumer", daemon=True)
    thread.start()
    try:
        yield settings, parts
    finally:
        stop.set()
        thread.join(60)


def test_http_events_reach_the_lake_and_come_back_as_a_redacted_timeline(pipeline, serve, keys, agent_run,
                                                                         wait_until) -> None:
    settings, parts = pipeline
    server = serve(settings, ingest_counters=parts.counters)
    events = agent_run("run-e2e", "acme")
    for e in events:
        e.pop("tenant")  # the key's tenant is filled in
    with server.client(keys["acme-ingest"]) as c:
        r = c.post("/v1/events", content=orjson.dumps(events))
        assert r.status_code == 202 and r.json()["accepted"] == 4
        ready = c.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["kafka"] == "reachable"
    with server.client(keys["acme-read"]) as c:
        timeline: dict = {}

        def stored() -> bool:
            r = c.get("/v1/runs/run-e2e")
            if r.status_code == 200 and len(r.json()["events"]) == 4:
                timeline.update(r.json())
                return True
            assert r.status_code == 404, r.text
            return False

        assert wait_until(stored, timeout=90, interval=0.2), "the run never reached the lake"
        assert timeline["run"]["tenant"] == "acme" and timeline["run"]["outcome"] == "success"
        assert [e["event_id"] for e in timeline["events"]] == ["run-e2e-1", "run-e2e-2", "run-e2e-3", "run-e2e-4"]
        text = orjson.dumps(timeline["events"]).decode()
        assert "dana@example.org" not in text and "Whitfield" not in text
        assert timeline["events"][0]["redactions"]["EMAIL_ADDRESS"] == 1
        assert timeline["tree"][0]["event_id"] == "run-e2e-1"
        assert [row["run_id"] for row in c.get("/v1/runs").json()["rows"]] == ["run-e2e"]
    with server.client(keys["globex-read"]) as c:
        assert c.get("/v1/runs/run-e2e").status_code == 404
    with server.client() as c:
        metrics = c.get("/metrics").text
    assert 'tracelake_api_events_accepted_total{source="http"} 4.0' in metrics
    assert 'tracelake_ingest_redactions_total{entity_type="EMAIL_ADDRESS"}' in metrics
    assert 'tracelake_api_request_duration_seconds_count{method="GET",route="/v1/runs/{run_id}"' in metrics
    lags: list[str] = []

    def lag_known() -> bool:  # the group coordinator may still be settling: poll
        with server.client() as c:
            text = c.get("/metrics").text
        lags[:] = [line for line in text.splitlines() if line.startswith("tracelake_ingest_consumer_lag{")]
        return len(lags) == 3

    assert wait_until(lag_known, timeout=30, interval=0.5)  # one gauge per partition
    assert all(float(line.split()[-1]) >= 0 for line in lags)


def test_otlp_spans_reach_the_lake(pipeline, serve, keys, emit_agent_run, wait_until) -> None:
    settings, _ = pipeline
    server = serve(settings)
    trace_id = emit_agent_run(f"{server.url}/v1/otlp/v1/traces", keys["acme-ingest"])
    with server.client(keys["acme-read"]) as c:
        timeline: dict = {}

        def stored() -> bool:
            r = c.get(f"/v1/runs/{trace_id}")
            if r.status_code == 200 and len(r.json()["events"]) == 4:
                timeline.update(r.json())
                return True
            return False

        assert wait_until(stored, timeout=90, interval=0.2), "the OTLP run never reached the lake"
    assert [e["event_type"] for e in timeline["events"]] == ["run_started", "llm_call", "tool_call", "run_finished"], \
        [(e["event_type"], e["ts"]) for e in timeline["events"]]
    assert timeline["run"]["workflow"] == "refund_request" and timeline["run"]["workflow_version"] == "v7"
    tool = timeline["events"][2]
    assert tool["tool_args"]["order_id"] == "8812" and "dana@example.org" not in orjson.dumps(tool).decode()
    assert timeline["tree"] == [{"event_id": timeline["events"][0]["event_id"], "children": [
        {"event_id": timeline["events"][1]["event_id"], "children": []},
        {"event_id": timeline["events"][2]["event_id"], "children": []},
        {"event_id": timeline["events"][3]["event_id"], "children": []}]}]
