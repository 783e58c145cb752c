"""Arrow schemas of the lake tables: every contract field typed, nested values as JSON text."""

from __future__ import annotations

import pyarrow as pa

# JSON-valued contract fields, stored as JSON strings (DuckDB reads them with ->>).
JSON_COLUMNS = ("error", "attributes", "tool_args", "tool_result", "references")

_TS = pa.timestamp("us", tz="UTC")

EVENTS_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("schema_version", pa.string()),
        ("event_type", pa.string()),
        ("ts", _TS),
        ("run_id", pa.string()),
        ("workflow", pa.string()),
        ("workflow_version", pa.string()),
        ("tenant", pa.string()),
        ("team", pa.string()),
        ("release", pa.string()),
        ("environment", pa.string()),
        ("agent", pa.string()),
        ("span_id", pa.string()),
        ("parent_span_id", pa.string()),
        ("duration_ms", pa.float64()),
        ("status", pa.string()),
        ("error", pa.string()),
        ("attributes", pa.string()),
        ("input", pa.string()),
        ("initiator", pa.string()),
        ("outcome", pa.string()),
        ("output", pa.string()),
        ("outcome_reason", pa.string()),
        ("model", pa.string()),
        ("provider", pa.string()),
        ("model_tier", pa.string()),
        ("input_tokens", pa.int64()),
        ("cached_input_tokens", pa.int64()),
        ("output_tokens", pa.int64()),
        ("cost_usd", pa.float64()),
        ("prompt", pa.string()),
        ("completion", pa.string()),
        ("tool_name", pa.string()),
        ("tool_args", pa.string()),
        ("tool_result", pa.string()),
        ("schema_valid", pa.bool_()),
        ("success", pa.bool_()),
        ("mutating", pa.bool_()),
        ("idempotency_key", pa.string()),
        ("retry_of", pa.string()),
        ("query", pa.string()),
        ("references", pa.string()),
        ("action", pa.string()),
        ("risk_tier", pa.string()),
        ("rule", pa.string()),
        ("decision", pa.string()),
        ("approver", pa.string()),
        ("wait_ms", pa.float64()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("trigger_event_id", pa.string()),
        ("check", pa.string()),
        ("passed", pa.bool_()),
        ("budget", pa.string()),
        ("limit", pa.float64()),
        ("used", pa.float64()),
        ("name", pa.string()),
        # pipeline columns
        ("cost_source", pa.string()),
        ("redactions", pa.string()),
        ("ingested_at", _TS),
        ("source", pa.string()),
        ("kafka_topic", pa.string()),
        ("kafka_partition", pa.int32()),
        ("kafka_offset", pa.int64()),
        ("event_date", pa.string()),
    ]
)

DEAD_LETTERS_SCHEMA = pa.schema(
    [
        ("received_at", _TS),
        ("source", pa.string()),
        ("reason", pa.string()),
        ("payload", pa.string()),
        ("kafka_topic", pa.string()),
        ("kafka_partition", pa.int32()),
        ("kafka_offset", pa.int64()),
        ("event_date", pa.string()),
    ]
)
