"""The lake's table declarations: the events schema against the contract model, rows that cannot lose a key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest
from pydantic import create_model

from tracelake.contract.model import TraceEvent
from tracelake.lake.lake import Lake
from tracelake.lake.tables import (
    ALERTS,
    CONTRACT_FIELD_MAPPINGS,
    CONTRACT_JSON_COLUMNS,
    DEAD_LETTERS,
    EVENTS,
    EVENTS_PIPELINE_COLUMNS,
    TABLES,
    UnknownColumns,
    by_name,
    contract_problems,
)


def test_every_contract_field_has_a_column_of_its_type() -> None:
    assert contract_problems() == []


def test_a_contract_field_without_a_column_fails_the_check() -> None:
    # A contract that gained a field: the lake has no column for it, so the check names it.
    grown = create_model("GrownEvent", __base__=TraceEvent, sentiment=(str | None, None))
    problems = contract_problems(grown)
    assert len(problems) == 1 and "'sentiment' has no column" in problems[0]


def test_a_nested_contract_field_must_be_a_json_column() -> None:
    grown = create_model("GrownEvent", __base__=TraceEvent, name=(dict[str, Any] | None, None))
    assert any("'name'" in p and "JSON columns" in p for p in contract_problems(grown))


def test_a_column_of_the_wrong_type_fails_the_check() -> None:
    grown = create_model("GrownEvent", __base__=TraceEvent, limit=(int | None, None))
    assert any("'limit'" in p and "stored as double" in p for p in contract_problems(grown))


def test_a_documented_mapping_is_accepted_and_checked() -> None:
    grown = create_model("GrownEvent", __base__=TraceEvent, sentiment=(str | None, None))
    assert contract_problems(grown, mappings={**CONTRACT_FIELD_MAPPINGS, "sentiment": "attributes"}) == []
    assert contract_problems(grown, mappings={**CONTRACT_FIELD_MAPPINGS, "sentiment": "nowhere"}) != []


def test_the_events_columns_are_the_contract_plus_the_pipeline_columns() -> None:
    stored = set(TraceEvent.model_fields) - set(CONTRACT_FIELD_MAPPINGS)  # mapped fields live in another column
    assert set(EVENTS.schema.names) == stored | set(EVENTS_PIPELINE_COLUMNS)
    assert set(CONTRACT_JSON_COLUMNS) < set(EVENTS.json_columns)


def test_to_arrow_refuses_a_key_the_schema_lacks_instead_of_dropping_it() -> None:
    row = {"event_id": "e1", "tenant": "t", "event_date": "2026-11-24", "sentiment": "happy"}
    with pytest.raises(UnknownColumns, match="sentiment"):
        EVENTS.to_arrow([row])
    del row["sentiment"]
    table = EVENTS.to_arrow([row])
    assert table.schema == EVENTS.schema and table.num_rows == 1


def test_the_writer_refuses_a_column_its_table_lacks(tmp_path: Any) -> None:
    table = pa.table({"alert_id": ["a"], "event_date": ["2026-11-24"], "extra": [1]})
    with pytest.raises(UnknownColumns, match="extra"):
        Lake.at(tmp_path).writer(ALERTS).write(table, "b1")
    assert not (tmp_path / "alerts").exists()


def test_the_processor_rows_fit_the_schema() -> None:
    # The row builder's keys (every contract field it copies, plus the pipeline's) all have columns.
    from tests.helpers import CONTRACT
    from tracelake.transforms.metadata import MessageMeta
    from tracelake.transforms.processor import Accepted, decode_validate, to_row

    meta = MessageMeta("kafka", datetime(2026, 11, 24, tzinfo=UTC), "t", 0, 1)
    lines = (CONTRACT / "examples.jsonl").read_bytes().splitlines()
    rows = []
    for line in lines:
        item = decode_validate(line, meta)
        assert isinstance(item, Accepted), line
        rows.append(to_row(Accepted(item.event, item.meta, redactions={}), {}))
    assert len(rows) >= 12
    assert EVENTS.to_arrow(rows).num_rows == len(rows)


def test_declarations() -> None:
    assert [t.name for t in TABLES] == ["events", "dead_letters", "alerts"]
    assert by_name("dead_letters") is DEAD_LETTERS
    with pytest.raises(KeyError, match="tables: events"):
        by_name("nope")
    assert EVENTS.identity == ("tenant", "event_id")
    assert "event_date" not in EVENTS.file_schema.names
    with pytest.raises(ValueError, match="not columns"):
        type(EVENTS)("x", pa.schema([("a", pa.string())]), identity=("a",), copy_order=("b",))
