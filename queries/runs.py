"""Run search and run timelines over the ``runs`` and ``events`` views, defined once.

``GET /v1/runs``, ``GET /v1/runs/{run_id}`` and the dashboard's run list and
timeline pages all call these functions on a connection the caller opened
(its views decide the tenant). The SQL lives in ``queries/sql/runs/``.

Search order is newest first by the run's first event (``first_ts`` of the
``runs`` view), then ``run_id``; the cursor is that pair, so pages stay
stable while new runs arrive. ``since``/``until`` select runs whose first
event is in ``[since, until)``. ``outcome=in_flight`` selects runs without
``run_finished``.

Failure modes: :class:`SearchError` (a parameter that cannot work: an unknown
filter column or outcome, an empty window, a cursor this module did not
write); the engine's ``QueryError`` / ``QueryTimeout`` from the queries.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

import orjson

from tracelake.errors import UserError
from tracelake.lake.tables import EVENTS
from tracelake.queries.engine import LakeConnection
from tracelake.queries.sqlparts import in_clause, read_sql
from tracelake.queries.timewin import Window, parse_time

Row = dict[str, Any]

# Columns a search may filter on with ``where=key=value`` (and the named parameters).
SEARCH_KEYS = ("tenant", "team", "release", "environment", "workflow", "workflow_version", "outcome")
OUTCOMES = ("success", "failure", "escalated", "fallback", "halted", "in_flight")
JSON_COLUMNS = EVENTS.json_columns  # decoded into objects in a timeline


class SearchError(UserError):
    """A search parameter that cannot work (a user error: 400 in the API)."""


@dataclass(frozen=True)
class Search:
    """One page of a run search: column filters (a repeated column means any of its values), the tool a
    run called, the first event's window, the page size and the cursor of the previous page."""

    filters: tuple[tuple[str, str], ...] = ()
    tool_name: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    cursor: tuple[datetime, str] | None = None


class TreeNode(TypedDict):
    event_id: str
    children: list[TreeNode]


# One run: {"run": its runs row, "events": its events in ts order, "tree": the events nested by span}.
# A plain dict (not a TypedDict): the API answers it and the dashboard renders it as it is.
RunTimeline = dict[str, Any]


# -- cursors ----------------------------------------------------------------
def encode_cursor(ts: datetime, run_id: str) -> str:
    """The opaque cursor after the run (``ts``, ``run_id``): unpadded URL-safe base64 of JSON."""
    return base64.urlsafe_b64encode(orjson.dumps([ts.isoformat(), run_id])).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[datetime, str]:
    """The (first event time, run id) a cursor holds. Raises :class:`SearchError` for anything else."""
    try:
        ts, run_id = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        return parse_time(ts), str(run_id)
    except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError):
        raise SearchError("cursor: not a cursor this API returned (pass next_cursor as it is)") from None


# -- search -----------------------------------------------------------------
def _grouped(filters: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    by_key: dict[str, list[str]] = {}
    for key, value in filters:
        if key not in SEARCH_KEYS:
            raise SearchError(f"where: cannot filter runs on {key!r}; allowed: {', '.join(SEARCH_KEYS)}")
        by_key.setdefault(key, []).append(value)
    return by_key


def _outcome_clause(values: Sequence[str], params: dict[str, Any]) -> str:
    """``outcome`` is a column like the others, except that ``in_flight`` means it is NULL."""
    bad = [v for v in values if v not in OUTCOMES]
    if bad:
        raise SearchError(f"outcome: {bad[0]!r} is not one of {', '.join(OUTCOMES)}")
    terms = ["outcome IS NULL" if v == "in_flight" else f"outcome = $f_outcome_{i}" for i, v in enumerate(values)]
    params |= {f"f_outcome_{i}": v for i, v in enumerate(values) if v != "in_flight"}
    return f"AND ({' OR '.join(terms)})"


def build_search(search: Search) -> tuple[str, dict[str, Any]]:
    """The search SQL and its bound parameters (pure). Fetches ``limit + 1`` rows to know if a page follows.

    Raises :class:`SearchError` for an unknown filter column or outcome and an empty window.
    """
    try:
        window = Window.of(search.since, search.until)
    except ValueError as exc:
        raise SearchError(str(exc)) from None
    params: dict[str, Any] = {"since": window.since, "until": window.until, "limit": search.limit + 1}
    clauses = []
    for key, values in _grouped(search.filters).items():
        if key == "outcome":
            clauses.append(_outcome_clause(values, params))
        else:
            clauses.append(f"AND {in_clause(key, values, params, f'f_{key}_')}")
    if search.tool_name is not None:
        params["tool_name"] = search.tool_name
        clauses.append(read_sql("runs", "search_tool.sql"))
    if search.cursor is not None:
        params["cursor_ts"], params["cursor_run"] = search.cursor
        clauses.append(read_sql("runs", "search_after.sql"))
    return read_sql("runs", "search.sql").replace("{filters}", "\n".join(clauses)), params


def page(rows: list[Row], limit: int) -> tuple[list[Row], str | None]:
    """Rows of one page (without the cursor column) and the next cursor (None on the last page)."""
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1]["_cursor_ts"], rows[-1]["run_id"]) if more and rows else None
    for row in rows:
        row.pop("_cursor_ts", None)
    return rows, next_cursor


