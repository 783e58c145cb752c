"""Which values of an event the redactor reads, derived from the contract model.

The walk is driven by :class:`~tracelake.contract.model.TraceEvent` itself, not by a
list of text fields: :data:`EVENT_SHAPE` is computed from ``TraceEvent.model_fields``
and their annotations (nested models such as ``error`` and ``references[]``
included), so a field a later contract version adds is walked the day it is added.

The rule (redaction.md, "What is walked"): **every string is redacted**, at every
depth, object keys as well as values, except

- the fields of :data:`IDENTIFIER_FIELDS`, an explicit allow-list of identifiers
  and deployment labels that joins, deduplication, tenancy and metric groupings
  use verbatim;
- a value of a field typed as a closed vocabulary (a ``Literal`` or an ``Enum``:
  ``event_type``, ``status``, ``initiator``, ``decision``, ...) that *is* one of
  its allowed values;
- a value of a timestamp-typed field (``ts``, ``references[].updated_at``) that
  *is* an RFC 3339 timestamp.

A kept-by-type field holding anything else (possible only in an event that
skipped validation) is walked like any JSON value: the exemptions are about
values, so nothing unexpected slips through under a trusted name. Keys of the
model's own fields are field names and stay; every other key (inside
``tool_args``, ``tool_result``, ``attributes``, extra keys of ``error`` and of a
reference, unknown top-level keys) is redacted like a value.

Numbers, booleans and ``null`` are not text and are never changed (except whole
values under a telling key, see :mod:`~tracelake.transforms.redact.keys`).
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum, auto
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from tracelake.contract.model import TraceEvent

# Kept verbatim, never analysed. Each is an identifier or a deployment label that
# something downstream needs unchanged; a false positive in one (a run id or a
# tool name read as a name) would silently split or merge what the lake joins on.
# Senders must not put personal data in them (events.md); a value here is stored as
# sent. Person fields (``approver``) and short codes (``reason``, ``action``,
# ``rule``, ``check``, ``name``, ``error.type``, ``idempotency_key``) are NOT here:
# they are redacted like text; redaction is deterministic, so groupings still hold,
# and an opaque id (``ops-lead``, ``low_confidence``) comes out unchanged.
IDENTIFIER_FIELDS: frozenset[str] = frozenset({
    # identity, deduplication and joins between events
    "event_id", "run_id", "span_id", "parent_span_id", "trigger_event_id", "retry_of",
    # tenancy: API keys are scoped by it; changing it would move data between tenants
    "tenant",
    # metric dimensions set by the deployment, not by end users
    "workflow", "workflow_version", "team", "release", "environment", "agent",
    "model", "provider", "model_tier", "tool_name",
})


class Kind(Enum):
    """How a value of one field is treated."""

    TEXT = auto()  # any JSON: every string in it, and every key, is redacted
    IDENTIFIER = auto()  # a string is kept verbatim (IDENTIFIER_FIELDS)
    VOCABULARY = auto()  # a string among ``vocabulary`` is kept; anything else is TEXT
    TIMESTAMP = auto()  # an RFC 3339 string is kept; anything else is TEXT
    OBJECT = auto()  # a nested model: declared ``fields`` by their shapes, extra keys as TEXT
    LIST = auto()  # a list whose items have shape ``item``


@dataclass(frozen=True, slots=True, eq=True)
class Shape:
    kind: Kind
    vocabulary: frozenset[str] = frozenset()
    fields: Mapping[str, Shape] = field(default_factory=dict)
    item: Shape | None = None


TEXT = Shape(Kind.TEXT)
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")


def is_timestamp(value: object) -> bool:
    """True for a value a timestamp field may keep: a ``datetime`` or an RFC 3339 string."""
    return isinstance(value, datetime) or (isinstance(value, str) and _RFC3339.fullmatch(value) is not None)


def shape_of(annotation: Any) -> Shape:
    """The shape of one annotation. Anything not recognised is :data:`TEXT` (walked whole):
    an unknown type can only make the walk read more, never less."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return shape_of(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        options = [a for a in get_args(annotation) if a is not type(None)]
        shapes = [shape_of(a) for a in options]
        # ``X | None`` is X; a union of different shapes is walked whole.
        return shapes[0] if shapes and all(s == shapes[0] for s in shapes) else TEXT
    if origin is Literal:
        values = get_args(annotation)
        if all(isinstance(v, str) for v in values):
            return Shape(Kind.VOCABULARY, vocabulary=frozenset(values))
        return TEXT
    if origin in (list, tuple) and get_args(annotation):
        return Shape(Kind.LIST, item=shape_of(get_args(annotation)[0]))
    if isinstance(annotation, type):
        if issubclass(annotation, Enum):
            return Shape(Kind.VOCABULARY, vocabulary=frozenset(str(m.value) for m in annotation))
        if issubclass(annotation, datetime):
            return Shape(Kind.TIMESTAMP)
        if issubclass(annotation, BaseModel):
            return model_shape(annotation)
    return TEXT


def model_shape(model: type[BaseModel], identifiers: frozenset[str] = frozenset()) -> Shape:
    """The shape of a pydantic model: each declared field by its annotation (those named in
    ``identifiers`` kept verbatim). Keys not declared (``extra="allow"``) are walked as TEXT."""
    fields: dict[str, Shape] = {}
    for name, info in model.model_fields.items():
        fields[name] = Shape(Kind.IDENTIFIER) if name in identifiers else shape_of(info.annotation)
    return Shape(Kind.OBJECT, fields=fields)


EVENT_SHAPE = model_shape(TraceEvent, IDENTIFIER_FIELDS)


def unwalked_fields(shape: Shape = EVENT_SHAPE, prefix: str = "") -> dict[str, Kind]:
    """Every field path whose value (when well-typed) is not analysed, with the reason
    (``references[].updated_at``-style paths for nested models). The tests assert this is
    exactly the allow-list plus the closed vocabularies and timestamps."""
    out: dict[str, Kind] = {}
    for name, sub in shape.fields.items():
        path = f"{prefix}{name}"
        while sub.kind is Kind.LIST and sub.item is not None:
            sub, path = sub.item, f"{path}[]"
        if sub.kind in (Kind.IDENTIFIER, Kind.VOCABULARY, Kind.TIMESTAMP):
            out[path] = sub.kind
        elif sub.kind is Kind.OBJECT:
            out.update(unwalked_fields(sub, f"{path}."))
    return out
