"""The processor step, called with fixed metadata: accepted events or typed rejections; rows only when redacted."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import orjson
import pyarrow as pa
import pytest

from tests.helpers import CONTRACT
from tracelake.lake.tables import DEAD_LETTERS_SCHEMA, EVENTS_SCHEMA
from tracelake.transforms.metadata import MessageMeta
from tracelake.transforms.pricing import ModelPrice, estimate_cost
from tracelake.transforms.processor import (
    Accepted,
    NotRedacted,
    Rejected,
    dead_letter_row,
    decode_validate,
    to_row,
)

META = MessageMeta(source="kafka", received_at=datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
                   topic="tracelake.events.v1", partition=2, offset=41)
PRICES = {"gpt-small": ModelPrice(input_per_m=0.5, cached_input_per_m=0.05, output_per_m=1.5)}


def example_lines() -> list[bytes]:
    return [line for line in (CONTRACT / "examples.jsonl").read_bytes().splitlines() if line.strip()]


def redacted(item: Accepted) -> Accepted:
    return replace(item, redactions={})


def test_examples_become_rows_that_fit_the_lake_schema() -> None:
    items = [decode_validate(line, META) for line in example_lines()]
    assert all(isinstance(i, Accepted) for i in items)
    rows = [to_row(redacted(i), PRICES) for i in items]
    table = pa.Table.from_pylist(rows, schema=EVENTS_SCHEMA)
    assert table.num_rows == 12
    first = rows[0]
    assert first["ts"] == datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    assert (first["kafka_partition"], first["kafka_offset"], first["event_date"]) == (2, 41, "2026-11-24")
    assert first["redactions"] == "{}"
    tool = rows[2]
    assert orjson.loads(tool["tool_args"]) == {"order_id": "8812"}
    assert orjson.loads(tool["tool_result"])["status"] == "delivered"
    assert rows[1]["cost_source"] == "reported"


def test_unredacted_event_never_becomes_a_row() -> None:
    item = decode_validate(example_lines()[0], META)
    with pytest.raises(NotRedacted):
        to_row(item, PRICES)


def test_rejection_carries_reason_and_provenance() -> None:
    result = decode_validate(b'{"schema_version":"1"}', META)
    assert isinstance(result, Rejected)
    assert result.reason.startswith("event_id: ")
    assert (result.meta.partition, result.meta.offset) == (2, 41)
    row = dead_letter_row(replace(result, redacted_payload="{...}"))
    assert pa.Table.from_pylist([row], schema=DEAD_LETTERS_SCHEMA).num_rows == 1
    assert (row["payload"], row["kafka_offset"], row["event_date"]) == ("{...}", 41, "2026-11-24")


def llm(**extra: object) -> bytes:
    return orjson.dumps({"schema_version": "1", "event_id": "e", "event_type": "llm_call",
                         "ts": "2026-11-24T23:59:59.999-01:00", "run_id": "r", "workflow": "w",
                         "workflow_version": "1", **extra})


def test_missing_cost_is_estimated_without_billing_cached_tokens_twice() -> None:
    row = to_row(redacted(decode_validate(llm(model="gpt-small", input_tokens=1_000_000, cached_input_tokens=400_000,
                                              output_tokens=100_000), META)), PRICES)
    assert row["cost_source"] == "estimated"
    assert abs(row["cost_usd"] - (0.6 * 0.5 + 0.4 * 0.05 + 0.1 * 1.5)) < 1e-12
    assert row["event_date"] == "2026-11-25"  # the UTC date, not the local one


def test_unknown_model_is_unpriced_not_zero() -> None:
    row = to_row(redacted(decode_validate(llm(model="mystery", input_tokens=10), META)), PRICES)
    assert row["cost_usd"] is None and row["cost_source"] == "unpriced"


def test_explicit_null_tool_result_is_kept_as_json_null() -> None:
    line = orjson.loads(example_lines()[2])
    line["tool_result"] = None
    row = to_row(redacted(decode_validate(orjson.dumps(line), META)), PRICES)
    assert row["tool_result"] == "null"
    del line["tool_result"]
    assert to_row(redacted(decode_validate(orjson.dumps(line), META)), PRICES)["tool_result"] is None


def test_estimate_cost_edges() -> None:
    assert estimate_cost(PRICES, "nope", 1, 0, 1) is None
    assert estimate_cost(PRICES, "gpt-small", None, None, None) == 0
    # more cached than input (a buggy emitter) never yields a negative charge
    assert estimate_cost(PRICES, "gpt-small", 10, 50, 0) == 10 * 0.05 / 1_000_000


def test_size_is_checked_before_anything_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 5 MB message costs one len(): the JSON parser never sees it."""
    import tracelake.contract.validate as validate

    def no_parse(_payload: bytes) -> None:
        raise AssertionError("parsed an oversized payload")

    monkeypatch.setattr(validate.orjson, "loads", no_parse)
    meta = MessageMeta(source="kafka", received_at=datetime(2026, 11, 24, tzinfo=UTC), topic="t", partition=0, offset=1)
    result = decode_validate(b"{" * (5 * 1024 * 1024), meta)
    assert isinstance(result, Rejected) and result.code == "too_large"
