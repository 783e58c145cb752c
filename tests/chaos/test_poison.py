"""Poison messages against a real ``tracelake consume`` on the real broker (issue 12, faults 2-4).

Before the fix: a 5 MB message crash-looped the consumer (DLQ forward raised
``MessageSizeTooLargeError``, exit 1, nothing committed); 200 KB of brackets
held it for over an hour (spaCy's tokenizer is quadratic on punctuation runs)
and it ignored SIGTERM; a 60 000-character token made a valid event a dead
letter (spaCy E1010). Now each costs only itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from tracelake.localkafka import LocalKafka
from tracelake.queries.views import connect

pytestmark = [pytest.mark.kafka, pytest.mark.chaos]

BIG = 8 * 1024 * 1024


def event(event_id: str, **fields: Any) -> dict[str, Any]:
    return {"schema_version": "1", "event_id": event_id, "event_type": "tool_call", "ts": "2026-11-24T10:00:00Z",
            "run_id": "run-1", "workflow": "w", "workflow_version": "1", "tool_name": "fetch", **fields}


def normal(i: int) -> bytes:
    return orjson.dumps(event(f"ok-{i:04d}", tool_result=f"ticket {i} for Dana Whitfield, dana{i}@example.org"))


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the consumer exited ({proc.returncode}) while waiting for {what}"
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rows(lake: Path, sql: str) -> list[tuple[Any, ...]]:
    try:
        return connect(lake).execute(sql).fetchall()
    except Exception:  # noqa: BLE001 - no table yet, or a file replaced mid-read: ask again
        return []


def committed(bootstrap: str, group: str, topic: str) -> int:
    """The group's committed offset of partition 0 (-1: none); reading it does not join the group."""
    reader = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        offset = reader.committed(TopicPartition(topic, 0))
    finally:
        reader.close(autocommit=False)
    return -1 if offset is None else int(offset)


def start_consumer(bootstrap: str, topic: str, lake: Path, group: str, log: Path,
                   **env: str) -> subprocess.Popen[bytes]:
    full_env = {**os.environ, "TRACELAKE_TOPIC": topic, "TRACELAKE_DLQ_TOPIC": f"{topic}.dlq",
                "TRACELAKE_BATCH_MAX_EVENTS": "20", "TRACELAKE_BATCH_MAX_AGE_S": "0.3", **env}
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tracelake.cli.main", "consume", "--bootstrap", bootstrap, "--lake", str(lake),
             "--group", group], env=full_env, stdout=out, stderr=out)


def make_big_topic(bootstrap: str, topic: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"max.message.bytes": str(BIG)})])
    finally:
        admin.close()


