"""The consumer loop over the in-memory backend: commits follow durable writes; revocation flushes first."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import orjson

from tests.helpers import file_rows
from tracelake.ingest import metrics
from tracelake.ingest.backends.memory import MemoryBackend
from tracelake.ingest.consumer import Consumer, lake_resume
from tracelake.ingest.message import Partition
from tracelake.ingest.pipeline import build_pipeline
from tracelake.lake.lake import Lake
from tracelake.queries.views import connect


def event(i: int, run: str = "r", **extra: object) -> bytes:
    return orjson.dumps({"schema_version": "1", "event_id": f"e{i}", "event_type": "custom", "name": "step",
                         "ts": "2026-11-24T10:00:00Z", "run_id": run, "workflow": "w", "workflow_version": "1",
                         **extra})


class StopAfter(threading.Event):
    """Stops the loop after ``turns`` polls (bounded, no sleeping)."""

    def __init__(self, turns: int) -> None:
        super().__init__()
        self.turns = turns

    def is_set(self) -> bool:
        self.turns -= 1
        return self.turns < 0 or super().is_set()


def test_everything_stored_once_committed_and_dead_lettered(tmp_path: Path, parts_factory) -> None:
    backend = MemoryBackend("t", {0: [event(i) for i in range(10)] + [b"{bad"],
                                  1: [event(100, input="hi Secretname"), event(0)]})
    parts = parts_factory(tmp_path / "lake", max_batch=4)
    Consumer(backend, lambda commit: build_pipeline(parts, commit), parts.counters, poll_timeout_s=0).run(
        StopAfter(3))
    assert backend.committed == {Partition("t", 0): 11, Partition("t", 1): 2}
    con = connect(tmp_path / "lake")
    ids = [r[0] for r in con.execute("SELECT event_id FROM events ORDER BY event_id").fetchall()]
    assert ids == sorted([f"e{i}" for i in range(10)] + ["e100"])  # e0 re-sent on partition 1: still once
    (text, redactions), = con.execute("SELECT input, redactions FROM events WHERE event_id = 'e100'").fetchall()
    assert text == "hi <PERSON>" and orjson.loads(redactions) == {"PERSON": 1}
    (reason, offset), = con.execute("SELECT reason, kafka_offset FROM dead_letters").fetchall()
    assert "not valid JSON" in reason and offset == 10
    assert [r.reason for r in parts.dlq.sent] == [reason]


def test_revocation_flushes_and_commits_before_giving_up(tmp_path: Path, parts_factory) -> None:
    backend = MemoryBackend("t", {0: [event(i) for i in range(5)]})
    parts = parts_factory(tmp_path / "lake", max_batch=1000, max_batch_age_s=3600)
    consumer = Consumer(backend, lambda commit: build_pipeline(parts, commit), parts.counters, poll_timeout_s=0)
    backend.subscribe(consumer._on_revoke)
    for raw in backend.poll(0, 100):
        consumer._submit(consumer_message(raw))
    assert backend.committed == {}  # buffered, not yet durable
    backend.revoke_all()
    assert backend.committed == {Partition("t", 0): 5}
    assert connect(tmp_path / "lake").execute("SELECT count(*) FROM events").fetchone()[0] == 5


def consumer_message(raw):
    from tracelake.ingest.message import Message

    return Message(raw, {Partition(raw.meta.topic, raw.meta.partition): raw.meta.offset + 1})


class Crash(Exception):
    pass


def crash_before_commit(backend: MemoryBackend, lake: Path, parts_factory) -> None:
    """Consume with batches of 7 whose Kafka commit crashes: the first batch is in the table, nothing committed."""
    def crashing_commit(offsets):
        raise Crash

    parts = parts_factory(lake, max_batch=7)
    with contextlib.suppress(Crash):
        Consumer(backend, lambda commit: build_pipeline(parts, crashing_commit), parts.counters,
                 poll_timeout_s=0).run(StopAfter(2))


def test_crash_before_commit_replays_without_duplicates(tmp_path: Path, parts_factory) -> None:
    lake = tmp_path / "lake"
    backend = MemoryBackend("t", {0: [event(i) for i in range(20)]})
    crash_before_commit(backend, lake, parts_factory)
    assert backend.committed == {}
    assert sorted(file_rows(lake, "events", "event_id")) == sorted(f"e{i}" for i in range(7))  # one batch durable
    # Restart with other batch boundaries, re-reading from Kafka's committed offset (none): the table's
    # recorded offset drops what it already holds, so each event is in the files once.
    again = parts_factory(lake, max_batch=5)
    Consumer(backend, lambda commit: build_pipeline(again, commit), again.counters, poll_timeout_s=0).run(
        StopAfter(2))
    stored = file_rows(lake, "events", "event_id")
    assert len(stored) == len(set(stored)) == 20
    assert backend.committed == {Partition("t", 0): 20}


def test_a_restart_resumes_after_what_the_table_holds(tmp_path: Path, parts_factory) -> None:
    lake = tmp_path / "lake"
    backend = MemoryBackend("t", {0: [event(i) for i in range(20)] + [b"{bad"]})
    crash_before_commit(backend, lake, parts_factory)
    assert Lake.at(lake).positions("events", ["kafka:t:0"]) == {"kafka:t:0": 6}
    again = parts_factory(lake, max_batch=5)
    Consumer(backend, lambda commit: build_pipeline(again, commit), again.counters, poll_timeout_s=0,
             resume=lake_resume(Lake.at(lake))).run(StopAfter(2))
    assert again.counters.get(metrics.MESSAGES_POLLED) == 14  # offsets 7..20, not 0..20
    assert sorted(file_rows(lake, "events", "event_id")) == sorted(f"e{i}" for i in range(20))
    assert len(file_rows(lake, "dead_letters", "kafka_offset")) == 1
    assert backend.committed == {Partition("t", 0): 21}


def test_quiet_topic_still_flushes_by_age(tmp_path: Path, parts_factory) -> None:
    backend = MemoryBackend("t", {0: [event(1)]})
    parts = parts_factory(tmp_path / "lake", max_batch=1000, max_batch_age_s=0)
    Consumer(backend, lambda commit: build_pipeline(parts, commit), parts.counters, poll_timeout_s=0).run(
        StopAfter(1))
    assert backend.committed == {Partition("t", 0): 1}


def test_the_consumer_keeps_the_runs_rollup_up_to_date(tmp_path: Path, parts_factory) -> None:
    from tracelake.queries.rollup import pending_files, refresh_runs

    lake = Lake.at(tmp_path / "lake")
    backend = MemoryBackend("t", {0: [event(i, run=f"r{i % 3}") for i in range(12)]})
    parts = parts_factory(tmp_path / "lake", max_batch=4, refresh_rollup=lambda: refresh_runs(lake),
                          rollup_interval_s=1e-9)
    Consumer(backend, lambda commit: build_pipeline(parts, commit), parts.counters, poll_timeout_s=0).run(
        StopAfter(3))
    assert parts.counters.get(metrics.ROLLUP_REFRESHES) >= 1
    assert pending_files(lake) == 0  # the rollup covers every events file written
    with connect(lake) as con:
        rows = con.execute("SELECT run_id, events FROM runs ORDER BY run_id").fetchall()
    assert rows == [("r0", 4), ("r1", 4), ("r2", 4)]
