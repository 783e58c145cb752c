"""The governance subcommands: ``retention plan|apply`` and ``erase`` (cli.md; docs/governance.md).

Registered on the ``tracelake`` group by :mod:`tracelake.cli.main`; the governance stage is imported inside
the commands. Results go to stdout through :func:`emit` (``--format json``: one JSON document); notes go to
stderr. Errors are one line (:mod:`tracelake.cli.errors`): a bad or missing policy file, no identifier, a
lake that cannot be read or written (:class:`~tracelake.errors.Unavailable`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tracelake.cli.options import command, format_option, group, lake_of, lake_option, settings
from tracelake.cli.output import emit
from tracelake.errors import TracelakeError, Unavailable, UserError

if TYPE_CHECKING:
    from tracelake.governance.retention_policy import Policy
    from tracelake.lake.lake import Lake
    from tracelake.settings import Settings

policy_option = click.option("--policy", type=click.Path(dir_okay=False), default=None, metavar="FILE",
                             help="TOML retention policy (TRACELAKE_RETENTION_POLICY_FILE).")


def _policy(config: Settings, given: str | None) -> Policy:
    from tracelake.governance.retention_policy import load_policy

    path = Path(given) if given else config.retention_policy_file
    if path is None:
        raise UserError("no retention policy: pass --policy FILE or set TRACELAKE_RETENTION_POLICY_FILE "
                        "(docs/governance.md, 'Retention')")
    return load_policy(path)


def chain_sealer(config: Settings, lake: Lake) -> Callable[[], object] | None:
    """The settings' chain sealer (:func:`tracelake.governance.retention_apply.chain_sealer`)."""
    from tracelake.governance.retention_apply import chain_sealer as sealer

    return sealer(lake, config.chain_key_file)


def start_retention_schedule(config: Settings, the_lake: Lake, cron: str | None,
                             stop: threading.Event) -> threading.Thread | None:
    """The scheduler's retention job: apply the policy at every tick of ``cron`` (or ``TRACELAKE_RETENTION_CRON``)
    on a thread of its own until ``stop`` is set; None when no cron is configured. The cron and the policy
    file are checked before anything starts (:class:`~tracelake.errors.UserError`, one line)."""
    from tracelake.queries.alerts.schedule import CronSchedule, run_schedule

    expression = cron or config.retention_cron
    if expression is None:
        return None
    schedule = CronSchedule(expression)
    policy = _policy(config, None)

    def tick(at: datetime) -> None:
        try:
            done = run_retention(config, the_lake, policy, actor="scheduler")
        except TracelakeError as exc:  # one line; the schedule goes on and the next tick tries again
            logging.getLogger("tracelake.governance").error("retention at tick %s failed: %s", at.isoformat(), exc)
            return
        _totals(done.plan.totals(), done.plan.expired_runs, f"retention tick {at.isoformat()}: deleted")

    thread = threading.Thread(target=run_schedule, args=(schedule, tick, stop), name="retention-schedule",
                              daemon=True)
    thread.start()
    click.echo(f"tracelake: applying the retention policy {policy.source} on cron '{expression}' (UTC)", err=True)
    return thread


