"""Every metric of :mod:`tracelake.queries.metrics`, computed by Spark over the lake's Delta tables.

One source of truth: the views are DuckDB's own statements
(:func:`tracelake.queries.views.view_statements`) and the metric query is
DuckDB's own (:func:`tracelake.queries.metrics.build_query`, from
``queries/sql/<name>.sql``); :mod:`tracelake.spark.transpile` turns both into
Spark SQL when the metric runs. The answer has the shape ``compute_metric``
gives: rows of the group columns, the metric column and its extra columns,
ordered by the group columns.

Two paths, as DuckDB has:

- **fast** (``rollup=True``, the default): the view statements DuckDB's own
  connection uses, built over the lake as it is (:func:`fast_view_sql`):
  ``events`` reads the days compaction marked clean as they are and
  de-duplicates only the other files (``EVENTS_SPLIT_VIEW`` /
  ``EVENTS_TAIL_VIEW``); ``runs`` is the runs rollup's rows plus the runs
  touched by events files added after the version it covers, recomputed with
  ``run_facts.sql`` (:func:`tracelake.queries.rollup.runs_view_statement`), or
  the event-level ``runs`` when the lake has no rollup. Each
  ``read_parquet([...])`` file list of those statements is read by Spark as a
  temporary view over the same files (:mod:`tracelake.spark.sources`). Views
  are cached only where the metric reads them more than once and a re-read is
  work (:mod:`tracelake.spark.caching`).
- **event level** (``rollup=False``): every run recomputed and every event
  de-duplicated from the Delta tables, as described next: the rebuild and
  cross-check of the fast path.

How the event-level views reach the Delta tables: the view statements are taken as
DuckDB builds them for a lake with no files, where each lake table is a typed
empty relation (``SELECT CAST(NULL AS …) AS "event_id", … WHERE false``).
Each of those is swapped for a Spark temporary view over the Delta table
(``spark.read.format("delta").load(lake.table_uri(t))``), kept to the same
day partitions DuckDB would read (run metrics read ``run_horizon`` earlier,
as :func:`~tracelake.queries.metrics.connection_window` says). A table that
does not exist yet keeps its empty relation, as in DuckDB. The tenant scope
(``tenant``) is the views' own filter, transpiled like the rest.

Differences from DuckDB, by construction: the event-level path reads the Delta
log's current files, with no footer check of each file (a damaged file fails the
query instead of being left out and reported; the fast path reads DuckDB's own
file lists, so it leaves the same files out without reporting them); numbers are
compared with a tolerance in the tests (summing floats in another order).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from tracelake.lake.lake import Lake, LakeRef, as_lake
from tracelake.lake.tables import EVENTS, TABLES, Table
from tracelake.queries.metrics import (
    MetricArgumentError,
    MetricSpec,
    build_query,
    connection_window,
    get_spec,
)
from tracelake.queries.timewin import Window
from tracelake.queries.views import view_statements
from tracelake.spark.caching import needed_columns, views_to_cache
from tracelake.spark.sources import FileViews, drop_file_views, spark_path
from tracelake.spark.transpile import parse, to_spark

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

Row = dict[str, Any]

# Views kept in Spark's cache once computed (lazily: on the first query that reads them). A metric reads
# ``events`` several times (directly, through ``runs`` and its parts) and ``runs`` up to three times; Spark
# plans each reference again, with its own scan and de-duplication, unless the view is cached. DuckDB's
# ``runs`` does the same with ``AS MATERIALIZED``, a hint Spark has no syntax for.
CACHED_VIEWS = ("events", "runs")
RAW_PREFIX = "__tracelake_"  # the Spark temporary view over a Delta table: __tracelake_events, …


def raw_view(table: Table) -> str:
    return f"{RAW_PREFIX}{table.name}"


def _empty_relation_table(node: exp.Expression) -> Table | None:
    """The lake table whose typed empty relation ``node`` is (``SELECT CAST(NULL AS …) AS col, … WHERE false``)."""
    if not isinstance(node, exp.Subquery) or not isinstance(node.this, exp.Select):
        return None
    select = node.this
    where = select.args.get("where")
    if select.args.get("from_") is not None or where is None or not isinstance(where.this, exp.Boolean):
        return None
    if where.this.this is not False:
        return None
    names = [projection.alias_or_name for projection in select.expressions]
    for table in TABLES:
        if names == table.schema.names:
            return table
    return None


def _swap_sources(present: set[str]) -> Any:
    """A transform: each empty relation of a table in ``present`` becomes that table's raw Spark view."""
    def rewrite(tree: exp.Expression) -> exp.Expression:
        def swap(node: exp.Expression) -> exp.Expression:
            table = _empty_relation_table(node)
            if table is None or table.name not in present:
                return node
            return exp.to_table(raw_view(table))
        return tree.transform(swap)
    return rewrite


