"""The project's generated JSON Schema, the contract's schema and the validator agree."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from tests.helpers import CONTRACT
from tracelake.contract import TraceEvent, validate_event
from tracelake.contract.schema import trace_event_schema

from .test_validate import INVALID, examples, with_


def validators() -> tuple[Draft202012Validator, Draft202012Validator]:
    contract = orjson.loads((CONTRACT / "trace-event.v1.schema.json").read_bytes())
    ours = trace_event_schema()
    Draft202012Validator.check_schema(ours)
    checker = FormatChecker()
    return Draft202012Validator(contract, format_checker=checker), Draft202012Validator(ours, format_checker=checker)


VALID_EXTRA = [
    with_(unknown_top_level="kept"),
    with_(ts="2026-11-24T10:00:00+05:30"),
    with_(tool_result=None),
    with_(event_type="llm_call", model="m", input_tokens=3.0),
    with_(event_type="retrieval", references=[{"id": "kb-1", "updated_at": "2026-01-01T00:00:00Z"}]),
    with_(error={"type": "Timeout", "message": "took too long", "code": 504}),
]

CASES = [(f"example-{i}", e, True) for i, e in enumerate(examples())]
CASES += [(f"valid-{i}", e, True) for i, e in enumerate(VALID_EXTRA)]
CASES += [(case, event, False) for case, event, _, _ in INVALID]


@pytest.mark.parametrize(("case", "event", "valid"), CASES, ids=[c[0] for c in CASES])
def test_schemas_and_validator_agree(case: str, event: dict, valid: bool) -> None:
    contract, ours = validators()
    assert contract.is_valid(event) is valid, f"contract schema on {case}"
    assert ours.is_valid(event) is valid, f"project schema on {case}"
    assert isinstance(validate_event(orjson.dumps(event)), TraceEvent) is valid, f"validator on {case}"


def test_schema_command_prints_the_same_schema(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tracelake.cli.main import cli

    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    assert orjson.loads(result.output) == trace_event_schema()
