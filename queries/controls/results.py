"""The ``control_results`` table and view: every run's verdict per control, maintained as the lake grows.

Same pattern as the runs rollup (:mod:`tracelake.queries.rollup.runs`), one SQL for both sources
(:func:`tracelake.queries.controls.evaluate.results_sql`):

- **What a row holds.** One row per (tenant, run_id, control_id, control_version):
  :data:`tracelake.lake.tables.CONTROL_RESULTS`, partitioned by the day of the run's finish (of its first event
  while in flight), so a window over finished runs prunes as the run metrics do.
- **What it covers.** Each refresh commits, with its rows, the application transaction
  ``txn(appId = "tracelake.controls/<fingerprint>/events", version = V)``: the events version the rows
  reflect, under the library whose :attr:`~tracelake.queries.controls.library.ControlLibrary.fingerprint`
  is in the id. Rows computed by another library (other controls, versions, SQL or configuration) are never
  read as current: the reader finds no covered version for its own fingerprint.
- **Refresh** (:func:`refresh_controls`). Pin the events table at its latest version ``V``; the live files
  the covered version ``C`` does not list are new; the runs with an event in them are touched; every touched
  run is re-evaluated whole from its events (the days within the run horizon of the new files, de-duplicated
  by the ``events`` view's SQL) and its rows replace the old ones in one Delta ``MERGE`` on the identity,
  which also records ``V``. Every run has exactly one row per control of the library, so an update or an
  insert per row is enough. No covered version for this fingerprint (a new table, a changed library, or
  ``C`` no longer loadable): every run is evaluated and the table overwritten. A commit lost to a
  concurrent refresh re-reads and retries (bounded).
- **Reading** (:func:`control_results_view_statement`, in every connection's views): the stored rows (pruned
  to the connection's window, scoped to its tenant) except the touched runs of events files newer than the
  covered version, plus those runs evaluated on the fly (the tail). Without a covered version for the
  library: every run evaluated from the connection's ``events`` view (correct, slower).

Assumptions: those of the runs rollup (copies of an event share its run; a run's events lie within the run
horizon of each other). Failure modes: ``OSError`` when the storage refuses,
:class:`tracelake.errors.Unavailable` when other refreshes keep winning the commit race.
"""

from __future__ import annotations

import logging
import math
import time
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
from tracelake.lake.lake import LakeRef, as_lake
from tracelake.lake.tables import CONTROL_RESULTS, EVENTS
from tracelake.queries.controls.evaluate import COLUMNS, EVENT_COLUMNS, key_horizon, results_sql, staged_sql
from tracelake.queries.controls.library import ControlLibrary, active_library
from tracelake.queries.rollup.runs import (
    _connection,
    _covered_files,
    _parquet,
    _readable,
    _source,
    _touched,
    stored_but_touched,
)
from tracelake.queries.timewin import Window
from tracelake.queries.views import (
    CONTROLS_KEYS,
    CONTROLS_TAIL,
    CONTROLS_TOUCHED,
    EVENTS_VIEW,
    NOT_READY,
    empty_source_sql,
    sql_string,
)

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger("tracelake.queries.controls")

APP_PREFIX = "tracelake.controls"
MAX_COMMIT_ATTEMPTS = 10


def app_id(library: ControlLibrary) -> str:
    """The application-transaction id recording the events version covered under ``library``."""
    return f"{APP_PREFIX}/{library.fingerprint}/events"


@dataclass(frozen=True)
class ControlsRefreshReport:
    """What one :func:`refresh_controls` did (as the runs rollup's report): events versions covered before and
    after, new events files read, runs re-evaluated, rows written, the table version committed (None:
    nothing to do), whether it rebuilt every run, its duration and commit attempts."""

    covered_before: int | None
    covered_after: int | None
    new_files: int
    runs_evaluated: int
    rows_written: int
    table_version: int | None
    rebuilt: bool
    seconds: float
    attempts: int = 1

    @property
    def changed(self) -> bool:
        return self.table_version is not None


def _as_rows(table: pa.Table) -> pa.Table:
    index = table.schema.get_field_index(CONTROL_RESULTS.partition)
    dates = table.column(CONTROL_RESULTS.partition).cast(pa.string())
    return CONTROL_RESULTS.for_delta(table.set_column(index, CONTROL_RESULTS.partition, dates))


