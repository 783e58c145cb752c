"""Spans → contract events: the fields every event of a span shares, then the span kind's mapper."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tracelake.transforms.otlp.attributes import SpanAttributes, iso_from_ns, span_error
from tracelake.transforms.otlp.kinds import OPERATION, Event, mapper_for, run_events
from tracelake.transforms.otlp.spans import OtlpMapping, OtlpSpan

ENVIRONMENT_KEYS = ("deployment.environment.name", "deployment.environment")


def common_fields(attrs: SpanAttributes, mapping: OtlpMapping) -> Event:
    """The run's identity on every event of the span: run id, workflow, version, tenant, environment, agent.

    Lengths are cut to the contract's limits; ``run_id`` falls back to the trace id.
    """
    span = attrs.span
    common: Event = {
        "schema_version": "1",
        "run_id": str(attrs.first(mapping.run_keys) or span.trace_id)[:128],
        "workflow": str(attrs.first(mapping.workflow_keys) or mapping.default_workflow)[:128],
        "workflow_version": str(attrs.first(mapping.version_keys) or mapping.default_version)[:64],
    }
    tenant = attrs.first(mapping.tenant_keys)
    if tenant is not None:
        common["tenant"] = str(tenant)
    environment = attrs.first(ENVIRONMENT_KEYS)
    if environment is not None:
        common["environment"] = str(environment)
    agent = attrs.get("gen_ai.agent.name")
    if agent is not None:
        common["agent"] = str(agent)
        attrs.consume("gen_ai.agent.name")
    return common


def event_id(span: OtlpSpan) -> str:
    """Stable across re-exports (the lake keeps one copy) and sortable by start time: the lake keeps ``ts``
    to the millisecond and orders ties by ``event_id``, so a span's start must sort before its children's."""
    return f"otlp-{span.trace_id}-{max(span.start_ns, 0):019d}-{span.span_id}"


def step_event(common: Event, span: OtlpSpan, error: dict[str, str] | None) -> Event:
    """The span as one step of the run, before its kind's fields: ids, start, duration, status, error."""
    step: Event = {**common, "event_id": event_id(span), "ts": iso_from_ns(span.start_ns),
                   "span_id": span.span_id, "duration_ms": max(span.end_ns - span.start_ns, 0) / 1e6,
                   "status": "error" if error else "ok"}
    if span.parent_span_id:
        step["parent_span_id"] = span.parent_span_id
    if error:
        step["error"] = error
    return step


def span_events(span: OtlpSpan, mapping: OtlpMapping) -> list[Event]:
    """One span → its contract events: one for a child span; two (start, finish) for a plain root
    span, three when the root is also a call.

    Never raises for odd attribute values: an event the contract would refuse
    is left for the validator, which gives the reason.
    """
    attrs = SpanAttributes(span)
    attrs.consume(OPERATION)
    error = span_error(span)
    if error is not None:
        attrs.consume("error.type")
    common = common_fields(attrs, mapping)
    mapper = mapper_for(attrs)
    call = mapper(step_event(common, span, error), attrs, error) if mapper else None
    if span.is_root:
        return run_events(common, attrs, error, event_id(span), call)
    assert call is not None  # a child span always has a mapper (custom at least)
    call["attributes"] = attrs.rest()
    return [call]


def to_events(spans: Iterable[OtlpSpan], mapping: OtlpMapping) -> list[tuple[int, dict[str, Any]]]:
    """(span index, event) for every event the spans map to, in span order.

    The index lets the caller count refused events per span (OTLP's ``rejected_spans``).
    """
    return [(index, event) for index, span in enumerate(spans) for event in span_events(span, mapping)]
