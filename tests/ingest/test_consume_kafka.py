"""`tracelake consume` against the real broker: crashes, group sharing, broker restarts, dead letters.

The crash and group tests run on a local lake and on an ``s3://`` lake on the
loopback S3 server (a real S3Proxy process). They count events in the
table's live data files, not through the de-duplicating view: after kill -9
and rebalances each event must be in the files exactly once.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer

from tests.chaos.processes import make_topic
from tests.helpers import file_rows
from tracelake.lake.lake import Lake
from tracelake.localkafka import LocalKafka
from tracelake.queries.views import connect

pytestmark = pytest.mark.kafka


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Lake, dict[str, str]]:
    """A lake for the consumers (local directory, or a fresh bucket on the loopback S3 server) and the
    environment the consumer processes need for it."""
    if request.param == "local":
        return Lake.at(tmp_path / "lake"), {}
    import uuid

    server = request.getfixturevalue("s3_server")
    bucket = f"consume-{uuid.uuid4().hex[:10]}"
    server.create_bucket(bucket)
    return Lake.at(f"s3://{bucket}/lake", server.env()), server.env()


def produce(bootstrap: str, topic: str, start: int, count: int, bad_every: int = 0) -> set[str]:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    ids = set()
    for i in range(start, start + count):
        if bad_every and i % bad_every == 0:
            producer.send(topic, key=b"bad", value=b"{broken json " + str(i).encode())
            continue
        event_id = f"ev-{i:06d}"
        ids.add(event_id)
        event = {"schema_version": "1", "event_id": event_id, "event_type": "custom", "name": "step",
                 "ts": "2026-11-24T10:00:00Z", "run_id": f"run-{i // 10}", "workflow": "w", "workflow_version": "1",
                 "attributes": {"note": f"contact Dana Whitfield at dana{i}@example.org"}}
        producer.send(topic, key=event["run_id"].encode(), value=orjson.dumps(event))
    producer.flush(60)
    producer.close()
    return ids


_started: list[ConsumerProcess] = []


@pytest.fixture(autouse=True)
def no_orphans() -> Iterator[None]:
    """Kill every consumer a test started and left running (a failed assertion before its stop)."""
    yield
    while _started:
        process = _started.pop()
        if process.proc.poll() is None:
            process.proc.kill()
            process.proc.wait(30)


class ConsumerProcess:
    def __init__(self, bootstrap: str, topic: str, lake: Path | Lake, group: str, log: Path,
                 extra_env: dict[str, str] | None = None) -> None:
        env = {**os.environ, "TRACELAKE_TOPIC": topic, "TRACELAKE_DLQ_TOPIC": f"{topic}.dlq",
               "TRACELAKE_BATCH_MAX_EVENTS": "150", "TRACELAKE_BATCH_MAX_AGE_S": "0.3", **(extra_env or {})}
        self.log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tracelake.cli.main", "consume", "--bootstrap", bootstrap, "--lake", str(lake),
             "--group", group], env=env, stdout=self.log, stderr=self.log)
        _started.append(self)

    def kill9(self) -> None:
        self.proc.kill()
        self.proc.wait(30)
        self.log.close()

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(60)
        self.log.close()
        return code


def stored_ids(lake: Path | Lake) -> list[str]:
    """Every ``event_id`` in the events table's live files, one entry per stored copy (not de-duplicated)."""
    try:
        return file_rows(Lake.at(lake) if isinstance(lake, Path) else lake, "events", "event_id")
    except Exception:  # noqa: BLE001 - a file may vanish mid-read while we poll; try again
        return []


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_kill_9_at_random_points_loses_and_duplicates_nothing(kafka_broker: LocalKafka, tmp_path: Path,
                                                              topic: str, where: tuple[Lake, dict[str, str]]) -> None:
    rng = random.Random(20261125)
    make_topic(kafka_broker.bootstrap, topic)
    (lake, env), group = where, f"g-{topic}"
    produced = produce(kafka_broker.bootstrap, topic, 0, 1500)
    for round_ in range(3):
        consumer = ConsumerProcess(kafka_broker.bootstrap, topic, lake, group, tmp_path / "consumer.log", env)
        target = min(len(produced), len(set(stored_ids(lake))) + rng.randint(1, 400))
        wait_for(lambda t=target: len(set(stored_ids(lake))) >= t, 120, f"{target} events stored")
        consumer.kill9()
        produced |= produce(kafka_broker.bootstrap, topic, 1500 + 300 * round_, 300)
    consumer = ConsumerProcess(kafka_broker.bootstrap, topic, lake, group, tmp_path / "consumer.log", env)
    wait_for(lambda: set(stored_ids(lake)) == produced, 180, "every produced event stored")
    assert consumer.stop() == 0
    ids = stored_ids(lake)
    assert len(ids) == len(set(ids)) == len(produced)  # file level: exactly once, no compaction needed
    assert set(ids) == produced
    text = " ".join(file_rows(lake, "events", "attributes"))
    assert "dana" not in text.lower() and "example.org" not in text


