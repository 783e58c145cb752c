"""The ``runs`` rollup: one Delta row per run, kept up to date incrementally from the ``events`` table.

Design (docs/analytics.md, "Run rollups (design)")
--------------------------------------------------

- **What a row holds.** Exactly a row of the ``runs`` view: ``queries/sql/run_facts.sql`` computes both
  (group values, start/finish, outcome, costs reported/estimated, tool calls valid/successful and how many
  carry the flag, post-condition checks passed/failed, escalations, fallbacks, the first
  fallback/escalation, its trigger and the time-to-safe-fallback, event count, first/last event time),
  one row per ``(tenant, run_id)``. Declared as :data:`tracelake.lake.tables.RUNS`, partitioned by the day
  of ``finished_at`` (of ``first_ts`` while the run is in flight), so run metrics (selected by
  ``finished_at``) prune the same way.
- **What it covers.** Each refresh commits, in the same Delta transaction as its rows, an application
  transaction ``txn(appId = "tracelake.rollup.runs/events", version = V)``: the ``events`` table version
  whose live files the rollup reflects. It is read back with ``DeltaTable.transaction_version``.
- **Refresh** (:func:`refresh_runs`). Pin the events table at its latest version ``V`` (one snapshot: its
  live files); load version ``C`` (the covered one) and take the live files of ``V`` that ``C`` does not
  list: the new files (appends; a compaction's rewritten files count as new, so its runs are recomputed,
  which is correct and only costs time). The run ids in those files are the *touched* runs. Each touched
  run is recomputed whole, from all of its events in ``V`` (every live file, de-duplicated by the
  ``events`` view's own SQL, then ``run_facts.sql``), and the rows replace the old ones in one
  Delta ``MERGE`` on ``(tenant, run_id)`` that also moves the covered version to ``V``. Because a touched run is
  recomputed from all its events, late and out-of-order events, runs spread over days and batches, and
  re-sent duplicates give the row the view gives. Two refreshes racing both write the same app id: delta-rs
  refuses the later commit (concurrent transaction), which re-reads and tries again (bounded). An append
  racing a refresh lands in a version after ``V``: the next refresh (or the tail) picks it up.
  When ``C`` can no longer be loaded (log cleaned up), the refresh rebuilds every run.
- **Reading** (:func:`runs_view_statement`, used by every connection of
  :func:`tracelake.queries.engine.open_lake`). The rollup's rows at its current version (pruned to the days
  the connection's window needs), except the runs touched by events files newer than its covered version,
  plus those runs computed on the fly from their events (the *tail*; the events of the days within the run
  horizon of the new files): one relation equal to the event-level ``runs`` view. The tail is a view, so
  a connection that never reads ``runs`` never computes it.

Assumptions: copies of one event (same tenant and event_id) carry the same ``run_id`` (the ``events`` view
already assumes they share ``event_type``); a run's events lie within the run horizon
(``Settings.run_max_duration_h``) of each other, as the run metrics' partition pruning already assumes.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import pyarrow as pa

from tracelake.lake.delta import (
    DataFile,
    add_files,
    ensure_table,
    files_and_transaction,
    live_files,
    open_table,
    storage_error,
)
from tracelake.lake.duck import private_connection
from tracelake.lake.files import split_files
from tracelake.lake.lake import LakeRef, as_lake
from tracelake.lake.tables import EVENTS, RUNS
from tracelake.queries.rollup.tail import Known, known_range
from tracelake.queries.timewin import Window
from tracelake.queries.views import (
    EVENTS_VIEW,
    RUN_FACTS_SQL,
    RUNS_TAIL,
    RUNS_TOUCHED,
    empty_source_sql,
    sql_string,
)

if TYPE_CHECKING:
    import duckdb
    from deltalake import DeltaTable

    from tracelake.lake.lake import Lake

log = logging.getLogger("tracelake.queries.rollup")

APP_ID = "tracelake.rollup.runs/events"
"""The application-transaction id under which the rollup records the events version it covers."""

MAX_COMMIT_ATTEMPTS = 10



def run_facts(events: str) -> str:
    """``queries/sql/run_facts.sql`` over the relation named ``events``: one row per run, the rollup's columns."""
    return RUN_FACTS_SQL.replace("{events}", events)


