"""OTLP ingest off the event loop, with its size and span-count limits checked before the costly work.

Against a real uvicorn server: while a large OTLP body is decoded, mapped and
validated, in a worker process, ``/healthz`` keeps answering (the work is held
at a gate until the test has its answer, so nothing depends on speed); a body
with more spans than the limit is a ``413`` counted in spans, before the mapping.
How fast is a figure for docs/security.md, not an assertion here.
"""

from __future__ import annotations

import base64
import gzip
import os
import threading
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.api.otlp_gate import Gate
from tests.helpers import wait_until
from tracelake.api.routes import otlp as otlp_route

JSON = {"Content-Type": "application/json"}
PROTOBUF = {"Content-Type": "application/x-protobuf"}


def otlp_json(spans: int, pad: int = 100) -> dict[str, Any]:
    """An OTLP/JSON request: ``spans`` spans in traces of 50 (the first of each the root); chat spans with ``pad``."""
    def span(i: int) -> dict[str, Any]:
        root = (i // 50) * 50
        return {"traceId": f"{i // 50 + 1:032x}", "spanId": f"{i + 1:016x}",
                "parentSpanId": f"{root + 1:016x}" if i != root else "", "name": "chat",
                "startTimeUnixNano": str(1795000000000000000 + i * 1000),
                "endTimeUnixNano": str(1795000000000000000 + i * 1000 + 500),
                "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                               {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                               {"key": "pad", "value": {"stringValue": "x" * pad}}] if pad else []}

    return {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name",
                                                            "value": {"stringValue": "svc"}}]},
                               "scopeSpans": [{"spans": [span(i) for i in range(spans)]}]}]}


def otlp_protobuf(request: dict[str, Any]) -> bytes:
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    for resource_spans in request["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                for name in ("traceId", "spanId", "parentSpanId"):  # protobuf's JSON mapping: ids in base64
                    span[name] = base64.b64encode(bytes.fromhex(span[name])).decode()
    return json_format.ParseDict(request, ExportTraceServiceRequest()).SerializeToString()  # type: ignore[no-any-return]


def gated(monkeypatch: pytest.MonkeyPatch, directory: Path) -> Gate:
    """The route's ``ingest_otlp`` behind a :class:`Gate`; the worker processes, spawned with this process's
    ``sys.path``, find its module under the repository root."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2]))
    gate = Gate(directory)
    monkeypatch.setattr(otlp_route, "ingest_otlp", gate)
    return gate


def healthz_while_held(server: Any, gate: Gate, post: threading.Thread) -> int:
    """Wait for the OTLP work to reach ``gate``; then ``/healthz`` must answer while it is held there. The pid
    the work ran in; the gate is released in any case."""
    try:
        assert wait_until(lambda: gate.reached_in() is not None or not post.is_alive(), 120)
        pid = gate.reached_in()
        assert pid is not None, "the OTLP request ended without reaching ingest_otlp"
        with httpx.Client(base_url=server.url, timeout=30) as c:  # a hang guard, not a latency bound
            assert c.get("/healthz").status_code == 200
        return pid
    finally:
        gate.release()


def post_in_thread(server: Any, body: bytes, headers: dict[str, str]) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def post() -> None:
        with httpx.Client(base_url=server.url, timeout=120) as c:
            out["answer"] = c.post("/v1/otlp/v1/traces", content=body, headers=headers)

    thread = threading.Thread(target=post, name="otlp-post")
    thread.start()
    return thread, out


def test_healthz_answers_while_a_large_otlp_body_is_processed(serve, settings, memory_producer, monkeypatch,
                                                               tmp_path: Path) -> None:
    gate = gated(monkeypatch, tmp_path)
    server = serve(settings, producer=memory_producer)
    body = orjson.dumps(otlp_json(9_000))  # under the 10 000 events limit: ~1 s of decode, mapping, validation
    assert len(body) >= otlp_route.PROCESS_BYTES
    thread, out = post_in_thread(server, body, JSON)
    # Off the loop and out of the server's process (a parse there would hold its GIL): /healthz answers meanwhile.
    assert healthz_while_held(server, gate, thread) != os.getpid()
    thread.join(120)
    assert out["answer"].status_code == 200, out["answer"].text
    assert memory_producer.flush(30) and len(memory_producer.transport.delivered) >= 9_000  # the real work ran


@pytest.mark.parametrize("encoding", ["json", "protobuf"])
def test_over_the_span_limit_is_413_before_the_mapping(serve, settings, memory_producer,
                                                       encoding) -> None:
    settings.api_max_events = 1_000
    server = serve(settings, producer=memory_producer)
    request = otlp_json(5_000, pad=0)
    body, headers = (orjson.dumps(request), JSON) if encoding == "json" else (otlp_protobuf(request), PROTOBUF)
    with server.client() as c:
        r = c.post("/v1/otlp/v1/traces", content=body, headers=headers)
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
        # Counted in spans: refused by the count before the mapping (after it, the count is of events: 5100).
        assert r.json()["error"]["message"] == "5000 spans in one request; the limit is 1000"
        r = c.post("/v1/otlp/v1/traces", content=gzip.compress(body), headers={**headers, "Content-Encoding": "gzip"})
        assert r.status_code == 413 and "5000 spans" in r.json()["error"]["message"]
    assert memory_producer.flush(10) and memory_producer.transport.delivered == []


def test_the_issues_body_is_refused_by_its_span_count_and_healthz_stays_up(serve, settings, memory_producer,
                                                                           monkeypatch, tmp_path: Path) -> None:
    """The report's case: ~15 MB of OTLP/JSON with 65 000 spans (over the 10 000 limit); it stalled the loop 2.6 s."""
    gate = gated(monkeypatch, tmp_path)
    server = serve(settings, producer=memory_producer)
    body = orjson.dumps(otlp_json(65_000, pad=0))
    assert 10_000_000 < len(body) < settings.api_max_body_bytes
    thread, out = post_in_thread(server, body, JSON)
    assert healthz_while_held(server, gate, thread) != os.getpid()  # parsed in a worker process, off the loop
    thread.join(120)
    assert out["answer"].status_code == 413, out["answer"].text
    # Counted in spans, right after the parse: refused before any span was decoded or mapped.
    assert out["answer"].json()["error"]["message"] == "65000 spans in one request; the limit is 10000"
    assert memory_producer.flush(10) and memory_producer.transport.delivered == []


def test_body_size_is_checked_before_the_body_is_read(serve, settings, memory_producer) -> None:
    settings.api_max_body_bytes = 10_000
    server = serve(settings, producer=memory_producer)
    body = orjson.dumps(otlp_json(100))
    assert len(body) > 10_000
    with server.client() as c:
        r = c.post("/v1/otlp/v1/traces", content=body, headers=JSON)  # Content-Length says it
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
        r = c.post("/v1/otlp/v1/traces", content=iter([body[:5000], body[5000:]]), headers=JSON)  # chunked
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
        bomb = gzip.compress(b'{"resourceSpans": [' + b" " * 1_000_000 + b"]}")
        r = c.post("/v1/otlp/v1/traces", content=bomb, headers={**JSON, "Content-Encoding": "gzip"})
        assert r.status_code == 413 and "decompressed" in r.json()["error"]["message"]
