"""The lake's DuckDB views (``metrics.md`` "SQL views"), over the live Parquet files of the lake's Delta tables.

Views: ``events``, ``runs``, ``llm_calls``, ``tool_calls``, ``alerts``,
``dead_letters``. Nothing is copied into a database file.

- ``events`` holds one row per event — identity ``(tenant, event_id)``, so
  two tenants' events with the same ``event_id`` are both kept — whatever the
  number of copies stored (a producer re-send, a file ingested twice
  under two names): the first ingested copy wins. Copies of an event are the same
  event, so they share its ``event_type``; partitioning the de-duplication by
  it as well changes nothing in the result and lets a filter on
  ``event_type`` reach the Parquet scan (a tool-call metric reads only the
  tool calls). De-duplicated once, not per query: partitions that
  ``tracelake compact`` rewrote and marked clean (no copies on disk, see
  :mod:`tracelake.lake.delta`) are read as they are; only the files of the
  other partitions (open days, late appends) go through the window function
  (:func:`events_view`). Copies of an event share its ``ts``, hence its
  ``event_date`` partition, so this equals de-duplicating the whole.
- Partition pruning: given a time window, the views read only the
  ``event_date=`` partitions that can hold rows of that window; the file list
  comes from the lake (:meth:`tracelake.lake.lake.Lake.partitions`), so DuckDB
  never opens the others. Tables, schemas and paths are the lake's
  (:mod:`tracelake.lake`); this module only writes SQL over them.
- Unreadable files (zero-byte, truncated, not Parquet) are left out, never
  read: one bad file does not blind the lake. Each file's first and last
  bytes are checked once per process (:mod:`tracelake.lake.files`,
  cached by path, size and mtime); the files left out are reported
  (:func:`collect_skipped`, :func:`skipped_files`,
  ``LakeConnection.skipped``) so every surface can say which ones.
- Tenant scope: given a tenant, every view is defined over that tenant's rows
  only (the filter sits inside the view, below the de-duplication), so SQL run
  on the connection cannot see another tenant's rows through any view.
- ``runs``: one row per run; its group values (tenant, workflow, …) are those of
  its ``run_finished`` event, for a run in flight those of its
  ``run_started`` event, else of its earliest event. If a run has several
  ``run_finished`` events the earliest (``ts``, then ``event_id``) counts.

``connect(lake)`` stays the shortcut the ingest stage and the demo use; it
goes through :mod:`tracelake.queries.engine` like every other query.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

import pyarrow as pa

from tracelake.lake.files import BadFile, split_files
from tracelake.lake.lake import Lake, LakeRef, as_lake
from tracelake.lake.tables import ALERTS, DEAD_LETTERS, EVENTS, Table
from tracelake.queries.sqlparts import read_sql
from tracelake.queries.timewin import Window, partition_days

if TYPE_CHECKING:
    import duckdb

    from tracelake.lake.delta import DataFile
    from tracelake.queries.engine import LakeConnection

# The tails (below) come first: every other view may read them, so they are dropped last.
EVENTS_TAIL = "__tail_events"
RUNS_TOUCHED = "__tail_runs_touched"
RUNS_TAIL = "__tail_runs"
CONTROLS_KEYS = "__tail_controls_keys"
CONTROLS_TOUCHED = "__tail_controls_touched"
CONTROLS_TAIL = "__tail_controls"
TAILS = (EVENTS_TAIL, RUNS_TOUCHED, RUNS_TAIL, CONTROLS_KEYS, CONTROLS_TOUCHED, CONTROLS_TAIL)
VIEW_NAMES = (*TAILS, "events", "runs", "llm_calls", "tool_calls", "alerts", "dead_letters", "control_results")
# The tails each view reads (directly or through another view), in the order they can be materialized.
TAIL_DEPENDENCIES: dict[str, tuple[str, ...]] = {
    "events": (EVENTS_TAIL,), "llm_calls": (EVENTS_TAIL,), "tool_calls": (EVENTS_TAIL,),
    "runs": (RUNS_TOUCHED, RUNS_TAIL), "control_results": (CONTROLS_KEYS, CONTROLS_TOUCHED, CONTROLS_TAIL),
    EVENTS_TAIL: (EVENTS_TAIL,), RUNS_TOUCHED: (RUNS_TOUCHED,), RUNS_TAIL: (RUNS_TOUCHED, RUNS_TAIL),
    CONTROLS_KEYS: (CONTROLS_KEYS,), CONTROLS_TOUCHED: (CONTROLS_KEYS, CONTROLS_TOUCHED),
    CONTROLS_TAIL: (CONTROLS_KEYS, CONTROLS_TOUCHED, CONTROLS_TAIL),
}

COMMON_COLUMNS = (
    "event_id", "schema_version", "event_type", "ts", "run_id", "workflow", "workflow_version", "tenant", "team",
    "release", "environment", "agent", "span_id", "parent_span_id", "duration_ms", "status", "error", "attributes",
)
PIPELINE_COLUMNS = ("cost_source", "redactions", "ingested_at", "source", EVENTS.partition)
LLM_COLUMNS = ("model", "provider", "model_tier", "input_tokens", "cached_input_tokens", "output_tokens", "cost_usd",
               "prompt", "completion")
TOOL_COLUMNS = ("tool_name", "tool_args", "tool_result", "schema_valid", "success", "mutating", "idempotency_key",
                "retry_of", "cost_usd")
# Values a run takes from one of its events (run_finished, else run_started, else the earliest).
RUN_ATTRIBUTES = ("tenant", "workflow", "workflow_version", "team", "release", "environment")

_DUCKDB_TYPES = {
    pa.string(): "VARCHAR", pa.float64(): "DOUBLE", pa.int64(): "BIGINT", pa.int32(): "INTEGER",
    pa.bool_(): "BOOLEAN", pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ",
}

# The de-duplication: the first ingested copy of each event of {source}, {scope} below it.
_EVENTS_DEDUPLICATED = """SELECT * EXCLUDE (_copy)
FROM (
    SELECT *, row_number() OVER (
        PARTITION BY tenant, event_id, event_type ORDER BY ingested_at, kafka_partition, kafka_offset) AS _copy
    FROM {source}
    {scope}
)
WHERE _copy = 1
"""
EVENTS_VIEW = "\nCREATE OR REPLACE VIEW events AS\n" + _EVENTS_DEDUPLICATED
# Partitions compaction marked clean (no copies on disk; tracelake.lake.delta.clean_days) are read as they are
# ({clean}); only the others' files ({source}) are de-duplicated. Copies of an event share its ts, hence its
# partition, so de-duplicating partition by partition is de-duplicating the whole.
EVENTS_CLEAN_VIEW = """
CREATE OR REPLACE VIEW events AS
SELECT * FROM {clean}
{scope}
"""
EVENTS_SPLIT_VIEW = EVENTS_CLEAN_VIEW + "UNION ALL BY NAME\n" + _EVENTS_DEDUPLICATED
# A day with a clean prefix (the files written up to its marker, kept de-duplicated by the consumer's tidy step,
# tracelake.ingest.tidy) and files added since: those are de-duplicated among themselves and a row is dropped
# when the prefix ({prefix}: the clean files of such days) already holds its event. Only the few files since
# the last tidy go through the window function; the prefix is read for three key columns.
def _tail_rows(kept: str, read: str) -> str:
    """The kept rows (columns ``kept``) of the tail files ({source}, columns ``read`` besides the copy number):
    the first ingested copy of each event among them, unless the day's prefix ({prefix}) holds the event."""
    return f"""SELECT {kept}
FROM (
    SELECT {read}, row_number() OVER (
        PARTITION BY tenant, event_id, event_type ORDER BY ingested_at, kafka_partition, kafka_offset) AS _copy
    FROM {{source}}
    {{scope}}
) AS _tail
WHERE _copy = 1 AND NOT EXISTS (
    SELECT 1 FROM {{prefix}} AS _kept
    WHERE _kept.tenant IS NOT DISTINCT FROM _tail.tenant AND _kept.event_id = _tail.event_id
        AND _kept.event_type = _tail.event_type)
"""


