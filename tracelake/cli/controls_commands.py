"""``tracelake controls list|run|explain``: the controls as code (docs/controls.md, cli.md).

Registered on the ``tracelake`` group by :mod:`tracelake.cli.main`; the analytics stage is imported inside
the commands. User errors (a bad time, filter, controls file) are one line on stderr, exit 2.

- ``list``: the library (id, version, severity, owner, what it checks, the risk, the practice).
- ``run``: brings ``control_results`` up to date (unless ``--no-refresh``), then prints the pass rate per
  control for finished runs in the window (the ``control_pass_rate`` metric); ``--failures`` prints the
  failing runs instead; ``--fail-on-fail`` exits 1 when any run in the window failed a control.
- ``explain RUN_ID``: the run's verdict per control, with the events that decided it.
- ``budgets``: spend per UTC day against the configured daily budgets per workflow and per team.
"""

from __future__ import annotations

import sys
from datetime import timedelta

import click

from tracelake.cli.options import format_option, group, lake_of, lake_option, settings, tenant_option
from tracelake.cli.output import emit
from tracelake.errors import NotFound, Unavailable, UserError


@group()
def controls() -> None:
    """Controls as code: named, versioned rules every run is checked against."""


@controls.command("list")
@format_option
def controls_list(fmt: str | None) -> None:
    """The controls of the library (TRACELAKE_CONTROLS_CONFIG_FILE sets their thresholds)."""
    from tracelake.queries.controls.report import describe

    settings()  # sets the process's library from the configuration (a bad file: one line, exit 2)
    emit(describe(), fmt)


@controls.command("run")
@lake_option
@click.option("--since", default=None, metavar="T", help="RFC 3339 start of the finished runs, inclusive.")
@click.option("--until", default=None, metavar="T", help="RFC 3339 end, exclusive.")
@click.option("--group-by", default=None, metavar="A,B",
              help="Group columns of the pass rate (default control_id,workflow,workflow_version).")
@click.option("--where", multiple=True, metavar="KEY=VALUE",
              help="Filter on control_id or a run column (repeatable).")
@tenant_option
@click.option("--failures", is_flag=True, help="List the failing runs instead of the pass rates.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True,
              help="Most failing runs listed (--failures).")
@click.option("--no-refresh", is_flag=True, help="Do not bring control_results up to date first (read-only).")
@click.option("--fail-on-fail", is_flag=True, help="Exit 1 when any run in the window failed a control.")
@format_option
def controls_run(lake: str | None, since: str | None, until: str | None, group_by: str | None,
                 where: tuple[str, ...], tenant: str | None, failures: bool, limit: int, no_refresh: bool,
                 fail_on_fail: bool, fmt: str | None) -> None:
    """Evaluate the controls and print the pass rate per control (or the failing runs)."""
    from tracelake.cli.analytics_commands import _limits, _time
    from tracelake.queries.controls.report import check_filters, failing_runs
    from tracelake.queries.controls.results import refresh_controls
    from tracelake.queries.engine import open_lake
    from tracelake.queries.metrics import parse_group_by, parse_where, run_metric

    config = settings(lake=lake)
    the_lake = lake_of(config)
    horizon = timedelta(hours=config.run_max_duration_h)
    start, end = _time(since, "--since"), _time(until, "--until")
    filters, groups = parse_where(where), parse_group_by(group_by)
    check_filters(filters, groups, start, end)  # bad input stops here, before anything is written
    if not no_refresh:
        try:
            report = refresh_controls(the_lake, horizon)
        except OSError as exc:
            raise Unavailable(f"cannot bring control_results up to date: {exc}") from None
        if report.changed:
            click.echo(f"tracelake: control_results: {report.runs_evaluated} runs evaluated from "
                       f"{report.new_files} new files in {report.seconds:.1f} s", err=True)
    with open_lake(the_lake, tenant=tenant, limits=_limits(config), run_horizon=horizon) as con:
        failed = failing_runs(con, since=start, until=end, where=filters, limit=limit)
        if failures:
            emit(failed, fmt)
        else:
            emit(run_metric(con, "control_pass_rate", group_by=groups, since=start, until=end,
                            where=filters), fmt)
    if fail_on_fail and failed:
        sys.exit(1)


@controls.command("explain")
@click.argument("run_id")
@lake_option
@tenant_option
@format_option
def controls_explain(run_id: str, lake: str | None, tenant: str | None, fmt: str | None) -> None:
    """One run's verdict per control, with the events that decided it."""
    from tracelake.cli.analytics_commands import _limits
    from tracelake.queries.controls.report import explain
    from tracelake.queries.engine import open_lake

    config = settings(lake=lake)
    with open_lake(lake_of(config), tenant=tenant, limits=_limits(config),
                   run_horizon=timedelta(hours=config.run_max_duration_h)) as con:
        rows = explain(con, run_id)
    if not rows:
        raise NotFound(f"no run {run_id!r}" + (f" for tenant {tenant!r}" if tenant else ""))
    emit(rows, fmt)


@controls.command("budgets")
@lake_option
@click.option("--since", default=None, metavar="T", help="RFC 3339 start, inclusive (events by their ts).")
@click.option("--until", default=None, metavar="T", help="RFC 3339 end, exclusive.")
@tenant_option
@click.option("--fail-on-over", is_flag=True, help="Exit 1 when a workflow or team went over its daily budget.")
@format_option
def controls_budgets(lake: str | None, since: str | None, until: str | None, tenant: str | None,
                     fail_on_over: bool, fmt: str | None) -> None:
    """Spend per UTC day against the daily budgets of TRACELAKE_CONTROLS_CONFIG_FILE ([budgets])."""
    from tracelake.cli.analytics_commands import _limits, _time
    from tracelake.queries.controls.report import daily_budgets
    from tracelake.queries.engine import open_lake
    from tracelake.queries.timewin import Window

    config = settings(lake=lake)
    start, end = _time(since, "--since"), _time(until, "--until")
    try:
        window = Window.of(start, end)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    with open_lake(lake_of(config), tenant=tenant, window=window, limits=_limits(config),
                   run_horizon=timedelta(hours=config.run_max_duration_h)) as con:
        rows = daily_budgets(con, since=start, until=end)
    emit(rows, fmt)
    if fail_on_over and any(r["over_budget"] for r in rows):
        sys.exit(1)
