"""The analytics subcommands: ``metrics``, ``sql``, ``alerts run|schedule|compare`` (``cli.md``).

Registered on the ``tracelake`` group by :mod:`tracelake.cli.main`; the
analytics stage is imported inside the commands. User errors (bad metric,
column, time, rules file, refused or failing SQL, a query over its time
limit) are the stage's :class:`~tracelake.errors.TracelakeError`
subclasses: one line on stderr, exit 2 (:mod:`tracelake.cli.errors`).
Results go to stdout through :func:`emit` (one JSON document with
``--format json``); notes and progress go to stderr.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from tracelake.cli.options import (
    command,
    format_option,
    group,
    lake_of,
    lake_option,
    metric_options,
    rules_option,
    settings,
    tenant_option,
    webhook_option,
)
from tracelake.cli.output import default_format, emit, render_table
from tracelake.errors import TracelakeError, UserError
from tracelake.lifecycle import setup_logging, stop_on_signals

if TYPE_CHECKING:
    from tracelake.queries.engine import Limits
    from tracelake.settings import Settings


def _time(text: str | None, option: str) -> datetime | None:
    """``text`` as an instant, or None when the option was not given; ``UserError`` naming ``option``."""
    from tracelake.queries.timewin import parse_time

    if text is None:
        return None
    try:
        return parse_time(text)
    except ValueError as exc:
        raise UserError(f"{option}: {exc}") from None


def _limits(config: Settings) -> Limits:
    from tracelake.queries.engine import Limits

    return Limits.from_settings(config)


def _horizon(config: Settings) -> timedelta:
    return timedelta(hours=config.run_max_duration_h)


# -- metrics ---------------------------------------------------------------------
@command()
@metric_options
@format_option
def metrics(name: str, lake: str | None, group_by: str | None, since: str | None, until: str | None,
            where: tuple[str, ...], tenant: str | None, fmt: str | None) -> None:
    """One metric of metrics.md (success_rate, cost_per_success, …)."""
    from tracelake.queries.metrics import compute_metric, parse_group_by, parse_where
    from tracelake.queries.views import collect_skipped

    config = settings(lake=lake)
    with collect_skipped() as skipped:
        rows = compute_metric(lake_of(config), name, group_by=parse_group_by(group_by), since=_time(since, "--since"),
                              until=_time(until, "--until"), where=parse_where(where), tenant=tenant,
                              limits=_limits(config), run_horizon=_horizon(config))
    emit(rows, fmt)
    _warn_skipped(skipped)


def _warn_skipped(skipped: list[Any]) -> None:
    """One stderr line per unreadable file the answer left out (the answer itself is complete otherwise)."""
    for bad in skipped:
        click.echo(f"tracelake: warning: {bad.warning()}", err=True)
    if skipped:
        click.echo("tracelake: note: 'tracelake lake check' moves unreadable files to the quarantine", err=True)


# -- sql -------------------------------------------------------------------------
@command()
@click.argument("statement")
@lake_option
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Row limit (default 10000).")
@click.option("--timeout", type=click.FloatRange(min=0.001), default=None, metavar="S",
              help="Lower the time limit (seconds).")
@tenant_option
@click.option("--since", default=None, metavar="T", help="Views read only the partitions from T.")
@click.option("--until", default=None, metavar="T", help="Views read only the partitions before T.")
@format_option
def sql(statement: str, lake: str | None, limit: int | None, timeout: float | None, tenant: str | None,
        since: str | None, until: str | None, fmt: str | None) -> None:
    """Read-only ad-hoc SQL over the lake's views."""
    from tracelake.queries.sandbox import execute_sql
    from tracelake.queries.timewin import Window

    config = settings(lake=lake)
    window = None
    if since or until:
        try:
            window = Window.of(_time(since, "--since"), _time(until, "--until"))
        except TracelakeError:
            raise
        except ValueError as exc:
            raise UserError(str(exc)) from None
    max_rows = limit or config.sql_max_rows
    timeout_s = min(timeout, config.sql_timeout_s) if timeout else config.sql_timeout_s
    the_lake = lake_of(config)
    result = execute_sql(the_lake, statement, tenant=tenant, max_rows=max_rows, timeout_s=timeout_s,
                         window=window, limits=_limits(config), max_bytes=config.sql_max_bytes)
    emit(result.dicts(), fmt)
    from tracelake.queries.views import skipped_files

    _warn_skipped(skipped_files(the_lake, window))  # the query ran in a worker: the same check, here
    if result.truncated and len(result.rows) < max_rows:
        click.echo(f"tracelake: note: result truncated to {len(result.rows)} rows, about {config.sql_max_bytes} "
                   "bytes (TRACELAKE_SQL_MAX_BYTES to change, or aggregate in SQL)", err=True)
    elif result.truncated:
        click.echo(f"tracelake: note: result truncated to {max_rows} rows (--limit N to change, "
                   "or aggregate in SQL)", err=True)


