"""kafka-python consumer-group backend: manual commits, revocation handed to the caller.

Rebalances (kafka-python 3.x)
-----------------------------
kafka-python 3 runs the group protocol, heartbeats and rebalance listeners on
its own IO thread. A *synchronous* listener that calls a blocking consumer API
(``commit()``) fails there with ``RuntimeError: Cannot block on net.run() from
the IO thread itself`` and poll() then raises ``KafkaError: User rebalance
callback throws an error``. The library's documented ways out (the
``ConsumerRebalanceListener`` docstring and that error message in
``kafka/net/selector.py``) are: implement :class:`AsyncConsumerRebalanceListener`
and ``await``, or move the blocking work to a worker thread. This backend
does both:

1. ``on_partitions_revoked`` is a coroutine; the coordinator awaits it before
   it sends JoinGroup (eager protocol: ``_on_join_prepare_async``), i.e. while
   this member is still the recognised owner of its partitions.
2. The coroutine starts a worker thread that runs the caller's ``on_revoke``
   (flush the chain, write the files, ``commit()``) and awaits a
   :class:`kafka.future.Future` the worker completes. ``commit()`` from the
   worker is an ordinary blocking call from a non-IO thread, which is
   allowed; the IO thread is free (the listener is suspended), so the commit
   request and the heartbeats keep flowing while files are written.
3. The thread that called :meth:`KafkaBackend.poll` is blocked inside
   ``KafkaConsumer.poll`` for the whole time, so the worker never runs
   concurrently with the poll loop: it has the processing chain to itself.

The JoinGroup is sent only after the commit is acknowledged, so the next owner
reads from exactly where this member stopped (no re-read, no duplicate rows).
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

from kafka import AsyncConsumerRebalanceListener, KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaError
from kafka.future import Future

from tracelake.ingest.backends.base import AssignCallback, CommitFailed, ConsumerBackend, RevokeCallback
from tracelake.ingest.message import Partition, RawMessage
from tracelake.transforms.metadata import MessageMeta

log = logging.getLogger("tracelake.ingest")

# Group timing defaults (docs/ingest.md, "Faults"); Settings passes its own values.
SESSION_TIMEOUT_MS = 10_000
HEARTBEAT_INTERVAL_MS = 1_000
MAX_POLL_INTERVAL_MS = 300_000


class _Listener(AsyncConsumerRebalanceListener):
    """Runs the revoke callback on a worker thread and awaits it (see the module docstring)."""

    def __init__(self, backend: KafkaBackend, on_revoke: RevokeCallback,
                 on_assign: AssignCallback | None = None) -> None:
        self.backend = backend
        self.on_revoke = on_revoke
        self.on_assign = on_assign

    async def on_partitions_revoked(self, revoked: Any) -> None:
        if not revoked or self.backend.closing:
            # On close() the caller has already flushed and committed (or
            # failed and must *not* commit); nothing to do for it here.
            return
        partitions = sorted(Partition(tp.topic, tp.partition) for tp in revoked)
        done: Future = Future()

        def work() -> None:
            error: BaseException | None = None
            try:
                self.on_revoke(partitions)
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine, re-raised there
                error = exc
            self.backend.complete_on_io_thread(done, error)

        threading.Thread(target=work, name="tracelake-revoke", daemon=True).start()
        # Raising here makes kafka-python's poll() raise KafkaError("User
        # rebalance callback throws an error") from it: a flush that failed
        # (disk, bug) stops the consumer without committing, by design.
        await done

    async def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("assigned partitions: %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned))
        if not assigned or self.on_assign is None:
            return
        # Reading the lake's positions is file or object-store I/O, not a call into kafka-python's network
        # loop, so it may run here; seek() only sets the fetch position (no request), which kafka-python
        # then uses instead of fetching the committed offset.
        starts = self.on_assign(sorted(Partition(tp.topic, tp.partition) for tp in assigned))
        for partition, offset in sorted(starts.items()):
            log.info("resuming %s[%d] at offset %d, after what the lake already holds", partition.topic,
                     partition.index, offset)
            self.backend.seek(partition, offset)

    async def on_partitions_lost(self, lost: Any) -> None:
        # Membership already gone (session expired): a commit would be refused.
        # Flushing still makes what we hold durable; the next owner re-reads it
        # and the events view keeps one row per event_id.
        log.warning("group membership lost for %s; flushing without a valid commit", sorted(map(str, lost)))
        await self.on_partitions_revoked(lost)


class KafkaBackend(ConsumerBackend):
    """A consumer-group member of ``group`` reading ``topic`` from ``bootstrap``.

    ``session_timeout_ms``: how long the group waits for a silent member (a
    kill -9, a frozen host) before giving its partitions to another member,
    i.e. the takeover time after a crash. ``heartbeat_interval_ms``: how often
    a member says it is alive, and how soon it notices a rebalance (at most a
    third of the session timeout). ``max_poll_interval_ms``: the longest one
    loop iteration (a batch's redaction and write) may take before the member
    is considered stuck; it is also the rebalance timeout, the time members get
    to flush and commit when a rebalance starts.

    Raises :class:`kafka.errors.KafkaError` when the broker is unreachable or
    the timings are refused (the broker accepts session timeouts between its
    ``group.min.session.timeout.ms``, 6 s by default, and
    ``group.max.session.timeout.ms``).
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        group: str,
        client_id: str = "tracelake-consume",
        *,
        session_timeout_ms: int = SESSION_TIMEOUT_MS,
        heartbeat_interval_ms: int = HEARTBEAT_INTERVAL_MS,
        max_poll_interval_ms: int = MAX_POLL_INTERVAL_MS,
    ) -> None:
        if heartbeat_interval_ms * 3 > session_timeout_ms:
            raise ValueError(f"heartbeat interval {heartbeat_interval_ms} ms must be at most a third of the "
                             f"session timeout {session_timeout_ms} ms")
        self.topic = topic
        self.closing = False
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap.split(","),
            group_id=group,
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=heartbeat_interval_ms,
            max_poll_interval_ms=max_poll_interval_ms,
        )

    def subscribe(self, on_revoke: RevokeCallback, on_assign: AssignCallback | None = None) -> None:
        self._consumer.subscribe([self.topic], listener=_Listener(self, on_revoke, on_assign))

    def seek(self, partition: Partition, offset: int) -> None:
        """Start ``partition`` at ``offset`` (an assigned partition; no network request)."""
        self._consumer.seek(TopicPartition(partition.topic, partition.index), offset)

    def poll(self, timeout_s: float, max_records: int) -> list[RawMessage]:
        batches = self._consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=max_records)
        now = datetime.now(UTC)
        out = []
        for tp, records in batches.items():
            for record in records:
                out.append(RawMessage(record.value or b"", MessageMeta("kafka", now, tp.topic, tp.partition,
                                                                        record.offset)))
        return out

    def commit(self, offsets: dict[Partition, int]) -> None:
        try:
            self._consumer.commit({TopicPartition(p.topic, p.index): OffsetAndMetadata(o, "", -1)
                                   for p, o in offsets.items()})
        except KafkaError as exc:
            raise CommitFailed(f"{type(exc).__name__}: {exc}") from exc

    def complete_on_io_thread(self, future: Future, error: BaseException | None) -> None:
        """Resolve ``future`` on kafka-python's IO loop, waking it at once.

        The manager's ``call_soon`` is documented thread-safe and wakes the
        loop's select(); resolving the future from this (worker) thread would
        also work but the awaiting listener would resume only at the loop's
        next timer (up to one heartbeat interval later).
        """
        def resolve() -> None:
            if error is None:
                future.success(None)
            else:
                future.failure(error)

        manager = getattr(self._consumer, "_manager", None)  # kafka-python 3.x internals, best effort
        try:
            if manager is not None:
                manager.call_soon(resolve)
                return
        except Exception:  # the loop is closing: resolve directly below
            log.debug("could not schedule on the kafka IO loop; resolving directly", exc_info=True)
        resolve()

    def pause(self) -> None:
        self._consumer.pause(*self._consumer.assignment())

    def resume(self) -> None:
        self._consumer.resume(*self._consumer.paused())

    def close(self) -> None:
        """Leave the group (the others take over at once) without calling back or committing."""
        self.closing = True
        self._consumer.close(autocommit=False)
