"""Pure helpers of run search and timelines: the span tree, cursors, the search SQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tracelake.queries.runs import Search, SearchError, build_search, decode_cursor, encode_cursor, span_tree


def ev(event_id: str, span: str | None = None, parent: str | None = None) -> dict:
    out = {"event_id": event_id}
    if span:
        out["span_id"] = span
    if parent:
        out["parent_span_id"] = parent
    return out


def test_tree_nests_by_parent_keeps_order_and_every_event_once() -> None:
    events = [ev("start", "root"), ev("llm", "a", "root"), ev("tool", "b", "a"), ev("orphan", "c", "gone"),
              ev("finish", None, "root"), ev("x", "x", "y"), ev("y", "y", "x"), ev("self", "s", "s")]
    tree = span_tree(events)
    assert tree == [
        {"event_id": "start", "children": [
            {"event_id": "llm", "children": [{"event_id": "tool", "children": []}]},
            {"event_id": "finish", "children": []}]},
        {"event_id": "orphan", "children": []},
        {"event_id": "self", "children": []},
        {"event_id": "x", "children": [{"event_id": "y", "children": []}]},  # a cycle surfaces once
    ]


def test_deep_chain_does_not_recurse() -> None:
    events = [ev("e0", "s0")] + [ev(f"e{i}", f"s{i}", f"s{i - 1}") for i in range(1, 5000)]
    node = span_tree(events)[0]
    depth = 0
    while node["children"]:
        node, depth = node["children"][0], depth + 1
    assert depth == 4999


def test_cursor_round_trip_and_garbage() -> None:
    ts = datetime(2026, 11, 24, 10, 0, 0, 123000, tzinfo=UTC)
    assert decode_cursor(encode_cursor(ts, "run-9")) == (ts, "run-9")
    for bad in ("", "!!!", "bm90IGpzb24", encode_cursor(ts, "r")[:-3]):
        with pytest.raises(SearchError):
            decode_cursor(bad)


def test_search_sql_binds_every_value() -> None:
    sql, params = build_search(Search(filters=(("workflow", "w'; DROP"), ("outcome", "in_flight"),
                                               ("outcome", "success")), tool_name="t", limit=5))
    assert "DROP" not in sql and params["f_workflow_0"] == "w'; DROP" and params["limit"] == 6
    assert "outcome IS NULL OR outcome = $f_outcome_1" in sql
    for bad in (Search(filters=(("kafka_offset", "1"),)), Search(filters=(("outcome", "meh"),)),
                Search(since=datetime(2026, 1, 2, tzinfo=UTC), until=datetime(2026, 1, 1, tzinfo=UTC))):
        with pytest.raises(SearchError):
            build_search(bad)