# A successful mutating tool call with an idempotency key: what idempotency_single_success compares across runs
# (common.sql's key_successes reads the same).
KEY_SUCCESS = ("event_type = 'tool_call' AND mutating AND success AND run_id IS NOT NULL "
               "AND idempotency_key IS NOT NULL AND idempotency_key <> ''")


def key_source_sql(files_sql: str, scope: str = "true") -> str:
    """The de-duplicated key successes (:data:`KEY_SUCCESS`) of the events files ``files_sql`` (a
    ``read_parquet``), rows matching ``scope``: every copy of a candidate event goes through the ``events``
    view's de-duplication (its partition is ``tenant, event_id, event_type``), so the copy kept is the one the
    view keeps, and only candidates are sorted."""
    candidates = f"SELECT tenant, event_id FROM {files_sql} WHERE {KEY_SUCCESS} AND {scope}"
    deduplicated = EVENTS_VIEW.format(
        source=files_sql,
        scope=f"WHERE event_type = 'tool_call' AND {scope} AND (tenant, event_id) IN ({candidates})",
    ).split(" AS\n", 1)[1]
    return (f"SELECT tenant, idempotency_key, run_id, event_id, event_type, ts, mutating, success "
            f"FROM ({deduplicated}) WHERE {KEY_SUCCESS}")


def _later_with_key(library: ControlLibrary, new: str, known: str) -> str:
    """The runs (``tenant, run_id``) of ``known`` key successes a success of ``new`` (same tenant and key,
    another run) comes before, within the key horizon: the runs whose idempotency verdict a new success can
    change (it counts against later calls only)."""
    horizon_us = int(key_horizon(library) / timedelta(microseconds=1))
    return (f"SELECT DISTINCT c.tenant, c.run_id FROM {known} c JOIN {new} p "
            "ON p.tenant = c.tenant AND p.idempotency_key = c.idempotency_key AND p.run_id <> c.run_id "
            "AND (p.ts < c.ts OR (p.ts = c.ts AND p.event_id < c.event_id)) "
            f"AND epoch_us(c.ts) <= epoch_us(p.ts) + {horizon_us}")


def _within(files: list[DataFile], new: list[DataFile], before: timedelta, after: timedelta) -> list[DataFile]:
    """The ``files`` of the days from ``before`` ahead of the first day of ``new`` to ``after`` past its last."""
    if not new:
        return []
    days = timedelta(days=1)
    first = min(f.day for f in new) - timedelta(days=math.ceil(before / days))
    last = max(f.day for f in new) + timedelta(days=math.ceil(after / days))
    return [f for f in files if first <= f.day <= last]


CHUNK_BYTES = 256 * 1024 * 1024
"""About how many bytes of events files one evaluation step reads at most: a larger source is evaluated in
run buckets (``hash(run_id) % k``), which bounds the memory the refresh holds (a bucket's events are
materialized as temp tables, :func:`_evaluate`)."""


def _key_source(con: duckdb.DuckDBPyConnection, key_files: list[DataFile]) -> None:
    """Temp table ``key_source``: the key successes of ``key_files`` (:func:`key_source_sql`)."""
    con.execute("CREATE OR REPLACE TEMP TABLE key_source AS " + key_source_sql(_source([f.uri for f in key_files])))


