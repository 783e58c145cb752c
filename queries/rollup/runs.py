"""The ``runs`` rollup: one Delta row per run, kept up to date incrementally from the ``events`` table.

Design (docs/analytics.md, "Run rollups (design)")
--------------------------------------------------

- **What a row holds.** Every column of the ``runs`` view (:data:`tracelake.queries.views.RUNS_VIEW`),
  computed *by that view's SQL*, plus the per-run facts the metrics need beyond it (:data:`EXTRAS_SQL`:
  tool calls valid/successful and how many carry the flag, post-condition checks passed/failed,
  escalations and their reasons, fallbacks, the first fallback/escalation, its trigger and the
  time-to-safe-fallback, reported/estimated cost, event count, last event time). Declared as
  :data:`tracelake.lake.tables.RUNS`, partitioned by the day of ``finished_at`` (of ``first_ts`` while
  the run is in flight), so run metrics (selected by ``finished_at``) prune the same way.
- **What it covers.** Each refresh commits, in the same Delta transaction as its rows, an application
  transaction ``txn(appId = "tracelake.rollup.runs/events", version = V)``: the ``events`` table version
  whose live files the rollup reflects. It is read back with ``DeltaTable.transaction_version``.
- **Refresh** (:func:`refresh_runs`). Pin the events table at its latest version ``V`` (one snapshot: its
  live files); load version ``C`` (the covered one) and take the live files of ``V`` that ``C`` does not
  list: the new files (appends; a compaction's rewritten files count as new, so its runs are recomputed,
  which is correct and only costs time). The run ids in those files are the *touched* runs. Each touched
  run is recomputed whole, from all of its events in ``V`` (every live file, de-duplicated by the
  ``events`` view's own SQL, then the ``runs`` view's SQL), and the rows replace the old ones in one
  Delta ``MERGE`` on ``run_id`` that also moves the covered version to ``V``. Because a touched run is
  recomputed from all its events, late and out-of-order events, runs spread over days and batches, and
  re-sent duplicates give the row the view gives. Two refreshes racing both write the same app id: delta-rs
  refuses the later commit (concurrent transaction), which re-reads and tries again (bounded). An append
  racing a refresh lands in a version after ``V``: the next refresh (or the tail) picks it up.
  When ``C`` can no longer be loaded (log cleaned up), the refresh rebuilds every run.
- **Reading** (:func:`open_runs`, :func:`read_runs`). The rollup's rows at its current version, except the
  runs touched by events files newer than its covered version, plus those runs computed on the fly (the
  *tail*): one relation equal to the ``runs`` view at the events version read.

Shared SQL: the safe-fallback signal (first fallback, its trigger, the earliest trouble) is
``queries/sql/fallback_signal.sql``, pasted into both :data:`EXTRAS_SQL` and the time_to_safe_fallback
metric. Still to share: escalation reasons per run (``escalation_rate.sql`` joins events).
``RUNS_VIEW`` groups by ``run_id`` only; a rollup keyed by (tenant, run_id) needs ``GROUP BY tenant,
run_id`` (and ``PARTITION BY tenant, run_id``) there.

Assumptions: copies of one event (same tenant and event_id) carry the same ``run_id`` (the ``events`` view
already assumes they share ``event_type``); the scope filter on touched runs sits below the de-duplication.
The ``runs`` view has one row per ``run_id`` (not per tenant and run id), and so does the rollup.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from tracelake.lake.delta import _data_files, ensure_table, open_table, storage_error
from tracelake.lake.files import split_files
from tracelake.lake.lake import LakeRef, as_lake
from tracelake.lake.tables import EVENTS, RUNS
from tracelake.queries.metrics import render
from tracelake.queries.sqlparts import read_sql
from tracelake.queries.views import EVENTS_VIEW, RUNS_VIEW, empty_source_sql, sql_string

if TYPE_CHECKING:
    import duckdb
    from deltalake import DeltaTable

    from tracelake.lake.lake import Lake

log = logging.getLogger("tracelake.queries.rollup")

APP_ID = "tracelake.rollup.runs/events"
"""The application-transaction id under which the rollup records the events version it covers."""

MAX_COMMIT_ATTEMPTS = 10

# Per-run facts beyond the runs view, over the (scoped, de-duplicated) ``events`` view; the safe-fallback
# signal is queries/sql/fallback_signal.sql, the same CTEs the time_to_safe_fallback metric uses.
EXTRAS_SQL = render("""
WITH ev AS MATERIALIZED (
    SELECT run_id, event_id, event_type, ts, status, schema_valid, success, decision, passed, reason,
           trigger_event_id, cost_usd, cost_source,
           epoch_us(ts) + coalesce(duration_ms, 0) * 1000.0 AS observed_us
    FROM events
), counts AS (
    SELECT run_id,
        count(*) AS events,
        coalesce(sum(cost_usd) FILTER (WHERE cost_source = 'reported'), 0) AS cost_reported_usd,
        coalesce(sum(cost_usd) FILTER (WHERE cost_source = 'estimated'), 0) AS cost_estimated_usd,
        count(schema_valid) FILTER (WHERE event_type = 'tool_call') AS tool_calls_validity_known,
        count(*) FILTER (WHERE event_type = 'tool_call' AND schema_valid) AS tool_calls_valid,
        count(success) FILTER (WHERE event_type = 'tool_call') AS tool_calls_success_known,
        count(*) FILTER (WHERE event_type = 'tool_call' AND success) AS tool_calls_successful,
        count(*) FILTER (WHERE event_type = 'postcondition_check') AS postcondition_checks,
        count(*) FILTER (WHERE event_type = 'postcondition_check' AND passed) AS postconditions_passed,
        count(*) FILTER (WHERE event_type = 'postcondition_check' AND passed = false) AS postconditions_failed,
        count(*) FILTER (WHERE event_type = 'escalation') AS escalations,
        CAST(to_json(histogram(reason) FILTER (WHERE event_type = 'escalation' AND reason IS NOT NULL))
             AS VARCHAR) AS escalation_reasons,
        count(*) FILTER (WHERE event_type = 'fallback') AS fallbacks,
        max(ts) AS last_ts
    FROM ev
    GROUP BY run_id
), {fallback_signal}
)
SELECT r.*, c.* EXCLUDE (run_id),
    f.f_ts AS safe_fallback_at, f.trigger_event_id AS safe_fallback_trigger,
    CASE WHEN f.run_id IS NOT NULL THEN
        greatest(0.0, (epoch_us(f.f_ts) - coalesce(triggered.signal_us, trouble.signal_us,
                                                   epoch_us(coalesce(r.started_at, r.first_ts)))) / 1000.0)
    END AS ttsf_ms,
    CAST(coalesce(r.finished_at, r.first_ts) AS DATE) AS event_date
