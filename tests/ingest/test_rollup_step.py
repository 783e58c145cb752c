"""The upkeep step: passes every message on at once, starts an upkeep at most every interval and one at a time,
in the background, never raises."""

from __future__ import annotations

import threading
from typing import Any

from tracelake.ingest import metrics
from tracelake.ingest.message import Message
from tracelake.ingest.strategies.base import ProcessingStep
from tracelake.ingest.strategies.rollup import RefreshRollup, Upkeep


class Collect(ProcessingStep[Any]):
    def __init__(self) -> None:
        self.got: list[Any] = []
        self.polls = 0

    def submit(self, message: Message[Any]) -> None:
        self.got.append(message.committable)

    def poll(self) -> None:
        self.polls += 1

    def join(self, timeout: float | None = None) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _inline(upkeep: Upkeep) -> None:
    upkeep.run()


def _step(refresh: Any, interval: float = 60.0) -> tuple[RefreshRollup, Collect, Clock, metrics.Counters]:
    """A step whose upkeep runs at once on the caller's thread: the order of events is the test's."""
    clock, sink, counters = Clock(), Collect(), metrics.Counters()
    return RefreshRollup(refresh, interval, sink, counters, clock=clock, launch=_inline), sink, clock, counters


def test_refreshes_at_most_every_interval_and_only_after_writes() -> None:
    calls: list[float] = []
    step, sink, clock, counters = _step(lambda: calls.append(clock.now))
    step.submit(Message(None, {"p": 1}))
    assert sink.got == [{"p": 1}] and calls == []  # passed on at once; too early to refresh
    clock.now = 61
    step.poll()
    assert calls == [61]
    clock.now = 200
    step.poll()
    assert calls == [61]  # nothing written since: no refresh
    step.submit(Message(None, {"p": 2}))
    assert calls == [61, 200]
    assert counters.get(metrics.ROLLUP_REFRESHES) == 2


def test_a_failing_refresh_is_counted_and_retried_never_raised() -> None:
    attempts: list[int] = []

    def refresh() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("storage refused\nsecond line")

    step, sink, clock, counters = _step(refresh)
    clock.now = 61
    step.submit(Message(None, {"p": 1}))
    assert sink.got == [{"p": 1}] and counters.get(metrics.ROLLUP_FAILURES) == 1
    clock.now = 122
    step.poll()
    assert len(attempts) == 2 and counters.get(metrics.ROLLUP_REFRESHES) == 1


def test_interval_zero_never_refreshes() -> None:
    calls: list[int] = []
    step, _, clock, _ = _step(lambda: calls.append(1), interval=0)
    clock.now = 10_000
    step.submit(Message(None, {"p": 1}))
    step.poll()
    assert calls == []


def test_the_upkeep_runs_beside_ingest_one_at_a_time() -> None:
    release, started = threading.Event(), threading.Event()
    calls: list[int] = []

    def refresh() -> None:
        calls.append(1)
        started.set()
        assert release.wait(60)

    clock, sink, counters = Clock(), Collect(), metrics.Counters()
    step = RefreshRollup(refresh, 5.0, sink, counters, clock=clock)
    clock.now = 6
    step.submit(Message(None, {"p": 1}))
    assert started.wait(60)
    # The upkeep is running in the background: messages still pass at once, no second one starts, and a
    # join (a rebalance) does not wait for it.
    clock.now = 20
    step.submit(Message(None, {"p": 2}))
    step.poll()
    step.join(None)
    assert sink.got == [{"p": 1}, {"p": 2}]
    assert calls == [1] and counters.get(metrics.ROLLUP_REFRESHES) == 0
    # Stopping: the running upkeep is waited for, then a last one covers what was written meanwhile.
    release.set()
    step.close()
    assert calls == [1, 1] and counters.get(metrics.ROLLUP_REFRESHES) == 2


def test_close_waits_no_longer_than_its_bound(monkeypatch) -> None:
    from tracelake.ingest.strategies import rollup

    monkeypatch.setattr(rollup, "CLOSE_WAIT_S", 0.01)
    release = threading.Event()
    clock, sink, counters = Clock(), Collect(), metrics.Counters()
    step = RefreshRollup(lambda: release.wait(60), 1.0, sink, counters, clock=clock)
    clock.now = 2
    step.submit(Message(None, {"p": 1}))
    step.close()
    assert counters.get(metrics.ROLLUP_REFRESHES) == 0  # still running: not waited for beyond the bound
    release.set()


def test_close_after_nothing_written_starts_nothing() -> None:
    calls: list[int] = []
    step, *_ = _step(lambda: calls.append(1))
    step.close()
    assert calls == []
