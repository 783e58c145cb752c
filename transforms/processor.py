"""One message in, one lake row or one typed rejection out (snuba's ``processor.py`` shape).

Pure: no Kafka, no I/O. The caller passes the payload bytes and the message's
provenance; a rejection carries that provenance (partition, offset) so the
dead-letter row points at the exact message. Redaction is the next step and
fills ``redactions``; a row must not reach the lake before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import Any

import orjson
from tracelake.transforms.metadata import MessageMeta
from tracelake.transforms.pricing import PriceTable, estimate_cost
from tracelake.transforms.schema import JSON_COLUMNS

from tracelake.contract import DEFAULT_MAX_EVENT_BYTES, Rejection, TraceEvent, validate_event

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message refused by the contract; ``payload`` is the raw bytes (redact before storing)."""

    code: str
    reason: str
    payload: bytes
    meta: MessageMeta


def _json_text(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def to_row(event: TraceEvent, meta: MessageMeta, prices: PriceTable) -> Row:
    """A validated event as a lake row: nested values as JSON text, cost source, provenance."""
    row: Row = event.model_dump(mode="python", exclude=set(JSON_COLUMNS))
    nested = event.model_dump(mode="json", include=set(JSON_COLUMNS))
    for column in JSON_COLUMNS:
        value = nested.get(column)
        # An explicit ``"tool_result": null`` is data (the JSON text "null"); absence is NULL.
        explicit_null = column == "tool_result" and column in event.model_fields_set
        row[column] = _json_text(value) if value is not None or explicit_null else None
    if event.event_type == "llm_call" and event.cost_usd is None:
        row["cost_usd"] = estimate_cost(
            prices, event.model or "", event.input_tokens, event.cached_input_tokens, event.output_tokens
        )
        row["cost_source"] = "estimated" if row["cost_usd"] is not None else "unpriced"
    else:
        row["cost_source"] = "reported" if event.cost_usd is not None else None
    row["redactions"] = None
    row["ingested_at"] = meta.received_at.astimezone(UTC)
    row["source"] = meta.source
    row["kafka_topic"] = meta.topic
    row["kafka_partition"] = meta.partition
    row["kafka_offset"] = meta.offset
    row["event_date"] = event.ts.strftime("%Y-%m-%d")
    return row


def process(
    payload: bytes, meta: MessageMeta, prices: PriceTable, max_bytes: int = DEFAULT_MAX_EVENT_BYTES
) -> Row | Rejected:
    """Validate and enrich one message. Never raises for bad input."""
    result = validate_event(payload, max_bytes=max_bytes)
    if isinstance(result, Rejection):
        return Rejected(code=result.code, reason=result.reason, payload=payload, meta=meta)
    return to_row(result, meta, prices)
