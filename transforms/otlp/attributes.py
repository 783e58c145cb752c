"""Reading a span's attributes for the mapping: what each mapper consumed, and what stays in ``attributes``.

Every attribute a mapper turns into a contract field is *consumed*; the
rest travel on in the event's ``attributes`` with ``otel.trace_id``,
``otel.span_name`` and ``otel.scope``, so nothing the agent sent is lost.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

from tracelake.transforms.otlp.spans import STATUS_ERROR, OtlpSpan


class SpanAttributes:
    """A span's attributes plus the set of keys the mapping consumed from them."""

    def __init__(self, span: OtlpSpan) -> None:
        self.span = span
        self.used: set[str] = set()

    def get(self, key: str) -> Any:
        """The span's own attribute (not the resource's); reading does not consume it."""
        return self.span.attributes.get(key)

    def consume(self, *keys: str) -> None:
        """These keys became contract fields: they leave ``attributes``."""
        self.used.update(keys)

    def first(self, keys: Iterable[str]) -> Any:
        """The first key with a non-empty value, looked up in the span's attributes, then the resource's.

        Only the key that answered is consumed, and only when the span (not the resource) held it.
        """
        span = self.span
        for key in keys:
            for source in (span.attributes, span.resource):
                found = source.get(key)
                if found not in (None, ""):
                    if source is span.attributes:
                        self.used.add(key)
                    return found
        return None

    def rest(self) -> dict[str, Any]:
        """The attributes not consumed, plus where the span came from (``otel.*``)."""
        span = self.span
        out = {k: v for k, v in span.attributes.items() if k not in self.used}
        out["otel.trace_id"] = span.trace_id
        out["otel.span_name"] = span.name
        if span.scope:
            out["otel.scope"] = span.scope
        return out


def iso_from_ns(ns: int) -> str:
    """Unix nanoseconds → RFC 3339 UTC with microseconds and ``Z`` (negative: the epoch)."""
    seconds, rest = divmod(max(ns, 0), 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest // 1000)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def json_or_text(value: Any) -> Any:
    """A string holding JSON → the parsed value; any other string or value as it is."""
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def count(value: Any) -> int | None:
    """A non-negative integer count, or None for anything else (absent, negative, not a number)."""
    try:
        return int(value) if value is not None and int(value) >= 0 else None
    except (TypeError, ValueError):
        return None


def span_error(span: OtlpSpan) -> dict[str, str] | None:
    """The contract ``error`` of a span, or None when it did not fail.

    The type is ``error.type``, else the ``exception`` event's ``exception.type``,
    else ``"error"`` for a span whose status is an error; the message is the
    status message, else the exception's.
    """
    error_type = span.attributes.get("error.type")
    message = span.status_message
    for name, attrs in span.events:
        if name == "exception":
            error_type = error_type or attrs.get("exception.type")
            message = message or attrs.get("exception.message") or ""
    if error_type is None and span.status_code != STATUS_ERROR:
        return None
    error = {"type": str(error_type or "error")}
    if message:
        error["message"] = str(message)
    return error