def start_verify_schedule(config: Settings, the_lake: Lake, cron: str | None,
                          stop: threading.Event) -> threading.Thread | None:
    """The scheduler's verify job: ``tracelake verify`` at every tick of ``cron`` (or ``TRACELAKE_VERIFY_CRON``)
    on a thread of its own until ``stop`` is set; None when no cron is configured. Each result (status, head,
    finding kinds) is appended to ``governance_log`` (action ``verify``, actor ``scheduler``) and logged on one
    line (an error when tampered). Verify runs before that entry is sealed: the job never signs what it checks.
    The signatures are checked against the configured chain key when there is one, else the lake's published
    key."""
    from tracelake.queries.alerts.schedule import CronSchedule, run_schedule

    expression = cron or config.verify_cron
    if expression is None:
        return None
    schedule = CronSchedule(expression)

    def tick(at: datetime) -> None:
        from tracelake.governance.log import append_entry
        from tracelake.governance.seal_hooks import seal_quietly
        from tracelake.governance.signing import configured_key
        from tracelake.governance.verify import verify_lake

        logger = logging.getLogger("tracelake.governance")
        try:
            signing = configured_key(config.chain_key_file, None if the_lake.is_remote else the_lake.resolved)
            report = verify_lake(the_lake, None if signing is None else signing.public)
            append_entry(the_lake, "verify", {"status": report.status, "head": report.head,
                                              "findings": len(report.findings), "kinds": sorted(report.kinds())},
                         actor="scheduler", at=at)
        except (OSError, TracelakeError) as exc:  # one line; the next tick tries again
            logger.error("verify at tick %s failed: %s", at.isoformat(), exc)
            return
        seal_quietly(the_lake, config.chain_key_file)
        line = (f"verify tick {at.isoformat()}: {report.status}, head {report.head}, "
                f"{len(report.findings)} finding(s) {', '.join(sorted(report.kinds()))}")
        logger.log(logging.ERROR if report.status == "tampered" else logging.INFO, "%s", line)
        click.echo(f"tracelake: {line}", err=True)

    thread = threading.Thread(target=run_schedule, args=(schedule, tick, stop), name="verify-schedule", daemon=True)
    thread.start()
    click.echo(f"tracelake: verifying the lake's commit chain on cron '{expression}' (UTC)", err=True)
    return thread


def _horizon(config: Settings) -> timedelta:
    return timedelta(hours=config.run_max_duration_h)


@group()
def retention() -> None:
    """Retention by risk class: what the policy deletes now (plan), and deleting it (apply)."""


@retention.command("plan")
@lake_option
@policy_option
@format_option
def retention_plan(lake: str | None, policy: str | None, fmt: str | None) -> None:
    """Show what 'retention apply' would delete now: rows, runs and bytes per table and partition."""
    from tracelake.governance.retention_plan import plan_retention
    from tracelake.queries.engine import Limits

    config = settings(lake=lake)
    chosen = _policy(config, policy)
    try:
        plan = plan_retention(lake_of(config), chosen, limits=Limits.from_settings(config),
                              run_horizon=_horizon(config))
    except OSError as exc:
        raise Unavailable(f"cannot read the lake: {exc}") from None
    _totals(plan.totals(), plan.expired_runs, "would delete")
    emit(plan.rows(), fmt)


@retention.command("apply")
@lake_option
@policy_option
@click.option("--grace-hours", type=click.IntRange(min=0), default=None, metavar="HOURS",
              help="Keep removed files this long before vacuum deletes them (TRACELAKE_RETENTION_VACUUM_GRACE_H).")
@format_option
def retention_apply(lake: str | None, policy: str | None, grace_hours: int | None, fmt: str | None) -> None:
    """Delete what the policy expires (runs whole), vacuum after the grace period, log it in governance_log.

    Safe while consume runs."""
    config = settings(lake=lake)
    result = run_retention(config, lake_of(config), _policy(config, policy), grace_hours)
    _totals(result.plan.totals(), result.plan.expired_runs, "deleted")
    click.echo(f"tracelake: vacuum (files removed over {result.vacuum_grace_h} h ago): "
               f"{sum(result.vacuumed.values())} files deleted; logged as {result.log_entry_id}", err=True)
    emit(result.plan.rows(), fmt)


class _Applied:
    """What :func:`run_retention` hands back to the command and the scheduler."""

    def __init__(self, result: Any, grace: int) -> None:
        self.plan = result.plan
        self.vacuumed: dict[str, int] = result.vacuumed
        self.vacuum_grace_h = grace
        self.log_entry_id = None if result.log_entry is None else result.log_entry.entry_id