@dataclass(frozen=True)
class RefreshReport:
    """What one :func:`refresh_runs` did: the events versions covered before and after, the new events files
    it read, the runs it recomputed (rows written), the rollup version it committed (None: nothing to do),
    its duration and the commit attempts it took."""

    covered_before: int | None
    covered_after: int | None
    new_files: int
    runs_recomputed: int
    rollup_version: int | None
    seconds: float
    attempts: int = 1

    @property
    def changed(self) -> bool:
        return self.rollup_version is not None


# -- the events table at a version ------------------------------------------------------------------------------

def _file_uris(lake: Lake, delta: DeltaTable) -> list[str]:
    """The readable live data files of ``delta`` (an events snapshot); unreadable local files are left out, as
    the views leave them out."""
    files = add_files(lake, EVENTS, delta.get_add_actions(flatten=True))
    return [f.uri for f in files] if lake.is_remote else split_files(files)[0]


def _files_at(lake: Lake, version: int) -> list[str] | None:
    """The live files of the events table at ``version``; None when that version can no longer be loaded."""
    import deltalake

    try:
        old = deltalake.DeltaTable(lake.table_uri(EVENTS), version=version,
                                   storage_options=lake.storage_options or None)
    except deltalake.exceptions.DeltaError as exc:
        log.warning("events version %d cannot be loaded (%s): the runs rollup is rebuilt whole", version, exc)
        return None
    files = add_files(lake, EVENTS, old.get_add_actions(flatten=True))
    return [f.uri for f in files]


def _source(files: Sequence[str]) -> str:
    if not files:
        return empty_source_sql(EVENTS.schema, EVENTS.partition)
    listed = ", ".join(sql_string(f) for f in files)
    return f"read_parquet([{listed}], hive_partitioning = true, union_by_name = true)"


def _connection(lake: Lake) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
    """A private connection for the rollup's work (:func:`tracelake.lake.duck.private_connection`)."""
    return private_connection(lake)


def _touched(con: duckdb.DuckDBPyConnection, new_files: Sequence[str]) -> None:
    """Temp table ``touched(tenant, run_id)``: the runs with an event in ``new_files``."""
    # An outcome_confirmed is no fact of a run (run_facts.sql): a late one must not have its run recomputed from
    # days that may no longer hold the run's events.
    con.execute("CREATE OR REPLACE TEMP TABLE touched AS SELECT DISTINCT tenant, run_id "
                f"FROM {_source(new_files)} WHERE event_type <> 'outcome_confirmed'")


def _recompute(con: duckdb.DuckDBPyConnection, files: Sequence[str], *, scoped: bool) -> str:
    """View ``events`` over the runs in ``touched`` (every run when not ``scoped``), from all their events in
    ``files`` (the events view's own SQL); returns the query of their rollup rows (:func:`run_facts`)."""
    scope = "WHERE (tenant, run_id) IN (SELECT tenant, run_id FROM touched)" if scoped else ""
    con.execute(EVENTS_VIEW.format(source=_source(files), scope=scope))
    return run_facts("events")


def _as_runs(table: pa.Table) -> pa.Table:
    """DuckDB's result as exactly the rollup's Delta schema (``event_date`` arrives as a date)."""
    return RUNS.for_delta(table.set_column(table.schema.get_field_index(RUNS.partition), RUNS.partition,
                                           table.column(RUNS.partition).cast(pa.string())))


# -- refresh ---------------------------------------------------------------------------------------------------

