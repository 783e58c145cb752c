"""The body of ``POST /v1/events`` → accepted events and per-item refusals.

Pure (no FastAPI, no Kafka) so it is unit tested on its own. Contract:

- A body whose first non-blank byte is ``[`` is a JSON array of events;
  anything else is NDJSON (one event per line, blank lines skipped; a single
  JSON object is a one-line NDJSON body).
- Each item goes through the one gate :func:`tracelake.contract.validate_event`
  (size, JSON, contract). An unparseable *array* is a malformed body
  (:class:`BadBody`); an unparseable NDJSON *line* is that item's refusal.
- Tenant rule (api.md): for a key scoped to tenant T, an event naming another
  tenant is refused with ``tenant: key is scoped to T``; an event without
  ``tenant`` gets T. An all-tenant key leaves events as they are.
- Accepted events are re-encoded in their normalised wire form
  (:meth:`TraceEvent.to_wire`), keyed by ``run_id``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from tracelake.api.keys import ApiKey
from tracelake.contract import Rejection, TraceEvent, decode, validate_object
from tracelake.contract.validate import check_depth
from tracelake.errors import UserError


class BadBody(UserError, ValueError):
    """The body as a whole is not a JSON array or NDJSON of events."""


@dataclass(frozen=True, slots=True)
class Refusal:
    index: int
    reason: str
    code: str
    event_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "reason": self.reason}
        if self.event_id is not None:
            out["event_id"] = self.event_id
        return out


@dataclass
class Outcome:
    records: list[tuple[bytes, bytes]] = field(default_factory=list)  # (key = run_id, value = JSON)
    event_ids: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.event_ids) + len(self.refused)


def split_body(body: bytes, max_event_bytes: int) -> list[bytes | dict[str, Any] | Rejection]:
    """The body's items: raw NDJSON lines, parsed array items, or an item's rejection."""
    stripped = body.lstrip()
    if not stripped:
        raise BadBody("the body is empty: send a JSON array or NDJSON of events")
    if stripped[:1] == b"[":
        try:
            items = orjson.loads(stripped)
        except orjson.JSONDecodeError as exc:
            raise BadBody(f"the body is not a valid JSON array: {exc}") from None
        if not isinstance(items, list):
            raise BadBody("the body must be a JSON array or NDJSON of events")
        if not items:
            raise BadBody("the body is an empty array: send at least one event")
        return split_objects(items, max_event_bytes)
    return [line.rstrip(b"\r") for line in stripped.split(b"\n") if line.strip()]


def _event_id(obj: dict[str, Any]) -> str | None:
    value = obj.get("event_id")
    return value if isinstance(value, str) else None


def admit(obj: dict[str, Any], key: ApiKey) -> TraceEvent | Rejection:
    """Tenant rule, then the contract."""
    if not key.all_tenants:
        if "tenant" not in obj:
            obj = {**obj, "tenant": key.tenant}
        elif obj["tenant"] != key.tenant:
            return Rejection("tenant", f"tenant: key is scoped to {key.tenant}", field="tenant")
    return validate_object(obj)


def process(items: list[bytes | dict[str, Any] | Rejection], key: ApiKey, max_event_bytes: int) -> Outcome:
    outcome = Outcome()
    for index, item in enumerate(items):
        obj: dict[str, Any] | Rejection = decode(item, max_event_bytes) if isinstance(item, bytes) else item
        event_id = _event_id(obj) if isinstance(obj, dict) else None
        result = admit(obj, key) if isinstance(obj, dict) else obj
        if isinstance(result, Rejection):
            outcome.refused.append(Refusal(index, result.reason, result.code, event_id))
            continue
        outcome.records.append((result.run_id.encode(), orjson.dumps(result.to_wire())))
        outcome.event_ids.append(result.event_id)
    return outcome


def process_events(events: list[dict[str, Any]], key: ApiKey, max_event_bytes: int) -> Outcome:
    """Already-built event objects (the OTLP mapping) through the same gate."""
    return process(split_objects(events, max_event_bytes), key, max_event_bytes)


def split_objects(events: list[Any], max_event_bytes: int) -> list[bytes | dict[str, Any] | Rejection]:
    """Parsed items → the objects to admit, or each one's rejection (not an object, too large).

    An object nested past the contract's depth limit is passed on unmeasured:
    orjson's encoder raises past 254 levels, and the gate (the contract's
    validator) refuses it with its reason and event id anyway.
    """
    out: list[bytes | dict[str, Any] | Rejection] = []
    for event in events:
        if not isinstance(event, dict):
            out.append(Rejection("not_object", f"event must be a JSON object, got {type(event).__name__}"))
            continue
        if check_depth(event) is not None:
            out.append(event)
            continue
        size = len(orjson.dumps(event))
        if size > max_event_bytes:
            out.append(Rejection("too_large", f"too_large: event is {size} bytes, the limit is {max_event_bytes}"))
        else:
            out.append(event)
    return out