def _evaluate(con: duckdb.DuckDBPyConnection, library: ControlLibrary, source: list[DataFile], *,
              touched: bool) -> tuple[pa.Table, int]:
    """Every verdict of the runs in ``source`` (only those in the temp table ``touched`` when ``touched``), and
    how many runs that is: the rows of :func:`results_sql` over the ``events`` view's de-duplication of
    ``source``, computed in steps (:func:`staged_sql`) run bucket by run bucket (:data:`CHUNK_BYTES`). A run's
    events all fall in its bucket, so the buckets' rows are the whole statement's rows. The idempotency keys
    are compared with the temp table ``key_source`` (:func:`_key_source`, made first by the caller): every
    run's key successes, whatever the bucket."""
    buckets = max(1, math.ceil(sum(f.size for f in source) / CHUNK_BYTES))
    parts: list[pa.Table] = []
    runs = 0
    setup, per_control = staged_sql(library, "bucket_events", "key_source")
    columns = ", ".join(f'"{c}"' for c in EVENT_COLUMNS)
    for bucket in range(buckets):
        clauses = ["(tenant, run_id) IN (SELECT tenant, run_id FROM touched)"] if touched else []
        if buckets > 1:
            clauses.append(f"hash(run_id) % {buckets} = {bucket}")
        scope = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        con.execute(EVENTS_VIEW.format(source=_source([f.uri for f in source]), scope=scope))
        # One scan of the files per bucket: the de-duplicated events the controls read, then the shared
        # relations, then each control over them.
        con.execute(f"CREATE OR REPLACE TEMP TABLE bucket_events AS SELECT {columns} FROM events")
        for statement in setup:
            con.execute(statement)
        parts.extend(con.execute(statement).to_arrow_table() for statement in per_control)
        found = con.execute("SELECT count(*) FROM run_keys").fetchone()
        runs += int(found[0]) if found else 0
    return pa.concat_tables(parts), runs


def _extend_touched(con: duckdb.DuckDBPyConnection, library: ControlLibrary, new: list[DataFile],
                    key_files: list[DataFile]) -> None:
    """Add to ``touched`` the runs a success in ``new`` comes before under the same key (:func:`_later_with_key`):
    a late event of an earlier run can make a stored later run fail. Leaves ``key_source``, the key
    successes of ``key_files``, for :func:`_evaluate`."""
    _key_source(con, key_files)
    arrived = f"(SELECT tenant, idempotency_key, run_id, event_id, ts FROM {_source([f.uri for f in new])} " \
              f"WHERE {KEY_SUCCESS})"
    con.execute(f"INSERT INTO touched SELECT * FROM ({_later_with_key(library, arrived, 'key_source')}) "
                "EXCEPT SELECT tenant, run_id FROM touched")


def _days_reached(rows: pa.Table, new: list[DataFile], run_horizon: timedelta) -> str:
    """The merge's partition bounds: a touched run's row, old or new, lies on a day within the run horizon of
    a new file's day (its events lie within the horizon of each other) or of its new row's day (a run
    touched through a key: its events, hence its day, did not change), so only those partitions of the
    table are read (the merge otherwise scans every row of it). The rows' own days are included."""
    reach = timedelta(days=math.ceil(run_horizon / timedelta(days=1)))
    days = [f.day for f in new] + [d for d in rows.column(CONTROL_RESULTS.partition).to_pylist() if d is not None]
    first, last = min(days) - reach, max(days) + reach
    return f" AND t.{CONTROL_RESULTS.partition} BETWEEN DATE '{first.isoformat()}' AND DATE '{last.isoformat()}'"


