"""Keep the runs rollup up to date from the consumer: refresh it after a write, at most every ``interval_s``.

The runs rollup (:mod:`tracelake.queries.rollup`) is a derived table: readers add the runs touched since
its last refresh on the fly (the *tail*), so a refresh is never needed for a correct answer, only for a
fast one. Contract of this step:

- It passes every message on unchanged and at once (it sits between the write step and the offset commit;
  the offsets it forwards cover data that is already durable).
- After a batch was written, and on :meth:`poll` when batches were written since the last refresh, it calls
  ``refresh()`` once ``interval_s`` have passed since the last call (``interval_s <= 0``: never). Several
  consumers refreshing at once are safe: the rollup's commit is exactly-once per events version
  (:func:`tracelake.queries.rollup.refresh_runs`).
- A refresh that fails (storage refused, lost races) is logged on one line and counted
  (:data:`tracelake.ingest.metrics.ROLLUP_FAILURES`), never raised: ingest must not stop for a derived
  table. The next refresh retries; meanwhile readers compute a longer tail.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from tracelake.ingest import metrics
from tracelake.ingest.message import Message
from tracelake.ingest.strategies.base import ProcessingStep

log = logging.getLogger("tracelake.ingest.rollup")


class RefreshRollup(ProcessingStep[Any]):
    def __init__(self, refresh: Callable[[], object], interval_s: float, next_step: ProcessingStep[Any],
                 counters: metrics.Counters, clock: Callable[[], float] = time.monotonic) -> None:
        self.refresh = refresh
        self.interval_s = interval_s
        self.next_step = next_step
        self.counters = counters
        self.clock = clock
        self._last = clock()
        self._dirty = False

    def submit(self, message: Message[Any]) -> None:
        self.next_step.submit(message)
        self._dirty = True
        self._maybe_refresh()

    def _maybe_refresh(self) -> None:
        if not self._dirty or self.interval_s <= 0 or self.clock() - self._last < self.interval_s:
            return
        self._last = self.clock()
        self._dirty = False
        started = time.perf_counter()
        try:
            self.refresh()
        except Exception as exc:  # noqa: BLE001 - a derived table must never stop ingest (module docstring)
            self._dirty = True
            self.counters.inc(metrics.ROLLUP_FAILURES)
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            log.warning("runs rollup refresh failed (readers compute the runs since from the events): %s", first)
            return
        self.counters.inc(metrics.ROLLUP_REFRESHES)
        self.counters.inc(metrics.ROLLUP_MS, round((time.perf_counter() - started) * 1000))

    def poll(self) -> None:
        self.next_step.poll()
        self._maybe_refresh()

    def join(self, timeout: float | None = None) -> None:
        self.next_step.join(timeout)

    def close(self) -> None:
        self.next_step.close()
