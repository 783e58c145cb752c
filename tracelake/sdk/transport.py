"""Where the SDK's sender hands events: an interface and its Kafka implementation.

A transport is called only from the sender's background thread, never from
the agent's. ``send`` may block up to its configured timeout; it must not
raise: it reports, per record, whether the broker acknowledged it.
"""

from __future__ import annotations

import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kafka import KafkaProducer

log = logging.getLogger("tracelake.sdk")


@dataclass(frozen=True, slots=True)
class Record:
    """One encoded event: Kafka key (the ``run_id``) and value (the JSON)."""

    key: bytes
    value: bytes


class Transport(ABC):
    @abstractmethod
    def send(self, records: Sequence[Record]) -> int:
        """Deliver ``records`` in order; return how many *leading* records were
        acknowledged. Anything after the first failure counts as not delivered
        (it may still have arrived: the lake de-duplicates by ``event_id``)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; never raises."""


class KafkaTransport(Transport):
    """kafka-python producer: idempotent, ``acks=all``, keyed by run id.

    The producer is created lazily and re-created after a failure, so a broker
    that is down when the agent starts costs nothing but spooling.
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        timeout_s: float = 5.0,
        client_id: str = "tracelake-sdk",
        linger_ms: int = 5,
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.timeout_s = timeout_s
        self.client_id = client_id
        self.linger_ms = linger_ms
        self._producer: Any = None  # a KafkaProducer once connected (kafka-python has no types)

    def _connect(self) -> KafkaProducer:
        from kafka import KafkaProducer

        timeout_ms = int(self.timeout_s * 1000)
        return KafkaProducer(
            bootstrap_servers=self.bootstrap.split(","),
            client_id=self.client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=self.linger_ms,
            bootstrap_timeout_ms=timeout_ms,
            max_block_ms=timeout_ms,
            request_timeout_ms=timeout_ms,
            delivery_timeout_ms=timeout_ms * 2,
            reconnect_backoff_max_ms=2000,
        )

    def send(self, records: Sequence[Record]) -> int:
        if not records:
            return 0
        futures = []
        try:
            if self._producer is None:
                self._producer = self._connect()
            for record in records:
                futures.append(self._producer.send(self.topic, key=record.key, value=record.value))
        except Exception as exc:  # noqa: BLE001 - kafka-python raises many types; all mean "not now"
            log.warning("kafka unavailable (%s: %s); spooling", type(exc).__name__, exc)
        if self._producer is not None and futures:
            try:
                self._producer.flush(timeout=self.timeout_s * 2)
            except Exception as exc:  # noqa: BLE001 - a timeout here is reported per future
                log.warning("kafka flush incomplete (%s: %s)", type(exc).__name__, exc)
        delivered = 0
        for future in futures:
            if future.is_done and future.succeeded():
                delivered += 1
            else:
                break
        if delivered < len(records):
            self._reset()
        return delivered

    def _reset(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):  # closing a broken producer must not raise
                producer.close(timeout=0)

    def close(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):
                self._producer.close(timeout=self.timeout_s)
            self._producer = None


class MemoryTransport(Transport):
    """In-process transport for unit tests of the sender's logic: records land
    in ``delivered``; set ``up = False`` to simulate an unreachable broker."""

    def __init__(self) -> None:
        self.delivered: list[Record] = []
        self.up = True
        self.fail_after: int | None = None

    def send(self, records: Sequence[Record]) -> int:
        if not self.up:
            return 0
        count = len(records) if self.fail_after is None else min(self.fail_after, len(records))
        self.delivered.extend(records[:count])
        return count

    def close(self) -> None:
        pass
