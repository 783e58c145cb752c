"""OTLP/JSON bodies → spans: spellings, value kinds, and every wrong shape as one OtlpError."""

from __future__ import annotations

import base64

import orjson
import pytest

from tracelake.errors import UserError
from tracelake.transforms.otlp.decode_json import attributes, decode_json, span_id, status_code, value
from tracelake.transforms.otlp.spans import OtlpError

TRACE, SPAN = "AB" * 16, "cd" * 8


def body(span: dict, resource: list | None = None) -> bytes:
    return orjson.dumps({"resourceSpans": [{"resource": {"attributes": resource or []},
                                            "scopeSpans": [{"scope": {"name": "lib"}, "spans": [span]}]}]})


def test_a_span_decodes_with_ids_lowercased_times_and_status() -> None:
    [span] = decode_json(body({"traceId": TRACE, "spanId": SPAN, "name": "chat", "startTimeUnixNano": "5",
                               "endTimeUnixNano": "9", "status": {"code": "STATUS_CODE_ERROR", "message": "x"},
                               "events": [{"name": "exception", "attributes": [
                                   {"key": "exception.type", "value": {"stringValue": "E"}}]}]},
                              resource=[{"key": "service.name", "value": {"stringValue": "svc"}}]))
    assert (span.trace_id, span.span_id, span.parent_span_id) == (TRACE.lower(), SPAN, None)
    assert (span.start_ns, span.end_ns, span.status_code, span.status_message) == (5, 9, 2, "x")
    assert span.resource == {"service.name": "svc"} and span.scope == "lib" and span.is_root
    assert span.events == [("exception", {"exception.type": "E"})]


def test_snake_case_keys_are_tolerated() -> None:
    raw = orjson.dumps({"resource_spans": [{"scope_spans": [{"spans": [
        {"trace_id": TRACE, "span_id": SPAN, "parent_span_id": SPAN, "start_time_unix_nano": 7}]}]}]})
    [span] = decode_json(raw)
    assert span.parent_span_id == SPAN and span.start_ns == 7 and not span.is_root


def test_every_value_kind() -> None:
    assert value({"stringValue": "s"}) == "s" and value({"boolValue": False}) is False
    assert value({"intValue": "9007199254740993"}) == 9007199254740993  # int64 as a string, exact
    assert value({"doubleValue": 1.5}) == 1.5
    assert value({"bytesValue": base64.b64encode(b"\x01\xff").decode()}) == "01ff"
    assert value({"arrayValue": {"values": [{"intValue": "1"}, {"stringValue": "a"}]}}) == [1, "a"]
    assert value({"kvlistValue": {"values": [{"key": "k", "value": {"boolValue": True}}]}}) == {"k": True}
    assert value({"arrayValue": None}) == [] and value({}) is None and value(None) is None and value(3) == 3


def test_status_codes_by_number_or_name() -> None:
    assert [status_code(c) for c in (0, 2, "STATUS_CODE_OK", "STATUS_CODE_ERROR", "2", "nonsense")] == [
        0, 2, 1, 2, 0, 0]  # a string is read as a name only


def test_ids() -> None:
    assert span_id(None, 8) is None and span_id("", 8) is None and span_id("ABCDEF0123456789", 8) == "abcdef0123456789"
    for bad, message in ((5, "hex strings"), ("zz" * 8, "is not hex"), ("ab", "must be 8 bytes")):
        with pytest.raises(OtlpError, match=message):
            span_id(bad, 8)


def test_attributes_must_be_an_array_of_keyed_objects() -> None:
    assert attributes([{"key": "a"}]) == {"a": None}
    for bad in ({"a": 1}, [1], [{"key": 3, "value": {}}]):
        with pytest.raises(OtlpError):
            attributes(bad)


@pytest.mark.parametrize(("raw", "message"), [
    (b"{nope", "not valid JSON"),
    (b"[]", "must be an object with resourceSpans"),
    (b'{"resourceSpans": 3}', "not an OTLP trace export request"),
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{}]}]}]}', "every span needs traceId and spanId"),
    (body({"traceId": TRACE, "spanId": SPAN, "startTimeUnixNano": "soon"}), "not an OTLP trace export request"),
    (body({"traceId": TRACE, "spanId": SPAN, "attributes": [{"key": "b", "value": {"bytesValue": "a"}}]}),
     "not an OTLP trace export request"),
])
def test_a_wrong_shape_is_one_user_error(raw: bytes, message: str) -> None:
    with pytest.raises(OtlpError, match=message) as caught:
        decode_json(raw)
    assert isinstance(caught.value, UserError) and caught.value.status == 400
    assert "\n" not in str(caught.value)


def test_an_empty_request_has_no_spans() -> None:
    assert decode_json(b"{}") == [] and decode_json(b'{"resourceSpans": null}') == []
