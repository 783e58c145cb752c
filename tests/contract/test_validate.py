"""The contract gate: every example accepted, every invalid case rejected with a reason naming the field."""

from __future__ import annotations

from copy import deepcopy
from datetime import UTC, datetime

import orjson
import pytest

from tests.helpers import CONTRACT
from tracelake.contract import Rejection, TraceEvent, validate_event


def examples() -> list[dict]:
    return [orjson.loads(line) for line in (CONTRACT / "examples.jsonl").read_bytes().splitlines() if line.strip()]


BASE = {
    "schema_version": "1",
    "event_id": "e-1",
    "event_type": "tool_call",
    "ts": "2026-11-24T10:00:00.000Z",
    "run_id": "r-1",
    "workflow": "refund_request",
    "workflow_version": "v3",
    "tool_name": "get_order",
}


def with_(**changes: object) -> dict:
    event = deepcopy(BASE)
    for key, value in changes.items():
        if value is ...:
            event.pop(key, None)
        else:
            event[key] = value
    return event


# (case id, event, field named first in the reason, words the reason contains)
INVALID = [
    ("no-schema-version", with_(schema_version=...), "schema_version", "required"),
    ("wrong-schema-version", with_(schema_version="2"), "schema_version", "one of"),
    ("schema-version-number", with_(schema_version=1), "schema_version", ""),
    ("empty-event-id", with_(event_id=""), "event_id", "1–128"),
    ("long-event-id", with_(event_id="x" * 129), "event_id", "1–128"),
    ("unknown-type", with_(event_type="thought"), "event_type", "one of"),
    ("naive-ts", with_(ts="2026-11-24T10:00:00"), "ts", "no UTC offset"),
    ("naive-ts-space", with_(ts="2026-11-24 10:00:00.5"), "ts", "no UTC offset"),
    ("garbage-ts", with_(ts="yesterday"), "ts", "RFC 3339"),
    ("numeric-ts", with_(ts=1732442400), "ts", "RFC 3339"),
    ("bad-date", with_(ts="2026-02-30T10:00:00Z"), "ts", "valid"),
    ("no-run-id", with_(run_id=...), "run_id", "required"),
    ("no-workflow", with_(workflow=...), "workflow", "required"),
    ("long-version", with_(workflow_version="v" * 65), "workflow_version", "1–64"),
    ("negative-duration", with_(duration_ms=-1), "duration_ms", "≥ 0"),
    ("string-duration", with_(duration_ms="12"), "duration_ms", "number"),
    ("bad-status", with_(status="failed"), "status", "one of"),
    ("error-not-object", with_(error="boom"), "error", "object"),
    ("attributes-not-object", with_(attributes=[1, 2]), "attributes", "object"),
    ("null-team", with_(team=None), "team", "null"),
    ("tool-without-name", with_(tool_name=...), "tool_name", "required for event_type tool_call"),
    ("schema-valid-string", with_(schema_valid="true"), "schema_valid", "true or false"),
    ("tool-args-not-object", with_(tool_args="order_id=1"), "tool_args", "object"),
    ("run-finished-no-outcome", with_(event_type="run_finished", tool_name=...), "outcome", "required"),
    ("bad-outcome", with_(event_type="run_finished", outcome="great"), "outcome", "one of"),
    ("llm-no-model", with_(event_type="llm_call"), "model", "required"),
    ("negative-tokens", with_(event_type="llm_call", model="m", input_tokens=-5), "input_tokens", "≥ 0"),
    ("fractional-tokens", with_(event_type="llm_call", model="m", output_tokens=1.5), "output_tokens", "integer"),
    ("negative-cost", with_(event_type="llm_call", model="m", cost_usd=-0.01), "cost_usd", "≥ 0"),
    ("policy-missing-tier", with_(event_type="policy_decision", action="refund", decision="allow"), "risk_tier",
     "required"),
    ("policy-approval-decision", with_(event_type="policy_decision", action="refund", risk_tier="red",
                                       decision="approved"), "decision", "allow, require_approval, block"),
    ("approval-policy-decision", with_(event_type="approval", action="refund", decision="block"), "decision",
     "approved, rejected, expired"),
    ("bad-risk-tier", with_(event_type="policy_decision", action="a", risk_tier="orange", decision="allow"),
     "risk_tier", "one of"),
    ("escalation-no-reason", with_(event_type="escalation"), "reason", "required"),
    ("fallback-no-reason", with_(event_type="fallback"), "reason", "required"),
    ("check-no-passed", with_(event_type="postcondition_check", check="amount_ok"), "passed", "required"),
    ("budget-unknown", with_(event_type="budget_exceeded", budget="memory"), "budget", "one of"),
    ("custom-no-name", with_(event_type="custom"), "name", "required"),
    ("reference-without-id", with_(event_type="retrieval", references=[{"uri": "kb://1"}]), "references.0.id",
     "required"),
    ("bad-initiator", with_(event_type="run_started", initiator="robot"), "initiator", "one of"),
]