EVENTS_TAIL_VIEW = EVENTS_CLEAN_VIEW + "UNION ALL BY NAME\n" + _tail_rows("* EXCLUDE (_copy)", "*")
# The same with the tail's *kept rows* as a view of their own, which a connection may materialize
# (view_statements(tails=True)): their file and row number only ({source} read with filename and
# file_row_number), so materializing it reads three key columns, not every column of the tail; each query then
# reads the tail files for the columns it needs and keeps those rows (a semi-join on a few thousand keys).
EVENTS_TAIL_KEYS_VIEW = f"CREATE OR REPLACE VIEW {EVENTS_TAIL} AS\n" + _tail_rows(
    "filename, file_row_number", "filename, file_row_number, tenant, event_id, event_type")
EVENTS_NAMED_TAIL_VIEW = EVENTS_CLEAN_VIEW + f"""UNION ALL BY NAME
SELECT * EXCLUDE (filename, file_row_number) FROM {{source}}
{{tail_where}} (filename, file_row_number) IN (SELECT filename, file_row_number FROM {EVENTS_TAIL})
"""
NOT_READY = "tracelake-not-ready: "
"""How a view's SQL starts the message of an ``error()`` it raises to refuse until the upkeep has run: the
engine turns it into :class:`tracelake.queries.engine.QueryUnavailable` (503) with the rest of the line."""
TAIL_MAX_BYTES = 32 * 1024 * 1024
"""A tail whose files hold more than this (compressed) is not made a view of its own, so never materialized
(held in memory): each query computes it (a lake whose upkeep has stopped for a long time)."""

