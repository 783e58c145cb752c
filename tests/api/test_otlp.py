"""OTLP → contract events, as pure functions: both encodings, the GenAI mapping, bad input."""

from __future__ import annotations

import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from tracelake.contract import Rejection, validate_object
from tracelake.transforms.otlp import OtlpError, OtlpMapping, decode_json, decode_protobuf, to_events

TRACE = "5b8aa5a2d2c872e8321cf37308d69df2"
ROOT, CHAT, TOOL = "051581bf3cb55c13", "5fb397be34d26b51", "1e4a1f2c3d5e6f70"
T0 = 1_795_000_000_000_000_000  # ns


def attr(key: str, value: object) -> dict:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": value}}


def json_request() -> dict:
    def span(span_id: str, parent: str | None, name: str, start: int, end: int, attrs: dict, status: int = 0,
             message: str = "") -> dict:
        out = {"traceId": TRACE, "spanId": span_id, "name": name, "kind": 1,
               "startTimeUnixNano": str(T0 + start), "endTimeUnixNano": str(T0 + end),
               "attributes": [attr(k, v) for k, v in attrs.items()], "status": {"code": status, "message": message}}
        if parent:
            out["parentSpanId"] = parent
        return out

    return {"resourceSpans": [{
        "resource": {"attributes": [attr("service.name", "refund-agent"), attr("service.version", "v7"),
                                    attr("tracelake.workflow", "refund_request")]},
        "scopeSpans": [{"scope": {"name": "langgraph"}, "spans": [
            span(CHAT, ROOT, "chat gpt-4o", 1_000_000, 251_000_000, {
                "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.system": "openai",
                "gen_ai.usage.input_tokens": 1450, "gen_ai.usage.output_tokens": 120, "custom.flag": True}),
            span(TOOL, ROOT, "execute_tool get_order", 300_000_000, 340_000_000, {
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_order",
                "gen_ai.tool.call.arguments": '{"order_id": "8812"}', "error.type": "TimeoutError"},
                status=2, message="upstream timed out"),
            span(ROOT, None, "invoke_agent refund", 0, 500_000_000, {
                "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner"}),
        ]}],
    }]}


def to_protobuf(request: dict) -> bytes:
    def kv(a: dict) -> KeyValue:
        value = a["value"]
        if "stringValue" in value:
            return KeyValue(key=a["key"], value=AnyValue(string_value=value["stringValue"]))
        if "boolValue" in value:
            return KeyValue(key=a["key"], value=AnyValue(bool_value=value["boolValue"]))
        return KeyValue(key=a["key"], value=AnyValue(int_value=int(value["intValue"])))

    rs = request["resourceSpans"][0]
    message = ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource={"attributes": [kv(a) for a in rs["resource"]["attributes"]]},
        scope_spans=[ScopeSpans(scope={"name": "langgraph"}, spans=[Span(
            trace_id=bytes.fromhex(s["traceId"]), span_id=bytes.fromhex(s["spanId"]),
            parent_span_id=bytes.fromhex(s.get("parentSpanId", "")), name=s["name"],
            start_time_unix_nano=int(s["startTimeUnixNano"]), end_time_unix_nano=int(s["endTimeUnixNano"]),
            attributes=[kv(a) for a in s["attributes"]],
            status=Status(code=s["status"]["code"], message=s["status"]["message"]),
        ) for s in rs["scopeSpans"][0]["spans"]])])])
    return message.SerializeToString()


def test_json_and_protobuf_decode_to_the_same_spans() -> None:
    request = json_request()
    assert decode_json(orjson.dumps(request)) == decode_protobuf(to_protobuf(request))


def test_genai_mapping() -> None:
    events = [e for _, e in to_events(decode_json(orjson.dumps(json_request())), OtlpMapping())]
    by_type = {e["event_type"]: e for e in events}
    assert [e["event_type"] for e in events] == ["llm_call", "tool_call", "run_started", "run_finished"]
    for e in events:
        assert isinstance(validate_object(e), Rejection) is False, e
        assert (e["run_id"], e["workflow"], e["workflow_version"]) == (TRACE, "refund_request", "v7")
    llm = by_type["llm_call"]
    assert (llm["model"], llm["provider"], llm["input_tokens"], llm["output_tokens"]) == ("gpt-4o", "openai", 1450, 120)
    assert llm["duration_ms"] == 250.0 and llm["parent_span_id"] == ROOT and llm["span_id"] == CHAT
    assert llm["attributes"]["custom.flag"] is True and "gen_ai.request.model" not in llm["attributes"]
    tool = by_type["tool_call"]
    assert (tool["tool_name"], tool["tool_args"], tool["success"], tool["status"]) == (
        "get_order", {"order_id": "8812"}, False, "error")
    assert tool["error"] == {"type": "TimeoutError", "message": "upstream timed out"}
    started, finished = by_type["run_started"], by_type["run_finished"]
    assert started["span_id"] == ROOT and started["agent"] == "planner"
    assert finished["outcome"] == "success" and finished["parent_span_id"] == ROOT
    assert finished["ts"] > started["ts"] and started["ts"].endswith("Z")
    assert len({e["event_id"] for e in events}) == 4  # stable ids: a re-export is the same events


def test_mapping_keys_are_configurable() -> None:
    request = json_request()
    request["resourceSpans"][0]["resource"]["attributes"].append(attr("session.id", "run-77"))
    mapping = OtlpMapping(workflow_keys=("service.name",), run_keys=("session.id",), version_keys=("nope",))
    events = [e for _, e in to_events(decode_json(orjson.dumps(request)), mapping)]
    assert {(e["workflow"], e["run_id"], e["workflow_version"]) for e in events} == {
        ("refund-agent", "run-77", "unversioned")}


@pytest.mark.parametrize("body", [
    b"[]", b"{bad", b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}', b'{"resourceSpans": 3}'])
def test_bad_json_is_one_error(body: bytes) -> None:
    with pytest.raises(OtlpError):
        decode_json(body)


def test_bad_protobuf_is_one_error() -> None:
    with pytest.raises(OtlpError):
        decode_protobuf(b"\xff\xff\xff not protobuf")


def test_a_root_call_nests_under_the_run_start_and_ids_sort_by_start() -> None:
    request = json_request()
    spans = request["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans[2]["attributes"] = [attr("gen_ai.operation.name", "chat"), attr("gen_ai.request.model", "m")]
    events = [e for _, e in to_events(decode_json(orjson.dumps(request)), OtlpMapping())]
    root_events = [e for e in events
                   if e["event_type"] in ("run_started", "run_finished") or e["span_id"].endswith("-call")]
    started, call, finished = sorted(root_events, key=lambda e: e["event_id"])
    assert (started["event_type"], call["event_type"], finished["event_type"]) == ("run_started", "llm_call",
                                                                                   "run_finished")
    assert call["parent_span_id"] == started["span_id"] == ROOT
    ids = sorted(e["event_id"] for e in events)
    assert ids[0] == started["event_id"] and ids[-1] == finished["event_id"]  # same ms: start sorts first
