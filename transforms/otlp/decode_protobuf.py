"""``application/x-protobuf`` OTLP/HTTP ``ExportTraceServiceRequest`` → :class:`OtlpSpan` values."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tracelake.transforms.otlp.spans import OtlpError, OtlpSpan, check_span_count


def _value(value: Any) -> Any:
    """An ``AnyValue`` as a plain value: arrays as lists, kvlists as dicts, bytes as hex, unset as None."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def attributes(items: Iterable[Any]) -> dict[str, Any]:
    """Repeated ``KeyValue`` → dict (a repeated key: the last wins)."""
    return {kv.key: _value(kv.value) for kv in items}


def _span(span: Any, resource: dict[str, Any], scope: str | None) -> OtlpSpan:
    return OtlpSpan(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_span_id=span.parent_span_id.hex() or None,
        name=span.name,
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
        attributes=attributes(span.attributes),
        resource=resource,
        scope=scope,
        status_code=span.status.code,
        status_message=span.status.message,
        events=[(e.name, attributes(e.attributes)) for e in span.events],
    )


def decode_protobuf(body: bytes, max_spans: int | None = None) -> list[OtlpSpan]:
    """The spans of a protobuf ``ExportTraceServiceRequest``, in request order.

    Raises :class:`OtlpError` when the body does not parse as that message;
    :class:`TooManySpans` (a ``TooLarge``) when it holds more than
    ``max_spans`` spans, counted on the parsed message (upb parses 18 MB in
    about 40 ms; the lengths of its repeated fields cost nothing) before any
    span is converted, which costs fifteen times the parse.
    """
    # Imported here: the protobuf classes are heavy and only this encoding needs them.
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except (DecodeError, ValueError, RecursionError) as exc:
        raise OtlpError(f"not an OTLP ExportTraceServiceRequest protobuf: {exc}") from None
    check_span_count(sum(len(scope_spans.spans) for resource_spans in request.resource_spans
                         for scope_spans in resource_spans.scope_spans), max_spans)
    spans: list[OtlpSpan] = []
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope.name or None
            spans.extend(_span(span, resource, scope) for span in scope_spans.spans)
    return spans