DEAD_LETTERS_VIEW = """
CREATE OR REPLACE VIEW dead_letters AS
SELECT * EXCLUDE (_copy)
FROM (
    SELECT *, row_number() OVER (
        PARTITION BY source, kafka_topic, kafka_partition, kafka_offset ORDER BY received_at) AS _copy
    FROM {source}
    {scope}
)
WHERE _copy = 1
"""

ALERTS_VIEW = """
CREATE OR REPLACE VIEW alerts AS
SELECT * EXCLUDE (_copy)
FROM (
    SELECT *, row_number() OVER (PARTITION BY alert_id ORDER BY created_at) AS _copy
    FROM {source}
    {scope}
)
WHERE _copy = 1
"""

# One row per run (tenant, run_id) over the de-duplicated events: queries/sql/run_facts.sql, the same SQL
# the runs rollup stores (tracelake.queries.rollup). A connection over a lake with a rollup reads the rollup
# plus the runs touched since instead (runs_view_statement there); this is the event-level path.
RUN_FACTS_SQL = read_sql("run_facts.sql")
RUNS_VIEW = "CREATE OR REPLACE VIEW runs AS " + RUN_FACTS_SQL.replace("{events}", "events")

LLM_CALLS_VIEW = (
    "CREATE OR REPLACE VIEW llm_calls AS SELECT "
    + ", ".join((*COMMON_COLUMNS, *LLM_COLUMNS, *PIPELINE_COLUMNS))
    + " FROM events WHERE event_type = 'llm_call'"
)
TOOL_CALLS_VIEW = (
    "CREATE OR REPLACE VIEW tool_calls AS SELECT "
    + ", ".join((*COMMON_COLUMNS, *TOOL_COLUMNS, *PIPELINE_COLUMNS))
    + " FROM events WHERE event_type = 'tool_call'"
)


def sql_string(value: str) -> str:
    """A SQL string literal. Only for values the product itself controls (paths, a tenant
    name checked by the caller); user values are always bound parameters."""
    if "\x00" in value:
        raise ValueError("a NUL character cannot appear in a SQL literal")
    return "'" + value.replace("'", "''") + "'"