# -- alerts ----------------------------------------------------------------------
@group()
def alerts() -> None:
    """Drift alerts and canary comparisons."""


def _rules(config: Settings, rules: str | None) -> Any:
    """The drift rules of ``--rules``, else the settings' file, else the defaults; ``RulesError`` if bad."""
    from tracelake.queries.alerts.rules import load_rules

    return load_rules(rules or config.alerts_rules_file)


def _webhook(config: Settings) -> Any:
    from tracelake.queries.alerts.runner import Webhook

    if not config.alerts_webhook_url:
        return None
    return Webhook(config.alerts_webhook_url, timeout_s=config.alerts_webhook_timeout_s,
                   retries=config.alerts_webhook_retries)


def _flag_automation(config: Settings, rules: str | None) -> Any:
    """The rules file's ``[flags]`` section (docs/flags.md): the alerts and verdicts that set flags."""
    from tracelake.queries.flags_auto import load_flag_automation

    return load_flag_automation(rules or config.alerts_rules_file)


def _report_flags(changes: Any) -> None:
    for change in changes:
        flag = change.flag
        setting = {"throttle": f" {flag.rate}", "pin_version": f" {flag.version}"}.get(flag.action, "")
        click.echo(f"tracelake: flag {flag.tenant}/{flag.workflow} {change.previous.action} -> {flag.action}"
                   f"{setting} (by {flag.who}: {flag.reason})", err=True)


def _report_delivery(report: Any) -> None:
    if report.delivery and report.delivery.messages_failed:
        click.echo(f"tracelake: warning: webhook delivery failed for {report.delivery.messages_failed} "
                   f"message(s) ({report.delivery.errors[-1]}); the alerts are stored in the alerts table",
                   err=True)


@alerts.command("run")
@lake_option
@rules_option
@click.option("--now", default=None, metavar="T", help="Evaluation time (default: now).")
@click.option("--fail-on-alert", is_flag=True, help="Exit 1 when any rule fires.")
@webhook_option
@format_option
def alerts_run(lake: str | None, rules: str | None, now: str | None, fail_on_alert: bool, webhook: str | None,
               fmt: str | None) -> None:
    """Evaluate the drift rules once, store new alerts, print them."""
    from tracelake.queries.alerts.runner import run_once

    config = settings(lake=lake, alerts_webhook_url=webhook)
    rule_list = _rules(config, rules)
    at = _time(now, "--now") or datetime.now(UTC)
    report = run_once(lake_of(config), rule_list, at, limits=_limits(config), run_horizon=_horizon(config),
                      webhook=_webhook(config), flags=_flag_automation(config, rules))
    emit(report.alerts, fmt)
    _report_flags(report.flag_changes)
    already = report.raised - len(report.alerts)
    click.echo(f"tracelake: {report.raised} alert(s) fired at {at.isoformat()}, {len(report.alerts)} new"
               + (f" ({already} already stored by an earlier run)" if already else ""), err=True)
    _report_delivery(report)
    if fail_on_alert and report.raised:
        sys.exit(1)


@alerts.command("schedule")
@click.option("--cron", required=True, metavar="EXPR", help="Cron expression in UTC, e.g. '*/15 * * * *'.")
@lake_option
@rules_option
@webhook_option
@click.option("--retention-cron", default=None, metavar="EXPR",
              help="Also apply the retention policy on this cron, UTC (TRACELAKE_RETENTION_CRON).")
@click.option("--verify-cron", default=None, metavar="EXPR",
              help="Also verify the commit chain on this cron, UTC, into the governance log (TRACELAKE_VERIFY_CRON).")