def fetch_page(con: LakeConnection, query: tuple[str, dict[str, Any]], limit: int) -> tuple[list[Row], str | None]:
    """Run a query :func:`build_search` built for ``limit`` rows: the page and the next cursor."""
    sql, params = query
    return page(con.query(sql, params, name="run search").dicts(), limit)


def search_runs(con: LakeConnection, search: Search) -> tuple[list[Row], str | None]:
    """One page of runs (newest first) and the cursor of the next page (None on the last).

    Raises :class:`SearchError` before any query runs; the engine's errors from the query.
    """
    return fetch_page(con, build_search(search), search.limit)


# -- timelines --------------------------------------------------------------
def event_from_row(row: Row) -> Row:
    """A stored row as an event: JSON columns parsed, absent (null) fields left out."""
    out: Row = {}
    for key, value in row.items():
        if value is None:
            continue
        if key in JSON_COLUMNS and isinstance(value, str):
            with contextlib.suppress(orjson.JSONDecodeError):  # keep the stored text rather than fail
                value = orjson.loads(value)
        out[key] = value
    return out


def _parents(events: Sequence[Row]) -> list[int | None]:
    """For each event, the index of the first event holding its ``parent_span_id`` (None: none, or itself)."""
    owner: dict[str, int] = {}
    for index, event in enumerate(events):
        span = event.get("span_id")
        if span is not None and span not in owner:
            owner[span] = index
    parents: list[int | None] = []
    for index, event in enumerate(events):
        parent = owner.get(event["parent_span_id"]) if event.get("parent_span_id") is not None else None
        parents.append(parent if parent != index else None)
    return parents


def span_tree(events: Sequence[Row]) -> list[TreeNode]:
    """Events nested by ``parent_span_id`` → the (first) event with that ``span_id``.

    ``events`` are in ``ts`` order, and so are roots and children. An event
    whose parent is not in the run is a root; so is any event on a parent
    cycle (each event appears exactly once).
    """
    children: list[list[int]] = [[] for _ in events]
    roots: list[int] = []
    for index, parent in enumerate(_parents(events)):
        (roots if parent is None else children[parent]).append(index)
    placed: set[int] = set()

    def build(index: int) -> TreeNode:
        placed.add(index)
        node: TreeNode = {"event_id": events[index]["event_id"], "children": []}
        stack = [(node, children[index])]
        while stack:  # iterative: a deep chain must not hit the recursion limit
            current, kids = stack.pop()
            for kid in kids:
                if kid in placed:
                    continue
                placed.add(kid)
                child: TreeNode = {"event_id": events[kid]["event_id"], "children": []}
                current["children"].append(child)
                stack.append((child, children[kid]))
        return node

    tree = [build(index) for index in roots]
    # Events only reachable through a cycle had no root: surface them as roots.
    tree += [build(index) for index in range(len(events)) if index not in placed]
    return tree


def run_timeline(con: LakeConnection, run_id: str) -> RunTimeline | None:
    """The run's row, its events in order, the span tree and its verdict per control (``controls``:
    :func:`tracelake.queries.controls.report.run_verdicts`); None when the connection's views hold no such
    run (another tenant's run included)."""
    from tracelake.queries.controls.report import run_verdicts

    runs = con.query(read_sql("runs", "run.sql"), {"run_id": run_id}, name="run").dicts()
    if not runs:
        return None
    rows = con.query(read_sql("runs", "timeline.sql"), {"run_id": run_id}, name="timeline").dicts()
    events = [event_from_row(row) for row in rows]
    return {"run": runs[0], "events": events, "tree": span_tree(events), "controls": run_verdicts(con, run_id)}