def partitions(root: LakeRef, table: Table | str) -> dict[date, list[DataFile]]:
    """The table's live data files by day (:meth:`tracelake.lake.lake.Lake.partitions`)."""
    return as_lake(root).partitions(table)


def readable_sources(root: LakeRef, table: Table | str, window: Window | None = None
                     ) -> tuple[list[str], list[BadFile]]:
    """What the view of ``table`` reads over the days of ``window`` (all when None), and what it skips.

    The files are the table's current version (its Delta log): files added or removed by a concurrent
    commit show in the next query, and files removed by a compaction stay readable until vacuum, so a
    query that races one never misses a row. On a local lake each file passes the footer check
    (:mod:`tracelake.lake.files`); the unreadable ones are returned as skipped.
    """
    lake = as_lake(root)
    available = partitions(lake, table)
    days = partition_days(window, list(available)) if window else sorted(available)
    chosen = [item for day in days for item in available[day]]
    if lake.is_remote:
        return [item.uri for item in chosen], []
    return split_files(chosen)


@dataclass(frozen=True)
class SourceParts:
    """The readable files of a table over a window, split for de-duplication (:func:`source_parts`)."""

    clean: list[str]
    dirty: list[str]
    prefix: list[str]
    skipped: list[BadFile]
    dirty_bytes: int = 0


def source_parts(root: LakeRef, table: Table | str, window: Window | None = None) -> SourceParts:
    """:func:`readable_sources` from one listing, split by clean markers
    (:meth:`tracelake.lake.lake.Lake.clean_files`): ``clean`` = the files a marker covers (no copies among
    them, read as they are), ``dirty`` = the others (to de-duplicate), ``prefix`` = the clean files of the days
    that also have dirty files (a dirty row whose event they hold is a copy), and the unreadable files left
    out (in day order)."""
    lake = as_lake(root)
    available = partitions(lake, table)
    days = partition_days(window, list(available)) if window else sorted(available)
    covered = lake.clean_files(table, {day: available[day] for day in days})
    chosen = [item for day in days for item in available[day]]
    clean_uris = {item.uri for files in covered.values() for item in files}
    prefix_uris = {item.uri for day, files in covered.items() if len(files) < len(available[day]) for item in files}
    readable, skipped = ([item.uri for item in chosen], []) if lake.is_remote else split_files(chosen)
    dirty_bytes = sum(item.size for item in chosen if item.uri not in clean_uris)
    return SourceParts([u for u in readable if u in clean_uris], [u for u in readable if u not in clean_uris],
                       [u for u in readable if u in prefix_uris], skipped, dirty_bytes)


def split_sources(root: LakeRef, table: Table | str, window: Window | None = None
                  ) -> tuple[list[str], list[str], list[BadFile]]:
    """:func:`source_parts` as (clean, dirty, skipped)."""
    parts = source_parts(root, table, window)
    return parts.clean, parts.dirty, parts.skipped


def _parquet_sql(sources: list[str], *, positions: bool = False) -> str | None:
    """``read_parquet`` over ``sources`` (None when there are none); ``positions`` adds each row's ``filename``
    and ``file_row_number``."""
    if not sources:
        return None
    files = ", ".join(sql_string(source) for source in sources)
    extra = ", filename = true, file_row_number = true" if positions else ""
    return f"read_parquet([{files}], hive_partitioning = true, union_by_name = true{extra})"


def source_sql(root: LakeRef, table: Table | str, window: Window | None = None) -> str | None:
    """``read_parquet([...])`` over the readable files of ``window``'s partitions (all when None); None when there
    are none. Unreadable files are left out and reported to the :func:`collect_skipped` block that is open."""
    sources, skipped = readable_sources(root, table, window)
    note_skipped(skipped)
    return _parquet_sql(sources)


def events_view(root: LakeRef, window: Window | None = None, scope: str = "") -> str:
    """The CREATE VIEW statement of ``events`` over ``window``'s partitions (all when None), ``scope`` (a
    ``WHERE`` on the rows, e.g. the tenant) below any de-duplication: clean partitions' rows as they are,
    the others' de-duplicated (:func:`split_sources`). Unreadable files are left out and reported to the
    :func:`collect_skipped` block that is open."""
    return events_view_statements(root, window, scope, tails=False)[0]


