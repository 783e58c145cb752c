"""One mapper per span kind: LLM call, tool call, custom, and the root span as the run."""

from __future__ import annotations

import pytest

from tests.transforms.otlp.spans import CHILD, ROOT, span
from tracelake.transforms.otlp.attributes import SpanAttributes
from tracelake.transforms.otlp.kinds import custom, llm_call, mapper_for, run_events, tool_call


@pytest.mark.parametrize(("operation", "parent", "expected"), [
    ("chat", CHILD, llm_call), ("text_completion", None, llm_call), ("generate_content", CHILD, llm_call),
    ("execute_tool", CHILD, tool_call), ("invoke_agent", CHILD, custom), (None, CHILD, custom),
    (["chat"], CHILD, custom),  # an array value is no operation name (and no crash)
    ("invoke_agent", None, None), (None, None, None),
])
def test_mapper_by_operation_and_place(operation: object, parent: str | None, expected: object) -> None:
    attrs = SpanAttributes(span({"gen_ai.operation.name": operation}, parent=parent))
    assert mapper_for(attrs) is expected


def test_llm_call_fields_and_consumed_keys() -> None:
    attrs = SpanAttributes(span({"gen_ai.request.model": "", "gen_ai.response.model": "m-2",
                                 "gen_ai.system": "openai", "gen_ai.usage.input_tokens": "12",
                                 "gen_ai.usage.output_tokens": -1, "gen_ai.usage.cache_read.input_tokens": 4,
                                 "other": 1}))
    step = llm_call({}, attrs, None)
    assert step == {"event_type": "llm_call", "model": "m-2", "provider": "openai", "input_tokens": 12,
                    "cached_input_tokens": 4}
    assert set(attrs.rest()) == {"other", "otel.trace_id", "otel.span_name"}
    assert llm_call({}, SpanAttributes(span()), None) == {"event_type": "llm_call", "model": "unknown"}


def test_tool_call_arguments_result_and_success() -> None:
    attrs = SpanAttributes(span({"gen_ai.tool.name": "get_order", "gen_ai.tool.call.arguments": '{"id": 1}',
                                 "gen_ai.tool.call.result": "done"}))
    assert tool_call({}, attrs, None) == {"event_type": "tool_call", "tool_name": "get_order",
                                          "tool_args": {"id": 1}, "tool_result": "done", "success": True}
    assert set(attrs.rest()) == {"otel.trace_id", "otel.span_name"}
    failed = tool_call({}, SpanAttributes(span({"gen_ai.tool.call.arguments": "[1, 2]"}, name="lookup")),
                       {"type": "E"})
    assert failed == {"event_type": "tool_call", "tool_name": "lookup", "tool_args": {"arguments": [1, 2]},
                      "success": False}


def test_custom_is_named_by_operation_then_span_name() -> None:
    assert custom({}, SpanAttributes(span({"gen_ai.operation.name": "invoke_agent"})), None)["name"] == "invoke_agent"
    assert custom({}, SpanAttributes(span(name="")), None) == {"event_type": "custom", "name": "span"}


def test_a_root_span_is_the_runs_start_and_finish() -> None:
    attrs = SpanAttributes(span({"x": 1}, parent=None))
    started, finished = run_events({"run_id": "r"}, attrs, None, "base", None)
    assert started["event_type"] == "run_started" and started["event_id"] == "base-0-start"
    assert started["span_id"] == ROOT and started["attributes"]["x"] == 1 and "duration_ms" not in started
    assert (finished["event_type"], finished["outcome"], finished["status"]) == ("run_finished", "success", "ok")
    assert finished["parent_span_id"] == ROOT and finished["ts"] > started["ts"]
    assert finished["run_id"] == started["run_id"] == "r"


def test_the_outcome_follows_the_error_unless_given() -> None:
    error = {"type": "E"}
    _, finished = run_events({}, SpanAttributes(span(parent=None)), error, "b", None)
    assert (finished["outcome"], finished["status"], finished["error"]) == ("failure", "error", error)
    attrs = SpanAttributes(span({"tracelake.outcome": "escalated"}, parent=None))
    started, finished = run_events({}, attrs, error, "b", None)
    assert finished["outcome"] == "escalated" and started["attributes"]["tracelake.outcome"] == "escalated"


def test_a_root_call_hangs_under_the_run_start() -> None:
    started, call, finished = run_events({}, SpanAttributes(span(parent=None)), None, "b", {"event_type": "llm_call"})
    assert call == {"event_type": "llm_call", "span_id": f"{ROOT}-call", "event_id": "b-1-call",
                    "parent_span_id": ROOT}
    assert started["event_id"] < call["event_id"] and finished["event_type"] == "run_finished"
