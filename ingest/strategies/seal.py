"""Seal the commit chain from the consumer: after a write, at most every ``interval_s``.

Contract (as :class:`~tracelake.ingest.strategies.rollup.RefreshRollup`, whose pattern this follows):

- Every message passes on unchanged and at once; the step sits after the write (and the rollup refresh), so
  the commits it seals are already durable.
- After a batch, and on :meth:`poll` when batches were written since, it calls ``seal()`` once ``interval_s``
  have passed since the last call (``interval_s <= 0``: never). Several consumers sealing at once are safe
  (:func:`tracelake.governance.seal.seal_lake` retries a lost race for the chain's head).
- A seal that fails is logged on one line, never raised: ingest must not stop for the chain. The next seal
  covers what this one missed; meanwhile ``tracelake verify`` reports those commits as unsealed.
- :meth:`close` seals what was written since the last seal (a stopping consumer, ``ingest-file``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from tracelake.ingest.message import Message
from tracelake.ingest.strategies.base import ProcessingStep

log = logging.getLogger("tracelake.ingest.seal")


class SealChain(ProcessingStep[Any]):
    def __init__(self, seal: Callable[[], object], interval_s: float, next_step: ProcessingStep[Any],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.seal = seal
        self.interval_s = interval_s
        self.next_step = next_step
        self.clock = clock
        self._last = clock()
        self._dirty = False
        self._written = False
        self.failures = 0

    def submit(self, message: Message[Any]) -> None:
        self.next_step.submit(message)
        self._dirty = self._written = True
        self._maybe_seal()

    def _maybe_seal(self) -> None:
        if not self._dirty or self.interval_s <= 0 or self.clock() - self._last < self.interval_s:
            return
        self._last = self.clock()
        self._dirty = False
        try:
            self.seal()
        except Exception as exc:  # noqa: BLE001 - the chain must never stop ingest (module docstring)
            self._dirty = True
            self.failures += 1
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            log.warning("commit chain seal failed (verify reports the commits since as unsealed): %s", first)

    def poll(self) -> None:
        self.next_step.poll()
        self._maybe_seal()

    def join(self, timeout: float | None = None) -> None:
        self.next_step.join(timeout)

    def close(self) -> None:
        # At shutdown what was written is sealed now (ingest-file, a stopping consumer), not left for whoever seals
        # next: after the next step closed, so that the last upkeep's commits (runs rollup, control_results,
        # written in the background, tracelake.ingest.strategies.rollup) are sealed too.
        self.next_step.close()
        if self._written and self.interval_s > 0:
            self._dirty = True
            self._last = self.clock() - self.interval_s
            self._maybe_seal()