def events_view_statements(root: LakeRef, window: Window | None = None, scope: str = "", *,
                           tails: bool = True) -> list[str]:
    """:func:`events_view`; with ``tails``, which rows of a tail (files added to a clean day since its marker)
    of at most :data:`TAIL_MAX_BYTES` are kept is a view of its own, :data:`EVENTS_TAIL` (their file and row
    number), defined first."""
    parts = source_parts(root, EVENTS, window)
    note_skipped(parts.skipped)
    clean_sql, dirty_sql, prefix_sql = _parquet_sql(parts.clean), _parquet_sql(parts.dirty), _parquet_sql(parts.prefix)
    if clean_sql is None:
        return [EVENTS_VIEW.format(source=dirty_sql or empty_source_sql(EVENTS.schema, EVENTS.partition),
                                   scope=scope)]
    if dirty_sql is None:
        return [EVENTS_CLEAN_VIEW.format(clean=clean_sql, scope=scope)]
    if prefix_sql is None:
        return [EVENTS_SPLIT_VIEW.format(clean=clean_sql, source=dirty_sql, scope=scope)]
    if tails and parts.dirty_bytes <= TAIL_MAX_BYTES:
        positioned = _parquet_sql(parts.dirty, positions=True)
        return [EVENTS_TAIL_KEYS_VIEW.format(source=positioned, prefix=prefix_sql, scope=scope),
                EVENTS_NAMED_TAIL_VIEW.format(clean=clean_sql, source=positioned, scope=scope,
                                              tail_where=f"{scope} AND" if scope else "WHERE")]
    return [EVENTS_TAIL_VIEW.format(clean=clean_sql, source=dirty_sql, prefix=prefix_sql, scope=scope)]


_collector: ContextVar[list[BadFile] | None] = ContextVar("tracelake_skipped_files", default=None)


def note_skipped(skipped: list[BadFile]) -> None:
    """Report ``skipped`` to the :func:`collect_skipped` block that is open (if any), once per path."""
    found = _collector.get()
    if found is not None:
        known = {b.path for b in found}
        found.extend(b for b in skipped if b.path not in known)


@contextmanager
def collect_skipped() -> Iterator[list[BadFile]]:
    """The unreadable files every view built inside the block left out (in this thread / task).

    For callers that do not hold the connection (``compute_metric`` opens its own); a query run in a
    worker process (``execute_sql``) reports nothing here: use :func:`skipped_files` for it.
    """
    found: list[BadFile] = []
    token = _collector.set(found)
    try:
        yield found
    finally:
        _collector.reset(token)


def skipped_files(root: LakeRef, window: Window | None = None) -> list[BadFile]:
    """The files the views built with ``window`` would leave out (``events`` pruned to the window,
    ``dead_letters`` and ``alerts`` whole), in the order :func:`view_statements` meets them."""
    lake = as_lake(root)
    out: list[BadFile] = []
    for table, table_window in ((EVENTS, window), (DEAD_LETTERS, None), (ALERTS, None)):
        out.extend(readable_sources(lake, table, table_window)[1])
    return out


def empty_source_sql(schema: pa.Schema, partition: str = EVENTS.partition) -> str:
    """A typed relation with no rows: the views of an empty lake still have every column (the partition
    column as DATE, as DuckDB's hive partitioning reads it)."""
    columns = []
    for field in schema:
        kind = "DATE" if field.name == partition else _DUCKDB_TYPES[field.type]
        columns.append(f'CAST(NULL AS {kind}) AS "{field.name}"')
    return f"(SELECT {', '.join(columns)} WHERE false)"


