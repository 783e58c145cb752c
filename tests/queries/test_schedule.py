"""The cron loop: its logic on a fake clock (no sleeping), then once for real with a per-second cron."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest

from tracelake.queries.alerts.schedule import CronError, CronSchedule, run_schedule
from tracelake.queries.timewin import parse_time


class FakeClock:
    """A clock that moves only when the loop waits."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.waits: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += timedelta(seconds=seconds)
        return False


def test_next_after_uses_standard_cron_in_utc() -> None:
    start = parse_time("2026-11-24T10:02:30Z")  # a Tuesday
    assert CronSchedule("*/5 * * * *").next_after(start) == parse_time("2026-11-24T10:05:00Z")
    assert CronSchedule("0 9 * * 1").next_after(start) == parse_time("2026-11-30T09:00:00Z")  # 1 = Monday
    assert CronSchedule("0 0 * * 0").next_after(start) == parse_time("2026-11-29T00:00:00Z")  # 0 = Sunday
    assert CronSchedule("*/5 * * * *").next_after(parse_time("2026-11-24T10:05:00Z")) == parse_time(
        "2026-11-24T10:10:00Z")  # strictly after


@pytest.mark.parametrize("expression", ["", "every minute", "61 * * * *", "* * *"])
def test_invalid_cron_is_refused(expression: str) -> None:
    with pytest.raises(CronError, match="not a cron expression"):
        CronSchedule(expression)


def test_ticks_run_the_job_with_the_scheduled_time() -> None:
    clock = FakeClock(parse_time("2026-11-24T10:02:30Z"))
    ticks: list[datetime] = []
    ran = run_schedule(CronSchedule("*/5 * * * *"), ticks.append, threading.Event(), clock=clock, wait=clock.wait,
                       max_ticks=3)
    assert ran == 3
    assert ticks == [parse_time(t) for t in ("2026-11-24T10:05:00Z", "2026-11-24T10:10:00Z", "2026-11-24T10:15:00Z")]
    assert clock.waits == [150.0, 300.0, 300.0]


def test_a_failing_job_does_not_stop_the_schedule() -> None:
    clock = FakeClock(parse_time("2026-11-24T10:00:00Z"))
    calls: list[datetime] = []

    def job(tick: datetime) -> None:
        calls.append(tick)
        raise RuntimeError("lake unreadable")

    assert run_schedule(CronSchedule("* * * * *"), job, threading.Event(), clock=clock, wait=clock.wait,
                        max_ticks=2) == 2
    assert len(calls) == 2


def test_a_long_job_skips_missed_ticks() -> None:
    clock = FakeClock(parse_time("2026-11-24T10:00:00Z"))
    ticks: list[datetime] = []

    def slow(tick: datetime) -> None:
        ticks.append(tick)
        clock.now += timedelta(minutes=3, seconds=10)  # the job overruns three ticks

    run_schedule(CronSchedule("* * * * *"), slow, threading.Event(), clock=clock, wait=clock.wait, max_ticks=2)
    assert ticks == [parse_time("2026-11-24T10:01:00Z"), parse_time("2026-11-24T10:05:00Z")]


def test_stop_while_waiting_runs_nothing() -> None:
    stop = threading.Event()

    def interrupted(seconds: float) -> bool:
        stop.set()
        return True

    assert run_schedule(CronSchedule("* * * * *"), lambda t: None, stop, wait=interrupted) == 0


def test_real_per_second_schedule_stops_promptly() -> None:
    """Six fields = seconds (croniter puts them last): a real tick every second, then stop."""
    stop = threading.Event()
    ticks: list[datetime] = []
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(run_schedule(CronSchedule("* * * * * *"), ticks.append,
                                                                        stop)))
    thread.start()
    deadline = time.monotonic() + 10
    while len(ticks) < 2 and time.monotonic() < deadline:
        stop.wait(0.05)  # poll with a deadline; the loop under test does the waiting
    stop.set()
    thread.join(5)
    assert not thread.is_alive() and len(ticks) >= 2 and result == [len(ticks)]
    assert ticks[1] - ticks[0] == timedelta(seconds=1) and all(t.microsecond == 0 for t in ticks)
