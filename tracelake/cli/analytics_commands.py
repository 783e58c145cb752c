"""The analytics subcommands: ``metrics``, ``sql``, ``alerts run|schedule|compare`` (``cli.md``).

Each function is the body of one click command in ``main.py``. User errors
(bad metric, column, time, rules file, refused or failing SQL, a query over
its time limit) become :class:`CliError`: one line on stderr, exit 2.
Results go to stdout through :func:`emit` (one JSON document with
``--format json``); notes and progress go to stderr.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from tracelake.cli.output import CliError, default_format, emit, render_table
from tracelake.settings import Settings


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the analytics layer's user errors into one-line CLI errors (exit 2)."""
    from tracelake.queries.alerts.rules import RulesError
    from tracelake.queries.alerts.schedule import CronError
    from tracelake.queries.engine import QueryError
    from tracelake.queries.metrics import MetricArgumentError
    from tracelake.queries.sandbox import SqlRefused

    try:
        yield
    except (MetricArgumentError, SqlRefused, QueryError, RulesError, CronError) as exc:
        raise CliError(str(exc)) from None


def _time(text: str | None, option: str) -> datetime | None:
    from tracelake.queries.timewin import parse_time

    if text is None:
        return None
    try:
        return parse_time(text)
    except ValueError as exc:
        raise CliError(f"{option}: {exc}") from None


def _limits(settings: Settings) -> Any:
    from tracelake.queries.engine import Limits

    return Limits.from_settings(settings)


def _horizon(settings: Settings) -> timedelta:
    return timedelta(hours=settings.run_max_duration_h)


# -- metrics ---------------------------------------------------------------------
def metrics(name: str, lake: str | None, group_by: str | None, since: str | None, until: str | None,
            where: tuple[str, ...], tenant: str | None, fmt: str | None) -> None:
    from tracelake.queries.metrics import compute_metric, parse_group_by, parse_where

    settings = Settings.from_options(lake=lake)
    with user_errors():
        rows = compute_metric(settings.lake, name, group_by=parse_group_by(group_by), since=_time(since, "--since"),
                              until=_time(until, "--until"), where=parse_where(where), tenant=tenant,
                              limits=_limits(settings), run_horizon=_horizon(settings))
    emit(rows, fmt)


# -- sql -------------------------------------------------------------------------
def sql(statement: str, lake: str | None, limit: int | None, timeout: float | None, tenant: str | None,
        since: str | None, until: str | None, fmt: str | None) -> None:
    from tracelake.queries.sandbox import execute_sql
    from tracelake.queries.timewin import Window

    settings = Settings.from_options(lake=lake)
    window = None
    if since or until:
        try:
            window = Window.of(_time(since, "--since"), _time(until, "--until"))
        except ValueError as exc:
            raise CliError(str(exc)) from None
    max_rows = limit or settings.sql_max_rows
    timeout_s = min(timeout, settings.sql_timeout_s) if timeout else settings.sql_timeout_s
    with user_errors():
        result = execute_sql(settings.lake, statement, tenant=tenant, max_rows=max_rows, timeout_s=timeout_s,
                             window=window, limits=_limits(settings))
    emit(result.dicts(), fmt)
    if result.truncated:
        click.echo(f"tracelake: note: result truncated to {max_rows} rows (--limit N to change, "
                   "or aggregate in SQL)", err=True)


# -- alerts ----------------------------------------------------------------------
def _rules(settings: Settings, rules: str | None) -> Any:
    from tracelake.queries.alerts.rules import load_rules

    with user_errors():
        return load_rules(rules or settings.alerts_rules_file)


def _webhook(settings: Settings) -> Any:
    from tracelake.queries.alerts.runner import Webhook

    if not settings.alerts_webhook_url:
        return None
    return Webhook(settings.alerts_webhook_url, timeout_s=settings.alerts_webhook_timeout_s,
                   retries=settings.alerts_webhook_retries)


def _report_delivery(report: Any) -> None:
    if report.delivery and report.delivery.messages_failed:
        click.echo(f"tracelake: warning: webhook delivery failed for {report.delivery.messages_failed} "
                   f"message(s) ({report.delivery.errors[-1]}); the alerts are stored in the alerts table",
                   err=True)


def alerts_run(lake: str | None, rules: str | None, now: str | None, fail_on_alert: bool, webhook: str | None,
               fmt: str | None) -> None:
    from tracelake.queries.alerts.runner import run_once

    settings = Settings.from_options(lake=lake, alerts_webhook_url=webhook)
    rule_list = _rules(settings, rules)
    at = _time(now, "--now") or datetime.now(UTC)
    with user_errors():
        report = run_once(settings.lake, rule_list, at, limits=_limits(settings), run_horizon=_horizon(settings),
                          webhook=_webhook(settings))
    emit(report.alerts, fmt)
    already = report.raised - len(report.alerts)
    click.echo(f"tracelake: {report.raised} alert(s) fired at {at.isoformat()}, {len(report.alerts)} new"
               + (f" ({already} already stored by an earlier run)" if already else ""), err=True)
    _report_delivery(report)
    if fail_on_alert and report.raised:
        sys.exit(1)


def alerts_schedule(cron: str, lake: str | None, rules: str | None, webhook: str | None) -> None:
    from tracelake.queries.alerts.runner import run_once
    from tracelake.queries.alerts.schedule import CronSchedule, run_schedule

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    settings = Settings.from_options(lake=lake, alerts_webhook_url=webhook)
    rule_list = _rules(settings, rules)
    with user_errors():
        schedule = CronSchedule(cron)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    def tick(at: datetime) -> None:
        report = run_once(settings.lake, rule_list, at, limits=_limits(settings), run_horizon=_horizon(settings),
                          webhook=_webhook(settings))
        click.echo(f"tracelake: tick {at.isoformat()}: {report.raised} alert(s) fired, {len(report.alerts)} new",
                   err=True)
        _report_delivery(report)

    click.echo(f"tracelake: evaluating {len(rule_list)} rule(s) on cron '{cron}' (UTC), lake {settings.lake}; "
               f"next tick {schedule.next_after(datetime.now(UTC)).isoformat()}; Ctrl-C stops", err=True)
    ticks = run_schedule(schedule, tick, stop)
    click.echo(f"tracelake: stopped after {ticks} tick(s)", err=True)


def alerts_compare(workflow: str, baseline: str, candidate: str, lake: str | None, since: str | None,
                   until: str | None, by: str, rules: str | None, tenant: str | None, fmt: str | None) -> None:
    from tracelake.queries.alerts.canary import EXIT_CODES, compare
    from tracelake.queries.timewin import Window

    settings = Settings.from_options(lake=lake)
    rule_list = _rules(settings, rules)
    end = _time(until, "--until") or datetime.now(UTC)
    start = _time(since, "--since") or end - timedelta(hours=24)
    try:
        window = Window(start, end)
        with user_errors():
            result = compare(settings.lake, rule_list, workflow=workflow, baseline=baseline, candidate=candidate,
                             window=window, by=by, tenant=tenant, limits=_limits(settings),  # type: ignore[arg-type]
                             run_horizon=_horizon(settings))
    except ValueError as exc:
        raise CliError(str(exc)) from None
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
