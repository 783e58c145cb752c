"""Where rejections go besides the ``dead_letters`` table: the DLQ topic (or memory, for tests).

The ``dead_letters`` table is the durable record of a rejection (the write
step writes it first); the DLQ topic carries a copy for whoever consumes it.
``send`` may buffer; ``flush`` waits for what was sent and returns how many
copies it gave up on. It never raises: a copy that cannot be forwarded must
cost only itself, never crash the consumer into a restart loop on the same
message (issue 12).

- A copy too large for the topic is **truncated**, never refused: its value
  is cut (at a UTF-8 boundary) so value plus headers fit ``max_message_bytes``
  (default 1 000 000, under the producer's and the broker's 1 MiB defaults),
  and it carries the headers ``truncated`` = ``1``, ``original_bytes`` (size of
  the message as received) and ``original_sha256`` (hex SHA-256 of it). When
  the broker still answers "too large" (a topic with a lower
  ``max.message.bytes``) the value is cut to a quarter and sent again, at most
  :data:`SIZE_RETRIES` times.
- Any other failure (broker unreachable, timeout) is retried with backoff
  (``retries`` times, ``backoff_s`` doubling) within ``flush_budget_s``; then
  the copy is given up on, logged and counted: the row in ``dead_letters``
  remains.
"""

from __future__ import annotations

import hashlib
import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from tracelake.transforms.processor import Rejected

log = logging.getLogger("tracelake.ingest")

DLQ_FORWARD_FAILURES = "tracelake_ingest_dlq_forward_failures_total"
DLQ_TRUNCATED = "tracelake_ingest_dlq_truncated_total"
DEFAULT_DLQ_MAX_MESSAGE_BYTES = 1_000_000
SIZE_RETRIES = 3
# Record and batch framing around one value and its headers (Kafka's v2 format
# needs under 100 bytes; the rest is slack).
_FRAMING_BYTES = 512


class DeadLetterSink(ABC):
    @abstractmethod
    def send(self, rejected: Rejected) -> None: ...

    @abstractmethod
    def flush(self) -> int:
        """Wait for every copy sent since the last flush; return how many were given up on. Never raises."""

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


def _cut_utf8(value: bytes, limit: int) -> bytes:
    """At most ``limit`` bytes of ``value``, never ending inside a UTF-8 character."""
    if len(value) <= limit:
        return value
    end = max(limit, 0)
    while end > 0 and (value[end] & 0xC0) == 0x80:  # a continuation byte: back up to the character's start
        end -= 1
    return value[:end]


