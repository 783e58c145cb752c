"""The background sender between ``emit()`` and Kafka: a write-ahead spool.

Contract:

- :meth:`Sender.submit` never blocks and never raises: it puts the encoded
  event on a bounded in-memory queue; if the queue is full it appends the
  event to the durable spool itself (no fsync on the agent's thread).
- **Write-ahead.** A *writer* thread moves every accepted event from the
  queue to the spool (one ``write`` and, unless ``spool_fsync=False``, one
  fsync per batch) and never waits on Kafka: it picks up a new event at once
  and at most ``poll_interval_s`` after it was queued when the thread is idle.
  A separate *sender* thread reads the spool oldest first, hands batches to
  the transport and acknowledges in the spool only what Kafka acknowledged
  (at-least-once; the lake de-duplicates by ``event_id``). Connecting to
  Kafka, a broker that hangs, back-off: all happen on the sender thread,
  never between an accepted event and the disk.
- **What a crash can lose.** ``kill -9`` of the agent loses only the events
  still in the in-memory queue: those accepted during the writer's current
  write cycle (a few milliseconds; see docs/emitting.md for measured
  figures). Written events survive in the page cache even before the fsync;
  the fsync is for a power loss or an OS crash. The next process (any client
  using the same ``spool_dir``) adopts the dead process's spool and re-sends it.
- Order: one spool, one FIFO, so each run's events reach Kafka in the order
  they were emitted (orphaned spools of dead processes are re-sent first).
- A failed or partial send starts an exponential back-off (``retry_min_s`` …
  ``retry_max_s``); the spool keeps everything meanwhile, up to its bound
  (then the newest are dropped and counted, see :mod:`tracelake.sdk.spool`).
- :meth:`flush` waits until everything submitted is acknowledged by Kafka (or
  the timeout passes); :meth:`close` writes the queue to the spool, sends what
  it can within its timeout (not at all when Kafka is known down) and leaves
  the rest in the spool for the next process.
- ``stats().spooled`` counts events that had to wait in the spool for Kafka:
  written while Kafka was known down, refused on their first attempt, or
  left in the spool at close.
"""

from __future__ import annotations