@pytest.mark.parametrize("line", range(12))
def test_every_contract_example_is_valid(line: int) -> None:
    event = examples()[line]
    result = validate_event(orjson.dumps(event))
    assert isinstance(result, TraceEvent), getattr(result, "reason", "")
    assert result.event_id == event["event_id"]


@pytest.mark.parametrize(("case", "event", "field", "words"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_case_rejected_naming_the_field(case: str, event: dict, field: str, words: str) -> None:
    result = validate_event(orjson.dumps(event))
    assert isinstance(result, Rejection), f"{case} was accepted"
    assert result.reason.startswith(f"{field}: "), result.reason
    assert words in result.reason
    assert result.field == field


def test_examples_file_has_the_twelve_events_the_tests_cover() -> None:
    assert len(examples()) == 12


def test_timestamp_normalised_to_utc() -> None:
    event = validate_event(orjson.dumps(with_(ts="2026-11-24T12:15:00.123456789+02:00")))
    assert isinstance(event, TraceEvent)
    assert event.ts == datetime(2026, 11, 24, 10, 15, 0, 123456, tzinfo=UTC)
    assert event.to_wire()["ts"] == "2026-11-24T10:15:00.123Z"


def test_unknown_fields_move_into_attributes() -> None:
    event = validate_event(orjson.dumps(with_(customer_tier="gold", attributes={"a": 1, "customer_tier": "keep"},
                                              nested={"x": [1]})))
    assert isinstance(event, TraceEvent)
    assert event.attributes == {"a": 1, "customer_tier": "keep", "nested": {"x": [1]}}
    assert "customer_tier" not in event.to_wire()


def test_defaults_filled() -> None:
    event = validate_event(orjson.dumps(BASE))
    assert isinstance(event, TraceEvent)
    assert (event.tenant, event.environment, event.status) == ("default", "production", "ok")


def test_tool_result_may_be_null() -> None:
    event = validate_event(orjson.dumps(with_(tool_result=None)))
    assert isinstance(event, TraceEvent)
    assert event.to_wire()["tool_result"] is None


def test_integral_float_is_an_integer_like_json_schema_says() -> None:
    event = validate_event(orjson.dumps(with_(event_type="llm_call", model="m", input_tokens=3.0)))
    assert isinstance(event, TraceEvent) and event.input_tokens == 3


@pytest.mark.parametrize(
    ("payload", "code", "words"),
    [
        (b"{not json", "bad_json", "not valid JSON"),
        (b"[1, 2]", "not_object", "JSON object"),
        (b"\"text\"", "not_object", "JSON object"),
        (b"", "bad_json", "not valid JSON"),
        (b"\xff\xfe{}", "bad_json", "not valid JSON"),
    ],
)
def test_undecodable_input_rejected(payload: bytes, code: str, words: str) -> None:
    result = validate_event(payload)
    assert isinstance(result, Rejection)
    assert result.code == code and words in result.reason


def test_too_large_rejected_before_parsing() -> None:
    big = with_(attributes={"blob": "x" * (1024 * 1024)})
    result = validate_event(orjson.dumps(big))
    assert isinstance(result, Rejection)
    assert result.code == "too_large" and result.reason.startswith("too_large")
    assert isinstance(validate_event(orjson.dumps(big), max_bytes=4 * 1024 * 1024), TraceEvent)


# --- depth and range (issue 11, item 5) -------------------------------------------------------------------------

def nested(depth: int, leaf: object = 1) -> object:
    """A JSON value ``depth`` levels of objects and arrays deep (alternating)."""
    value = leaf
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return value


@pytest.mark.parametrize("field", ["attributes", "tool_args", "tool_result", "error", "unknown_top_level_key"])
def test_nesting_deeper_than_the_limit_is_refused_naming_the_field(field: str) -> None:
    from tracelake.contract.validate import MAX_NESTING_DEPTH

    assert MAX_NESTING_DEPTH == 64
    deep = {"k": nested(MAX_NESTING_DEPTH)}  # an object holding 64 more levels: 65 in all
    for payload in (orjson.dumps(with_(**{field: deep})), with_(**{field: deep})):
        result = validate_event(payload)
        assert isinstance(result, Rejection), f"{field} nested 65 deep was accepted"
        assert result.code == "too_deep"
        assert result.field == field
        assert result.reason == f"{field}: nested more than 64 levels deep (JSON objects and arrays)"


@pytest.mark.parametrize("field", ["attributes", "tool_args", "error"])
def test_nesting_at_the_limit_is_accepted_and_serialises(field: str) -> None:
    ok = {"k": nested(63)}  # 64 levels in all
    result = validate_event(orjson.dumps(with_(**{field: ok})))
    assert isinstance(result, TraceEvent), getattr(result, "reason", "")
    assert orjson.loads(orjson.dumps(result.to_wire()))[field] == ok


@pytest.mark.parametrize("depth", [65, 300, 1000, 1100, 5000, 100_000])
def test_any_depth_is_a_rejection_never_an_exception(depth: int) -> None:
    raw = b'{"schema_version":"1","event_id":"e","attributes":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"
    result = validate_event(raw)
    assert isinstance(result, Rejection)
    assert result.code == "too_deep" and "nested more than 64 levels" in result.reason


def test_deep_references_are_refused_too() -> None:
    refs = [{"id": "doc-1", "extra": nested(70)}]
    result = validate_event(orjson.dumps(with_(event_type="retrieval", references=refs)))
    assert isinstance(result, Rejection) and result.code == "too_deep" and result.field == "references"


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.mark.parametrize(
    ("ts", "words"),
    [
        ("1969-12-31T23:59:59.999Z", "before 1970-01-01"),
        ("0999-01-01T00:00:00Z", "before 1970-01-01"),
        ("0001-01-01T00:00:00Z", "before 1970-01-01"),
        ("1970-01-01T00:30:00+01:00", "before 1970-01-01"),
        ("9999-12-31T23:59:59Z", "in the future"),
    ],
)
def test_timestamp_outside_the_range_refused(ts: str, words: str) -> None:
    result = validate_event(orjson.dumps(with_(ts=ts)))
    assert isinstance(result, Rejection), f"ts {ts} was accepted"
    assert result.field == "ts" and result.reason.startswith("ts: ") and words in result.reason


def test_timestamp_range_boundaries() -> None:
    from datetime import timedelta

    from tracelake.contract.validate import MAX_FUTURE

    assert timedelta(hours=24) == MAX_FUTURE
    now = datetime.now(UTC)
    for ok in ("1970-01-01T00:00:00Z", "1970-01-01T01:00:00+01:00", _ts(now), _ts(now + timedelta(hours=23))):
        assert isinstance(validate_event(orjson.dumps(with_(ts=ok))), TraceEvent), ok
    late = validate_event(orjson.dumps(with_(ts=_ts(now + timedelta(hours=24, minutes=5)))))
    assert isinstance(late, Rejection) and "more than 24 h in the future" in late.reason
    # The clock and the bound are parameters (a replay of a recorded stream, a test).
    then = datetime(2020, 1, 1, tzinfo=UTC)
    assert isinstance(validate_event(orjson.dumps(with_(ts="2020-01-01T12:00:00Z")), now=then), TraceEvent)
    refused = validate_event(orjson.dumps(with_(ts="2020-01-02T12:00:00Z")), now=then)
    assert isinstance(refused, Rejection) and refused.field == "ts"
    assert isinstance(validate_event(with_(ts="2020-01-02T12:00:00Z"), now=then, max_future=timedelta(days=2)),
                      TraceEvent)
