"""POST /v1/events over a real server: 202/207/422/403/413/400/429 and what reaches 'Kafka'."""

from __future__ import annotations

import orjson

from tracelake.api.producer import EventProducer
from tracelake.localkafka import free_port


def test_accepted_events_reach_the_producer_keyed_by_run(serve, settings, keys, memory_producer, event) -> None:
    settings.api_keys_file = keys["path"]
    server = serve(settings, producer=memory_producer)
    events = [event(f"e{i}", run_id=f"run-{i % 2}") for i in range(4)]
    with server.client(keys["acme-ingest"]) as c:
        r = c.post("/v1/events", content=b"\n".join(orjson.dumps(e) for e in events),
                   headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 202 and r.json() == {"accepted": 4, "event_ids": ["e0", "e1", "e2", "e3"]}
    assert memory_producer.flush(10)
    delivered = memory_producer.transport.delivered
    assert [(rec.key, orjson.loads(rec.value)["event_id"]) for rec in delivered] == [
        (b"run-0", "e0"), (b"run-1", "e1"), (b"run-0", "e2"), (b"run-1", "e3")]
    assert {orjson.loads(rec.value)["tenant"] for rec in delivered} == {"acme"}


def test_partial_all_invalid_tenant_and_malformed(serve, settings, keys, memory_producer, event) -> None:
    settings.api_keys_file = keys["path"]
    server = serve(settings, producer=memory_producer)
    with server.client(keys["acme-ingest"]) as c:
        r = c.post("/v1/events", content=orjson.dumps([event("ok"), event("bad", ts="yesterday")]))
        assert r.status_code == 207
        assert r.json()["accepted"] == 1 and r.json()["rejected"] == 1
        assert r.json()["errors"][0]["index"] == 1 and r.json()["errors"][0]["reason"].startswith("ts:")
        r = c.post("/v1/events", content=orjson.dumps([event("bad", event_type="llm_call")]))
        assert r.status_code == 422
        error = r.json()["error"]
        assert error["code"] == "invalid" and error["errors"] == [
            {"index": 0, "event_id": "bad", "reason": "model: required for event_type llm_call"}]
        r = c.post("/v1/events", content=orjson.dumps([event("x", tenant="globex")]))
        assert r.status_code == 403 and r.json()["error"]["errors"][0]["reason"] == "tenant: key is scoped to acme"
        for body in (b"", b"[{", b'{"a": 1}'[:0] + b"[1"):
            r = c.post("/v1/events", content=body)
            assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"


def test_size_limits(serve, settings, memory_producer, event) -> None:
    settings.api_max_body_bytes = 4096
    settings.max_event_bytes = 1024
    settings.api_max_events = 3
    server = serve(settings, producer=memory_producer)
    with server.client() as c:
        r = c.post("/v1/events", content=b"[" + b" " * 5000 + b"]", headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
        r = c.post("/v1/events", content=orjson.dumps([event("big", attributes={"x": "y" * 2000})]),
                   headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and r.json()["error"]["errors"][0]["reason"].startswith("too_large")
        r = c.post("/v1/events", content=orjson.dumps([event(f"e{i}") for i in range(4)]),
                   headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and "limit is 3" in r.json()["error"]["message"]

        def chunks():
            yield b"["
            yield b" " * 5000
            yield b"]"

        r = c.post("/v1/events", content=chunks(),
                   headers={"Content-Type": "application/json"})  # chunked, no Content-Length
        assert r.status_code == 413


def test_busy_when_kafka_is_down_and_the_spool_is_full(serve, settings, event, wait_until) -> None:
    # A broker address where nothing listens, a spool that holds a few events.
    producer = EventProducer(f"127.0.0.1:{free_port()}", settings.topic, settings.api_spool_dir, 4000,
                             send_timeout_s=0.5)
    server = serve(settings, producer=producer)
    statuses: list[int] = []
    with server.client() as c:
        def post_once() -> bool:
            r = c.post("/v1/events", content=orjson.dumps([event(f"e{len(statuses)}", attributes={"p": "x" * 300})]),
                       headers={"Content-Type": "application/json"})
            statuses.append(r.status_code)
            if r.status_code == 429:
                assert r.json()["error"]["code"] == "busy" and r.headers["retry-after"]
            return r.status_code == 429

        assert wait_until(post_once, timeout=60, interval=0.1)
    assert set(statuses) == {202, 429}
