"""The consumer loop: poll a backend, feed the processing chain, stop cleanly.

Contract:

- Offsets are committed only by the chain's last step, after the batch they
  cover is durable (see :mod:`tracelake.ingest.strategies.base`).
- On partition revocation the whole chain is joined (flushed, written,
  committed) *before* the partitions are given up, so the next owner starts
  exactly where this one stopped. With Kafka that happens on a worker thread
  while :meth:`Consumer.run` is blocked in ``poll`` (never concurrently with
  it; see :mod:`tracelake.ingest.backends.kafka`).
- :meth:`Consumer.run` returns after ``stop`` is set: it finishes the batch,
  writes, commits and closes the backend. A step that raises
  :class:`~tracelake.transforms.processor.Interrupted` (the redactor, when
  stop has been set for a few seconds mid-batch) ends the run at once
  without committing that batch; it is re-delivered. An exception from a step (an I/O
  failure, a bug) propagates without committing; the uncommitted messages are
  re-delivered to whoever consumes next.
- A commit refused by the group (a rebalance raced it) is logged and counted:
  the data is already durable, and the lake's tables record the offsets they
  hold, so the re-delivered copy is not written again.
- With ``resume`` (the consumer entry point passes the lake's positions,
  :func:`lake_resume`), a partition assigned to this member starts after the
  last offset the ``events`` table records when that is ahead of the group's
  committed offset (a crash between the lake commit and the Kafka commit).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from tracelake.ingest import metrics
from tracelake.ingest.backends.base import AssignCallback, CommitFailed, ConsumerBackend
from tracelake.ingest.message import Message, Partition, RawMessage
from tracelake.ingest.strategies.base import MessageRejected, ProcessingStep
from tracelake.transforms.processor import Interrupted

if TYPE_CHECKING:
    from tracelake.lake.lake import Lake

log = logging.getLogger("tracelake.ingest")

COMMIT_FAILURES = "tracelake_ingest_commit_failures_total"


def lake_resume(lake: Lake) -> AssignCallback:
    """An ``on_assign`` callback that starts each partition after the last offset ``lake``'s ``events`` table
    records for it (:mod:`tracelake.ingest.strategies.write` commits dead letters first, so they are in too)."""
    from tracelake.lake.delta import source_id
    from tracelake.lake.tables import EVENTS

    def resume(partitions: list[Partition]) -> dict[Partition, int]:
        ids = {source_id("kafka", p.topic, p.index): p for p in partitions}
        recorded = lake.positions(EVENTS, sorted(ids))
        return {ids[source]: offset + 1 for source, offset in recorded.items()}

    return resume


class Consumer:
    def __init__(
        self,
        backend: ConsumerBackend,
        make_chain: Callable[[Callable[[dict[Partition, int]], None]], ProcessingStep[RawMessage]],
        counters: metrics.Counters,
        poll_timeout_s: float = 0.5,
        max_poll_records: int = 2000,
        resume: AssignCallback | None = None,
    ) -> None:
        self.backend = backend
        self.resume = resume
        self.counters = counters
        self.poll_timeout_s = poll_timeout_s
        self.max_poll_records = max_poll_records
        self.chain = make_chain(self._commit)
        self._pending: list[Message[RawMessage]] = []

    def _commit(self, offsets: dict[Partition, int]) -> None:
        try:
            self.backend.commit(offsets)
        except CommitFailed as exc:
            self.counters.inc(COMMIT_FAILURES)
            log.warning("offset commit refused (%s); the batch is durable and will be de-duplicated", exc)

    def _on_revoke(self, partitions: list[Partition]) -> None:
        log.info("partitions revoked: %s; flushing before giving them up", partitions)
        self._drain_pending()
        self.chain.join()

    def _drain_pending(self, timeout_s: float = 60.0) -> None:
        """Hand every held-back message to the chain before a join (bounded)."""
        deadline = time.monotonic() + timeout_s
        while self._pending:
            if time.monotonic() > deadline:
                raise RuntimeError(f"processing chain refused messages for {timeout_s:.0f}s")
            self.chain.poll()
            self._retry_pending()

    def _submit(self, message: Message[RawMessage]) -> None:
        if self._pending:
            self._pending.append(message)
            return
        try:
            self.chain.submit(message)
        except MessageRejected:
            # Back pressure: keep the message, stop fetching until the chain catches up.
            self._pending.append(message)
            self.backend.pause()

    def run(self, stop: threading.Event) -> bool:
        """Consume until ``stop`` is set. True: every polled message was written and
        committed; False: a step gave up mid-batch (that batch is re-delivered)."""
        self.backend.subscribe(self._on_revoke, self.resume)
        try:
            while not stop.is_set():
                for raw in self.backend.poll(self.poll_timeout_s, self.max_poll_records):
                    self.counters.inc(metrics.MESSAGES_POLLED)
                    partition = Partition(raw.meta.topic or "", raw.meta.partition or 0)
                    self._submit(Message(raw, {partition: (raw.meta.offset or 0) + 1}))
                if self._pending:
                    self.chain.poll()
                    self._retry_pending()
                self.chain.poll()
            self._drain_pending()
            self.chain.join()
            return True
        except Interrupted:
            # A step gave up mid-batch because stop was set (redaction or a disk-fault wait
            # honours it within seconds): nothing of that batch is committed; it is re-delivered.
            log.info("stopped mid-batch; the uncommitted messages will be re-delivered")
            return False
        finally:
            self.chain.close()
            self.backend.close()

    def _retry_pending(self) -> None:
        while self._pending:
            try:
                self.chain.submit(self._pending[0])
            except MessageRejected:
                return
            self._pending.pop(0)
        self.backend.resume()
