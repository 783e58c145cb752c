"""Protobuf ExportTraceServiceRequest → spans: every AnyValue kind, and garbage as one OtlpError."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from tracelake.transforms.otlp.decode_protobuf import attributes, decode_protobuf
from tracelake.transforms.otlp.spans import OtlpError


def test_every_value_kind() -> None:
    items = [
        KeyValue(key="s", value=AnyValue(string_value="x")),
        KeyValue(key="i", value=AnyValue(int_value=-4)),
        KeyValue(key="b", value=AnyValue(bytes_value=b"\x0a\x0b")),
        KeyValue(key="a", value=AnyValue(array_value=ArrayValue(values=[AnyValue(bool_value=True)]))),
        KeyValue(key="k", value=AnyValue(kvlist_value=KeyValueList(values=[
            KeyValue(key="d", value=AnyValue(double_value=0.5))]))),
        KeyValue(key="unset", value=AnyValue()),
    ]
    assert attributes(items) == {"s": "x", "i": -4, "b": "0a0b", "a": [True], "k": {"d": 0.5}, "unset": None}


def test_spans_keep_request_order_resource_and_scope() -> None:
    spans = [Span(trace_id=bytes(range(16)), span_id=bytes([i] * 8), parent_span_id=b"" if i == 1 else b"\x01" * 8,
                  name=f"s{i}", start_time_unix_nano=i, end_time_unix_nano=i + 1,
                  status=Status(code=Status.STATUS_CODE_ERROR if i == 2 else Status.STATUS_CODE_UNSET, message="m"),
                  events=[Span.Event(name="exception")]) for i in (1, 2)]
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource={"attributes": [KeyValue(key="service.name", value=AnyValue(string_value="svc"))]},
        scope_spans=[ScopeSpans(scope={"name": ""}, spans=spans)])])
    first, second = decode_protobuf(request.SerializeToString())
    assert first.is_root and second.parent_span_id == "01" * 8 and second.status_code == 2
    assert (first.name, first.start_ns, first.end_ns, first.trace_id) == ("s1", 1, 2, bytes(range(16)).hex())
    assert first.resource == {"service.name": "svc"} and first.scope is None and first.events == [("exception", {})]


def test_garbage_is_one_error() -> None:
    with pytest.raises(OtlpError, match="not an OTLP ExportTraceServiceRequest protobuf"):
        decode_protobuf(b"\xff\xff\xff not protobuf")
    assert decode_protobuf(b"") == []
