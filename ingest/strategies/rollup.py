"""Keep the lake's derived tables up to date from the consumer, in the background: the *upkeep*
(:func:`tracelake.ingest.derived.refresh_derived`: tidy the open days, refresh the runs rollup and the control
results), started after a write at most every ``interval_s``.

The derived tables are never needed for a correct answer, only for a fast one: readers add what the upkeep
has not seen yet on the fly (the *tail*), and every question pays for the tail it reads. So the upkeep runs
often, and beside ingest rather than in its way. Contract of this step:

- It passes every message on unchanged and at once (it sits between the write step and the offset commit;
  the offsets it forwards cover data that is already durable). It never waits for an upkeep while the
  consumer runs: not in :meth:`submit`/:meth:`poll`, and not in :meth:`join` either (a rebalance must not
  wait; the upkeep holds no message).
- After a batch was written, and on :meth:`poll` when batches were written since the last upkeep started, it
  starts ``refresh()`` in a background thread once ``interval_s`` have passed since the last start
  (``interval_s <= 0``: never) and no upkeep is running: at most one at a time, so writes during a long
  upkeep are picked up by the next one. Several consumers keeping the same lake at once are safe: each
  derived table's commit is exactly-once per events version (:func:`tracelake.queries.rollup.refresh_runs`).
- A finished upkeep is counted on the consumer's thread (at the next submit, poll or join):
  :data:`~tracelake.ingest.metrics.ROLLUP_REFRESHES` and its milliseconds, or, when it failed (storage
  refused, lost races, its worker killed past its time limit), one logged line and
  :data:`~tracelake.ingest.metrics.ROLLUP_FAILURES`; never raised: ingest must not stop for a derived table.
  The next upkeep retries; meanwhile readers compute a longer tail.
- :meth:`close` (the consumer stopping) waits for a running upkeep, then runs a last one when batches were
  written since it started, so a consumer that stops leaves the derived tables current: all within
  :data:`CLOSE_WAIT_S`. The thread is a daemon: past that the process does not wait for it; the upkeep's
  worker process dies with the consumer (a Delta commit is atomic: nothing half-done is left).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from tracelake.ingest import metrics
from tracelake.ingest.message import Message
from tracelake.ingest.strategies.base import ProcessingStep

log = logging.getLogger("tracelake.ingest.rollup")

CLOSE_WAIT_S = 30.0
"""How long a stopping consumer waits for its upkeep (the running one and a last one) before it exits."""


class Upkeep:
    """One run of ``refresh()``: whether it finished, what it raised, how long it took."""

    def __init__(self, refresh: Callable[[], object]) -> None:
        self.refresh = refresh
        self.finished = threading.Event()
        self.error: BaseException | None = None
        self.elapsed_s = 0.0

    def run(self) -> None:
        started = time.perf_counter()
        try:
            self.refresh()
        except BaseException as exc:  # noqa: BLE001 - reported by the step on the consumer's thread
            self.error = exc
        finally:
            self.elapsed_s = time.perf_counter() - started
            self.finished.set()


def in_background(upkeep: Upkeep) -> None:
    """Run ``upkeep`` in a daemon thread (the default launcher of :class:`RefreshRollup`)."""
    threading.Thread(target=upkeep.run, name="tracelake-upkeep", daemon=True).start()


class RefreshRollup(ProcessingStep[Any]):
    def __init__(self, refresh: Callable[[], object], interval_s: float, next_step: ProcessingStep[Any],
                 counters: metrics.Counters, clock: Callable[[], float] = time.monotonic,
                 launch: Callable[[Upkeep], None] = in_background) -> None:
        self.refresh = refresh
        self.interval_s = interval_s
        self.next_step = next_step
        self.counters = counters
        self.clock = clock
        self.launch = launch
        self._last = clock()
        self._dirty = False
        self._running: Upkeep | None = None

    def submit(self, message: Message[Any]) -> None:
        self.next_step.submit(message)
        self._dirty = True
        self._maybe_refresh()

    def _maybe_refresh(self) -> None:
        self._collect()
        if self._running is not None:
            return
        if not self._dirty or self.interval_s <= 0 or self.clock() - self._last < self.interval_s:
            return
        self._last = self.clock()
        self._dirty = False
        self._running = Upkeep(self.refresh)
        self.launch(self._running)
        self._collect()  # a launcher that runs it at once (tests) is reported at once

    def _collect(self) -> None:
        upkeep = self._running
        if upkeep is None or not upkeep.finished.is_set():
            return
        self._running = None
        if upkeep.error is not None:
            self._dirty = True
            self.counters.inc(metrics.ROLLUP_FAILURES)
            first = (str(upkeep.error).strip().splitlines() or [type(upkeep.error).__name__])[0]
            log.warning("lake upkeep failed (readers compute what it has not seen from the events): %s", first)
            return
        self.counters.inc(metrics.ROLLUP_REFRESHES)
        self.counters.inc(metrics.ROLLUP_MS, round(upkeep.elapsed_s * 1000))

    def poll(self) -> None:
        self.next_step.poll()
        self._maybe_refresh()

    def join(self, timeout: float | None = None) -> None:
        self.next_step.join(timeout)
        self._collect()

    def close(self) -> None:
        """Close the next step, then bring the derived tables up to date within :data:`CLOSE_WAIT_S` (module
        docstring); never raises."""
        self.next_step.close()
        deadline = time.monotonic() + CLOSE_WAIT_S
        for _ in range(2):  # the running upkeep, then a last one for what it did not see
            if self._running is None and self._dirty and self.interval_s > 0:
                self._last = float("-inf")
                self._maybe_refresh()
            upkeep = self._running
            if upkeep is None:
                return
            upkeep.finished.wait(max(0.0, deadline - time.monotonic()))
            self._collect()
            if self._running is not None:
                return