def dlq_record(item: Rejected, max_message_bytes: int = DEFAULT_DLQ_MAX_MESSAGE_BYTES
               ) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The DLQ copy of a rejection: (value, headers), value + headers within ``max_message_bytes``.

    The value is the *redacted* payload. When it had to be cut here, or was already cut before
    redaction (``item.payload_cut``), the headers say so: ``truncated``, ``original_bytes``,
    ``original_sha256`` (of the message as received).
    """
    value = (item.redacted_payload or "").encode()
    headers = dlq_headers(item)
    marks = [("truncated", b"1"), ("original_bytes", str(len(item.payload)).encode()),
             ("original_sha256", hashlib.sha256(item.payload).hexdigest().encode())]
    room = max_message_bytes - _FRAMING_BYTES - sum(len(k) + len(v) for k, v in headers + marks)
    if len(value) > room:
        value = _cut_utf8(value, room)
        return value, headers + marks
    if item.payload_cut:
        return value, headers + marks
    return value, headers


@dataclass
class _Pending:
    item: Rejected
    value: bytes
    headers: list[tuple[str, bytes]]
    outcome: Any  # a kafka-python future, or the exception ``send`` raised


class KafkaDeadLetterSink(DeadLetterSink):
    """Produces the *redacted* payload to the DLQ topic, reason in the ``reason`` header (see the module doc)."""

    def __init__(self, bootstrap: str, topic: str, timeout_s: float = 10.0,
                 max_message_bytes: int = DEFAULT_DLQ_MAX_MESSAGE_BYTES, retries: int = 3, backoff_s: float = 0.5,
                 flush_budget_s: float = 60.0, producer: Any = None) -> None:
        self.topic = topic
        self.timeout_s = timeout_s
        self.max_message_bytes = max_message_bytes
        self.retries = retries
        self.backoff_s = backoff_s
        self.flush_budget_s = flush_budget_s
        if producer is None:
            from kafka import KafkaProducer

            # The producer's own ceiling is kept above ours so that ours decides (and truncates).
            producer = KafkaProducer(bootstrap_servers=bootstrap.split(","), acks="all",
                                     max_block_ms=int(timeout_s * 1000),
                                     max_request_size=max(1_048_576, max_message_bytes + 2 * _FRAMING_BYTES))
        self._producer = producer
        self._pending: list[_Pending] = []
        self.given_up = 0  # copies not forwarded (process lifetime)
        self.truncated = 0  # copies forwarded cut

    def _send(self, pending: _Pending) -> _Pending:
        try:
            pending.outcome = self._producer.send(self.topic, value=pending.value, headers=pending.headers)
        except Exception as exc:  # noqa: BLE001 - e.g. MessageSizeTooLargeError, KafkaTimeoutError: kept for flush
            pending.outcome = exc
        return pending

    def send(self, rejected: Rejected) -> None:
        value, headers = dlq_record(rejected, self.max_message_bytes)
        self._pending.append(self._send(_Pending(rejected, value, headers, None)))

    def _wait(self, pending: _Pending, timeout_s: float) -> None:
        """Raises what the send or the broker said, if anything."""
        if isinstance(pending.outcome, BaseException):
            raise pending.outcome
        pending.outcome.get(timeout=max(timeout_s, 0.001))

    def _deliver(self, pending: _Pending, deadline: float) -> bool:
        from kafka.errors import MessageSizeTooLargeError, RecordListTooLargeError

        size_retries = transient_retries = 0
        limit = self.max_message_bytes
        while True:
            try:
                self._wait(pending, min(self.timeout_s, deadline - time.monotonic()))
            except (MessageSizeTooLargeError, RecordListTooLargeError) as exc:
                if size_retries >= SIZE_RETRIES:
                    log.error("DLQ copy of %s given up on: still too large after %d cuts (%s)",
                              _where(pending.item), size_retries, exc)
                    return False
                size_retries += 1
                limit = max(min(limit, len(pending.value) + _FRAMING_BYTES) // 4, 4 * _FRAMING_BYTES)
                pending.value, pending.headers = dlq_record(pending.item, limit)
                log.warning("DLQ refused the copy of %s as too large (%s); sending %d bytes",
                            _where(pending.item), type(exc).__name__, len(pending.value))
                self._send(pending)
                continue
            except Exception as exc:  # noqa: BLE001 - whatever the client raises, never crash the consumer
                pause = self.backoff_s * 2**transient_retries
                if transient_retries >= self.retries or time.monotonic() + pause >= deadline:
                    log.error("DLQ copy of %s given up on after %d retries: %s: %s (the dead_letters row "
                              "remains)", _where(pending.item), transient_retries, type(exc).__name__, exc)
                    return False
                transient_retries += 1
                time.sleep(pause)
                self._send(pending)
                continue
            if any(key == "truncated" for key, _ in pending.headers):
                self.truncated += 1
            return True

    def flush(self) -> int:
        pendings, self._pending = self._pending, []
        deadline = time.monotonic() + self.flush_budget_s
        lost = sum(not self._deliver(p, deadline) for p in pendings)
        self.given_up += lost
        return lost

    def close(self) -> None:
        try:
            self._producer.close(timeout=self.timeout_s)
        except Exception as exc:  # noqa: BLE001 - closing is best effort; the rows are durable
            log.warning("closing the DLQ producer failed: %s", exc)


def _where(item: Rejected) -> str:
    meta = item.meta
    return f"{meta.topic}[{meta.partition}]@{meta.offset}" if meta.topic is not None else f"{meta.source}@{meta.offset}"


class MemoryDeadLetterSink(DeadLetterSink):
    def __init__(self) -> None:
        self.pending: list[Rejected] = []
        self.sent: list[Rejected] = []

    def send(self, rejected: Rejected) -> None:
        self.pending.append(rejected)

    def flush(self) -> int:
        self.sent.extend(self.pending)
        self.pending = []
        return 0
