"""One mapper per kind of span: what each adds to the fields every event of a span shares.

A *call mapper* receives the span's step event (ids, time, duration, status
and error already set; see :mod:`tracelake.transforms.otlp.mapping`) and adds
``event_type`` and that type's fields, consuming the attributes it used.
:func:`run_events` handles the root span, which is the run itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tracelake.transforms.otlp.attributes import SpanAttributes, count, iso_from_ns, json_or_text

Event = dict[str, Any]
Mapper = Callable[[Event, SpanAttributes, dict[str, str] | None], Event]

OPERATION = "gen_ai.operation.name"
LLM_OPERATIONS = frozenset({"chat", "text_completion", "generate_content"})
TOOL_OPERATION = "execute_tool"
# contract field ← GenAI usage attribute
TOKEN_COUNTS = (("input_tokens", "gen_ai.usage.input_tokens"),
                ("output_tokens", "gen_ai.usage.output_tokens"),
                ("cached_input_tokens", "gen_ai.usage.cache_read.input_tokens"))
LLM_KEYS = ("gen_ai.request.model", "gen_ai.response.model", "gen_ai.provider.name", "gen_ai.system",
            *(source for _, source in TOKEN_COUNTS))
TOOL_KEYS = ("gen_ai.tool.name", "gen_ai.tool.call.arguments", "gen_ai.tool.call.result")


def llm_call(step: Event, attrs: SpanAttributes, error: dict[str, str] | None) -> Event:
    """``chat`` / ``text_completion`` / ``generate_content`` → ``llm_call`` with model, provider and tokens."""
    step["event_type"] = "llm_call"
    model = attrs.get("gen_ai.request.model") or attrs.get("gen_ai.response.model")
    step["model"] = str(model or "unknown")
    provider = attrs.get("gen_ai.provider.name") or attrs.get("gen_ai.system")
    if provider:
        step["provider"] = str(provider)
    for target, source in TOKEN_COUNTS:
        tokens = count(attrs.get(source))
        if tokens is not None:  # a negative or non-numeric count is left out, not refused
            step[target] = tokens
    attrs.consume(*LLM_KEYS)
    return step


def tool_call(step: Event, attrs: SpanAttributes, error: dict[str, str] | None) -> Event:
    """``execute_tool`` → ``tool_call``: name, arguments (an object), result, and success = no error."""
    step["event_type"] = "tool_call"
    step["tool_name"] = str(attrs.get("gen_ai.tool.name") or attrs.span.name or "unknown")
    if "gen_ai.tool.call.arguments" in attrs.span.attributes:
        args = json_or_text(attrs.get("gen_ai.tool.call.arguments"))
        # tool_args is an object in the contract: anything else is wrapped, not dropped
        step["tool_args"] = args if isinstance(args, dict) else {"arguments": args}
    if "gen_ai.tool.call.result" in attrs.span.attributes:
        step["tool_result"] = json_or_text(attrs.get("gen_ai.tool.call.result"))
    step["success"] = error is None
    attrs.consume(*TOOL_KEYS)
    return step


def custom(step: Event, attrs: SpanAttributes, error: dict[str, str] | None) -> Event:
    """Any other child span (``invoke_agent`` below the root included) → ``custom`` named by its operation."""
    step["event_type"] = "custom"
    step["name"] = str(attrs.get(OPERATION) or attrs.span.name or "span")
    return step


CALL_MAPPERS: dict[str, Mapper] = {**dict.fromkeys(LLM_OPERATIONS, llm_call), TOOL_OPERATION: tool_call}


def mapper_for(attrs: SpanAttributes) -> Mapper | None:
    """The span's call mapper: by operation; ``custom`` for other child spans; None for a plain root."""
    operation = attrs.get(OPERATION)
    if isinstance(operation, str) and operation in CALL_MAPPERS:
        return CALL_MAPPERS[operation]
    return None if attrs.span.is_root else custom


def run_events(common: Event, attrs: SpanAttributes, error: dict[str, str] | None, base_id: str,
               call: Event | None) -> list[Event]:
    """A root span → ``run_started`` at its start, its own call (if it is one), ``run_finished`` at its end.

    ``outcome`` is ``tracelake.outcome`` when that is a string, else ``failure``
    for a failed span and ``success`` otherwise.
    """
    span = attrs.span
    started = {**common, "event_type": "run_started", "event_id": f"{base_id}-0-start",
               "ts": iso_from_ns(span.start_ns), "span_id": span.span_id, "attributes": attrs.rest()}
    end = max(span.end_ns, span.start_ns)
    outcome = attrs.get("tracelake.outcome")
    finished: Event = {
        **common, "event_type": "run_finished",
        "event_id": f"otlp-{span.trace_id}-{max(end, 0):019d}-{span.span_id}-finish",
        "ts": iso_from_ns(end), "parent_span_id": span.span_id,
        "outcome": outcome if isinstance(outcome, str) else ("failure" if error else "success"),
        "status": "error" if error else "ok",
    }
    if error:
        finished["error"] = error
    if call is None:
        return [started, finished]
    # The root is also a call: the call hangs under the run's start, and its id sorts after it.
    call["span_id"] = f"{span.span_id}-call"
    call["event_id"] = f"{base_id}-1-call"
    call["parent_span_id"] = span.span_id
    return [started, call, finished]
