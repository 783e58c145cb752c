"""Where rejections go besides the ``dead_letters`` table: the DLQ topic (or memory, for tests).

``send`` may buffer; ``flush`` returns only when everything sent is durable
in the sink and raises if it is not (the batch is then not committed and
will be re-delivered).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from tracelake.transforms.processor import Rejected


class DeadLetterSink(ABC):
    @abstractmethod
    def send(self, rejected: Rejected) -> None: ...

    @abstractmethod
    def flush(self) -> None: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


def dlq_headers(item: Rejected) -> list[tuple[str, bytes]]:
    """The reason in a header (events.md), plus where the message came from."""
    headers = [("reason", item.reason.encode()), ("code", item.code.encode()), ("source", item.meta.source.encode())]
    if item.meta.topic is not None:
        headers.append(("source_topic", item.meta.topic.encode()))
    if item.meta.partition is not None:
        headers.append(("source_partition", str(item.meta.partition).encode()))
    if item.meta.offset is not None:
        headers.append(("source_offset", str(item.meta.offset).encode()))
    return headers


class KafkaDeadLetterSink(DeadLetterSink):
    """Produces the *redacted* payload to the DLQ topic, reason in the ``reason`` header."""

    def __init__(self, bootstrap: str, topic: str, timeout_s: float = 30.0) -> None:
        from kafka import KafkaProducer

        self.topic = topic
        self.timeout_s = timeout_s
        self._producer = KafkaProducer(bootstrap_servers=bootstrap.split(","), acks="all",
                                       max_block_ms=int(timeout_s * 1000))
        self._futures: list[Any] = []

    def send(self, rejected: Rejected) -> None:
        value = (rejected.redacted_payload or "").encode()
        self._futures.append(self._producer.send(self.topic, value=value, headers=dlq_headers(rejected)))

    def flush(self) -> None:
        futures, self._futures = self._futures, []
        for future in futures:
            future.get(timeout=self.timeout_s)  # raises if the DLQ did not take it

    def close(self) -> None:
        self._producer.close(timeout=self.timeout_s)


class MemoryDeadLetterSink(DeadLetterSink):
    def __init__(self) -> None:
        self.pending: list[Rejected] = []
        self.sent: list[Rejected] = []

    def send(self, rejected: Rejected) -> None:
        self.pending.append(rejected)

    def flush(self) -> None:
        self.sent.extend(self.pending)
        self.pending = []
