"""Run search and timelines (tracelake.queries.runs) on the golden lake, without the API."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tracelake.errors import UserError
from tracelake.queries.engine import open_lake
from tracelake.queries.runs import Search, SearchError, decode_cursor, run_timeline, search_runs
from tracelake.queries.sqlparts import in_clause, read_sql

DAY = {"since": datetime(2026, 11, 24, tzinfo=UTC), "until": datetime(2026, 11, 25, tzinfo=UTC)}
REFUND_NEWEST_FIRST = ["R9", "R10", "R6", "R5", "R4", "R3", "R2", "R1"]


def ids(rows: list[dict]) -> list[str]:
    return [row["run_id"] for row in rows]


def test_pages_follow_each_other_newest_first_without_gaps_or_repeats(golden_anywhere: Path) -> None:
    seen, cursor, pages = [], None, 0
    with open_lake(golden_anywhere) as con:
        while True:
            rows, next_cursor = search_runs(con, Search(filters=(("workflow", "refund"),), limit=3, cursor=cursor,
                                                        **DAY))
            seen += ids(rows)
            pages += 1
            assert all("_cursor_ts" not in row and "first_ts" not in row for row in rows)
            if next_cursor is None:
                break
            cursor = decode_cursor(next_cursor)
    assert seen == REFUND_NEWEST_FIRST and pages == 3


@pytest.mark.parametrize(("search", "expected"), [
    (Search(filters=(("outcome", "in_flight"),), **DAY), ["R6"]),
    (Search(filters=(("outcome", "in_flight"), ("outcome", "fallback")), **DAY), ["R10", "R6", "R3"]),
    (Search(filters=(("workflow_version", "v1"), ("workflow_version", "v2"), ("tenant", "globex")), **DAY), ["R8"]),
    (Search(tool_name="grant", **DAY), ["R8"]),
    (Search(filters=(("release", "r1"),), since=datetime(2026, 11, 24, 10, 5, tzinfo=UTC),
            until=datetime(2026, 11, 24, 10, 30, tzinfo=UTC)), ["R3", "R2"]),
])
def test_filters_tools_and_windows(golden_anywhere: Path, search: Search, expected: list[str]) -> None:
    with open_lake(golden_anywhere) as con:
        rows, next_cursor = search_runs(con, search)
    assert ids(rows) == expected and next_cursor is None


def test_a_tenant_connection_finds_only_its_runs(golden_anywhere: Path) -> None:
    with open_lake(golden_anywhere, tenant="globex") as con:
        rows, _ = search_runs(con, Search(**DAY))
        assert ids(rows) == ["R8"]
        assert run_timeline(con, "R1") is None  # another tenant's run is no run


def test_a_bad_search_fails_before_any_query(golden_anywhere: Path) -> None:
    with open_lake(golden_anywhere) as con:
        for bad in (Search(filters=(("kafka_offset", "1"),)), Search(filters=(("outcome", "meh"),)),
                    Search(since=DAY["until"], until=DAY["since"])):
            with pytest.raises(SearchError) as caught:
                search_runs(con, bad)
            assert isinstance(caught.value, UserError) and caught.value.status == 400


def test_timeline_is_the_run_row_and_its_events_in_order(golden_anywhere: Path) -> None:
    with open_lake(golden_anywhere) as con:
        timeline = run_timeline(con, "R2")
        assert run_timeline(con, "nope") is None
    assert timeline is not None
    assert timeline["run"]["run_id"] == "R2" and timeline["run"]["outcome"] == "escalated"
    events = timeline["events"]
    assert [e["event_type"] for e in events] == ["run_started", "tool_call", "escalation", "run_finished"]
    assert [e["ts"] for e in events] == sorted(e["ts"] for e in events)  # the duplicate finish stored once
    tool = events[1]
    assert tool["error"] == {"type": "SchemaError", "message": "bad"}  # JSON columns parsed
    assert not {"kafka_topic", "kafka_partition", "kafka_offset", "source", "event_date"} & set(tool)
    assert all(value is not None for event in events for value in event.values())  # nulls left out
    assert [node["event_id"] for node in timeline["tree"]] == [e["event_id"] for e in events]  # no spans: roots


def test_in_clause_binds_every_value_under_free_names() -> None:
    params: dict = {"since": 1, "w_0": "taken"}
    first = in_clause("workflow", ["a'b", "c"], params, "w_")
    second = in_clause("team", ["t"], params, "w_")
    assert first == '"workflow" IN ($w_1, $w_2)' and second == '"team" IN ($w_3)'
    assert params == {"since": 1, "w_0": "taken", "w_1": "a'b", "w_2": "c", "w_3": "t"}
    for column, values in (('x" OR 1=1 --', ["v"]), ("workflow", [])):
        with pytest.raises(ValueError):
            in_clause(column, values, {}, "w_")


def test_run_sql_ships_with_the_package() -> None:
    assert "{filters}" in read_sql("runs", "search.sql")
    for name in ("search_tool.sql", "search_after.sql", "run.sql", "timeline.sql"):
        assert "$" in read_sql("runs", name)