def view_statements(root: LakeRef, *, tenant: str | None = None, window: Window | None = None,
                    rollup: bool = True, run_horizon: timedelta = timedelta(hours=24),
                    controls: bool = True, tails: bool = False) -> list[str]:
    """The CREATE VIEW statements of every view, in dependency order.

    ``tails`` (what every :class:`~tracelake.queries.engine.LakeConnection` asks for): the rows a view computes
    from the files the upkeep has not seen yet (the ``events`` tail of a clean day, the ``runs`` tail) are
    views of their own (:data:`TAILS`), defined before the views that read them, so that a connection can
    compute each once, on first use, and keep it (:func:`tracelake.queries.pool.materialize_tails`). The
    answers are the same either way.

    ``window`` prunes the ``events`` partitions (``dead_letters`` and
    ``alerts`` are small and always read whole); ``tenant`` restricts every
    view to that tenant's rows. Dead letters carry no tenant column: a scoped
    reader sees those whose redacted payload names the tenant.
    ``runs`` reads the runs rollup plus the runs touched since it was refreshed
    (:func:`tracelake.queries.rollup.runs_view_statement`) when the lake has one and
    ``rollup`` is on; else it is computed from ``events`` (the event-level path).
    ``run_horizon`` is the longest run assumed (``Settings.run_max_duration_h``).
    ``control_results`` (every run's verdict per control, :mod:`tracelake.queries.controls.results`) comes
    last unless ``controls`` is off (Spark: the controls' SQL is DuckDB's only, docs/controls.md).
    """
    lake = as_lake(root)
    dead = source_sql(lake, DEAD_LETTERS) or empty_source_sql(DEAD_LETTERS.schema, DEAD_LETTERS.partition)
    alerts = source_sql(lake, ALERTS) or empty_source_sql(ALERTS.schema, ALERTS.partition)
    where_tenant = dead_scope = ""
    if tenant is not None:
        literal = sql_string(tenant)
        where_tenant = f"WHERE tenant = {literal}"
        dead_scope = f"WHERE try(json_extract_string(payload, '$.tenant')) = {literal}"
    statements = [
        *events_view_statements(lake, window, where_tenant, tails=tails),
        DEAD_LETTERS_VIEW.format(source=dead, scope=dead_scope),
        ALERTS_VIEW.format(source=alerts, scope=where_tenant),
        *_runs_view(lake, tenant=tenant, window=window, rollup=rollup, run_horizon=run_horizon, tails=tails),
        LLM_CALLS_VIEW,
        TOOL_CALLS_VIEW,
    ]
    if controls:
        from tracelake.queries.controls.results import control_results_view_statements  # it imports this module

        statements.extend(control_results_view_statements(lake, tenant=tenant, window=window,
                                                          run_horizon=run_horizon, tails=tails))
    return statements


def _runs_view(lake: Lake, *, tenant: str | None, window: Window | None, rollup: bool,
               run_horizon: timedelta, tails: bool) -> list[str]:
    if rollup:
        from tracelake.queries.rollup.runs import runs_view_statements  # the rollup module imports this one

        statements = runs_view_statements(lake, tenant=tenant, window=window, run_horizon=run_horizon,
                                          tails=tails)
        if statements is not None:
            return statements
    return [RUNS_VIEW]


def create_views(con: duckdb.DuckDBPyConnection, lake: LakeRef, *, tenant: str | None = None,
                 window: Window | None = None, rollup: bool = True,
                 run_horizon: timedelta = timedelta(hours=24)) -> list[BadFile]:
    """Create (or replace) every view on ``con``; see :func:`view_statements`. Returns the unreadable files
    the views leave out (also reported to an open :func:`collect_skipped` block)."""
    with collect_skipped() as skipped:
        statements = view_statements(lake, tenant=tenant, window=window, rollup=rollup, run_horizon=run_horizon)
    note_skipped(skipped)
    for statement in statements:
        con.execute(statement)
    return skipped


def connect(lake: LakeRef) -> LakeConnection:
    """A read-only, time-limited connection with the lake's views (every partition, every tenant)."""
    from tracelake.queries.engine import open_lake

    return open_lake(lake)