FROM runs r
JOIN counts c USING (run_id)
LEFT JOIN first_fallback f USING (run_id)
LEFT JOIN triggered USING (run_id)
LEFT JOIN trouble USING (run_id)
""", {"fallback_signal": read_sql("fallback_signal.sql")})


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
    files = _data_files(lake, EVENTS, delta.get_add_actions(flatten=True))
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
    files = _data_files(lake, EVENTS, old.get_add_actions(flatten=True))
    return [f.uri for f in files]


def _source(files: Sequence[str]) -> str:
    if not files:
        return empty_source_sql(EVENTS.schema, EVENTS.partition)
    listed = ", ".join(sql_string(f) for f in files)
    return f"read_parquet([{listed}], hive_partitioning = true, union_by_name = true)"


@contextmanager
def _connection(lake: Lake) -> Iterator[duckdb.DuckDBPyConnection]:
    import duckdb

    from tracelake.lake.duck import load_lake_extensions, needed_extensions

    con = duckdb.connect(":memory:", config={"threads": 2})
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")
        load_lake_extensions(con, lake, needed_extensions(lake))
        yield con
    finally:
        con.close()


def _touched(con: duckdb.DuckDBPyConnection, new_files: Sequence[str]) -> None:
    """Temp table ``touched(run_id)``: the runs with an event in ``new_files``."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE touched AS SELECT DISTINCT run_id FROM {_source(new_files)}")


def _recompute(con: duckdb.DuckDBPyConnection, files: Sequence[str], *, scoped: bool) -> None:
    """Views ``events`` and ``runs`` over the runs in ``touched`` (every run when not ``scoped``), from all
    their events in ``files``: the views' own SQL; :data:`EXTRAS_SQL` over them gives the rollup rows."""
    scope = "WHERE run_id IN (SELECT run_id FROM touched)" if scoped else ""
    con.execute(EVENTS_VIEW.format(source=_source(files), scope=scope))
    con.execute(RUNS_VIEW)


def _as_runs(table: pa.Table) -> pa.Table:
    """DuckDB's result as exactly the rollup's Delta schema (``event_date`` arrives as a date)."""
    return RUNS.for_delta(table.set_column(table.schema.get_field_index(RUNS.partition), RUNS.partition,
                                           table.column(RUNS.partition).cast(pa.string())))


# -- refresh ---------------------------------------------------------------------------------------------------

