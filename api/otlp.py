"""OTLP traces → trace events v1, as pure functions (no FastAPI, no I/O).

``decode_protobuf`` / ``decode_json`` turn an OTLP/HTTP
``ExportTraceServiceRequest`` body into :class:`OtlpSpan` values; the
``to_events`` mapping turns spans into contract events following the
OpenTelemetry GenAI semantic conventions. The README's "HTTP API" section
carries the mapping table; in short:

================================  =============================================
span                              events
================================  =============================================
root span (no parent)             ``run_started`` at its start and
                                  ``run_finished`` at its end (``outcome``
                                  ``failure`` when the span is an error, else
                                  ``success``; ``tracelake.outcome`` overrides)
``gen_ai.operation.name`` =       ``llm_call``: ``model`` ← ``gen_ai.request.model``
``chat`` / ``text_completion`` /  (else ``gen_ai.response.model``), ``provider``
``generate_content``              ← ``gen_ai.provider.name`` / ``gen_ai.system``,
                                  ``input_tokens`` / ``output_tokens`` ←
                                  ``gen_ai.usage.*_tokens``
``execute_tool``                  ``tool_call``: ``tool_name`` ← ``gen_ai.tool.name``,
                                  ``tool_args`` ← ``gen_ai.tool.call.arguments``
                                  (JSON), ``tool_result`` ←
                                  ``gen_ai.tool.call.result``, ``success``
``invoke_agent`` (not the root),  ``custom`` with ``name`` = the operation or
any other span                    span name
================================  =============================================

Every event carries ``span_id`` / ``parent_span_id`` (hex), ``ts`` (span
start, UTC), ``duration_ms``, ``status`` and ``error`` (``error.type``, or the
``exception`` span event, with the status message), ``agent`` ←
``gen_ai.agent.name``, ``environment`` ← ``deployment.environment[.name]``;
attributes not consumed stay in ``attributes`` with ``otel.trace_id`` and
``otel.span_name``. ``workflow``, ``workflow_version``, ``run_id`` and
``tenant`` come from the first present key of :class:`OtlpMapping`'s lists,
looked up in the span's attributes, then the resource's; ``run_id`` falls
back to the trace id. ``event_id`` is derived from trace id, start time and span id, so a
re-exported batch is the same events (the lake keeps one copy) and events
that share a millisecond sort by start.

Failure modes: a body that is not an OTLP request raises :class:`OtlpError`
(one line); a span that maps to an invalid event is left for the contract
validator to refuse, with its reason.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

LLM_OPERATIONS = frozenset({"chat", "text_completion", "generate_content"})
STATUS_ERROR = 2


class OtlpError(ValueError):
    """The body is not a valid OTLP trace export request."""


@dataclass(frozen=True)
class OtlpMapping:
    """Which attributes name the run's workflow, version, id and tenant (first present wins)."""

    workflow_keys: tuple[str, ...] = ("tracelake.workflow", "gen_ai.agent.name", "service.name")
    version_keys: tuple[str, ...] = ("tracelake.workflow_version", "gen_ai.agent.version", "service.version")
    run_keys: tuple[str, ...] = ("tracelake.run_id", "gen_ai.conversation.id")
    tenant_keys: tuple[str, ...] = ("tracelake.tenant",)
    default_workflow: str = "otlp"
    default_version: str = "unversioned"


@dataclass
class OtlpSpan:
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)
    resource: dict[str, Any] = field(default_factory=dict)
    scope: str | None = None
    status_code: int = 0
    status_message: str = ""
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


# -- decoding ---------------------------------------------------------------
def _pb_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_pb_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _pb_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def _pb_attributes(attributes: Iterable[Any]) -> dict[str, Any]:
    return {kv.key: _pb_value(kv.value) for kv in attributes}


def decode_protobuf(body: bytes) -> list[OtlpSpan]:
    """``application/x-protobuf`` ``ExportTraceServiceRequest`` → spans."""
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except (DecodeError, ValueError, RecursionError) as exc:
        raise OtlpError(f"not an OTLP ExportTraceServiceRequest protobuf: {exc}") from None
    spans = []
    for resource_spans in request.resource_spans:
        resource = _pb_attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope.name or None
            for span in scope_spans.spans:
                spans.append(OtlpSpan(
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    parent_span_id=span.parent_span_id.hex() or None,
                    name=span.name,
                    start_ns=span.start_time_unix_nano,
                    end_ns=span.end_time_unix_nano,
                    attributes=_pb_attributes(span.attributes),
                    resource=resource,
                    scope=scope,
                    status_code=span.status.code,
                    status_message=span.status.message,
                    events=[(e.name, _pb_attributes(e.attributes)) for e in span.events],
                ))
    return spans


def _get(obj: Mapping[str, Any], camel: str, default: Any = None) -> Any:
    """OTLP/JSON uses lowerCamelCase keys; snake_case is tolerated too."""
    if camel in obj:
        return obj[camel]
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    return obj.get(snake, default)