def refresh_controls(lake_ref: LakeRef, run_horizon: timedelta = timedelta(hours=24),
                     library: ControlLibrary | None = None) -> ControlsRefreshReport:
    """Bring ``control_results`` up to the events table's latest version under ``library`` (default: the
    process's, :func:`~tracelake.queries.controls.library.active_library`); see the module docstring."""
    import deltalake

    lake = as_lake(lake_ref)
    library = library or active_library()
    the_app = app_id(library)
    started = time.perf_counter()
    for attempt in range(1, MAX_COMMIT_ATTEMPTS + 1):
        events = open_table(lake, EVENTS)
        table = ensure_table(lake, CONTROL_RESULTS)
        found = table.transaction_version(the_app)
        covered = None if found is None else int(found)
        if events is None:
            return ControlsRefreshReport(covered, covered, 0, 0, 0, None, False, time.perf_counter() - started,
                                         attempt)
        target = int(events.version())
        if covered is not None and covered >= target:
            return ControlsRefreshReport(covered, covered, 0, 0, 0, None, False, time.perf_counter() - started,
                                         attempt)
        live = add_files(lake, EVENTS, events.get_add_actions(flatten=True))
        readable = set(_readable(lake, live))
        live = [f for f in live if f.uri in readable]
        old = _covered_files(lake, covered) if covered is not None else None
        rebuild = old is None
        new = live if old is None else [f for f in live if f.uri not in old]
        # The touched runs' events: those of a run with an event in the new files lie within the run horizon
        # of them; a run touched through a key (a new success before its own) succeeded up to the key
        # horizon later. Their key successes lie up to the key horizon before their calls.
        horizons = run_horizon + key_horizon(library)
        source = live if rebuild else _within(live, new, run_horizon, horizons)
        key_files = live if rebuild else _within(live, new, horizons, horizons)
        with _connection(lake) as con:
            if rebuild:
                _key_source(con, key_files)
            else:
                _touched(con, sorted(f.uri for f in new))
                _extend_touched(con, library, new, key_files)
            table_rows, runs = _evaluate(con, library, source, touched=not rebuild)
            rows = _as_rows(table_rows)
        commit = deltalake.CommitProperties(custom_metadata={"tracelake.controls": f"{the_app}:{target}"},
                                            app_transactions=[deltalake.Transaction(the_app, target)])
        try:
            if rebuild:
                deltalake.write_deltalake(table, rows, mode="overwrite", commit_properties=commit)
            elif rows.num_rows == 0:
                deltalake.write_deltalake(table, rows, mode="append", commit_properties=commit)
            else:
                on = " AND ".join(f"t.{c} = s.{c}" for c in CONTROL_RESULTS.identity) + _days_reached(
                    rows, new, run_horizon)
                (table.merge(rows, predicate=on, source_alias="s", target_alias="t", commit_properties=commit)
                 .when_matched_update_all().when_not_matched_insert_all().execute())
        except deltalake.exceptions.CommitFailedError as exc:
            log.info("control_results commit lost a race (%s); re-reading (attempt %d)", exc, attempt)
            continue
        except deltalake.exceptions.DeltaError as exc:
            raise storage_error(exc) from exc
        table.update_incremental()
        return ControlsRefreshReport(covered, target, len(new), runs, rows.num_rows,
                                     int(table.version()), rebuild, time.perf_counter() - started, attempt)
    from tracelake.errors import Unavailable

    raise Unavailable(f"could not commit control_results after {MAX_COMMIT_ATTEMPTS} attempts: "
                      "other refreshes keep winning")


ON_THE_FLY_MAX_BYTES = 64 * 1024 * 1024
"""The most events-file bytes a connection's ``control_results`` view evaluates on the fly (the whole window
when the table does not cover the library; the files added since the covered version otherwise). Past it the
view refuses, when read, with one line saying to run ``tracelake lake rollup``: the on-the-fly evaluation is
one DuckDB statement, and DuckDB 1.5 was seen parking such a statement over a 10M-event lake for good, deaf to
``interrupt()``, so no query time limit could stop it; the rollup evaluates in steps, in a worker that is
killed past its time limit. 64 MiB is about 2M events of a compacted lake (six days of the 10M bench lake),
evaluated in 3-16 s within the default per-query budget (docs/controls.md "How results are kept")."""


def _refusal(why: str) -> str:
    """``CREATE VIEW control_results`` that raises ``why`` (one line) when a query reads a row of it. Every
    column is computed from the ``error()`` call, so no filter or projection can skip it."""
    message = sql_string(NOT_READY + why)
    columns = ", ".join(
        f'CAST(e AS {"DATE" if field.name == CONTROL_RESULTS.partition else _duck_type(field.type)}) AS "{field.name}"'
        for field in CONTROL_RESULTS.schema if field.name in COLUMNS)
    return (f"CREATE OR REPLACE VIEW control_results AS SELECT {columns} "
            f"FROM (SELECT error({message}) AS e FROM range(1)) WHERE e IS NULL")


def _duck_type(arrow: pa.DataType) -> str:
    if pa.types.is_timestamp(arrow):
        return "TIMESTAMPTZ"
    return "BIGINT" if pa.types.is_integer(arrow) else "VARCHAR"


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.0f} MB"


def control_results_view_statement(lake_ref: LakeRef, *, tenant: str | None = None, window: Window | None = None,
                                   run_horizon: timedelta = timedelta(hours=24),
                                   library: ControlLibrary | None = None) -> str:
    """``CREATE VIEW control_results`` for a connection (module docstring, "Reading"), one statement: see
    :func:`control_results_view_statements`."""
    return control_results_view_statements(lake_ref, tenant=tenant, window=window, run_horizon=run_horizon,
                                           library=library, tails=False)[0]


