"""The background sender between ``emit()`` and Kafka.

Contract:

- :meth:`Sender.submit` never blocks and never raises: it puts the encoded
  event on a bounded in-memory queue; if the queue is full (the sender cannot
  keep up) it appends the event to the durable spool instead.
- One daemon thread takes batches from the queue and hands them to the
  transport. While the spool holds anything, new events go *behind* it, so
  each run's events reach Kafka in the order they were emitted.
- A failed or partial send spools what was not acknowledged and starts an
  exponential back-off (``retry_min_s`` … ``retry_max_s``); when it elapses the
  sender re-sends the spool, oldest first, acknowledging only what Kafka
  acknowledged (at-least-once; the lake de-duplicates by ``event_id``).
- Spools left by processes that died are adopted and drained once the broker
  answers (see :mod:`tracelake.sdk.spool`).
- :meth:`flush` waits until everything submitted is acknowledged by Kafka (or
  the timeout passes); :meth:`close` stops the thread, spooling what it could
  not send, so nothing accepted by ``submit`` is lost across a restart.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from tracelake.sdk.spool import Spool, SpoolLocked, new_spool_dir, orphaned_spools
from tracelake.sdk.transport import Record, Transport

log = logging.getLogger("tracelake.sdk")


@dataclass(frozen=True, slots=True)
class SenderStats:
    """Counters since the client started (``spool_pending`` is a gauge)."""

    enqueued: int
    sent: int
    spooled: int
    replayed: int
    dropped: int
    spool_pending: int
    queue_depth: int


@dataclass
class SenderOptions:
    spool_root: Path
    spool_max_bytes: int = 256 * 1024 * 1024
    spool_fsync: bool = True
    queue_size: int = 100_000
    batch_size: int = 1000
    poll_interval_s: float = 0.05
    retry_min_s: float = 0.5
    retry_max_s: float = 15.0
    orphan_check_s: float = 30.0


def _record(value: bytes) -> Record:
    # The key is the run id; it is re-derived from the JSON so the spool stores
    # plain JSON Lines that a person (or `tracelake ingest-file`) can read.
    try:
        key = str(orjson.loads(value).get("run_id", "")).encode()
    except (orjson.JSONDecodeError, AttributeError):
        key = b""
    return Record(key=key, value=value)


class Sender:
    def __init__(
        self,
        transport: Transport,
        options: SenderOptions,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.transport = transport
        self.options = options
        self._clock = clock
        self._queue: queue.Queue[Record] = queue.Queue(maxsize=options.queue_size)
        self._lock = threading.Lock()  # guards the spool
        self._count_lock = threading.Lock()
        self._settled = threading.Condition()
        self._spool: Spool | None = None
        self._backoff = options.retry_min_s
        self._next_attempt = 0.0
        self._next_orphan_check = 0.0
        self._stopping = threading.Event()
        self._enqueued = self._sent = self._spooled = self._replayed = 0
        self._dropped_at_close = 0
        self._thread = threading.Thread(target=self._run, name="tracelake-sender", daemon=True)
        self._thread.start()

    # -- agent side --------------------------------------------------------
    def submit(self, record: Record) -> None:
        with self._count_lock:  # agents may emit from many threads
            self._enqueued += 1
        if self._stopping.is_set():
            self._to_spool([record], why="client closing")
            return
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            # Overload: the agent emits faster than Kafka takes. Keep it on disk
            # rather than block the agent or lose it; no fsync on this thread.
            self._to_spool([record], why="sender queue full", sync=False)

    def stats(self) -> SenderStats:
        spool = self._spool
        return SenderStats(
            enqueued=self._enqueued,
            sent=self._sent,
            spooled=self._spooled,
            replayed=self._replayed,
            dropped=(spool.dropped if spool else 0) + self._dropped_at_close,
            spool_pending=spool.pending if spool else 0,
            queue_depth=self._queue.qsize(),
        )

    def flush(self, timeout: float = 10.0) -> bool:
        """True when everything submitted so far is acknowledged by Kafka."""
        self._next_attempt = 0.0  # retry the spool now rather than after back-off
        with self._settled:
            return self._settled.wait_for(self._is_settled, timeout=timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Send or spool everything, stop the thread, release the spool."""
        self._stopping.set()
        self._thread.join(timeout)
        # Whatever the thread did not reach goes to disk, not to the void.
        leftovers: list[Record] = []
        while True:
            try:
                leftovers.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if leftovers:
            self._to_spool(leftovers)
        with self._lock:
            if self._spool is not None:
                self._dropped_at_close += self._spool.dropped
                self._spool.close(remove_if_empty=True)
                self._spool = None
        self.transport.close()

    # -- thread side -------------------------------------------------------
    def _is_settled(self) -> bool:
        spool = self._spool
        return self._queue.unfinished_tasks == 0 and (spool is None or spool.pending == 0)

    def _notify(self) -> None:
        with self._settled:
            self._settled.notify_all()

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if batch:
                self._deliver(batch)
                for _ in batch:
                    self._queue.task_done()
            self._drain_spool_if_due()
            self._adopt_orphans_if_due()
            self._notify()
            if self._stopping.is_set() and self._queue.empty():
                return

    def _take_batch(self) -> list[Record]:
        try:
            first = self._queue.get(timeout=self.options.poll_interval_s)
        except queue.Empty:
            return []
        batch = [first]
        while len(batch) < self.options.batch_size:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _has_backlog(self) -> bool:
        return self._spool is not None and self._spool.pending > 0

    def _deliver(self, batch: list[Record]) -> None:
        if self._has_backlog():
            self._to_spool(batch)
            return
        if self._stopping.is_set() and self._next_attempt > self._clock():
            self._to_spool(batch)  # broker known down: do not wait at shutdown
            return
        delivered = self.transport.send(batch)
        self._sent += delivered
        if delivered < len(batch):
            self._to_spool(batch[delivered:])
            self._schedule_retry()

    def _to_spool(self, records: list[Record], why: str = "kafka not reachable", sync: bool | None = None) -> None:
        with self._lock:
            if self._spool is None:
                self._spool = Spool(
                    new_spool_dir(self.options.spool_root),
                    max_bytes=self.options.spool_max_bytes,
                    fsync=self.options.spool_fsync,
                )
            if self._spool.pending == 0:
                log.warning("%s: spooling events to %s", why, self._spool.directory)
            stored = self._spool.append([r.value for r in records], sync=sync)
            self._spooled += stored

    def _schedule_retry(self) -> None:
        self._next_attempt = self._clock() + self._backoff
        self._backoff = min(self._backoff * 2, self.options.retry_max_s)

    def _drain(self, spool: Spool, budget_s: float = 1.0) -> bool:
        """Re-send ``spool`` oldest first for at most ``budget_s``; True when empty."""
        deadline = self._clock() + budget_s
        while spool.pending and self._clock() < deadline:
            with self._lock:
                values = spool.peek(self.options.batch_size)
            if not values:
                return True
            delivered = self.transport.send([_record(v) for v in values])
            with self._lock:
                spool.ack(delivered)
            self._sent += delivered
            self._replayed += delivered
            if delivered < len(values):
                self._schedule_retry()
                return False
            self._backoff = self.options.retry_min_s
        return spool.pending == 0

    def _drain_spool_if_due(self) -> None:
        if self._has_backlog() and self._clock() >= self._next_attempt:
            assert self._spool is not None
            self._drain(self._spool)

    def _adopt_orphans_if_due(self) -> None:
        now = self._clock()
        if self._has_backlog() or now < self._next_orphan_check or now < self._next_attempt:
            return
        self._next_orphan_check = now + self.options.orphan_check_s
        own = self._spool.directory if self._spool else None
        for orphan in orphaned_spools(
            self.options.spool_root, self.options.spool_max_bytes, self.options.spool_fsync
        ):
            if orphan.directory == own:
                orphan.close()
                continue
            try:
                if orphan.pending:
                    log.info("re-sending %d spooled events from %s", orphan.pending, orphan.directory)
                done = self._drain(orphan, budget_s=30.0)
            finally:
                orphan.close(remove_if_empty=True)
            if not done:
                return


__all__ = ["Sender", "SenderOptions", "SenderStats", "SpoolLocked"]
