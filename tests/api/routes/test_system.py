"""/healthz, /readyz (503 with the failed checks), the JSON 404/405, and OpenAPI at /docs."""

from __future__ import annotations

from pathlib import Path

import orjson

from tracelake.localkafka import free_port


def test_ready_and_not_ready(serve, settings, memory_producer, tmp_path: Path) -> None:
    server = serve(settings, producer=memory_producer)
    with server.client() as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        assert c.get("/readyz").json()["checks"]["lake"] == "empty (not created yet)"
        assert c.get("/docs").status_code == 200 and "/v1/events" in c.get("/openapi.json").json()["paths"]
        r = c.get("/v2/anything")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        r = c.delete("/v1/runs")
        assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    settings.lake = tmp_path / "no" / "such" / "lake"
    settings.kafka_bootstrap = f"127.0.0.1:{free_port()}"
    broken = serve(settings, producer=memory_producer)
    with broken.client() as c:
        r = c.get("/readyz")
        assert r.status_code == 503
        error = r.json()["error"]
        assert error["code"] == "unavailable" and error["checks"]["kafka"].startswith("cannot connect")
        assert "does not exist" in error["checks"]["lake"]


def test_large_batches_are_validated_off_the_event_loop(serve, settings, memory_producer, event) -> None:
    server = serve(settings, producer=memory_producer)
    with server.client() as c:
        r = c.post("/v1/events", content=orjson.dumps([event(f"e{i}") for i in range(500)] + [{"x": 1}]),
                   headers={"Content-Type": "application/json"})
        assert r.status_code == 207 and r.json()["accepted"] == 500 and r.json()["errors"][0]["index"] == 500


def test_metrics_answer_fast_while_kafka_is_down(serve, settings, memory_producer, monkeypatch) -> None:
    import kafka

    from tracelake.api import producer

    # Fast means: one TCP connect refused, never the admin client and its request timeouts.
    probes: list[tuple[str, bool]] = []
    admins: list[object] = []
    reachable = producer.kafka_reachable

    def probe(bootstrap: str, timeout_s: float = 1.0) -> bool:
        probes.append((bootstrap, answer := reachable(bootstrap, timeout_s)))
        return answer

    monkeypatch.setattr(producer, "kafka_reachable", probe)
    monkeypatch.setattr(kafka, "KafkaAdminClient", lambda *a, **k: admins.append(k))  # errors there are swallowed
    settings.kafka_bootstrap = f"127.0.0.1:{free_port()}"
    server = serve(settings, producer=memory_producer)
    with server.client() as c:
        r = c.get("/metrics")
        assert r.status_code == 200
        assert "tracelake_ingest_consumer_lag{" not in r.text  # unknown, not a made-up 0
    assert (settings.kafka_bootstrap, False) in probes and admins == []
