"""``tracelake spark install|metrics``: the metrics on Spark (:mod:`tracelake.spark`, the ``spark`` extra).

Registered on the ``tracelake`` group by :mod:`tracelake.cli.main`; pyspark
and the Spark modules are imported inside the commands. Without the extra
each command fails with one line naming ``pip install 'tracelake[spark]'``;
without Java 17+ or ``mvn`` (first fetch of the jars), or when Spark cannot
start or compute, one line and exit 2 (:class:`tracelake.spark.jars.SparkUnavailable`,
:class:`tracelake.queries.engine.QueryError`).
"""

from __future__ import annotations

from datetime import timedelta

import click

from tracelake.cli.options import format_option, group, lake_of, metric_options, settings
from tracelake.cli.output import emit


@group()
def spark() -> None:
    """The metrics computed by Spark from the same SQL (pyspark + Delta Lake's Spark jars)."""


@spark.command("install")
@click.option("--s3", is_flag=True, help="Also fetch hadoop-aws and the AWS SDK bundle (s3:// lakes, ~600 MB).")
def spark_install(s3: bool) -> None:
    """Fetch Delta Lake's Spark jars from Maven Central into the cache (once); print them."""
    from tracelake.spark.jars import check_java, check_pyspark, install

    check_pyspark()
    check_java()
    for jar in install(s3=s3):
        click.echo(str(jar))


@spark.command("metrics")
@metric_options
@click.option("--master", default="local[*]", show_default=True, metavar="URL",
              help="Spark master: local[N], spark://HOST:PORT, yarn, k8s://… .")
@click.option("--event-level", is_flag=True,
              help="Recompute every run and de-duplicate every event from the events table (slow; the "
                   "cross-check of the runs rollup and of the clean days).")
@format_option
def spark_metrics(name: str, lake: str | None, group_by: str | None, since: str | None, until: str | None,
                  where: tuple[str, ...], tenant: str | None, master: str, event_level: bool,
                  fmt: str | None) -> None:
    """One metric of metrics.md computed by Spark (the same answer as 'tracelake metrics'), from the lake's
    derived data as DuckDB reads it: the runs rollup and the compacted days."""
    from tracelake.cli.analytics_commands import _time
    from tracelake.spark.jars import check_pyspark

    config = settings(lake=lake)
    check_pyspark()
    from tracelake.queries.metrics import MetricArgumentError, get_spec, parse_group_by, parse_where
    from tracelake.spark.metrics import compute_metric
    from tracelake.spark.session import spark_session

    if not get_spec(name).spark:  # an unknown or DuckDB-only metric is refused before Spark starts
        raise MetricArgumentError(f"{name} is computed by DuckDB only (its control SQL is DuckDB's); "
                                  f"use 'tracelake metrics {name}'")
    groups, filters = parse_group_by(group_by), parse_where(where)
    start, end = _time(since, "--since"), _time(until, "--until")
    the_lake = lake_of(config)
    session = spark_session(master, lake=the_lake)
    try:
        rows = compute_metric(session, the_lake, name, group_by=groups, since=start, until=end, where=filters,
                              tenant=tenant, run_horizon=timedelta(hours=config.run_max_duration_h),
                              rollup=not event_level)
    finally:
        session.stop()
    emit(rows, fmt)