def refresh_runs(lake_ref: LakeRef) -> RefreshReport:
    """Bring the ``runs`` rollup up to the events table's latest version (see the module docstring).

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
        files = _file_uris(lake, events)
        old = _files_at(lake, covered) if covered is not None else []
        rebuild = old is None
        new_files = files if old is None else sorted(set(files) - set(old))
        with _connection(lake) as con:
            _touched(con, new_files)
            _recompute(con, files, scoped=not rebuild)
            rows = _as_runs(con.execute(EXTRAS_SQL).to_arrow_table())
        commit = deltalake.CommitProperties(custom_metadata={"tracelake.rollup": f"runs@events:{target}"},
                                            app_transactions=[deltalake.Transaction(APP_ID, target)])
        try:
            if rows.num_rows == 0:
                deltalake.write_deltalake(rollup, rows, mode="append", commit_properties=commit)
            else:
                (rollup.merge(rows, predicate="t.run_id = s.run_id", source_alias="s", target_alias="t",
                              commit_properties=commit)
                 .when_matched_update_all().when_not_matched_insert_all().execute())
        except deltalake.exceptions.CommitFailedError as exc:
            log.info("runs rollup commit lost a race (%s); re-reading (attempt %d)", exc, attempt)
            continue
        except deltalake.exceptions.DeltaError as exc:
            raise storage_error(exc) from exc
        rollup.update_incremental()
        return RefreshReport(covered, target, len(new_files), rows.num_rows, int(rollup.version()),
                             time.perf_counter() - started, attempt)
    from tracelake.errors import Unavailable

    raise Unavailable(f"could not commit the runs rollup after {MAX_COMMIT_ATTEMPTS} attempts: "
                      "other refreshes keep winning")


# -- reading: rollup + tail --------------------------------------------------------------------------------------

def create_runs_view(con: duckdb.DuckDBPyConnection, lake_ref: LakeRef, name: str = "runs") -> dict[str, Any]:
    """Create view ``name`` on ``con`` (a private DuckDB connection: the function replaces and then drops views
    ``events`` and ``runs`` and leaves temp tables ``touched``, ``runs_tail``): the rollup's rows plus the
    still-open tail, one relation with the rollup's columns (``event_date`` as a DATE). With ``name="runs"``
    the run-only metric SQL files (success_rate, cost_per_success, latency_split) run on it unchanged.

    Returns what was read: ``covered`` (events version in the rollup), ``events_version``, ``tail_files``,
    ``tail_runs``.
    """
    lake = as_lake(lake_ref)
    rollup = open_table(lake, RUNS)
    covered = None if rollup is None else rollup.transaction_version(APP_ID)
    events = open_table(lake, EVENTS)
    files = [] if events is None else _file_uris(lake, events)
    old = _files_at(lake, int(covered)) if covered is not None else None
    tail_files = files if old is None else sorted(set(files) - set(old))
    rollup_files = [] if rollup is None or covered is None else [
        f.uri for f in _data_files(lake, RUNS, rollup.get_add_actions(flatten=True))]
    _touched(con, tail_files)
    _recompute(con, files, scoped=True)
    con.execute(f"CREATE OR REPLACE TEMP TABLE runs_tail AS {EXTRAS_SQL}")
    # The helper views hold only the tail's runs: dropped, so no query on ``con`` mistakes them for the lake's.
    con.execute("DROP VIEW runs")
    con.execute("DROP VIEW events")
    stored = (f"read_parquet([{', '.join(sql_string(f) for f in rollup_files)}], hive_partitioning = true, "
              "union_by_name = true)") if rollup_files else empty_source_sql(RUNS.schema, RUNS.partition)
    columns = ", ".join(f'"{c}"' for c in RUNS.schema.names)
    con.execute(f"CREATE OR REPLACE VIEW {name} AS "
                f"SELECT {columns} FROM {stored} WHERE run_id NOT IN (SELECT run_id FROM touched) "
                f"UNION ALL BY NAME SELECT {columns} FROM runs_tail")
    tail_runs = con.execute("SELECT count(*) FROM runs_tail").fetchone()
    return {"covered": None if covered is None else int(covered),
            "events_version": None if events is None else int(events.version()),
            "tail_files": len(tail_files), "tail_runs": int(tail_runs[0]) if tail_runs else 0}


def read_runs(lake_ref: LakeRef) -> pa.Table:
    """The rollup plus the still-open tail as an Arrow table (every :data:`~tracelake.lake.tables.RUNS`
    column), ordered by ``run_id``."""
    lake = as_lake(lake_ref)
    with _connection(lake) as con:
        create_runs_view(con, lake, name="runs_all")
        return con.execute("SELECT * FROM runs_all ORDER BY run_id").to_arrow_table()


def compute_runs(lake_ref: LakeRef) -> pa.Table:
    """Every run's rollup row computed from scratch from the events table's latest version (the event-level
    path the rollup must equal), ordered by ``run_id``; ``event_date`` as a DATE."""
    lake = as_lake(lake_ref)
    events = open_table(lake, EVENTS)
    files = [] if events is None else _file_uris(lake, events)
    with _connection(lake) as con:
        _recompute(con, files, scoped=False)
        return con.execute(f"SELECT * FROM ({EXTRAS_SQL}) ORDER BY run_id").to_arrow_table()
