"""Hands accepted events to Kafka through the SDK's own sender and spool.

The API is one more emitter: it reuses :class:`tracelake.sdk.sender.Sender`
(bounded queue, background thread, durable spool, re-send oldest first, keyed
by ``run_id``) over :class:`~tracelake.sdk.transport.KafkaTransport`. So a
broker outage costs spooling, not refusals, until the spool is full.

Contract:

- :meth:`EventProducer.submit` never blocks on Kafka; it returns after the
  events are queued (or spooled). Delivery is at-least-once; the lake
  de-duplicates by ``event_id``.
- :meth:`EventProducer.busy` is true when Kafka is not taking events (the
  spool holds a backlog) and the backlog plus the new request would pass the
  spool bound: the route then answers ``429 busy`` instead of accepting
  events the spool would have to drop.
- With no broker configured events wait in the spool (as in the SDK) until a
  process with a broker adopts it.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Sequence
from pathlib import Path

from tracelake.sdk.config import SdkConfig
from tracelake.sdk.sender import Sender, SenderOptions, SenderStats
from tracelake.sdk.transport import KafkaTransport, Record, Transport

log = logging.getLogger("tracelake.api")


class _NoBroker(Transport):
    """No Kafka configured: nothing is delivered, everything is spooled."""

    def send(self, records: Sequence[Record]) -> int:
        return 0

    def close(self) -> None:
        pass


class EventProducer:
    def __init__(
        self,
        bootstrap: str | None,
        topic: str,
        spool_dir: Path | None,
        spool_max_bytes: int,
        transport: Transport | None = None,
        queue_size: int = 100_000,
        send_timeout_s: float = 5.0,
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.spool_max_bytes = spool_max_bytes
        if transport is None:
            transport = (KafkaTransport(bootstrap, topic, timeout_s=send_timeout_s, client_id="tracelake-api")
                         if bootstrap else _NoBroker())
        root = spool_dir or Path(SdkConfig().spool_dir)
        self._sender = Sender(transport, SenderOptions(spool_root=root, spool_max_bytes=spool_max_bytes,
                                                       queue_size=queue_size))
        self._lock = threading.Lock()
        self._bytes = 0
        self._records = 0

    def _mean_record_bytes(self) -> float:
        with self._lock:
            return self._bytes / self._records if self._records else 512.0

    def backlog_bytes(self) -> float:
        """What the spool holds, estimated from the mean size of what was submitted
        (the sender exposes a count, not bytes)."""
        return self.stats().spool_pending * self._mean_record_bytes()

    def busy(self, incoming_bytes: int) -> bool:
        stats = self.stats()
        if stats.spool_pending == 0:
            return False
        return self.backlog_bytes() + incoming_bytes > self.spool_max_bytes

    def submit(self, records: Sequence[tuple[bytes, bytes]]) -> None:
        """Queue (key, value) records; the sender delivers them in order per key."""
        size = 0
        for key, value in records:
            self._sender.submit(Record(key=key, value=value))
            size += len(value)
        with self._lock:
            self._bytes += size
            self._records += len(records)

    def stats(self) -> SenderStats:
        return self._sender.stats()

    def flush(self, timeout: float = 10.0) -> bool:
        return self._sender.flush(timeout)

    def close(self, timeout: float = 10.0) -> None:
        self._sender.close(timeout)


def kafka_reachable(bootstrap: str, timeout_s: float = 1.0) -> bool:
    """True when a TCP connection to one of the bootstrap servers opens."""
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout_s):
                return True
        except (OSError, ValueError):
            continue
    return False
