"""Trace event v1, the contract of ``docs/contract/events.md``, as one typed model.

The contract is *flat*: every field of every event type is a top-level key, and
the JSON Schema types each key the same way whatever the ``event_type``. So the
model is one flat class whose per-type rules (which fields are required, which
``decision`` values are allowed) live in the two tables below. Those tables are
the single place the per-type rules are written down; the generated JSON
Schema (``tracelake.contract.schema``) is derived from them too.

Failure modes: validation never raises anything but
:class:`pydantic.ValidationError`; callers should use
:func:`tracelake.contract.validate.validate_event`, which turns every problem
into a :class:`~tracelake.contract.validate.Rejection` with one reason naming
the field.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

SCHEMA_VERSION = "1"


class EventType(StrEnum):
    RUN_STARTED = "run_started"
    RUN_FINISHED = "run_finished"
    LLM_CALL = "llm_call"
    TOOL_CALL = "tool_call"
    RETRIEVAL = "retrieval"
    POLICY_DECISION = "policy_decision"
    APPROVAL = "approval"
    ESCALATION = "escalation"
    FALLBACK = "fallback"
    POSTCONDITION_CHECK = "postcondition_check"
    BUDGET_EXCEEDED = "budget_exceeded"
    CUSTOM = "custom"
    OUTCOME_CONFIRMED = "outcome_confirmed"


# Fields each event type must carry (events.md, bold fields).
REQUIRED_BY_TYPE: dict[EventType, tuple[str, ...]] = {
    EventType.RUN_STARTED: (),
    EventType.RUN_FINISHED: ("outcome",),
    EventType.LLM_CALL: ("model",),
    EventType.TOOL_CALL: ("tool_name",),
    EventType.RETRIEVAL: (),
    EventType.POLICY_DECISION: ("action", "risk_tier", "decision"),
    EventType.APPROVAL: ("action", "decision"),
    EventType.ESCALATION: ("reason",),
    EventType.FALLBACK: ("reason",),
    EventType.POSTCONDITION_CHECK: ("check", "passed"),
    EventType.BUDGET_EXCEEDED: ("budget",),
    EventType.CUSTOM: ("name",),
    EventType.OUTCOME_CONFIRMED: ("confirmation",),
}

# ``decision`` is one key shared by two event types with disjoint value sets.
DECISIONS_BY_TYPE: dict[EventType, tuple[str, ...]] = {
    EventType.POLICY_DECISION: ("allow", "require_approval", "block"),
    EventType.APPROVAL: ("approved", "rejected", "expired"),
}

# Free-text fields (events.md "text"); redaction walks these plus every string
# inside the JSON-valued fields.
TEXT_FIELDS: tuple[str, ...] = (
    "input",
    "output",
    "outcome_reason",
    "prompt",
    "completion",
    "query",
    "detail",
)
JSON_TEXT_FIELDS: tuple[str, ...] = ("tool_args", "tool_result", "attributes")

Outcome = Literal["success", "failure", "escalated", "fallback", "halted"]
Decision = Literal["allow", "require_approval", "block", "approved", "rejected", "expired"]

# RFC 3339 exactly as the JSON Schema `date-time` format checker reads it
# (upper-case T and Z), plus a separate test for the missing offset so the
# reason can say what is wrong.
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
)
_NAIVE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")


def _contract_error(message: str) -> PydanticCustomError:
    return PydanticCustomError("contract", message)


def parse_timestamp(value: Any) -> datetime:
    """Parse an RFC 3339 timestamp that carries an offset; return it in UTC."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise _contract_error("timestamp has no UTC offset")
        return value.astimezone(UTC)
    if not isinstance(value, str):
        raise _contract_error("must be an RFC 3339 string such as 2026-11-24T10:15:00.123Z")
    match = _RFC3339.match(value)
    if match is None:
        if _NAIVE.match(value):
            raise _contract_error("timestamp has no UTC offset")
        raise _contract_error(
            "not an RFC 3339 timestamp (expected e.g. 2026-11-24T10:15:00.123Z)"
        )
    frac = match.group(7) or ""
    # datetime keeps microseconds; a longer fraction is truncated, not rejected.
    text = value[: match.start(7)] + frac[:7] + match.group(8) if frac else value
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _contract_error(f"not a valid date or time ({exc})") from None
    return parsed.astimezone(UTC)


