"""Run search and run timelines over the ``runs`` and ``events`` views of :mod:`tracelake.queries`.

The views (and so every definition of a run) are the analytics stage's; this
module holds only the two read queries the API adds, as named constants,
and the pure helpers around them: keyset cursors and the span tree.

Search order is newest first by the run's first event (``first_ts`` of the
``runs`` view), then ``run_id``; the cursor is that pair, so pages stay
stable while new runs arrive. ``since``/``until`` select runs whose first
event is in ``[since, until)``. ``outcome=in_flight`` selects runs without
``run_finished``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from tracelake.queries.timewin import parse_time

# Columns a search may filter on with ``where=key=value`` (and the named parameters).
SEARCH_KEYS = ("tenant", "team", "release", "environment", "workflow", "workflow_version", "outcome")
OUTCOMES = ("success", "failure", "escalated", "fallback", "halted", "in_flight")

RUN_SEARCH_SQL = """
SELECT * EXCLUDE (first_ts), first_ts AS _cursor_ts
FROM runs
WHERE first_ts >= $since AND first_ts < $until
{filters}
ORDER BY first_ts DESC, run_id DESC
LIMIT $limit
"""
RUN_TOOL_FILTER = "AND run_id IN (SELECT run_id FROM tool_calls WHERE tool_name = $tool_name)"
RUN_AFTER_CURSOR = "AND (first_ts < $cursor_ts OR (first_ts = $cursor_ts AND run_id < $cursor_run))"

RUN_ROW_SQL = "SELECT * EXCLUDE (first_ts) FROM runs WHERE run_id = $run_id"
# Ingest bookkeeping is not part of an auditor's timeline; the contract fields,
# cost_source, redactions and ingested_at are.
TIMELINE_SQL = """
SELECT * EXCLUDE (kafka_topic, kafka_partition, kafka_offset, source, event_date)
FROM events WHERE run_id = $run_id
ORDER BY ts, event_id
"""
JSON_COLUMNS = ("error", "attributes", "tool_args", "tool_result", "references", "redactions")


class SearchError(ValueError):
    """A search parameter that cannot work (a user error)."""


@dataclass(frozen=True)
class Search:
    filters: tuple[tuple[str, str], ...] = ()
    tool_name: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    cursor: tuple[datetime, str] | None = None


def encode_cursor(ts: datetime, run_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([ts.isoformat(), run_id])).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[datetime, str]:
    try:
        ts, run_id = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        return parse_time(ts), str(run_id)
    except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError):
        raise SearchError("cursor: not a cursor this API returned (pass next_cursor as it is)") from None


def build_search(search: Search) -> tuple[str, dict[str, Any]]:
    """The search SQL and its bound parameters (pure). Fetches ``limit + 1`` rows to know if a page follows."""
    from tracelake.queries.timewin import Window

    try:
        window = Window.of(search.since, search.until)
    except ValueError as exc:
        raise SearchError(str(exc)) from None
    params: dict[str, Any] = {"since": window.since, "until": window.until, "limit": search.limit + 1}
    clauses = []
    by_key: dict[str, list[str]] = {}
    for key, value in search.filters:
        if key not in SEARCH_KEYS:
            raise SearchError(f"where: cannot filter runs on {key!r}; allowed: {', '.join(SEARCH_KEYS)}")
        by_key.setdefault(key, []).append(value)
    for key, values in by_key.items():
        if key == "outcome":
            bad = [v for v in values if v not in OUTCOMES]
            if bad:
                raise SearchError(f"outcome: {bad[0]!r} is not one of {', '.join(OUTCOMES)}")
            terms = ["outcome IS NULL" if v == "in_flight" else f"outcome = $f_{key}_{i}"
                     for i, v in enumerate(values)]
            params |= {f"f_{key}_{i}": v for i, v in enumerate(values) if v != "in_flight"}
            clauses.append(f"AND ({' OR '.join(terms)})")
            continue
        names = [f"$f_{key}_{i}" for i in range(len(values))]
        params |= {name[1:]: value for name, value in zip(names, values, strict=True)}
        clauses.append(f'AND "{key}" IN ({", ".join(names)})')
    if search.tool_name is not None:
        params["tool_name"] = search.tool_name
        clauses.append(RUN_TOOL_FILTER)
    if search.cursor is not None:
        params["cursor_ts"], params["cursor_run"] = search.cursor
        clauses.append(RUN_AFTER_CURSOR)
    return RUN_SEARCH_SQL.format(filters="\n".join(clauses)), params


def page(rows: list[dict[str, Any]], limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """Rows of one page (without the cursor column) and the next cursor (None on the last page)."""
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1]["_cursor_ts"], rows[-1]["run_id"]) if more and rows else None
    for row in rows:
        row.pop("_cursor_ts", None)
    return rows, next_cursor


def event_from_row(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as an event: JSON columns parsed, absent (null) fields left out."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if value is None:
            continue
        if key in JSON_COLUMNS and isinstance(value, str):
            with contextlib.suppress(orjson.JSONDecodeError):  # keep the stored text rather than fail
                value = orjson.loads(value)
        out[key] = value
    return out


def span_tree(events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events nested by ``parent_span_id`` → the (first) event with that ``span_id``.

    ``events`` are in ``ts`` order, and so are roots and children. An event
    whose parent is not in the run is a root; so is any event on a parent
    cycle (each event appears exactly once).
    """
    owner: dict[str, int] = {}
    for index, event in enumerate(events):
        span = event.get("span_id")
        if span is not None and span not in owner:
            owner[span] = index
    parent: list[int | None] = []
    for index, event in enumerate(events):
        p = owner.get(event.get("parent_span_id")) if event.get("parent_span_id") is not None else None
        parent.append(p if p != index else None)
    children: list[list[int]] = [[] for _ in events]
    roots = []
    for index, p in enumerate(parent):
        (roots if p is None else children[p]).append(index)
    placed: set[int] = set()

    def build(index: int) -> dict[str, Any]:
        placed.add(index)
        node = {"event_id": events[index]["event_id"], "children": []}
        stack = [(node, children[index])]
        while stack:  # iterative: a deep chain must not hit the recursion limit
            current, kids = stack.pop()
            for kid in kids:
                if kid in placed:
                    continue
                placed.add(kid)
                child = {"event_id": events[kid]["event_id"], "children": []}
                current["children"].append(child)
                stack.append((child, children[kid]))
        return node

    tree = [build(index) for index in roots]
    # Events only reachable through a cycle had no root: surface them as roots.
    tree += [build(index) for index in range(len(events)) if index not in placed]
    return tree