def refresh_runs(lake_ref: LakeRef, run_horizon: timedelta = timedelta(hours=24)) -> RefreshReport:
    """Bring the ``runs`` rollup up to the events table's latest version (see the module docstring).

    A touched run is recomputed from the events of the days within ``run_horizon`` (the longest run,
    ``Settings.run_max_duration_h``) of the new files' days, so a refresh reads what is near the new events,
    not the whole lake; a rebuild reads everything.

    Raises ``OSError`` when the storage refuses, :class:`tracelake.errors.Unavailable` when other refreshes
    keep winning the commit race.
    """
    import deltalake

    lake = as_lake(lake_ref)
    started = time.perf_counter()
    for attempt in range(1, MAX_COMMIT_ATTEMPTS + 1):
        events = open_table(lake, EVENTS)
        rollup = ensure_table(lake, RUNS)
        covered = rollup.transaction_version(APP_ID)
        covered = None if covered is None else int(covered)
        if events is None:
            return RefreshReport(covered, covered, 0, 0, None, time.perf_counter() - started, attempt)
        target = int(events.version())
        if covered is not None and covered >= target:
            return RefreshReport(covered, covered, 0, 0, None, time.perf_counter() - started, attempt)
        live = add_files(lake, EVENTS, events.get_add_actions(flatten=True))
        readable = set(_readable(lake, live))
        live = [f for f in live if f.uri in readable]
        old = _covered_files(lake, covered) if covered is not None else frozenset()
        rebuild = old is None
        new = live if old is None else [f for f in live if f.uri not in old]
        source = live if rebuild else _near(live, new, run_horizon)
        with _connection(lake) as con:
            _touched(con, sorted(f.uri for f in new))
            query = _recompute(con, [f.uri for f in source], scoped=not rebuild)
            rows = _as_runs(con.execute(query).to_arrow_table())
        commit = deltalake.CommitProperties(custom_metadata={"tracelake.rollup": f"runs@events:{target}"},
                                            app_transactions=[deltalake.Transaction(APP_ID, target)])
        try:
            if rows.num_rows == 0:
                deltalake.write_deltalake(rollup, rows, mode="append", commit_properties=commit)
            else:
                (rollup.merge(rows, predicate="t.tenant = s.tenant AND t.run_id = s.run_id", source_alias="s",
                              target_alias="t",
                              commit_properties=commit)
                 .when_matched_update_all().when_not_matched_insert_all().execute())
        except deltalake.exceptions.CommitFailedError as exc:
            log.info("runs rollup commit lost a race (%s); re-reading (attempt %d)", exc, attempt)
            continue
        except deltalake.exceptions.DeltaError as exc:
            raise storage_error(exc) from exc
        rollup.update_incremental()
        return RefreshReport(covered, target, len(new), rows.num_rows, int(rollup.version()),
                             time.perf_counter() - started, attempt)
    from tracelake.errors import Unavailable

    raise Unavailable(f"could not commit the runs rollup after {MAX_COMMIT_ATTEMPTS} attempts: "
                      "other refreshes keep winning")


# -- reading: rollup + tail --------------------------------------------------------------------------------------

_FILES_AT: dict[tuple[str, int], frozenset[str] | None] = {}
_FILES_AT_LOCK = threading.Lock()


def _covered_files(lake: Lake, version: int) -> frozenset[str] | None:
    """:func:`_files_at` cached per process: a table version never changes, so neither does its file list."""
    key = (lake.table_uri(EVENTS), version)
    with _FILES_AT_LOCK:
        if key in _FILES_AT:
            return _FILES_AT[key]
    found = _files_at(lake, version)
    files = None if found is None else frozenset(found)
    with _FILES_AT_LOCK:
        if len(_FILES_AT) > 64:  # a handful of versions are live at once; old ones are never asked again
            _FILES_AT.clear()
        _FILES_AT[key] = files
    return files


def _readable(lake: Lake, files: list[DataFile]) -> list[str]:
    return [f.uri for f in files] if lake.is_remote else split_files(files)[0]


def _near(files: list[DataFile], new: list[DataFile], run_horizon: timedelta) -> list[DataFile]:
    """The ``files`` of the days within ``run_horizon`` of a day of ``new``: where the events of the runs that
    ``new`` touches can be (a run's events lie within the horizon of each other)."""
    if not new:
        return []
    reach = timedelta(days=math.ceil(run_horizon / timedelta(days=1)))
    first, last = min(f.day for f in new) - reach, max(f.day for f in new) + reach
    return [f for f in files if first <= f.day <= last]


def _parquet(files: Sequence[str]) -> str:
    listed = ", ".join(sql_string(f) for f in files)
    return f"read_parquet([{listed}], hive_partitioning = true, union_by_name = true)"