def _json_value(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    for kind in ("stringValue", "boolValue", "doubleValue"):
        if kind in value:
            return value[kind]
    if "intValue" in value:
        return int(value["intValue"])  # int64 travels as a JSON string
    if "arrayValue" in value:
        return [_json_value(v) for v in (value["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in value:
        return _json_attributes((value["kvlistValue"] or {}).get("values", []))
    if "bytesValue" in value:
        return base64.b64decode(value["bytesValue"]).hex()
    return None


def _json_attributes(items: Any) -> dict[str, Any]:
    if not isinstance(items, list):
        raise OtlpError("attributes must be an array of {key, value}")
    out = {}
    for kv in items:
        if not isinstance(kv, dict) or not isinstance(kv.get("key"), str):
            raise OtlpError("an attribute must be an object with a string key")
        out[kv["key"]] = _json_value(kv.get("value"))
    return out


def _json_id(value: Any, size: int) -> str | None:
    """OTLP/JSON ids are hex (not base64, unlike protobuf's JSON mapping)."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise OtlpError("trace and span ids must be hex strings")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise OtlpError(f"id {value[:40]!r} is not hex") from None
    if len(raw) != size:
        raise OtlpError(f"id {value[:40]!r} must be {size} bytes")
    return raw.hex()


def decode_json(body: bytes) -> list[OtlpSpan]:
    """``application/json`` OTLP/HTTP request → spans."""
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OtlpError(f"not valid JSON: {exc}") from None
    if not isinstance(request, dict):
        raise OtlpError("an OTLP JSON request must be an object with resourceSpans")
    spans: list[OtlpSpan] = []
    try:
        for resource_spans in _get(request, "resourceSpans", []) or []:
            resource = _json_attributes((_get(resource_spans, "resource", {}) or {}).get("attributes", []))
            for scope_spans in _get(resource_spans, "scopeSpans", []) or []:
                scope = (_get(scope_spans, "scope", {}) or {}).get("name") or None
                for span in _get(scope_spans, "spans", []) or []:
                    status = _get(span, "status", {}) or {}
                    trace_id = _json_id(_get(span, "traceId"), 16)
                    span_id = _json_id(_get(span, "spanId"), 8)
                    if trace_id is None or span_id is None:
                        raise OtlpError("every span needs traceId and spanId")
                    spans.append(OtlpSpan(
                        trace_id=trace_id,
                        span_id=span_id,
                        parent_span_id=_json_id(_get(span, "parentSpanId"), 8),
                        name=str(_get(span, "name", "") or ""),
                        start_ns=int(_get(span, "startTimeUnixNano", 0) or 0),
                        end_ns=int(_get(span, "endTimeUnixNano", 0) or 0),
                        attributes=_json_attributes(_get(span, "attributes", []) or []),
                        resource=resource,
                        scope=scope,
                        status_code=int(_status_code(status.get("code", 0))),
                        status_message=str(status.get("message", "") or ""),
                        events=[(str(e.get("name", "")), _json_attributes(e.get("attributes", []) or []))
                                for e in _get(span, "events", []) or []],
                    ))
    except (AttributeError, TypeError, ValueError, binascii.Error) as exc:
        if isinstance(exc, OtlpError):
            raise
        raise OtlpError(f"not an OTLP trace export request: {exc}") from None
    return spans


def _status_code(code: Any) -> int:
    if isinstance(code, str):  # enum names are allowed in JSON
        return {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}.get(code, 0)
    return int(code)


# -- mapping ----------------------------------------------------------------
def iso_from_ns(ns: int) -> str:
    seconds, rest = divmod(max(ns, 0), 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest // 1000)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _first(span: OtlpSpan, keys: Iterable[str], used: set[str]) -> Any:
    for key in keys:
        for source in (span.attributes, span.resource):
            value = source.get(key)
            if value not in (None, ""):
                if source is span.attributes:
                    used.add(key)
                return value
    return None


def _json_or_text(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _count(value: Any) -> int | None:
    try:
        return int(value) if value is not None and int(value) >= 0 else None
    except (TypeError, ValueError):
        return None


def _error(span: OtlpSpan, used: set[str]) -> dict[str, str] | None:
    error_type = span.attributes.get("error.type")
    message = span.status_message
    for name, attrs in span.events:
        if name == "exception":
            error_type = error_type or attrs.get("exception.type")
            message = message or attrs.get("exception.message") or ""
    if error_type is None and span.status_code != STATUS_ERROR:
        return None
    used.add("error.type")
    error = {"type": str(error_type or "error")}
    if message:
        error["message"] = str(message)
    return error


def span_events(span: OtlpSpan, mapping: OtlpMapping) -> list[dict[str, Any]]:
    """One span → its contract events (one, or three for a root span that is also a call)."""
    used: set[str] = set()
    attrs = span.attributes
    op = attrs.get("gen_ai.operation.name")
    used.add("gen_ai.operation.name")
    error = _error(span, used)
    common: dict[str, Any] = {
        "schema_version": "1",
        "run_id": str(_first(span, mapping.run_keys, used) or span.trace_id)[:128],
        "workflow": str(_first(span, mapping.workflow_keys, used) or mapping.default_workflow)[:128],
        "workflow_version": str(_first(span, mapping.version_keys, used) or mapping.default_version)[:64],
    }
    tenant = _first(span, mapping.tenant_keys, used)
    if tenant is not None:
        common["tenant"] = str(tenant)
    environment = _first(span, ("deployment.environment.name", "deployment.environment"), used)
    if environment is not None:
        common["environment"] = str(environment)
    agent = attrs.get("gen_ai.agent.name")
    if agent is not None:
        common["agent"] = str(agent)
        used.add("gen_ai.agent.name")
    duration = max(span.end_ns - span.start_ns, 0) / 1e6
    # Stable across re-exports, and sortable by start time: the lake keeps ``ts`` to the
    # millisecond and orders ties by event_id, so a span's start must sort before its children's.
    base_id = f"otlp-{span.trace_id}-{max(span.start_ns, 0):019d}-{span.span_id}"
    status = "error" if error else "ok"
    step: dict[str, Any] = {**common, "event_id": base_id, "ts": iso_from_ns(span.start_ns),
                            "span_id": span.span_id, "duration_ms": duration, "status": status}
    if span.parent_span_id:
        step["parent_span_id"] = span.parent_span_id
    if error:
        step["error"] = error

    if op in LLM_OPERATIONS:
        step["event_type"] = "llm_call"
        model = attrs.get("gen_ai.request.model") or attrs.get("gen_ai.response.model")
        step["model"] = str(model or "unknown")
        provider = attrs.get("gen_ai.provider.name") or attrs.get("gen_ai.system")
        if provider:
            step["provider"] = str(provider)
        for target, source in (("input_tokens", "gen_ai.usage.input_tokens"),
                               ("output_tokens", "gen_ai.usage.output_tokens"),
                               ("cached_input_tokens", "gen_ai.usage.cache_read.input_tokens")):
            count = _count(attrs.get(source))
            if count is not None:
                step[target] = count
        used.update({"gen_ai.request.model", "gen_ai.response.model", "gen_ai.provider.name", "gen_ai.system",
                     "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
                     "gen_ai.usage.cache_read.input_tokens"})
    elif op == "execute_tool":
        step["event_type"] = "tool_call"
        step["tool_name"] = str(attrs.get("gen_ai.tool.name") or span.name or "unknown")
        if "gen_ai.tool.call.arguments" in attrs:
            args = _json_or_text(attrs["gen_ai.tool.call.arguments"])
            step["tool_args"] = args if isinstance(args, dict) else {"arguments": args}
        if "gen_ai.tool.call.result" in attrs:
            step["tool_result"] = _json_or_text(attrs["gen_ai.tool.call.result"])
        step["success"] = error is None
        used.update({"gen_ai.tool.name", "gen_ai.tool.call.arguments", "gen_ai.tool.call.result"})
    elif span.parent_span_id is not None:
        step["event_type"] = "custom"
        step["name"] = str(op or span.name or "span")
    else:
        step = {}  # a plain root span is the run itself: its start and finish below

    rest = {k: v for k, v in attrs.items() if k not in used}
    rest["otel.trace_id"] = span.trace_id
    rest["otel.span_name"] = span.name
    if span.scope:
        rest["otel.scope"] = span.scope
    out = []
    if span.parent_span_id is None:
        started = {**common, "event_type": "run_started", "event_id": f"{base_id}-0-start",
                   "ts": iso_from_ns(span.start_ns), "span_id": span.span_id, "attributes": rest}
        outcome = attrs.get("tracelake.outcome")
        finished: dict[str, Any] = {
            **common, "event_type": "run_finished",
            "event_id": f"otlp-{span.trace_id}-{max(span.end_ns, span.start_ns, 0):019d}-{span.span_id}-finish",
            "ts": iso_from_ns(max(span.end_ns, span.start_ns)), "parent_span_id": span.span_id,
            "outcome": outcome if isinstance(outcome, str) else ("failure" if error else "success"),
            "status": status,
        }
        if error:
            finished["error"] = error
        out.append(started)
        if step:
            # The root is also a call: the call hangs under the run's start.
            step["span_id"] = f"{span.span_id}-call"
            step["event_id"] = f"{base_id}-1-call"  # sorts after the run's start
            step["parent_span_id"] = span.span_id
            out.append(step)
        out.append(finished)
    else:
        step["attributes"] = rest
        out.append(step)
    return out


def to_events(spans: Iterable[OtlpSpan], mapping: OtlpMapping) -> list[tuple[int, dict[str, Any]]]:
    """(span index, event) for every event the spans map to, in span order."""
    return [(index, event) for index, span in enumerate(spans) for event in span_events(span, mapping)]