def run_retention(config: Settings, the_lake: Lake, policy: Policy, grace_hours: int | None = None,
                  actor: str | None = None) -> _Applied:
    """Apply ``policy`` to ``the_lake`` with the settings' limits, horizon, grace and chain sealer (the command
    and the scheduler's retention tick)."""
    from tracelake.governance.retention_apply import apply_retention
    from tracelake.queries.engine import Limits

    grace = config.retention_vacuum_grace_h if grace_hours is None else grace_hours
    try:
        result = apply_retention(the_lake, policy, vacuum_grace_h=grace, limits=Limits.from_settings(config),
                                 run_horizon=_horizon(config), actor=actor,
                                 after_commit=chain_sealer(config, the_lake))
    except OSError as exc:
        raise Unavailable(f"cannot apply the retention policy: {exc}") from None
    return _Applied(result, grace)


def _totals(totals: dict[str, dict[str, int]], runs: int, verb: str) -> None:
    parts = [f"{name} {t['rows']} rows in {t['partitions']} partitions" for name, t in totals.items() if t["rows"]]
    click.echo(f"tracelake: {runs} expired runs; {verb}: {'; '.join(parts) or 'nothing'}", err=True)


@command()
@lake_option
@click.option("--email", multiple=True, metavar="ADDRESS", help="The person's e-mail address (repeatable).")
@click.option("--phone", multiple=True, metavar="NUMBER", help="The person's phone number (repeatable).")
@click.option("--name", multiple=True, metavar="NAME", help="The person's name as written (repeatable).")
@click.option("--pseudonym", multiple=True, metavar="PSEUDONYM",
              help="A pseudonym such as <EMAIL_ADDRESS:3f9a1c2b> or its 8 hex digits (repeatable).")
@click.option("--remove", is_flag=True, help="Remove every matching row (default: re-redact the matches).")
@click.option("--dry-run", is_flag=True, help="Only list the runs and count the rows; write nothing.")
@click.option("--vacuum", is_flag=True,
              help="Delete the old files and log entries now (breaks time travel to earlier versions).")
@format_option
def erase(lake: str | None, email: tuple[str, ...], phone: tuple[str, ...], name: tuple[str, ...],
          pseudonym: tuple[str, ...], remove: bool, dry_run: bool, vacuum: bool, fmt: str | None) -> None:
    """Erase one person: every row holding their pseudonym or a raw mention, in every table.

    Logged in governance_log without the identifier. Without --vacuum the old files stay until the next
    vacuum (tracelake compact)."""
    from tracelake.governance.erase import erase_subject
    from tracelake.governance.erase_subject import Subject

    config = settings(lake=lake)
    key = config.pseudonym_key.encode() if config.pseudonym_key else None
    subject = Subject(emails=email, phones=phone, names=name, pseudonyms=pseudonym, key=key)
    if key is None and not pseudonym:
        click.echo("tracelake: warning: no TRACELAKE_PSEUDONYM_KEY: only raw mentions are searched "
                   "(typed placeholders name nobody)", err=True)
    the_lake = lake_of(config)
    try:
        result = erase_subject(the_lake, subject, mode="remove" if remove else "redact", dry_run=dry_run,
                               vacuum=vacuum, run_horizon=_horizon(config),
                               after_commit=None if dry_run else chain_sealer(config, the_lake))
    except OSError as exc:
        raise Unavailable(f"cannot erase: {exc}") from None
    totals = "; ".join(f"{t} {v['rows']} rows in {v['partitions']} partitions"
                       for t, v in result.totals().items() if v["rows"])
    what = "would change" if dry_run else "changed"
    click.echo(f"tracelake: {len(result.runs)} runs hold the person; {what}: {totals or 'nothing'}", err=True)
    if vacuum and not dry_run:
        click.echo("tracelake: warning: vacuumed: the lake's earlier versions can no longer be read (time travel)",
                   err=True)
    elif not dry_run:
        click.echo("tracelake: note: the old files stay until the next vacuum; pass --vacuum to delete them now",
                   err=True)
    emit(result.as_dict(), fmt)