def alerts_schedule(cron: str, lake: str | None, rules: str | None, webhook: str | None,
                    retention_cron: str | None, verify_cron: str | None) -> None:
    """Run 'alerts run' on a cron schedule in a long-running process (and retention on its own, when set)."""
    from tracelake.queries.alerts.runner import run_once
    from tracelake.queries.alerts.schedule import CronSchedule, run_schedule

    setup_logging()
    config = settings(lake=lake, alerts_webhook_url=webhook)
    the_lake = lake_of(config)  # built once; every tick reads and writes through it
    rule_list = _rules(config, rules)
    automation = _flag_automation(config, rules)
    schedule = CronSchedule(cron)

    def tick(at: datetime) -> None:
        report = run_once(the_lake, rule_list, at, limits=_limits(config), run_horizon=_horizon(config),
                          webhook=_webhook(config), flags=automation)
        _report_flags(report.flag_changes)
        click.echo(f"tracelake: tick {at.isoformat()}: {report.raised} alert(s) fired, {len(report.alerts)} new",
                   err=True)
        from tracelake.governance.seal_hooks import seal_quietly

        seal_quietly(the_lake, config.chain_key_file)  # each tick seals the lake's new commits (when keyed)
        _report_delivery(report)

    with stop_on_signals() as stop:
        from tracelake.cli.governance_commands import start_retention_schedule, start_verify_schedule

        retention = start_retention_schedule(config, the_lake, retention_cron, stop)  # None: no retention cron
        verifying = start_verify_schedule(config, the_lake, verify_cron, stop)  # None: no verify cron
        click.echo(f"tracelake: evaluating {len(rule_list)} rule(s) on cron '{cron}' (UTC), lake {the_lake}; "
                   f"next tick {schedule.next_after(datetime.now(UTC)).isoformat()}; Ctrl-C stops", err=True)
        ticks = run_schedule(schedule, tick, stop)
        for job in (retention, verifying):
            if job is not None:
                job.join()  # stop is set: it ends after the tick in hand, if any
    click.echo(f"tracelake: stopped after {ticks} tick(s)", err=True)


@alerts.command("compare")
@click.option("--workflow", required=True)
@click.option("--baseline", required=True, metavar="V1")
@click.option("--candidate", required=True, metavar="V2")
@lake_option
@click.option("--since", default=None, metavar="T", help="Window start (default: until − 24h).")
@click.option("--until", default=None, metavar="T", help="Window end (default: now).")
@click.option("--by", type=click.Choice(["workflow_version", "release"]), default="workflow_version",
              show_default=True, help="What baseline and candidate name.")
@rules_option
@tenant_option
@format_option
def alerts_compare(workflow: str, baseline: str, candidate: str, lake: str | None, since: str | None,
                   until: str | None, by: str, rules: str | None, tenant: str | None, fmt: str | None) -> None:
    """Canary comparison of two versions of one workflow (exit 0 promote, 1 rollback, 3 hold)."""
    from tracelake.queries.alerts.canary import EXIT_CODES, compare
    from tracelake.queries.timewin import Window

    config = settings(lake=lake)
    rule_list = _rules(config, rules)
    end = _time(until, "--until") or datetime.now(UTC)
    start = _time(since, "--since") or end - timedelta(hours=24)
    try:
        window = Window(start, end)
        result = compare(lake_of(config), rule_list, workflow=workflow, baseline=baseline, candidate=candidate,
                         window=window, by=by, tenant=tenant, limits=_limits(config),  # type: ignore[arg-type]
                         run_horizon=_horizon(config))
    except TracelakeError:
        raise
    except ValueError as exc:  # an empty or reversed window
        raise UserError(str(exc)) from None
    from tracelake.queries.flags_auto import apply_canary

    change = apply_canary(lake_of(config), _flag_automation(config, rules), result, tenant=tenant)
    _report_flags([change] if change is not None else [])
    if (fmt or default_format()) == "json":
        emit(result, "json")
    else:
        click.echo(f"verdict: {result['verdict']}  ({workflow}: {by} {baseline} → {candidate}, "
                   f"{result['window_start'].isoformat()} … {result['window_end'].isoformat()})")
        columns = ("rule", "status", "baseline_value", "current_value", "delta", "p_value", "n_baseline",
                   "n_current", "reason")
        click.echo(render_table([{c: t[c] for c in columns} for t in result["tests"]]))
    if EXIT_CODES[result["verdict"]]:
        sys.exit(EXIT_CODES[result["verdict"]])