def format_timestamp(value: datetime) -> str:
    """UTC, millisecond precision, ``Z`` suffix: the canonical wire form."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _integral(value: Any) -> Any:
    # JSON Schema counts 3.0 as an integer; so do we.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Timestamp = Annotated[
    datetime,
    BeforeValidator(parse_timestamp),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
Count = Annotated[int, Field(ge=0), BeforeValidator(_integral)]
NonNegative = Annotated[float, Field(ge=0)]
Id128 = Annotated[str, Field(min_length=1, max_length=128)]


class ErrorInfo(BaseModel):
    """``error``: what went wrong; ``message`` is free text."""

    model_config = ConfigDict(strict=True, extra="allow")

    type: str | None = None
    message: str | None = None


class Reference(BaseModel):
    """One document a ``retrieval`` used."""

    model_config = ConfigDict(strict=True, extra="allow")

    id: str
    version: str | None = None
    uri: str | None = None
    updated_at: Timestamp | None = None


class TraceEvent(BaseModel):
    """One trace event, v1. Field order follows events.md.

    Unknown top-level keys are moved into ``attributes`` before validation
    (forward compatibility). An explicit JSON ``null`` is refused for every
    optional field except ``tool_result`` (whose value is any JSON): the
    contract types them as strings, numbers or objects, and the JSON Schema
    refuses ``null`` the same way.
    """

    model_config = ConfigDict(strict=True, extra="forbid", use_enum_values=True)

    schema_version: Literal["1"]
    event_id: Id128
    event_type: Annotated[EventType, Field(strict=False)]  # a str in, one of the enum values
    ts: Timestamp
    run_id: Id128
    workflow: Id128
    workflow_version: Annotated[str, Field(min_length=1, max_length=64)]
    tenant: str = "default"
    team: str | None = None
    release: str | None = None
    environment: str = "production"
    agent: str | None = None
    span_id: str | None = None
    parent_span_id: str | None = None
    duration_ms: NonNegative | None = None
    status: Literal["ok", "error"] = "ok"
    error: ErrorInfo | None = None
    attributes: dict[str, Any] | None = None

    # run_started / run_finished
    input: str | None = None
    initiator: Literal["human", "system", "agent"] | None = None
    outcome: Outcome | None = None
    output: str | None = None
    outcome_reason: str | None = None
    # llm_call
    model: str | None = None
    provider: str | None = None
    model_tier: str | None = None
    input_tokens: Count | None = None
    cached_input_tokens: Count | None = None
    output_tokens: Count | None = None
    cost_usd: NonNegative | None = None
    prompt: str | None = None
    completion: str | None = None
    # tool_call
    tool_name: str | None = None
    tool_args: dict[str, Any] | None = None
    tool_result: Any = None
    schema_valid: bool | None = None
    success: bool | None = None
    mutating: bool | None = None
    idempotency_key: str | None = None
    retry_of: str | None = None
    # retrieval
    query: str | None = None
    references: list[Reference] | None = None
    # policy_decision / approval
    action: str | None = None
    risk_tier: Literal["green", "yellow", "red"] | None = None
    rule: str | None = None
    decision: Decision | None = None
    approver: str | None = None
    wait_ms: NonNegative | None = None
    # escalation / fallback
    reason: str | None = None
    detail: str | None = None
    trigger_event_id: str | None = None
    # postcondition_check
    check: str | None = None
    passed: bool | None = None
    # budget_exceeded
    budget: Literal["tokens", "tool_calls", "retries", "cost", "time"] | None = None
    limit: float | None = None
    used: float | None = None
    # custom
    name: str | None = None
    # outcome_confirmed (sent late by the system of record: which run it settles is run_id, or the
    # idempotency_key of one of the run's mutating tool calls; metrics.md "Confirmed outcomes")
    confirmation: Literal["confirmed", "reversed"] | None = None
    confirmation_source: str | None = None
    amount: float | None = None
    currency: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _forward_compatible(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        known = cls.model_fields
        for key, value in data.items():
            if value is None and key in known and key not in NULLABLE_FIELDS:
                raise PydanticCustomError(
                    "contract", "{field}: must not be null (omit the field instead)",
                    {"field": key},
                )
        unknown = [key for key in data if key not in known]
        if not unknown:
            return data
        attributes = data.get("attributes")
        if attributes is None:
            attributes = {}
        if not isinstance(attributes, dict):
            # Let the field validator name the problem.
            return data
        moved = {key: value for key, value in data.items() if key in known}
        merged = dict(attributes)
        for key in unknown:
            # An explicit attribute wins over a same-named unknown top-level key.
            merged.setdefault(key, data[key])
        moved["attributes"] = merged
        return moved

    @model_validator(mode="after")
    def _per_type_rules(self) -> TraceEvent:
        event_type = EventType(self.event_type)
        for field in REQUIRED_BY_TYPE[event_type]:
            if getattr(self, field) is None:
                raise PydanticCustomError(
                    "contract",
                    "{field}: required for event_type {event_type}",
                    {"field": field, "event_type": event_type.value},
                )
        allowed = DECISIONS_BY_TYPE.get(event_type)
        if allowed is not None and self.decision not in allowed:
            raise PydanticCustomError(
                "contract",
                "{field}: must be one of {allowed} for event_type {event_type}",
                {"field": "decision", "allowed": ", ".join(allowed), "event_type": event_type.value},
            )
        return self

    def to_wire(self) -> dict[str, Any]:
        """The normalised JSON form: UTC ``ts``, defaults filled, absent fields left out."""
        wire = self.model_dump(mode="json", exclude_none=True)
        if "tool_result" in self.model_fields_set and self.tool_result is None:
            wire["tool_result"] = None  # an explicit null result is data, not absence
        return wire


NULLABLE_FIELDS = frozenset({"tool_result"})
FIELD_NAMES: tuple[str, ...] = tuple(TraceEvent.model_fields)
