"""Bytes or a parsed object in, a :class:`TraceEvent` or a :class:`Rejection` out.

This is the one gate every surface uses (SDK with ``validate=True``, the
Kafka consumer, ``ingest-file``, ``redact``, the HTTP API). It never raises
for bad input: every problem becomes a ``Rejection`` whose ``reason`` names
the field first (``ts: timestamp has no UTC offset``) so a dead-letter row
says what to fix.

Limits checked here, besides the contract itself (``docs/contract/events.md``):

- **Size**: at most ``max_bytes`` (1 MiB by default) of encoded JSON, checked
  before parsing (``too_large``).
- **Depth**: the value of any field (``attributes``, ``tool_args``,
  ``tool_result``, ``error``, ``references``, an unknown top-level key …) may
  nest at most :data:`MAX_NESTING_DEPTH` (64) levels of JSON objects and
  arrays; ``{"a": 1}`` is one level, ``{"a": [1]}`` two. Deeper is refused
  (``too_deep``) before the model sees it, by an iterative walk, so no depth
  can raise ``RecursionError`` or fail later when the event is serialised. A
  document too deep for the JSON parser itself (1024 levels) is refused the
  same way.
- **Time range**: ``ts`` must be at or after :data:`EARLIEST_TS`
  (1970-01-01T00:00:00Z) and at most ``max_future`` (:data:`MAX_FUTURE`,
  24 h) ahead of the validator's clock (``now``). Every accepted event thus
  lands in an ``event_date=YYYY-MM-DD`` partition the views read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from pydantic import ValidationError

from tracelake.contract.model import TraceEvent, format_timestamp

DEFAULT_MAX_EVENT_BYTES = 1024 * 1024
MAX_NESTING_DEPTH = 64
EARLIEST_TS = datetime(1970, 1, 1, tzinfo=UTC)
MAX_FUTURE = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why one input was refused.

    ``code`` is a short machine-readable kind (``too_large``, ``too_deep``,
    ``bad_json``, ``not_object``, ``invalid``); ``field`` is the offending field's dotted path
    when there is one; ``reason`` is the one line stored with a dead letter.
    """

    code: str
    reason: str
    field: str | None = None


_MESSAGES = {
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "list_type": "must be an array",
    "missing": "required field is missing",
    "extra_forbidden": "unknown field",
}


def _length_bounds(field: str | None) -> str:
    """``1–128`` for a bounded contract field, from the model's own constraints."""
    low, high = 0, None
    info = TraceEvent.model_fields.get(field or "")
    for constraint in info.metadata if info else ():
        low = getattr(constraint, "min_length", None) or low
        high = getattr(constraint, "max_length", None) or high
    return f"{low}–{high}" if high else f"at least {low}"


def _field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def rejection_from_error(exc: ValidationError) -> Rejection:
    """The first error of a validation failure as one line that names the field."""
    first = exc.errors(include_url=False)[0]
    kind = first["type"]
    ctx = first.get("ctx") or {}
    if kind == "contract":
        message = first["msg"]
        field = ctx.get("field") or _field_path(first["loc"]) or None
        if field and not message.startswith(f"{field}:"):
            message = f"{field}: {message}"
        return Rejection(code="invalid", reason=message, field=field)
    field = _field_path(first["loc"]) or None
    if kind == "literal_error" or kind == "enum":
        text = f"must be one of {ctx.get('expected', '')}"
    elif kind in {"string_too_short", "string_too_long"}:
        text = f"must be {_length_bounds(field)} characters"
    elif kind in {"greater_than_equal", "greater_than"}:
        text = "must be ≥ 0"
    else:
        text = _MESSAGES.get(kind) or first["msg"][:1].lower() + first["msg"][1:]
    extra = len(exc.errors()) - 1
    if extra:
        text += f" (and {extra} more problem{'s' if extra > 1 else ''})"
    return Rejection(code="invalid", reason=f"{field}: {text}" if field else text, field=field)


