"""Spans → events: the fields every event shares, ids, and the dispatch to the kind mappers."""

from __future__ import annotations

from tests.transforms.otlp.spans import CHILD, ROOT, T0, TRACE, span
from tracelake.contract import Rejection, validate_object
from tracelake.transforms.otlp.attributes import SpanAttributes
from tracelake.transforms.otlp.mapping import common_fields, event_id, span_events, step_event, to_events
from tracelake.transforms.otlp.spans import OtlpMapping


def test_common_fields_from_span_then_resource_with_defaults_and_limits() -> None:
    attrs = SpanAttributes(span({"tracelake.tenant": "acme", "gen_ai.agent.name": "planner"},
                                resource={"tracelake.workflow": "w" * 200, "deployment.environment": "prod"}))
    common = common_fields(attrs, OtlpMapping())
    assert common == {"schema_version": "1", "run_id": TRACE, "workflow": "w" * 128,
                      "workflow_version": "unversioned", "tenant": "acme", "environment": "prod",
                      "agent": "planner"}
    assert attrs.used == {"tracelake.tenant", "gen_ai.agent.name"}  # the resource's keys are not the span's


def test_ids_are_stable_and_sort_by_start() -> None:
    early, late = span(start_ns=T0), span(start_ns=T0 + 1)
    assert event_id(early) == event_id(span(start_ns=T0)) and event_id(early) < event_id(late)
    assert event_id(span(start_ns=-1)).startswith(f"otlp-{TRACE}-{0:019d}-")


def test_a_step_carries_time_duration_status_and_error() -> None:
    step = step_event({"run_id": "r"}, span(end_ns=T0 - 1), {"type": "E"})
    assert step["duration_ms"] == 0 and step["status"] == "error" and step["error"] == {"type": "E"}
    assert step["parent_span_id"] == CHILD and step["ts"].endswith("Z")
    assert "parent_span_id" not in step_event({}, span(parent=None), None)


def test_a_child_span_is_one_valid_event_with_its_rest_attributes() -> None:
    [event] = span_events(span({"gen_ai.operation.name": "chat", "gen_ai.request.model": "m", "error.type": "E",
                                "keep": True}), OtlpMapping())
    assert event["event_type"] == "llm_call" and event["error"] == {"type": "E"} and event["status"] == "error"
    assert set(event["attributes"]) == {"keep", "otel.trace_id", "otel.span_name"}
    assert not isinstance(validate_object(event), Rejection)


def test_root_spans_map_to_two_or_three_valid_events() -> None:
    plain = span_events(span({"gen_ai.operation.name": "invoke_agent"}, parent=None), OtlpMapping())
    assert [e["event_type"] for e in plain] == ["run_started", "run_finished"]
    call = span_events(span({"gen_ai.operation.name": "execute_tool"}, parent=None), OtlpMapping())
    assert [e["event_type"] for e in call] == ["run_started", "tool_call", "run_finished"]
    assert call[1]["parent_span_id"] == ROOT and "attributes" not in call[1]
    for event in plain + call:
        assert not isinstance(validate_object(event), Rejection), event


def test_to_events_numbers_events_by_span() -> None:
    pairs = to_events([span(parent=None), span()], OtlpMapping())
    assert [(i, e["event_type"]) for i, e in pairs] == [(0, "run_started"), (0, "run_finished"), (1, "custom")]
