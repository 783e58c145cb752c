"""A lake that refuses writes is waited out, not crashed on (issue 12, item 3), with a real `tracelake consume`.

Fault injection: the tests run as root, where ``chmod 0555`` does not stop a
write, and a tiny tmpfs or an ``LD_PRELOAD`` shim needs privileges or a
compiler. Instead the lake's ``events`` table directory is moved aside and a
*regular file* of the same name is put in its place: every write of the
consumer then fails in the writer's ``mkdir -p`` with an ``OSError``
(``FileExistsError``: the path is taken by a non-directory) — the same code
path as ``EACCES``, ``ENOSPC`` or ``EIO``, since the retry treats every
``OSError`` alike — whatever the user id. The lake root stays writable, so
the consumer's health file (``<lake>/_ingest/…``) can report ``waiting``.
Removing the file and moving the directory back clears the fault.

Asserted: the process stays alive through the fault, the group's committed
offsets (read with kafka-python's admin client) do not move while it waits,
every event arrives exactly once at FILE level once the fault clears, and a
SIGTERM while waiting exits 0 without committing the held batch, which the
next consumer writes (still exactly once).
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from kafka import TopicPartition
from kafka.admin import KafkaAdminClient

from tests.chaos.processes import ConsumeProcess, make_topic
from tests.helpers import wait_until
from tracelake.ingest.write_retry import read_health
from tracelake.localkafka import LocalKafka
from tracelake.sdk import Client

pytestmark = [pytest.mark.kafka, pytest.mark.chaos]


class Emitter(threading.Thread):
    """Emits events with the SDK at a steady pace until halted; remembers every id."""

    def __init__(self, bootstrap: str, topic: str, spool: Path) -> None:
        super().__init__(daemon=True)
        self.client = Client(bootstrap=bootstrap, topic=topic, spool_dir=str(spool), workflow="disk",
                             workflow_version="1")
        self.ids: set[str] = set()
        self.halt = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.halt.wait(0.1):
            for _ in range(20):
                n += 1
                self.ids.add(self.client.emit({"event_type": "custom", "name": "step", "run_id": f"run-{n % 31}",
                                               "attributes": {"n": n}}))

    def finish(self) -> set[str]:
        self.halt.set()
        self.join(30)
        assert self.client.flush(60), self.client.stats()
        self.client.close()
        return self.ids


def file_counts(lake: Path) -> collections.Counter[str]:
    """event_id → rows across every Parquet file of the events table (not the de-duplicating view)."""
    counts: collections.Counter[str] = collections.Counter()
    for path in sorted((lake / "events").rglob("*.parquet")):
        counts.update(pq.read_table(path, columns=["event_id"]).column("event_id").to_pylist())
    return counts


def committed(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets({group: None}).get(group, {})
        return {tp: meta.offset for tp, meta in offsets.items()}
    finally:
        admin.close()


class Fault:
    """``<lake>/events`` replaced by a regular file (see the module docstring); ``clear`` puts it back."""

    def __init__(self, lake: Path, aside: Path) -> None:
        self.table, self.aside = lake / "events", aside

    def inject(self) -> None:
        os.rename(self.table, self.aside)
        self.table.write_text("a file where the events directory belongs\n")

    def clear(self) -> None:
        self.table.unlink()
        os.rename(self.aside, self.table)


def waiting_retries(lake: Path) -> int:
    states = read_health(lake)
    return max((int(s.get("retries", 0)) for s in states), default=-1)


def test_a_lake_refusing_writes_is_waited_out_then_resumed_exactly_once(
        kafka_broker: LocalKafka, topic: str, tmp_path: Path) -> None:
    bootstrap = kafka_broker.bootstrap
    make_topic(bootstrap, topic, 2)
    lake, group = tmp_path / "lake", f"g-{topic}"
    fault = Fault(lake, tmp_path / "events-aside")
    emitter = Emitter(bootstrap, topic, tmp_path / "spool")
    first = ConsumeProcess(bootstrap, topic, lake, group, tmp_path / "first.log")
    second: ConsumeProcess | None = None
    try:
        emitter.start()
        assert wait_until(lambda: (lake / "events").is_dir() and any((lake / "events").rglob("*.parquet")),
                          timeout=180), first.text()[-3000:]

        # Phase 1: the fault while events flow; the consumer waits, alive, committing nothing.
        fault.inject()
        assert wait_until(lambda: waiting_retries(lake) >= 0, timeout=60), first.text()[-3000:]
        held = committed(bootstrap, group)
        assert wait_until(lambda: waiting_retries(lake) >= 3, timeout=60), first.text()[-3000:]
        assert first.proc.poll() is None, first.text()[-3000:]
        assert committed(bootstrap, group) == held
        assert first.text().count("lake write failed") == 1  # one line per state change, not per retry
        fault.clear()
        ids = emitter.finish()
        assert wait_until(lambda: set(file_counts(lake)) >= ids, timeout=120), first.text()[-3000:]
        assert "lake writes succeed again" in first.text()
        counts = file_counts(lake)
        assert set(counts) == ids
        assert [i for i, n in counts.items() if n != 1] == []
        assert read_health(lake) == []

        # Phase 2: SIGTERM while waiting exits 0 and commits nothing; the next consumer writes the held batch.
        assert wait_until(lambda: sum(committed(bootstrap, group).values()) == len(ids), timeout=60)
        fault.inject()
        client = Client(bootstrap=bootstrap, topic=topic, spool_dir=str(tmp_path / "spool2"), workflow="disk",
                        workflow_version="1")
        late = {client.emit({"event_type": "custom", "name": "late", "run_id": "late", "attributes": {"n": i}})
                for i in range(50)}
        assert client.flush(60)
        client.close()
        assert wait_until(lambda: waiting_retries(lake) >= 0, timeout=60), first.text()[-3000:]
        held = committed(bootstrap, group)
        assert first.stop(30) == 0, first.text()[-3000:]
        assert "stop requested while waiting for the lake" in first.text()
        assert committed(bootstrap, group) == held
        fault.clear()
        second = ConsumeProcess(bootstrap, topic, lake, group, tmp_path / "second.log")
        everything = ids | late
        assert wait_until(lambda: set(file_counts(lake)) >= everything, timeout=180), second.text()[-3000:]
        counts = file_counts(lake)
        assert set(counts) == everything
        assert [i for i, n in counts.items() if n != 1] == []
        assert second.stop(60) == 0, second.text()[-3000:]
    finally:
        emitter.halt.set()
        first.ensure_dead()
        if second is not None:
            second.ensure_dead()


def test_ingest_file_reports_a_lake_refusing_writes_in_one_line(tmp_path: Path) -> None:
    """``ingest-file`` is a one-shot command: it does not wait, it says what failed (exit 2, no traceback)."""
    lake = tmp_path / "lake"
    lake.mkdir()
    (lake / "events").write_text("a file where the events directory belongs\n")
    source = tmp_path / "in.jsonl"
    source.write_text('{"schema_version": "1", "event_id": "e1", "event_type": "custom", "name": "s", '
                      '"ts": "2026-11-24T10:00:00Z", "run_id": "r", "workflow": "w", "workflow_version": "1"}\n')
    proc = subprocess.run([sys.executable, "-m", "tracelake.cli.main", "ingest-file", str(source), "--lake",
                           str(lake)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("tracelake: error: cannot write the lake at ")