def _too_deep(field: str | None) -> Rejection:
    text = f"nested more than {MAX_NESTING_DEPTH} levels deep (JSON objects and arrays)"
    return Rejection(code="too_deep", reason=f"{field}: {text}" if field else text, field=field)


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests more than ``limit`` levels of dicts/lists (a scalar is 0 levels).

    Iterative and stops at the first branch past the limit: safe for any depth.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        depth += 1
        if depth > limit:
            return True
        stack.extend((child, depth) for child in children if isinstance(child, dict | list | tuple))
    return False


def check_depth(obj: dict[str, Any], limit: int = MAX_NESTING_DEPTH) -> Rejection | None:
    """The rejection naming the first field whose value nests more than ``limit`` levels, else None."""
    for field, value in obj.items():
        if isinstance(value, dict | list | tuple) and nested_deeper_than(value, limit):
            return _too_deep(str(field))
    return None


def check_time_range(ts: datetime, now: datetime | None = None, max_future: timedelta = MAX_FUTURE
                     ) -> Rejection | None:
    """The rejection of a ``ts`` outside [1970-01-01, now + ``max_future``], else None."""
    if ts < EARLIEST_TS:
        return Rejection(code="invalid", field="ts",
                         reason=f"ts: {format_timestamp(ts)} is before 1970-01-01T00:00:00Z, the earliest accepted")
    clock = now or datetime.now(UTC)
    if ts > clock + max_future:
        hours = f"{max_future.total_seconds() / 3600:g}"
        return Rejection(code="invalid", field="ts",
                         reason=f"ts: {format_timestamp(ts)} is more than {hours} h in the future "
                                f"(the validator's clock reads {format_timestamp(clock)})")
    return None


def decode(payload: bytes, max_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> dict[str, Any] | Rejection:
    """Bytes → a JSON object, or the reason it is not one (size first, so a huge
    payload is never parsed)."""
    if len(payload) > max_bytes:
        return Rejection(
            code="too_large",
            reason=f"too_large: event is {len(payload)} bytes, the limit is {max_bytes}",
        )
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):  # orjson's own bound (1024 levels)
            return _too_deep(None)
        return Rejection(code="bad_json", reason=f"not valid JSON: {exc}")
    if not isinstance(obj, dict):
        return Rejection(code="not_object", reason=f"event must be a JSON object, got {type(obj).__name__}")
    return obj


def validate_object(
    obj: dict[str, Any], *, now: datetime | None = None, max_future: timedelta = MAX_FUTURE
) -> TraceEvent | Rejection:
    """A decoded JSON object → a validated, normalised event or its rejection.

    Depth first (before the model walks the value), then the contract, then
    the ``ts`` range against ``now`` (the current time when None).
    """
    deep = check_depth(obj)
    if deep is not None:
        return deep
    try:
        event = TraceEvent.model_validate(obj)
    except ValidationError as exc:
        return rejection_from_error(exc)
    except (RecursionError, ValueError) as exc:  # belt and braces: never raise for bad input
        return Rejection(code="invalid", reason=f"the event could not be validated: {exc}")
    return check_time_range(event.ts, now, max_future) or event


def validate_event(
    payload: bytes | str | dict[str, Any], max_bytes: int = DEFAULT_MAX_EVENT_BYTES, *,
    now: datetime | None = None, max_future: timedelta = MAX_FUTURE,
) -> TraceEvent | Rejection:
    """Full gate: size, JSON, depth, contract, time range. Never raises for bad input."""
    if isinstance(payload, dict):
        return validate_object(payload, now=now, max_future=max_future)
    try:
        raw = payload.encode() if isinstance(payload, str) else payload
    except UnicodeEncodeError as exc:
        return Rejection(code="bad_json", reason=f"not valid UTF-8 text: {exc.reason}")
    decoded = decode(raw, max_bytes)
    if isinstance(decoded, Rejection):
        return decoded
    return validate_object(decoded, now=now, max_future=max_future)