def control_results_view_statements(lake_ref: LakeRef, *, tenant: str | None = None,
                                    window: Window | None = None, run_horizon: timedelta = timedelta(hours=24),
                                    library: ControlLibrary | None = None, tails: bool = False) -> list[str]:
    """The statements that define ``control_results`` for a connection (module docstring, "Reading"). Needs
    the connection's ``events`` view (the fallback reads it). ``window`` prunes the stored rows to the days in
    ``[window.since, window.until + run_horizon]``; ``tenant`` scopes every part. With ``tails``, a tail is
    three views of its own, defined first (:data:`~tracelake.queries.views.CONTROLS_KEYS`: the key successes
    it is compared with; ``CONTROLS_TOUCHED``: the runs it re-evaluates; ``CONTROLS_TAIL``: their verdicts),
    which a connection materializes on first use (:func:`tracelake.queries.pool.materialize_tails`)."""
    lake = as_lake(lake_ref)
    library = library or active_library()
    columns = ", ".join(f'"{c}"' for c in COLUMNS)
    found = files_and_transaction(lake, CONTROL_RESULTS, app_id(library))
    old = None if found is None or found[1] is None else _covered_files(lake, found[1])
    if found is None or old is None:
        reach = [f for f in live_files(lake, EVENTS)
                 if window is None or window.since.date() <= f.day <= window.until.date()]
        size = sum(f.size for f in reach)
        if size > ON_THE_FLY_MAX_BYTES:
            return [_refusal(
                f"control_results is not built for the current controls: evaluating them here would read "
                f"{_megabytes(size)} of events (more than {_megabytes(ON_THE_FLY_MAX_BYTES)}); run `tracelake lake "
                f"rollup` to build it (it evaluates in steps, in a worker that can be stopped), or ask a shorter "
                f"window")]
        return [f"CREATE OR REPLACE VIEW control_results AS SELECT {columns} FROM ({results_sql(library, 'events')})"]
    stored, _covered = found
    if window is not None:
        first, last = window.since.date(), (window.until + run_horizon).date()
        stored = [f for f in stored if first <= f.day <= last]
    scope = f"tenant = {sql_string(tenant)}" if tenant is not None else "true"
    rows = _readable(lake, stored)
    stored_sql = _parquet(rows) if rows else empty_source_sql(CONTROL_RESULTS.schema, CONTROL_RESULTS.partition)
    current = live_files(lake, EVENTS)
    tail = [f for f in current if f.uri not in old]
    if not tail:
        return [f"CREATE OR REPLACE VIEW control_results AS SELECT {columns} FROM {stored_sql} WHERE {scope}"]
    behind = sum(f.size for f in tail)
    if behind > ON_THE_FLY_MAX_BYTES:
        return [_refusal(
            f"control_results is {_megabytes(behind)} of events behind the lake (more than "
            f"{_megabytes(ON_THE_FLY_MAX_BYTES)} to evaluate here); run `tracelake lake rollup` (or keep the "
            f"consumers' upkeep on) to bring it up to date")]
    horizons = run_horizon + key_horizon(library)
    nearby = _readable(lake, _within(current, tail, run_horizon, horizons))
    empty = empty_source_sql(EVENTS.schema, EVENTS.partition)
    tail_events = EVENTS_VIEW.format(
        source=_parquet(nearby) if nearby else empty,
        scope=f"WHERE {scope} AND (tenant, run_id) IN (SELECT tenant, run_id FROM touched)",
    ).split(" AS\n", 1)[1]
    key_files = _readable(lake, _within(current, tail, horizons, horizons))
    touched_files = _readable(lake, tail)
    # The runs the tail touches: those with an event in it, and those a success in it comes before under the
    # same key (refresh_controls' rule).
    touched = (f"SELECT DISTINCT tenant, run_id FROM {_parquet(touched_files)} WHERE {scope} "
               f"AND event_type <> 'outcome_confirmed'\nUNION\n"
               f"{_later_with_key(library, 'tail_keys', 'key_events')}" if touched_files
               else "SELECT CAST(NULL AS VARCHAR) AS tenant, CAST(NULL AS VARCHAR) AS run_id WHERE false")
    tail_keys = (f"SELECT tenant, idempotency_key, run_id, event_id, ts FROM {_parquet(touched_files)} "
                 f"WHERE {KEY_SUCCESS} AND {scope}" if touched_files
                 else "SELECT CAST(NULL AS VARCHAR) AS tenant, CAST(NULL AS VARCHAR) AS idempotency_key, "
                      "CAST(NULL AS VARCHAR) AS run_id, CAST(NULL AS VARCHAR) AS event_id, "
                      "CAST(NULL AS TIMESTAMPTZ) AS ts WHERE false")
    key_events = key_source_sql(_parquet(key_files) if key_files else empty, scope)
    # The tail's statement is a WITH of its own: nested as a subquery over its own CTE names.
    tail_sql = results_sql(library, "tail_events", "key_events")
    if tails:
        return [f"CREATE OR REPLACE VIEW {CONTROLS_KEYS} AS {key_events}",
                f"CREATE OR REPLACE VIEW {CONTROLS_TOUCHED} AS\n"
                f"WITH tail_keys AS MATERIALIZED ({tail_keys}),\n"
                f"key_events AS (SELECT * FROM {CONTROLS_KEYS})\n"
                f"SELECT tenant, run_id FROM ({touched})",
                f"CREATE OR REPLACE VIEW {CONTROLS_TAIL} AS\n"
                f"WITH key_events AS (SELECT * FROM {CONTROLS_KEYS}),\n"
                f"touched AS (SELECT * FROM {CONTROLS_TOUCHED}),\n"
                f"tail_events AS ({tail_events})\n"
                f"SELECT {columns} FROM ({tail_sql})",
                "CREATE OR REPLACE VIEW control_results AS\n"
                + stored_but_touched(columns, stored_sql, scope, CONTROLS_TOUCHED, CONTROLS_TAIL)]
    return [f"CREATE OR REPLACE VIEW control_results AS\n"
            f"WITH tail_keys AS MATERIALIZED ({tail_keys}),\n"
            f"key_events AS MATERIALIZED ({key_events}),\n"
            f"touched AS MATERIALIZED ({touched}),\n"
            f"tail_events AS ({tail_events})\n"
            + stored_but_touched(columns, stored_sql, scope, "touched", f"({tail_sql})")]


