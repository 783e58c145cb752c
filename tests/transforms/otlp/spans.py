"""A span builder for the mapping tests."""

from __future__ import annotations

from typing import Any

from tracelake.transforms.otlp.spans import OtlpSpan

TRACE, ROOT, CHILD = "ab" * 16, "0a" * 8, "0b" * 8
T0 = 1_795_000_000_000_000_000  # ns


def span(attributes: dict[str, Any] | None = None, *, parent: str | None = CHILD, **kw: Any) -> OtlpSpan:
    fields: dict[str, Any] = {"trace_id": TRACE, "span_id": ROOT if parent is None else "0c" * 8,
                              "parent_span_id": parent, "name": "op", "start_ns": T0, "end_ns": T0 + 2_500_000,
                              "attributes": attributes or {}}
    return OtlpSpan(**(fields | kw))