def view_sql(*, tenant: str | None = None, present: set[str] | None = None) -> list[str]:
    """The Spark SQL of every view, in dependency order: DuckDB's view statements over an empty lake,
    transpiled, with the tables in ``present`` (default: all) read from their raw Spark views."""
    with tempfile.TemporaryDirectory(prefix="tracelake-spark-") as empty:
        # No control_results: the controls' SQL is DuckDB's only (docs/controls.md, "Spark").
        statements = view_statements(Lake.at(empty), tenant=tenant, controls=False)
    rewrite = _swap_sources({t.name for t in TABLES} if present is None else present)
    return [to_spark(statement, rewrite=rewrite) for statement in statements]


def _days(window: Window | None) -> tuple[date, date] | None:
    """The first and last UTC day of ``window``: the ``event_date`` partitions DuckDB reads for it
    (:func:`tracelake.queries.timewin.partition_days`); None for every day."""
    if window is None:
        return None
    return window.since.astimezone(UTC).date(), (window.until.astimezone(UTC) - timedelta(microseconds=1)).date()


def spark_uri(lake: Lake, table: Table) -> str:
    """Where Spark reads ``table``: the local path, or the ``s3a://`` form of an ``s3://`` URL."""
    return spark_path(lake.table_uri(table))


def register_tables(spark: SparkSession, lake: LakeRef, window: Window | None = None) -> set[str]:
    """Register a raw temporary view per existing Delta table (``events`` kept to ``window``'s days);
    return the names of the tables registered."""
    from pyspark.sql import functions as F

    from tracelake.lake.delta import open_table

    where = as_lake(lake)
    present: set[str] = set()
    for table in TABLES:
        if open_table(where, table) is None:
            spark.catalog.dropTempView(raw_view(table))
            continue
        frame: DataFrame = spark.read.format("delta").load(spark_uri(where, table))
        days = _days(window) if table is EVENTS else None
        if days is not None:
            frame = frame.where(F.col(table.partition).between(F.lit(days[0]), F.lit(days[1])))
        frame.createOrReplaceTempView(raw_view(table))
        present.add(table.name)
    return present


@dataclass(frozen=True)
class ViewSet:
    """What :func:`create_views` defined: the path, and whether reading ``runs`` computes something (its tail,
    or every run from ``events``) rather than scanning the rollup."""

    rollup: bool
    runs_computed: bool
    runs_from_events: bool


def fast_view_sql(files: FileViews, lake: Lake, *, tenant: str | None = None, window: Window | None = None,
                  run_horizon: timedelta = timedelta(hours=24)) -> tuple[list[str], ViewSet]:
    """The fast path's views as Spark SQL: DuckDB's view statements over the lake as it is (clean days, the runs
    rollup and its tail), transpiled, each file list read through ``files``."""
    statements = view_statements(lake, tenant=tenant, window=window, rollup=True, run_horizon=run_horizon,
                                 controls=False)
    runs = parse(next(s for s in statements if _defines(s, "runs")))
    ctes = {cte.alias_or_name for cte in runs.find_all(exp.CTE)}
    reads_events = any(t.name == "events" for t in runs.find_all(exp.Table))
    shape = ViewSet(rollup=True, runs_computed=reads_events or "tail" in ctes, runs_from_events=reads_events)
    return [to_spark(statement, rewrite=files.rewrite) for statement in statements], shape


def _defines(statement: str, view: str) -> bool:
    return statement.lstrip().startswith(f"CREATE OR REPLACE VIEW {view} ")


def create_views(spark: SparkSession, lake: LakeRef, *, tenant: str | None = None,
                 window: Window | None = None, rollup: bool = True,
                 run_horizon: timedelta = timedelta(hours=24)) -> ViewSet:
    """The lake's views (``events``, ``runs``, ``llm_calls`` …) as Spark temporary views: the fast path's
    (``rollup``) or the event-level ones over the Delta tables, ``events`` and ``runs`` then cached. Nothing is
    cached on the fast path here: :func:`cache_for` decides per query. Raises
    :class:`~tracelake.queries.engine.QueryError` (one line) when Spark refuses a file list or a statement."""
    from pyspark.errors import PySparkException

    from tracelake.queries.engine import QueryError

    spark.catalog.clearCache()
    drop_file_views(spark)
    where = as_lake(lake)
    if rollup:
        try:
            statements, shape = fast_view_sql(FileViews(spark, where), where, tenant=tenant, window=window,
                                              run_horizon=run_horizon)
            for statement in statements:
                spark.sql(statement)
        except PySparkException as exc:
            raise QueryError(f"Spark could not define the lake's views: {_first_line(exc)}") from None
        return shape
    present = register_tables(spark, where, window)
    for statement in view_sql(tenant=tenant, present=present):
        spark.sql(statement)
    for view in CACHED_VIEWS:
        spark.catalog.cacheTable(view)
    return ViewSet(rollup=False, runs_computed=True, runs_from_events=True)


