"""Trace event contract v1 (``docs/contract/events.md``), implemented once."""

from tracelake.contract.model import (
    DECISIONS_BY_TYPE,
    FIELD_NAMES,
    JSON_TEXT_FIELDS,
    REQUIRED_BY_TYPE,
    SCHEMA_VERSION,
    TEXT_FIELDS,
    EventType,
    TraceEvent,
    format_timestamp,
    parse_timestamp,
)
from tracelake.contract.validate import (
    DEFAULT_MAX_EVENT_BYTES,
    Rejection,
    decode,
    validate_event,
    validate_object,
)

__all__ = [
    "DECISIONS_BY_TYPE",
    "DEFAULT_MAX_EVENT_BYTES",
    "FIELD_NAMES",
    "JSON_TEXT_FIELDS",
    "REQUIRED_BY_TYPE",
    "SCHEMA_VERSION",
    "TEXT_FIELDS",
    "EventType",
    "Rejection",
    "TraceEvent",
    "decode",
    "format_timestamp",
    "parse_timestamp",
    "validate_event",
    "validate_object",
]
