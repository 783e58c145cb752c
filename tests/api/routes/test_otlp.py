"""POST /v1/otlp/v1/traces: spans from the OpenTelemetry SDK's own OTLP/HTTP exporter arrive as contract events."""

from __future__ import annotations

import gzip

import orjson
from opentelemetry.exporter.otlp.proto.http import Compression

from tracelake.contract import TraceEvent, validate_event


def delivered_events(producer) -> list[TraceEvent]:
    assert producer.flush(10)
    out = []
    for record in producer.transport.delivered:
        event = validate_event(record.value)
        assert isinstance(event, TraceEvent), event
        assert record.key == event.run_id.encode()
        out.append(event)
    return out


def test_sdk_exporter_spans_arrive_as_contract_events(serve, settings, keys, memory_producer,
                                                      emit_agent_run) -> None:
    settings.api_keys_file = keys["path"]
    server = serve(settings, producer=memory_producer)
    trace_id = emit_agent_run(f"{server.url}/v1/otlp/v1/traces", keys["acme-ingest"])
    events = delivered_events(memory_producer)
    assert sorted(e.event_type for e in events) == ["llm_call", "run_finished", "run_started", "tool_call"]
    assert {(e.run_id, e.workflow, e.workflow_version, e.tenant) for e in events} == {
        (trace_id, "refund_request", "v7", "acme")}
    llm = next(e for e in events if e.event_type == "llm_call")
    assert (llm.model, llm.input_tokens, llm.output_tokens) == ("gpt-4o", 1450, 120)
    tool = next(e for e in events if e.event_type == "tool_call")
    assert tool.tool_name == "get_order" and tool.tool_args == {"order_id": "8812", "email": "dana@example.org"}
    assert tool.status == "error" and tool.error.type == "TimeoutError" and tool.success is False
    started = next(e for e in events if e.event_type == "run_started")
    assert llm.parent_span_id == tool.parent_span_id == started.span_id


def test_gzip_and_json_encoding_and_errors(serve, settings, keys, memory_producer, emit_agent_run) -> None:
    settings.api_keys_file = keys["path"]
    server = serve(settings, producer=memory_producer)
    emit_agent_run(f"{server.url}/v1/otlp/v1/traces", keys["acme-ingest"], compression=Compression.Gzip)
    assert len(delivered_events(memory_producer)) == 4
    span = {"traceId": "5b8aa5a2d2c872e8321cf37308d69df2", "spanId": "1e4a1f2c3d5e6f70",
            "parentSpanId": "051581bf3cb55c13", "name": "chat", "startTimeUnixNano": "1795000000000000000",
            "endTimeUnixNano": "1795000000250000000",
            "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}]}
    body = {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": [span]}]}]}
    with server.client(keys["acme-ingest"]) as c:
        r = c.post("/v1/otlp/v1/traces", content=gzip.compress(orjson.dumps(body)),
                   headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
        assert r.status_code == 200 and r.json() == {}
        tenant_attr = {"key": "tracelake.tenant", "value": {"stringValue": "globex"}}
        body["resourceSpans"][0]["resource"]["attributes"].append(tenant_attr)
        r = c.post("/v1/otlp/v1/traces", content=orjson.dumps(body), headers={"Content-Type": "application/json"})
        assert r.status_code == 403 and r.json()["error"]["errors"][0]["reason"] == "tenant: key is scoped to acme"
        r = c.post("/v1/otlp/v1/traces", content=b"{nope", headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
        r = c.post("/v1/otlp/v1/traces", content=b"\xff\xff", headers={"Content-Type": "application/x-protobuf"})
        assert r.status_code == 400
        r = c.post("/v1/otlp/v1/traces", content=b"x", headers={"Content-Type": "text/plain"})
        assert r.status_code == 400 and "Content-Type" in r.json()["error"]["message"]
    with server.client(keys["acme-read"]) as c:
        r = c.post("/v1/otlp/v1/traces", content=orjson.dumps(body), headers={"Content-Type": "application/json"})
        assert r.status_code == 403