def cache_for(spark: SparkSession, shape: ViewSet, sql: str) -> list[str]:
    """On the fast path, cache what the DuckDB query ``sql`` reads more than once and costs work to read again
    (:func:`tracelake.spark.caching.views_to_cache`); a cached ``runs`` keeps only the columns ``sql`` names.
    Returns the views cached (the event-level path caches at :func:`create_views`: none here)."""
    if not shape.rollup:
        return []
    cached = views_to_cache(sql, runs_computed=shape.runs_computed, runs_from_events=shape.runs_from_events)
    for view in cached:
        frame = spark.table(view)
        columns = needed_columns(sql, frame.columns) if view == "runs" else None
        if columns is not None and columns != frame.columns:
            frame = frame.select(*columns)
            frame.createOrReplaceTempView(view)
        spark.catalog.cacheTable(view)
    return cached


def spark_spec(name: str, *, internal: bool = False) -> MetricSpec:
    """The metric's spec; :class:`MetricArgumentError` for an unknown metric or one DuckDB alone computes."""
    spec = get_spec(name, internal=internal)
    if not spec.spark:
        raise MetricArgumentError(f"{name} is computed by DuckDB only (its control SQL is DuckDB's); "
                                  f"use 'tracelake metrics {name}'")
    return spec


def metric_sql(name: str, window: Window, group_by: Sequence[str] | None = None,
               where: Sequence[tuple[str, str]] = (), *, internal: bool = False) -> str:
    """The Spark SQL of one metric: ``build_query``'s DuckDB SQL with its parameters bound, transpiled.
    Raises :class:`MetricArgumentError` for a metric computed by DuckDB only (``MetricSpec.spark``)."""
    spec = spark_spec(name, internal=internal)
    sql, params = build_query(spec, window, group_by, where)
    return to_spark(sql, params)


def _plain(value: Any) -> Any:
    """A Spark value as DuckDB's Python API gives it (decimals as floats, maps as dicts)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def run_metric(spark: SparkSession, name: str, *, group_by: Sequence[str] | None = None,
               since: datetime | None = None, until: datetime | None = None,
               where: Sequence[tuple[str, str]] = (), internal: bool = False) -> list[Row]:
    """One metric over ``[since, until)`` on a session whose views exist (:func:`create_views`); ``internal``
    also allows the alert series (``error_types``, ``tool_names``), as DuckDB's ``run_metric`` does."""
    spec = get_spec(name, internal=internal)
    try:
        window = Window.of(since, until)
    except ValueError as exc:
        raise MetricArgumentError(str(exc)) from None
    rows = [{k: _plain(v) for k, v in row.asDict(recursive=True).items()}
            for row in _run(spark, metric_sql(name, window, group_by, where, internal=internal), name)]
    for row in rows:
        for column in spec.empty_maps:
            if not row.get(column):
                row[column] = {}
    return rows


def _run(spark: SparkSession, sql: str, name: str) -> list[Any]:
    from pyspark.errors import PySparkException

    from tracelake.queries.engine import QueryError

    try:
        return spark.sql(sql).collect()
    except PySparkException as exc:
        raise QueryError(f"Spark could not compute metric {name!r}: {_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def compute_metric(spark: SparkSession, lake: LakeRef, name: str, *, group_by: Sequence[str] | None = None,
                   since: datetime | None = None, until: datetime | None = None,
                   where: Sequence[tuple[str, str]] = (), tenant: str | None = None,
                   run_horizon: timedelta = timedelta(hours=24), rollup: bool = True) -> list[Row]:
    """:func:`tracelake.queries.metrics.compute_metric`, on Spark: views over the partitions the window needs
    (``run_horizon`` earlier for run metrics), the fast path's (``rollup``) or the event-level ones, then the
    metric, with what it reads more than once cached (:func:`cache_for`)."""
    spec = spark_spec(name)
    try:
        window = Window.of(since, until)
    except ValueError as exc:
        raise MetricArgumentError(str(exc)) from None
    shape = create_views(spark, lake, tenant=tenant, window=connection_window(spec, window, run_horizon),
                         rollup=rollup, run_horizon=run_horizon)
    sql, _ = build_query(spec, window, group_by, where)
    cache_for(spark, shape, sql)
    return run_metric(spark, name, group_by=group_by, since=window.since, until=window.until, where=where)
