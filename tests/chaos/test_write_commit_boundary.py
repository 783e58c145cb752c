"""kill -9 exactly between a durable file write and its offset commit.

The moment is hit deterministically, not by chance: the consumer process runs
with a ``sitecustomize`` module (on ``PYTHONPATH``, test-only, nothing in the
product) that makes the commit step kill its own process with SIGKILL on its
second batch. By then that batch's files are fsynced and renamed into the
lake, and Kafka has not heard of it. The replacement consumer re-reads the
batch from the last committed offset: at view level every event is there
exactly once; at file level the re-read batch may stand in a second file,
and ``tracelake compact`` leaves exactly one copy of each event.
"""

from __future__ import annotations

import collections
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.ingest.test_consume_kafka import ConsumerProcess, make_topic, produce, stored_ids, wait_for
from tracelake.localkafka import LocalKafka

pytestmark = [pytest.mark.kafka, pytest.mark.chaos]

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
    """event_id → number of copies in the events table's Parquet files (not the de-duplicating view)."""
    counts: collections.Counter[str] = collections.Counter()
    for path in sorted((lake / "events").rglob("*.parquet")):
        counts.update(pq.read_table(path, columns=["event_id"]).column("event_id").to_pylist())
    return counts


def test_kill_9_between_write_and_commit_loses_nothing_and_compaction_leaves_one_copy(
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
    ids = stored_ids(lake)
    assert len(ids) == len(set(ids)) == len(produced)  # view level: exactly once
    copies = file_ids(lake)
    assert set(copies) == produced
    assert sum(copies.values()) - len(produced) <= 150  # only the uncommitted batch can stand twice on disk

    subprocess.run([sys.executable, "-m", "tracelake.cli.main", "compact", "--lake", str(lake), "--older-than", "0",
                    "--format", "json"], check=True, capture_output=True, timeout=120)
    after = file_ids(lake)
    assert set(after) == produced and max(after.values()) == 1  # file level: exactly once
