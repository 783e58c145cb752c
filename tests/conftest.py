"""Shared fixtures. Kafka tests use a real local broker (``tracelake.localkafka``), S3 tests a real
S3Proxy server (``tracelake.locals3``)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kafka import KafkaConsumer

from tests.helpers import wait_until
from tracelake.localkafka import LocalKafka
from tracelake.locals3 import LocalS3


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[LocalKafka]:
    """One real single-node KRaft broker for the whole session, on 127.0.0.1."""
    broker = LocalKafka()
    broker.start()
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[LocalS3]:
    """One real S3Proxy server for the whole session on 127.0.0.1 (filesystem backend in a temporary directory).

    Tests create their own buckets (``s3_server.create_bucket``) and pass
    ``s3_server.storage_options()`` to delta-rs.
    """
    server = LocalS3()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def topic() -> str:
    return f"test.{uuid.uuid4().hex[:12]}"


def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 60.0) -> list:
    """All records of ``topic`` from the start, stopping at ``expected`` or the deadline."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    records = []
    deadline = time.monotonic() + timeout
    try:
        while len(records) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        # One more short poll: catches duplicates beyond the expected count.
        for batch in consumer.poll(timeout_ms=1000).values():
            records.extend(batch)
    finally:
        consumer.close()
    return records


@pytest.fixture(name="read_topic")
def read_topic_fixture() -> Callable[..., list]:
    return read_topic


@pytest.fixture(name="wait_until")
def wait_until_fixture() -> Callable[..., bool]:
    return wait_until


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every :class:`~tracelake.queries.engine.LakeConnection` constructed while the test runs."""
    from tracelake.queries import engine

    seen: list[engine.LakeConnection] = []
    original = engine.LakeConnection.__init__

    def counting(con: engine.LakeConnection, *args: Any, **kwargs: Any) -> None:
        seen.append(con)
        original(con, *args, **kwargs)

    monkeypatch.setattr(engine.LakeConnection, "__init__", counting)
    return seen
