"""``tracelake alerts schedule``: evaluations on a cron schedule, in one long-running process.

Cron expressions are parsed and stepped by ``croniter`` (standard 5 fields,
``0`` = Sunday; a 6th field adds seconds). All times are UTC. Each tick runs
the job with ``now`` = the tick's scheduled time (not the wall clock), so a
restarted scheduler that re-runs a tick raises the same alert ids and stores
nothing twice. Ticks missed while a job ran long are skipped, not queued.

:func:`run_schedule` takes its clock and its wait as arguments so its logic
is tested without sleeping; in production the wait is ``stop.wait`` (wakes
at once on SIGTERM/SIGINT).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from croniter import croniter

from tracelake.errors import UserError

log = logging.getLogger("tracelake.alerts")


class CronError(UserError, ValueError):
    """Not a valid cron expression."""


class CronSchedule:
    """A validated cron expression; :meth:`next_after` gives the next tick strictly after an instant."""

    def __init__(self, expression: str) -> None:
        if not croniter.is_valid(expression):
            raise CronError(f"{expression!r} is not a cron expression (5 fields, e.g. '*/15 * * * *')")
        self.expression = expression

    def next_after(self, instant: datetime) -> datetime:
        return croniter(self.expression, instant.astimezone(UTC)).get_next(datetime).astimezone(UTC)


def run_schedule(schedule: CronSchedule, job: Callable[[datetime], object], stop: threading.Event, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 wait: Callable[[float], bool] | None = None, max_ticks: int | None = None) -> int:
    """Run ``job(tick)`` at every tick until ``stop`` is set (or ``max_ticks``); return the ticks run.

    ``wait(seconds)`` returns True when it was interrupted by ``stop``. A job
    that raises is logged and the schedule goes on.
    """
    wait = wait or stop.wait
    ticks = 0
    while not stop.is_set() and (max_ticks is None or ticks < max_ticks):
        now = clock()
        tick = schedule.next_after(now)
        if wait(max(0.0, (tick - now).total_seconds())) or stop.is_set():
            break
        if clock() < tick:
            continue  # woke early (a spurious wake-up): wait again for the same tick
        ticks += 1
        try:
            job(tick)
        except Exception:
            log.exception("alert evaluation for tick %s failed; the schedule goes on", tick.isoformat())
    return ticks
