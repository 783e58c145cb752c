"""Reading attributes: what is consumed, what stays, and the small value helpers."""

from __future__ import annotations

from tests.transforms.otlp.spans import TRACE, span
from tracelake.transforms.otlp.attributes import SpanAttributes, count, iso_from_ns, json_or_text, span_error


def test_first_prefers_the_span_then_the_resource_and_consumes_only_the_span_key_that_answered() -> None:
    attrs = SpanAttributes(span({"a": "", "b": "span-b"}, resource={"a": "res-a", "c": "res-c"}))
    assert attrs.first(("a", "b")) == "res-a"  # an empty span value does not hide the resource's
    assert attrs.used == set()
    assert attrs.first(("x", "b")) == "span-b" and attrs.used == {"b"}
    assert attrs.first(("x", "y")) is None


def test_rest_keeps_what_was_not_consumed_and_says_where_the_span_came_from() -> None:
    attrs = SpanAttributes(span({"a": 1, "b": 2}, name="chat", scope="lib"))
    attrs.consume("a", "never-there")
    assert attrs.get("a") == 1  # reading does not consume
    assert attrs.rest() == {"b": 2, "otel.trace_id": TRACE, "otel.span_name": "chat", "otel.scope": "lib"}
    assert "otel.scope" not in SpanAttributes(span()).rest()


def test_iso_from_ns() -> None:
    assert iso_from_ns(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456Z"  # truncated to µs
    assert iso_from_ns(-5) == "1970-01-01T00:00:00.000000Z"


def test_json_or_text_and_count() -> None:
    assert json_or_text('{"a": 1}') == {"a": 1} and json_or_text("plain") == "plain" and json_or_text(3) == 3
    assert [count(v) for v in (5, "7", 0, -1, None, "x", [1])] == [5, 7, 0, None, None, None, None]


def test_span_error_sources_and_messages() -> None:
    assert span_error(span()) is None
    assert span_error(span(status_code=1, status_message="fine")) is None
    assert span_error(span(status_code=2)) == {"type": "error"}
    assert span_error(span({"error.type": "Timeout"}, status_message="slow")) == {"type": "Timeout", "message": "slow"}
    thrown = [("exception", {"exception.type": "KeyError", "exception.message": "k"})]
    assert span_error(span(events=thrown, status_code=2)) == {"type": "KeyError", "message": "k"}
    assert span_error(span({"error.type": "Own"}, events=thrown)) == {"type": "Own", "message": "k"}
    assert span_error(span(events=[("log", {"exception.type": "X"})])) is None  # only the exception event counts