def runs_view_statement(lake_ref: LakeRef, *, tenant: str | None = None, window: Window | None = None,
                        run_horizon: timedelta = timedelta(hours=24)) -> str | None:
    """``CREATE VIEW runs`` over the rollup plus the still-open tail, computed by the view on every query (one
    statement: :func:`runs_view_statements`)."""
    statements = runs_view_statements(lake_ref, tenant=tenant, window=window, run_horizon=run_horizon,
                                      tails=False)
    return None if statements is None else statements[0]


def runs_view_statements(lake_ref: LakeRef, *, tenant: str | None = None, window: Window | None = None,
                         run_horizon: timedelta = timedelta(hours=24), tails: bool = True) -> list[str] | None:
    """The statements that define ``runs`` over the rollup plus the still-open tail (module docstring,
    "Reading"); None when the lake has no rollup yet (or its covered events version can no longer be loaded):
    the caller then defines ``runs`` from the events (the event-level path).

    With ``tails``, a tail is two views of its own, defined before ``runs`` (:data:`RUNS_TOUCHED`: the touched
    runs' keys; :data:`RUNS_TAIL`: their recomputed rows), which a connection materializes on first use
    (:func:`tracelake.queries.pool.materialize_tails`): it pays for the tail once, not on every query that
    reads ``runs``. Else (or with no tail) one ``CREATE VIEW`` statement.

    ``window`` (a connection's window, already widened by the run horizon for run metrics) prunes the rollup
    to the partitions of days in ``[window.since, window.until + run_horizon]``: a run finished in the
    window, or in flight with its first event there, has its row in one of them. ``tenant`` scopes every
    part. Same columns as the event-level view (``queries/sql/run_facts.sql``).
    """
    lake = as_lake(lake_ref)
    found = files_and_transaction(lake, RUNS, APP_ID)  # the per-process snapshot: no log replay per connection
    if found is None:
        return None
    stored, covered = found
    old = None if covered is None else _covered_files(lake, covered)
    if covered is None or old is None:
        return None
    current = live_files(lake, EVENTS)
    tail = [f for f in current if f.uri not in old]
    every_stored = stored
    if window is not None:
        first, last = window.since.date(), (window.until + run_horizon).date()
        stored = [f for f in stored if first <= f.day <= last]
    scope = f"tenant = {sql_string(tenant)}" if tenant is not None else "true"
    columns = ", ".join(f'"{c}"' for c in RUNS.schema.names if c != RUNS.partition)
    rows = _readable(lake, stored)
    stored_sql = _parquet(rows) if rows else empty_source_sql(RUNS.schema, RUNS.partition)
    if not tail:
        return [f"CREATE OR REPLACE VIEW runs AS SELECT {columns}, {RUNS.partition} FROM {stored_sql} WHERE {scope}"]
    touched_files = _readable(lake, tail)
    tail_events = EVENTS_VIEW.format(
        source=_tail_source(lake, covered, current, tail, touched_files, every_stored, run_horizon),
        scope=f"WHERE {scope} AND (tenant, run_id) IN (SELECT tenant, run_id FROM touched)",
    ).split(" AS\n", 1)[1]
    touched = (f"SELECT DISTINCT tenant, run_id FROM {_parquet(touched_files)} WHERE {scope} "
               "AND event_type <> 'outcome_confirmed'" if touched_files
               else "SELECT CAST(NULL AS VARCHAR) AS tenant, CAST(NULL AS VARCHAR) AS run_id WHERE false")
    selected = f"{columns}, {RUNS.partition}"
    if tails:
        return [f"CREATE OR REPLACE VIEW {RUNS_TOUCHED} AS {touched}",
                f"CREATE OR REPLACE VIEW {RUNS_TAIL} AS\n"
                f"WITH touched AS (SELECT * FROM {RUNS_TOUCHED}),\n"
                f"tail_events AS ({tail_events})\n"
                f"SELECT {selected} FROM ({run_facts('tail_events')})",
                "CREATE OR REPLACE VIEW runs AS\n"
                + stored_but_touched(selected, stored_sql, scope, RUNS_TOUCHED, RUNS_TAIL)]
    return [f"CREATE OR REPLACE VIEW runs AS\n"
            f"WITH touched AS MATERIALIZED ({touched}),\n"
            f"tail_events AS ({tail_events}),\n"
            f"tail AS ({run_facts('tail_events')})\n"
            + stored_but_touched(selected, stored_sql, scope, "touched", "tail")]


