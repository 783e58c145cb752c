"""The project's JSON Schema for trace event v1, generated from the model.

Generated rather than hand-kept so it cannot drift from the validator: types
and bounds come from :class:`TraceEvent`, the per-type rules from
``REQUIRED_BY_TYPE`` / ``DECISIONS_BY_TYPE``. ``tests/contract`` proves it
accepts and rejects what the contract's own schema does.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from tracelake.contract.model import DECISIONS_BY_TYPE, REQUIRED_BY_TYPE, TraceEvent

SCHEMA_ID = "tracelake/trace-event.v1.schema.json"


class _ContractSchema(GenerateJsonSchema):
    # Optional fields are "absent or of this type", never null (see TraceEvent).
    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        inner = self.generate_inner(schema["schema"])
        if schema.get("default") is not None:
            inner = {**inner, "default": schema["default"]}
        return inner


def _per_type_rules() -> list[dict[str, Any]]:
    rules = []
    for event_type, required in REQUIRED_BY_TYPE.items():
        then: dict[str, Any] = {}
        if required:
            then["required"] = list(required)
        if event_type in DECISIONS_BY_TYPE:
            then["properties"] = {"decision": {"enum": list(DECISIONS_BY_TYPE[event_type])}}
        if then:
            rules.append(
                {
                    "if": {
                        "properties": {"event_type": {"const": event_type.value}},
                        "required": ["event_type"],
                    },
                    "then": then,
                }
            )
    return rules


def trace_event_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one trace event."""
    schema = TraceEvent.model_json_schema(schema_generator=_ContractSchema)
    schema["additionalProperties"] = True  # unknown keys are kept in attributes
    for definition in schema.get("$defs", {}).values():
        if definition.get("type") == "object":
            definition["additionalProperties"] = True
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
        "allOf": _per_type_rules(),
    }