def test_two_consumers_share_a_group_and_survive_one_dying(kafka_broker: LocalKafka, tmp_path: Path,
                                                           topic: str, where: tuple[Lake, dict[str, str]]) -> None:
    make_topic(kafka_broker.bootstrap, topic, partitions=4)
    (lake, env), group = where, f"g-{topic}"
    a = ConsumerProcess(kafka_broker.bootstrap, topic, lake, group, tmp_path / "a.log", env)
    b = ConsumerProcess(kafka_broker.bootstrap, topic, lake, group, tmp_path / "b.log", env)
    produced = produce(kafka_broker.bootstrap, topic, 0, 1200)
    wait_for(lambda: set(stored_ids(lake)) == produced, 180, "both consumers to store everything")
    sources = [f"kafka:{topic}:{p}" for p in range(4)]
    assert sorted(lake.positions("events", sources)) == sources  # every partition consumed, its offset recorded
    a.kill9()
    produced |= produce(kafka_broker.bootstrap, topic, 1200, 800)
    wait_for(lambda: set(stored_ids(lake)) == produced, 180, "the survivor to take over every partition")
    assert b.stop() == 0
    ids = stored_ids(lake)
    assert len(ids) == len(set(ids)) == len(produced)  # file level, after a kill -9 and two rebalances


def test_broker_restart_mid_stream_consumer_recovers(tmp_path: Path, topic: str) -> None:
    broker = LocalKafka(data_dir=tmp_path / "kafka")
    try:
        broker.start()
        make_topic(broker.bootstrap, topic)
        lake = tmp_path / "lake"
        consumer = ConsumerProcess(broker.bootstrap, topic, lake, f"g-{topic}", tmp_path / "consumer.log")
        produced = produce(broker.bootstrap, topic, 0, 500)
        wait_for(lambda: set(stored_ids(lake)) == produced, 120, "first half stored")
        broker.stop()
        broker.start()
        produced |= produce(broker.bootstrap, topic, 500, 500)
        wait_for(lambda: set(stored_ids(lake)) == produced, 180, "the consumer to recover on its own")
        assert consumer.stop() == 0
    finally:
        broker.close()


def test_bad_messages_go_to_dlq_with_reason_and_dead_letters(kafka_broker: LocalKafka, tmp_path: Path,
                                                             topic: str) -> None:
    make_topic(kafka_broker.bootstrap, topic, partitions=1)
    lake = tmp_path / "lake"
    produced = produce(kafka_broker.bootstrap, topic, 1, 100, bad_every=10)
    consumer = ConsumerProcess(kafka_broker.bootstrap, topic, lake, f"g-{topic}", tmp_path / "consumer.log")
    con_ready = lambda: set(stored_ids(lake)) == produced  # noqa: E731
    wait_for(con_ready, 120, "valid events stored")
    wait_for(lambda: connect(lake).execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 10, 60,
             "ten dead letters")
    assert consumer.stop() == 0
    dlq = KafkaConsumer(f"{topic}.dlq", bootstrap_servers=kafka_broker.bootstrap, auto_offset_reset="earliest",
                        group_id=None)
    records = []
    deadline = time.monotonic() + 30
    while len(records) < 10 and time.monotonic() < deadline:
        for batch in dlq.poll(timeout_ms=500).values():
            records.extend(batch)
    dlq.close()
    assert len(records) == 10
    assert all(dict(r.headers)["reason"].startswith(b"not valid JSON") for r in records)
    assert {dict(r.headers)["source_topic"] for r in records} == {topic.encode()}


def test_sigterm_while_starting_is_a_clean_exit(kafka_broker: LocalKafka, tmp_path: Path, topic: str) -> None:
    """The model takes seconds to load; a deploy that stops the consumer meanwhile must not see a kill."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracelake.cli.main", "consume", "--bootstrap", kafka_broker.bootstrap, "--lake",
         str(tmp_path / "lake"), "--group", f"g-{topic}"],
        env={**os.environ, "TRACELAKE_TOPIC": topic}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    first = proc.stderr.readline()  # blocks until the handlers are in place (bounded by the wait below)
    assert b"starting the consumer" in first, first
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(120) == 0
    rest = proc.stderr.read().decode()
    assert "Traceback" not in rest
    assert "stopped before consuming anything" in rest or "everything written and committed" in rest