def test_poison_messages_cost_only_themselves(kafka_broker: LocalKafka, tmp_path: Path) -> None:
    bootstrap, topic = kafka_broker.bootstrap, f"poison.{uuid.uuid4().hex[:10]}"
    make_big_topic(bootstrap, topic)
    lake, group = tmp_path / "lake", f"g-{topic}"
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=BIG)
    values = [normal(i) for i in range(10)]
    values.append(b"x" * (5 * 1024 * 1024))  # over max_event_bytes: too_large
    values += [normal(i) for i in range(10, 20)]
    values.append(b"(" * 200_000)  # not JSON; its payload is redacted as free text
    values.append(orjson.dumps(event("long-token", tool_result="A" * 30_000 + ",ops@example.com," + "B" * 30_000)))
    values.append(orjson.dumps(event("brackets-field", tool_result="(" * 200_000 + " Maria Garcia")))
    values.append(orjson.dumps(event("costly", tool_result="Dana a b " * 20_000)))  # 60 000 NER tokens
    values += [normal(i) for i in range(20, 30)]
    for value in values:
        producer.send(topic, value)
    producer.flush(60)
    producer.close()

    proc = start_consumer(bootstrap, topic, lake, group, tmp_path / "consumer.log")
    try:
        expected = {f"ok-{i:04d}" for i in range(30)} | {"long-token", "brackets-field"}
        wait_for(lambda: {r[0] for r in rows(lake, "SELECT event_id FROM events")} == expected, 240,
                 "every normal event and the long-token events stored", proc)
        wait_for(lambda: len(rows(lake, "SELECT reason FROM dead_letters")) == 3, 60, "three dead letters", proc)
        wait_for(lambda: committed(bootstrap, group, topic) == len(values), 60, "the offset past every message",
                 proc)

        stored = dict(rows(lake, "SELECT event_id, tool_result FROM events"))
        assert orjson.loads(stored["long-token"]) == "A" * 30_000 + ",<EMAIL_ADDRESS>," + "B" * 30_000
        assert orjson.loads(stored["brackets-field"]).endswith("( <PERSON>")
        assert "Dana" not in stored["ok-0000"]
        dead = {r[0].split(":")[0]: r for r in rows(lake, "SELECT reason, payload, kafka_offset FROM dead_letters")}
        assert set(dead) == {"too_large", "not valid JSON", "too_costly"}
        assert dead["too_large"][2] == 10 and len(dead["too_large"][1]) < 70_000
        assert dead["too_large"][1].endswith(f"<TRUNCATED: {5 * 1024 * 1024} bytes>")
        assert "Dana" not in dead["too_costly"][1]

        dlq = KafkaConsumer(f"{topic}.dlq", bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                            group_id=None, consumer_timeout_ms=10_000)
        copies = [dict(record.headers) for record in dlq]
        dlq.close()
        assert len(copies) == 3
        big = next(h for h in copies if h["code"] == b"too_large")
        assert big["original_bytes"] == str(5 * 1024 * 1024).encode() and len(big["original_sha256"]) == 64
        assert proc.poll() is None  # never exited
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, (tmp_path / "consumer.log").read_text()[-3000:]


def test_sigterm_mid_batch_abandons_the_batch_and_exits_0(kafka_broker: LocalKafka, tmp_path: Path) -> None:
    """A batch that would take minutes to redact is abandoned (uncommitted) a grace after SIGTERM."""
    bootstrap, topic = kafka_broker.bootstrap, f"poison.{uuid.uuid4().hex[:10]}"
    make_big_topic(bootstrap, topic)
    lake, group = tmp_path / "lake", f"g-{topic}"
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    prose = " ".join(f"Customer Maria Garcia{i} asked Dana Whitfield about order {i} in Paris." for i in range(400))
    for i in range(300):  # ~4 000 NER tokens each: minutes of work for one 300-event batch
        producer.send(topic, orjson.dumps(event(f"slow-{i}", tool_result=f"{i} {prose}")))
    producer.flush(60)
    producer.close()
    proc = start_consumer(bootstrap, topic, lake, group, tmp_path / "consumer.log",
                          TRACELAKE_BATCH_MAX_EVENTS="300", TRACELAKE_BATCH_MAX_AGE_S="60",
                          TRACELAKE_STOP_GRACE_S="1")
    try:
        log = tmp_path / "consumer.log"
        wait_for(lambda: b"assigned partitions: ['" in log.read_bytes(), 120, "the partition's assignment", proc)
        # Redacting the batch: CPU spent since the assignment (fetching and validating 300 messages costs
        # milliseconds; redacting them, minutes). A measure of work done, not a sleep.
        assigned = cpu_seconds(proc.pid)
        wait_for(lambda: cpu_seconds(proc.pid) - assigned > 2, 120, "the batch's redaction", proc)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(120)  # a hang guard only: finishing the batch would take minutes
        print(f"SIGTERM mid-batch: exit {code} after {time.monotonic() - sent:.1f} s")
        assert code == 0, log.read_text()[-3000:]
        # Abandoned a grace after SIGTERM, not redacted to the end: the redactor gave up mid-batch.
        text = log.read_text()
        assert "stopped mid-batch; the uncommitted messages will be re-delivered" in text, text[-3000:]
        assert "consumer stopped mid-batch" in text, text[-3000:]
        assert committed(bootstrap, group, topic) < 300  # the abandoned batch was not committed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
