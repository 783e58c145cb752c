"""``application/json`` OTLP/HTTP request → :class:`OtlpSpan` values.

OTLP/JSON spells keys in lowerCamelCase (snake_case is tolerated too),
carries int64 values as strings and ids as hex (unlike protobuf's generic
JSON mapping, which uses base64).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from tracelake.transforms.otlp.spans import OtlpError, OtlpSpan, check_span_count

STATUS_CODES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
_SCALARS = ("stringValue", "boolValue", "doubleValue")


def field(obj: Mapping[str, Any], camel: str, default: Any = None) -> Any:
    """``obj[camel]``, else its snake_case spelling, else ``default``."""
    if camel in obj:
        return obj[camel]
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    return obj.get(snake, default)


def value(item: Any) -> Any:
    """An ``AnyValue`` object as a plain value (an unknown or empty kind: None)."""
    if not isinstance(item, dict):
        return item
    for kind in _SCALARS:
        if kind in item:
            return item[kind]
    if "intValue" in item:
        return int(item["intValue"])  # int64 travels as a JSON string
    if "arrayValue" in item:
        return [value(v) for v in (item["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in item:
        return attributes((item["kvlistValue"] or {}).get("values", []))
    if "bytesValue" in item:
        return base64.b64decode(item["bytesValue"]).hex()
    return None


def attributes(items: Any) -> dict[str, Any]:
    """A ``[{key, value}, …]`` array → dict. Raises :class:`OtlpError` on any other shape."""
    if not isinstance(items, list):
        raise OtlpError("attributes must be an array of {key, value}")
    out = {}
    for kv in items:
        if not isinstance(kv, dict) or not isinstance(kv.get("key"), str):
            raise OtlpError("an attribute must be an object with a string key")
        out[kv["key"]] = value(kv.get("value"))
    return out


def span_id(item: Any, size: int) -> str | None:
    """A hex id of ``size`` bytes, lowercased; None when absent or empty. Raises :class:`OtlpError`."""
    if item in (None, ""):
        return None
    if not isinstance(item, str):
        raise OtlpError("trace and span ids must be hex strings")
    try:
        raw = bytes.fromhex(item)
    except ValueError:
        raise OtlpError(f"id {item[:40]!r} is not hex") from None
    if len(raw) != size:
        raise OtlpError(f"id {item[:40]!r} must be {size} bytes")
    return raw.hex()


def status_code(code: Any) -> int:
    """A numeric code, or an enum name (JSON allows both); an unknown name is unset (0)."""
    if isinstance(code, str):
        return STATUS_CODES.get(code, 0)
    return int(code)


def _span(span: Any, resource: dict[str, Any], scope: str | None) -> OtlpSpan:
    status = field(span, "status", {}) or {}
    trace_id = span_id(field(span, "traceId"), 16)
    own_id = span_id(field(span, "spanId"), 8)
    if trace_id is None or own_id is None:
        raise OtlpError("every span needs traceId and spanId")
    return OtlpSpan(
        trace_id=trace_id,
        span_id=own_id,
        parent_span_id=span_id(field(span, "parentSpanId"), 8),
        name=str(field(span, "name", "") or ""),
        start_ns=int(field(span, "startTimeUnixNano", 0) or 0),
        end_ns=int(field(span, "endTimeUnixNano", 0) or 0),
        attributes=attributes(field(span, "attributes", []) or []),
        resource=resource,
        scope=scope,
        status_code=status_code(status.get("code", 0)),
        status_message=str(status.get("message", "") or ""),
        events=[(str(e.get("name", "")), attributes(e.get("attributes", []) or []))
                for e in field(span, "events", []) or []],
    )


def count_spans(request: dict[str, Any]) -> int:
    """How many spans a parsed OTLP/JSON request holds: a sum of list lengths, no span decoded.

    A wrong shape raises what :func:`decode_json` turns into :class:`OtlpError`.
    """
    total = 0
    for resource_spans in field(request, "resourceSpans", []) or []:
        for scope_spans in field(resource_spans, "scopeSpans", []) or []:
            spans = field(scope_spans, "spans", []) or []
            total += len(spans) if isinstance(spans, list) else 0
    return total


def _spans(request: dict[str, Any]) -> Iterator[OtlpSpan]:
    for resource_spans in field(request, "resourceSpans", []) or []:
        resource = attributes((field(resource_spans, "resource", {}) or {}).get("attributes", []))
        for scope_spans in field(resource_spans, "scopeSpans", []) or []:
            scope = (field(scope_spans, "scope", {}) or {}).get("name") or None
            for span in field(scope_spans, "spans", []) or []:
                yield _span(span, resource, scope)


def decode_json(body: bytes, max_spans: int | None = None) -> list[OtlpSpan]:
    """The spans of an OTLP/JSON request, in request order.

    Raises :class:`OtlpError` (one line) when the body is not JSON, not an
    object, or any part of it has the wrong shape; :class:`TooManySpans`
    (a ``TooLarge``) when it holds more than ``max_spans`` spans, counted
    right after the parse (orjson, about 25 ms a MB) and before the decoding
    into spans, which costs ten times that.
    """
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OtlpError(f"not valid JSON: {exc}") from None
    if not isinstance(request, dict):
        raise OtlpError("an OTLP JSON request must be an object with resourceSpans")
    try:
        check_span_count(count_spans(request), max_spans)
        return list(_spans(request))
    except (AttributeError, TypeError, ValueError, binascii.Error) as exc:
        # Any wrong shape deep in the request (a list where an object belongs, a non-numeric time…).
        raise OtlpError(f"not an OTLP trace export request: {exc}") from None