import collections
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
    """Queue → writer thread → spool → sender thread → transport (module docstring)."""

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
        self._lock = threading.Lock()  # guards the spool and the bookkeeping next to it
        self._count_lock = threading.Lock()
        self._settled = threading.Condition()
        self._wake = threading.Event()  # new events in the spool, or flush/close wants the sender now
        self._spool: Spool | None = None
        # One flag per pending record of our own spool: already counted in ``spooled``?
        self._waited: collections.deque[bool] = collections.deque()
        self._down = False  # the last attempt failed (cleared by a delivery)
        self._backoff = options.retry_min_s
        self._next_attempt = 0.0
        self._next_orphan_check = 0.0
        self._stopping = threading.Event()
        self._deadline = float("inf")  # when close() stops waiting for Kafka
        self._enqueued = self._sent = self._spooled = self._replayed = 0
        self._dropped_at_close = 0
        self._unwritable = 0  # events lost because the spool could not be written (disk full, permissions)
        # Our own spool exists before the threads start, so the orphan scan of
        # the sender thread can never lock it first and starve the writer.
        try:
            self._to_spool([])
        except OSError as exc:
            log.warning("cannot create the spool under %s (%s); will retry", options.spool_root, exc)
        self._writer = threading.Thread(target=self._write_loop, name="tracelake-spool-writer", daemon=True)
        self._thread = threading.Thread(target=self._send_loop, name="tracelake-sender", daemon=True)
        self._writer.start()
        self._thread.start()

    # -- agent side --------------------------------------------------------
    def submit(self, record: Record) -> None:
        with self._count_lock:  # agents may emit from many threads
            self._enqueued += 1
        try:
            if self._stopping.is_set():
                self._to_spool([record])
                return
            try:
                self._queue.put_nowait(record)
            except queue.Full:
                # Overload: the writer cannot keep up. Keep it on disk rather than
                # block the agent or lose it; no fsync on this thread.
                self._to_spool([record], sync=False)
        except OSError as exc:  # the spool's disk failed: count it, never raise into the agent
            self._unwritable += 1
            log.warning("event dropped: the spool cannot be written (%s)", exc)

    def stats(self) -> SenderStats:
        spool = self._spool
        return SenderStats(
            enqueued=self._enqueued,
            sent=self._sent,
            spooled=self._spooled,
            replayed=self._replayed,
            dropped=(spool.dropped if spool else 0) + self._dropped_at_close + self._unwritable,
            spool_pending=spool.pending if spool else 0,
            queue_depth=self._queue.qsize(),
        )

    def flush(self, timeout: float = 10.0) -> bool:
        """True when everything submitted so far is acknowledged by Kafka."""
        self._next_attempt = 0.0  # retry now rather than after back-off
        self._wake.set()
        with self._settled:
            return self._settled.wait_for(self._is_settled, timeout=timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Spool everything, send what Kafka takes within ``timeout``, stop, release the spool.

        Never raises for Kafka's sake; what was not sent stays in the spool
        directory for the next client with the same ``spool_dir``.
        """
        started = self._clock()
        self._deadline = started + timeout
        self._stopping.set()
        self._wake.set()
        self._writer.join(timeout)
        # Whatever the writer did not reach goes to disk, not to the void.
        leftovers: list[Record] = []
        while True:
            try:
                leftovers.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if leftovers:
            try:
                self._to_spool(leftovers)
            except OSError as exc:
                self._unwritable += len(leftovers)
                log.warning("%d events dropped at close: the spool cannot be written (%s)", len(leftovers), exc)
        self._thread.join(max(0.0, timeout - (self._clock() - started)))
        with self._lock:
            if self._spool is not None:
                # Left for the next process: these waited in the spool.
                self._spooled += sum(1 for counted in self._waited if not counted)
                self._waited.clear()
                self._dropped_at_close += self._spool.dropped
                self._spool.close(remove_if_empty=True)
                self._spool = None
        self.transport.close()

    # -- writer thread -----------------------------------------------------
    def _write_loop(self) -> None:
        while True:
            batch = self._take_batch()
            if batch:
                self._write(batch)
                for _ in batch:
                    self._queue.task_done()
                self._wake.set()
            elif self._stopping.is_set() and self._queue.empty():
                return

    def _write(self, batch: list[Record]) -> None:
        """Append ``batch`` to the spool; on a disk error keep retrying it (bounded by close)."""
        delay = self.options.poll_interval_s
        while True:
            try:
                self._to_spool(batch)
                return
            except OSError as exc:
                if self._stopping.is_set() and self._clock() >= self._deadline:
                    self._unwritable += len(batch)
                    log.warning("%d events dropped: the spool cannot be written (%s)", len(batch), exc)
                    return
                log.warning("cannot write the spool (%s); retrying in %.1fs", exc, delay)
                time.sleep(delay)  # the writer's own thread: back off, keep the batch
                delay = min(delay * 2, self.options.retry_max_s)

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

    def _to_spool(self, records: list[Record], sync: bool | None = None) -> None:
        with self._lock:
            if self._spool is None:
                self._spool = Spool(
                    new_spool_dir(self.options.spool_root),
                    max_bytes=self.options.spool_max_bytes,
                    fsync=self.options.spool_fsync,
                )
            if not records:
                return
            was_empty = self._spool.pending == 0
            stored = self._spool.append([r.value for r in records], sync=sync)
            # Written while Kafka is known down: these wait for it (counted now).
            down = self._down
            self._waited.extend([down] * stored)
            if down:
                self._spooled += stored
                if was_empty and stored:
                    log.warning("kafka not reachable: spooling events to %s", self._spool.directory)

    # -- sender thread -----------------------------------------------------
    def _is_settled(self) -> bool:
        spool = self._spool
        return self._queue.unfinished_tasks == 0 and (spool is None or spool.pending == 0)

    def _notify(self) -> None:
        with self._settled:
            self._settled.notify_all()

    def _send_loop(self) -> None:
        while True:
            self._wake.clear()
            self._adopt_orphans_if_due()
            if self._own_pending() and self._clock() >= self._next_attempt:
                self._drain_own()
            self._notify()
            if self._stopping.is_set() and not self._writer.is_alive() and (
                    not self._own_pending() or self._down or self._clock() >= self._deadline):
                return
            if not self._own_pending() or self._clock() < self._next_attempt:
                wait = self.options.poll_interval_s
                if self._own_pending():
                    wait = min(max(self._next_attempt - self._clock(), 0.0), self.options.retry_max_s)
                self._wake.wait(wait)

    def _own_pending(self) -> bool:
        spool = self._spool
        return spool is not None and spool.pending > 0

    def _drain_own(self, budget_s: float = 1.0) -> None:
        """Re-send our own spool oldest first for at most ``budget_s``."""
        deadline = self._clock() + budget_s
        while self._clock() < deadline:
            with self._lock:
                spool = self._spool
                if spool is None:
                    return
                values = spool.peek(self.options.batch_size)
            if not values:
                return
            delivered = self.transport.send([_record(v) for v in values])
            with self._lock:
                if self._spool is not spool:
                    return  # closed meanwhile (close() timed out): the next process re-sends
                spool.ack(delivered)
                waited = [self._waited.popleft() for _ in range(min(delivered, len(self._waited)))]
                self._replayed += sum(waited)
                refused = 0
                for i in range(min(len(values) - delivered, len(self._waited))):
                    if not self._waited[i]:
                        self._waited[i] = True
                        refused += 1
                self._spooled += refused
            self._sent += delivered
            if delivered < len(values):
                self._failed()
                return
            self._delivered()

    def _drain(self, spool: Spool, budget_s: float) -> bool:
        """Re-send an adopted ``spool`` oldest first for at most ``budget_s``; True when empty."""
        deadline = self._clock() + budget_s
        while spool.pending and self._clock() < deadline:
            values = spool.peek(self.options.batch_size)
            if not values:
                return True
            delivered = self.transport.send([_record(v) for v in values])
            spool.ack(delivered)
            self._sent += delivered
            self._replayed += delivered
            if delivered < len(values):
                self._failed()
                return False
            self._delivered()
        return spool.pending == 0

    def _failed(self) -> None:
        if not self._down:
            log.warning("kafka not reachable: events wait in the spool (retry in %.1fs)", self._backoff)
        self._down = True
        self._next_attempt = self._clock() + self._backoff
        self._backoff = min(self._backoff * 2, self.options.retry_max_s)

    def _delivered(self) -> None:
        self._down = False
        self._backoff = self.options.retry_min_s

    def _adopt_orphans_if_due(self) -> None:
        now = self._clock()
        if now < self._next_orphan_check or now < self._next_attempt or self._stopping.is_set():
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
