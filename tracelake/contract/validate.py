"""Bytes or a parsed object in, a :class:`TraceEvent` or a :class:`Rejection` out.

This is the one gate every surface uses (SDK with ``validate=True``, the
Kafka consumer, ``ingest-file``, ``redact``, the HTTP API). It never raises
for bad input: every problem becomes a ``Rejection`` whose ``reason`` names
the field first (``ts: timestamp has no UTC offset``) so a dead-letter row
says what to fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from tracelake.contract.model import TraceEvent

DEFAULT_MAX_EVENT_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why one input was refused.

    ``code`` is a short machine-readable kind (``too_large``, ``bad_json``,
    ``not_object``, ``invalid``); ``field`` is the offending field's dotted path
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
        return Rejection(code="bad_json", reason=f"not valid JSON: {exc}")
    if not isinstance(obj, dict):
        return Rejection(code="not_object", reason=f"event must be a JSON object, got {type(obj).__name__}")
    return obj


def validate_object(obj: dict[str, Any]) -> TraceEvent | Rejection:
    """A decoded JSON object → a validated, normalised event or its rejection."""
    try:
        return TraceEvent.model_validate(obj)
    except ValidationError as exc:
        return rejection_from_error(exc)


def validate_event(
    payload: bytes | str | dict[str, Any], max_bytes: int = DEFAULT_MAX_EVENT_BYTES
) -> TraceEvent | Rejection:
    """Full gate: size, JSON, contract. Never raises for bad input."""
    if isinstance(payload, dict):
        return validate_object(payload)
    try:
        raw = payload.encode() if isinstance(payload, str) else payload
    except UnicodeEncodeError as exc:
        return Rejection(code="bad_json", reason=f"not valid UTF-8 text: {exc.reason}")
    decoded = decode(raw, max_bytes)
    if isinstance(decoded, Rejection):
        return decoded
    return validate_object(decoded)