def stored_but_touched(columns: str, stored: str, scope: str, touched: str, tail: str) -> str:
    """The rows of a derived table's view: the ``stored`` rows in ``scope`` but those of the runs in ``touched``
    (``tenant, run_id``), and the ``tail`` rows recomputed for those runs (the runs rollup, control_results)."""
    return (f"SELECT {columns} FROM {stored} s WHERE {scope}\n"
            f"  AND NOT EXISTS (SELECT 1 FROM {touched} t WHERE t.tenant = s.tenant AND t.run_id = s.run_id)\n"
            f"UNION ALL BY NAME SELECT {columns} FROM {tail}")


def _tail_source(lake: Lake, covered: int, current: list[DataFile], tail: list[DataFile], touched_files: list[str],
                 stored: list[DataFile], run_horizon: timedelta) -> str:
    """What the tail's runs are recomputed from: the new files whole, and the covered files of the days near
    them only between the first and last event time of the touched runs the rollup knows (none when it knows
    none; all of them when that cannot be told): :mod:`tracelake.queries.rollup.tail`."""
    new = set(touched_files)
    tail_uris = {t.uri for t in tail}
    covered_near = [f for f in _near(current, tail, run_horizon) if f.uri not in tail_uris]
    known = known_range(lake, covered, touched_files, _readable(lake, _near(stored, tail, run_horizon)))
    if known is None:
        return _parquet(sorted(new)) if new else empty_source_sql(EVENTS.schema, EVENTS.partition)
    where = ""
    if isinstance(known, Known):
        covered_near = [f for f in covered_near if known.first.date() <= f.day <= known.last.date()]
        where = (f" WHERE ts BETWEEN TIMESTAMPTZ {sql_string(known.first.isoformat())} "
                 f"AND TIMESTAMPTZ {sql_string(known.last.isoformat())}")
        if known.run_ids is not None:  # a few runs named: the scan decodes their rows' columns only
            where += f" AND run_id IN ({', '.join(sql_string(r) for r in known.run_ids)})"
    old = _readable(lake, covered_near)
    parts = ([f"SELECT * FROM {_parquet(sorted(new))}"] if new else []) + (
        [f"SELECT * FROM {_parquet(old)}{where}"] if old else [])
    if not parts:
        return empty_source_sql(EVENTS.schema, EVENTS.partition)
    return "(" + " UNION ALL BY NAME ".join(parts) + ")"


def pending_files(lake_ref: LakeRef) -> int | None:
    """How many live events files the rollup does not cover yet (what the tail reads); None without a rollup."""
    lake = as_lake(lake_ref)
    found = files_and_transaction(lake, RUNS, APP_ID)
    old = None if found is None or found[1] is None else _covered_files(lake, found[1])
    if old is None:
        return None
    return sum(1 for f in live_files(lake, EVENTS) if f.uri not in old)


def read_runs(lake_ref: LakeRef, *, tenant: str | None = None) -> pa.Table:
    """The rollup plus the still-open tail (every :data:`~tracelake.lake.tables.RUNS` column, ``event_date`` as
    a DATE) as an Arrow table ordered by ``(tenant, run_id)``; the event-level rows when there is no rollup."""
    lake = as_lake(lake_ref)
    with _connection(lake) as con:
        statement = runs_view_statement(lake, tenant=tenant)
        if statement is None:
            return compute_runs(lake)
        con.execute(statement)
        return con.execute("SELECT * FROM runs ORDER BY tenant, run_id").to_arrow_table()


def compute_runs(lake_ref: LakeRef) -> pa.Table:
    """Every run's rollup row computed from scratch from the events table's latest version (the event-level
    path the rollup must equal), ordered by ``(tenant, run_id)``; ``event_date`` as a DATE."""
    lake = as_lake(lake_ref)
    events = open_table(lake, EVENTS)
    files = [] if events is None else _file_uris(lake, events)
    with _connection(lake) as con:
        query = _recompute(con, files, scoped=False)
        return con.execute(f"SELECT * FROM ({query}) ORDER BY tenant, run_id").to_arrow_table()