def read_results(lake_ref: LakeRef, *, tenant: str | None = None, library: ControlLibrary | None = None
                 ) -> pa.Table:
    """The maintained rows plus the tail (every column, ``event_date`` as a DATE) ordered by the identity; the
    rows evaluated from scratch when the table does not cover this library."""
    lake = as_lake(lake_ref)
    library = library or active_library()
    if files_and_transaction(lake, CONTROL_RESULTS, app_id(library)) is None:
        return compute_results(lake, library=library)
    with _connection(lake) as con:
        con.execute(EVENTS_VIEW.format(source=_source([f.uri for f in live_files(lake, EVENTS)]),
                                       scope="" if tenant is None else f"WHERE tenant = {sql_string(tenant)}"))
        con.execute(control_results_view_statement(lake, tenant=tenant, library=library))
        return con.execute(f"SELECT * FROM control_results ORDER BY {', '.join(CONTROL_RESULTS.identity)}"
                           ).to_arrow_table()


def compute_results(lake_ref: LakeRef, *, library: ControlLibrary | None = None) -> pa.Table:
    """Every run's verdicts evaluated from scratch from the events table's latest version (what the maintained
    table must equal), ordered by the identity; ``event_date`` as a DATE."""
    lake = as_lake(lake_ref)
    library = library or active_library()
    events = open_table(lake, EVENTS)
    files = [] if events is None else add_files(lake, EVENTS, events.get_add_actions(flatten=True))
    readable = set(_readable(lake, files))
    with _connection(lake) as con:
        source = [f for f in files if f.uri in readable]
        _key_source(con, source)
        rows, _runs = _evaluate(con, library, source, touched=False)
        return rows.sort_by([(c, "ascending") for c in CONTROL_RESULTS.identity])
