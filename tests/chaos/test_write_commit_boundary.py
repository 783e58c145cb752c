"""kill -9 exactly between a durable file write and its offset commit.

The moment is hit deterministically, not by chance: the consumer process runs
with a ``sitecustomize`` module (on ``PYTHONPATH``, test-only, nothing in the
product) that makes the commit step kill its own process with SIGKILL on its
second batch. By then that batch is committed to the lake's Delta tables
(with its offsets recorded in the same transaction), and Kafka has not heard
of it. The replacement consumer starts after the offset the table records,
not Kafka's: every event is in the table's files exactly once, with no
compaction.
"""

from __future__ import annotations

import collections
from pathlib import Path

import pytest

from tests.helpers import file_rows
from tests.ingest.test_consume_kafka import ConsumerProcess, make_topic, no_orphans, produce, stored_ids, wait_for
from tracelake.localkafka import LocalKafka

pytestmark = [pytest.mark.kafka, pytest.mark.chaos]
__all__ = ["no_orphans"]  # the autouse fixture that kills consumers a failed test left running

KILL_ON_SECOND_COMMIT = '''
import os, signal
from tracelake.ingest.strategies import commit as _commit

_submit = _commit.CommitOffsets.submit
_seen = []

def _submit_or_die(self, message):
    if message.committable:
        _seen.append(1)
        if len(_seen) == 2:  # the second batch is durable on disk; its commit never happens
            os.kill(os.getpid(), signal.SIGKILL)
    return _submit(self, message)

_commit.CommitOffsets.submit = _submit_or_die
'''


def file_ids(lake: Path) -> collections.Counter[str]:
    """event_id → number of copies in the events table's live files (not the de-duplicating view)."""
    return collections.Counter(file_rows(lake, "events", "event_id"))


def test_kill_9_between_write_and_commit_loses_nothing_and_duplicates_nothing(
        kafka_broker: LocalKafka, tmp_path: Path, topic: str) -> None:
    make_topic(kafka_broker.bootstrap, topic, partitions=1)  # one partition: batches follow offsets
    lake, group = tmp_path / "lake", f"g-{topic}"
    produced = produce(kafka_broker.bootstrap, topic, 0, 600)
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(KILL_ON_SECOND_COMMIT)

    doomed = ConsumerProcess(kafka_broker.bootstrap, topic, lake, group, tmp_path / "doomed.log",
                             extra_env={"PYTHONPATH": str(hook)})
    assert doomed.proc.wait(180) == -9, (tmp_path / "doomed.log").read_text()[-2000:]
    doomed.log.close()
    on_disk = file_ids(lake)
    assert sum(on_disk.values()) == 300 and max(on_disk.values()) == 1  # two batches of 150, durable

    consumer = ConsumerProcess(kafka_broker.bootstrap, topic, lake, group, tmp_path / "consumer.log")
    wait_for(lambda: set(stored_ids(lake)) == produced, 180, "every produced event stored")
    assert consumer.stop() == 0
    copies = file_ids(lake)
    assert set(copies) == produced and max(copies.values()) == 1  # file level: exactly once, no compaction
    log = (tmp_path / "consumer.log").read_text()
    assert f"resuming {topic}[0] at offset 300, after what the lake already holds" in log
