"""The DLQ sink: a copy the topic cannot take costs only itself (issue 12, finding 2).

A fake producer stands in for kafka-python, so size refusals and outages are
exact; the real-broker path is in tests/chaos/test_poison.py.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from kafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

from tracelake.ingest.sinks import KafkaDeadLetterSink, MemoryDeadLetterSink, dlq_record
from tracelake.transforms.metadata import MessageMeta
from tracelake.transforms.processor import Rejected

META = MessageMeta(source="kafka", received_at=datetime(2026, 11, 24, tzinfo=UTC), topic="t", partition=0, offset=7)


def rejected(redacted: str, payload: bytes | None = None, cut: bool = False) -> Rejected:
    return Rejected(code="bad_json", reason="not valid JSON", payload=payload if payload is not None else
                    redacted.encode(), meta=META, redacted_payload=redacted, payload_cut=cut)


class Future:
    def __init__(self, error: BaseException | None) -> None:
        self.error = error

    def get(self, timeout: float) -> None:
        if self.error is not None:
            raise self.error


class FakeProducer:
    """``plan`` says what happens to each send in turn: None = delivered, an exception instance =
    the broker's answer, ``("raise", exc)`` = ``send`` itself raises."""

    def __init__(self, *plan: Any, max_value: int | None = None) -> None:
        self.plan = list(plan)
        self.max_value = max_value
        self.sent: list[tuple[bytes, list[tuple[str, bytes]]]] = []

    def send(self, topic: str, value: bytes, headers: list[tuple[str, bytes]]) -> Future:
        self.sent.append((value, headers))
        step = self.plan.pop(0) if self.plan else None
        if isinstance(step, tuple):
            raise step[1]
        if step is None and self.max_value is not None and len(value) > self.max_value:
            step = MessageSizeTooLargeError("topic max.message.bytes")
        return Future(step)

    def close(self, timeout: float) -> None:
        pass


def sink(producer: FakeProducer, **kw: Any) -> KafkaDeadLetterSink:
    kw.setdefault("backoff_s", 0.001)
    return KafkaDeadLetterSink("unused:9092", "dlq", producer=producer, **kw)


def test_small_copy_goes_whole_without_truncation_headers() -> None:
    value, headers = dlq_record(rejected("{<PERSON>"))
    assert value == b"{<PERSON>" and "truncated" not in dict(headers) and dict(headers)["source_offset"] == b"7"


def test_oversized_copy_is_truncated_at_a_character_boundary_with_size_and_digest() -> None:
    raw = ("é" * 3_000_000).encode()  # 6 MB of two-byte characters
    value, headers = dlq_record(rejected("é" * 3_000_000, raw), max_message_bytes=100_000)
    assert len(value) + sum(len(k) + len(v) for k, v in headers) <= 100_000
    value.decode()  # never cut inside a character
    marks = dict(headers)
    assert marks["truncated"] == b"1" and marks["original_bytes"] == str(len(raw)).encode()
    assert marks["original_sha256"] == hashlib.sha256(raw).hexdigest().encode()


def test_payload_cut_before_redaction_is_marked_too() -> None:
    value, headers = dlq_record(rejected("xx…<TRUNCATED: 5242880 bytes>", b"x" * 5_242_880, cut=True))
    assert dict(headers)["original_bytes"] == b"5242880" and value.endswith(b"<TRUNCATED: 5242880 bytes>")


def test_broker_size_refusal_is_cut_again_never_raised() -> None:
    producer = FakeProducer(max_value=20_000)
    dlq = sink(producer)
    dlq.send(rejected("z" * 900_000))
    assert dlq.flush() == 0
    assert [len(v) for v, _ in producer.sent][-1] <= 20_000 and len(producer.sent) >= 2
    assert dlq.truncated == 1


def test_send_raising_too_large_is_handled() -> None:
    producer = FakeProducer(("raise", MessageSizeTooLargeError("too big for max_request_size")))
    dlq = sink(producer)
    dlq.send(rejected("q" * 50_000))
    assert dlq.flush() == 0 and len(producer.sent) == 2 and len(producer.sent[1][0]) < 50_000


def test_transient_failure_is_retried_then_delivered() -> None:
    producer = FakeProducer(KafkaTimeoutError("broker away"), ("raise", KafkaTimeoutError("metadata")), None)
    dlq = sink(producer)
    dlq.send(rejected("a"))
    assert dlq.flush() == 0 and len(producer.sent) == 3


@pytest.mark.parametrize("error", [KafkaTimeoutError("down"), RuntimeError("producer closed")])
def test_persistent_failure_is_given_up_on_bounded_and_counted(error: Exception) -> None:
    producer = FakeProducer(*([error] * 50))
    dlq = sink(producer, retries=3)
    dlq.send(rejected("a"))
    dlq.send(rejected("b"))
    assert dlq.flush() == 2  # no exception: the dead_letters rows are the record
    assert len(producer.sent) == 8 and dlq.given_up == 2


def test_flush_budget_bounds_the_wait() -> None:
    producer = FakeProducer(*([KafkaTimeoutError("down")] * 100))
    dlq = sink(producer, retries=100, backoff_s=0.05, flush_budget_s=0.3)
    dlq.send(rejected("a"))
    assert dlq.flush() == 1 and len(producer.sent) < 10


def test_memory_sink_flush_loses_nothing() -> None:
    memory = MemoryDeadLetterSink()
    memory.send(rejected("a"))
    assert memory.flush() == 0 and len(memory.sent) == 1
