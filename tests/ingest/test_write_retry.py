"""Disk faults are waited out: backoff, reporting on state changes, stop while waiting, health file (issue 12, 3)."""

from __future__ import annotations

import errno
import logging
import shutil
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from tracelake.ingest import metrics
from tracelake.ingest.backends.memory import MemoryBackend
from tracelake.ingest.consumer import Consumer
from tracelake.ingest.message import Partition
from tracelake.ingest.pipeline import build_pipeline
from tracelake.ingest.write_retry import (
    STALE_AFTER_S,
    HealthFile,
    RetryingWriter,
    WriteRetry,
    guard_writes,
    read_health,
)
from tracelake.lake.writer import LakeWriter
from tracelake.transforms.processor import Interrupted


class RecordingStop(threading.Event):
    """A stop event whose ``wait`` returns at once, records the delay asked for, and can run a hook."""

    def __init__(self, on_wait=None) -> None:
        super().__init__()
        self.waits: list[float] = []
        self.on_wait = on_wait

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(float(timeout or 0))
        if self.on_wait is not None:
            self.on_wait(len(self.waits))
        return self.is_set()


class Flaky(LakeWriter):
    def __init__(self, failures: int, error: int = errno.EACCES) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    def write(self, table: pa.Table, name: str, positions: Mapping[str, int] | None = None) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise OSError(self.error, "refused", f"/lake/events/{name}.tmp")
        return 1


def test_backoff_doubles_to_the_cap_and_the_write_succeeds(caplog: pytest.LogCaptureFixture) -> None:
    stop = RecordingStop()
    counters = metrics.Counters()
    retry = WriteRetry(stop=stop, counters=counters)
    writer = RetryingWriter(Flaky(9, errno.ENOSPC), retry)
    with caplog.at_level(logging.INFO, logger="tracelake.ingest"):
        assert writer.write(pa.table({"a": [1]}), "b1") == 1
    assert stop.waits == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert counters.get(metrics.WRITE_FAILURES, "ENOSPC") == 9
    assert counters.get(metrics.WRITE_FAULTS) == 1
    # One line per state change, not per retry.
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "tracelake.ingest"]
    assert len(lines) == 2
    assert lines[0][0] == "WARNING" and "ENOSPC" in lines[0][1] and "holding the batch uncommitted" in lines[0][1]
    assert lines[1][0] == "INFO" and "8 retries" in lines[1][1]
    assert not retry.waiting


def test_a_stop_while_waiting_interrupts_without_returning() -> None:
    stop = RecordingStop(on_wait=lambda n: stop.set() if n == 2 else None)
    writer = RetryingWriter(Flaky(100), WriteRetry(stop=stop))
    with pytest.raises(Interrupted):
        writer.write(pa.table({"a": [1]}), "b1")
    assert len(stop.waits) == 2


def test_other_errors_are_not_retried() -> None:
    class Broken(LakeWriter):
        def write(self, table: pa.Table, name: str, positions: Mapping[str, int] | None = None) -> int:
            raise ValueError("a bug")

    stop = RecordingStop()
    with pytest.raises(ValueError):
        RetryingWriter(Broken(), WriteRetry(stop=stop)).write(pa.table({"a": [1]}), "b1")
    assert stop.waits == []


def test_health_file_reports_waiting_then_ok_and_is_removed(tmp_path: Path) -> None:
    health = HealthFile(tmp_path, group="g")
    seen: list[list[dict]] = []
    stop = RecordingStop(on_wait=lambda n: seen.append(read_health(tmp_path)))
    RetryingWriter(Flaky(2), WriteRetry(stop=stop, health=health)).write(pa.table({"a": [1]}), "b1")
    assert [len(s) for s in seen] == [1, 1]
    assert seen[1][0]["state"] == "waiting" and seen[1][0]["group"] == "g" and seen[1][0]["retries"] == 1
    assert "EACCES" in seen[1][0]["error"]
    assert read_health(tmp_path) == []  # ok again
    assert orjson.loads(health.path.read_bytes())["state"] == "ok"
    health.close()
    assert not health.path.exists()


def test_a_stale_waiting_file_is_ignored(tmp_path: Path) -> None:
    health = HealthFile(tmp_path)
    health.update(state="waiting", error="EIO: x")
    assert len(read_health(tmp_path)) == 1
    assert read_health(tmp_path, now=time.time() + STALE_AFTER_S + 5) == []
    (tmp_path / "_ingest" / "junk.json").write_bytes(b"{half")
    assert len(read_health(tmp_path)) == 1
    health.close()


def event(i: int) -> bytes:
    return orjson.dumps({"schema_version": "1", "event_id": f"e{i}", "event_type": "custom", "name": "step",
                         "ts": "2026-11-24T10:00:00Z", "run_id": "r", "workflow": "w", "workflow_version": "1"})


def test_consumer_holds_the_batch_uncommitted_until_the_disk_is_back(tmp_path: Path, parts_factory) -> None:
    """The real writer on a lake whose ``events`` directory is a regular file (fault injection that works as
    root); the fault is removed from inside the n-th wait, so the test is deterministic."""
    lake = tmp_path / "lake"
    lake.mkdir()
    (lake / "events").write_text("not a directory")
    backend = MemoryBackend("t", {0: [event(i) for i in range(6)]})
    parts = parts_factory(lake, max_batch=3)
    commits_during_fault: list[dict[Partition, int]] = []

    def on_wait(n: int) -> None:
        commits_during_fault.append(dict(backend.committed))
        if n == 3:
            (lake / "events").unlink()

    stop = RecordingStop(on_wait=on_wait)
    health = guard_writes(parts, lake, stop)

    class Turns(threading.Event):
        def __init__(self) -> None:
            super().__init__()
            self.turns = 4

        def is_set(self) -> bool:
            self.turns -= 1
            return self.turns < 0

    Consumer(backend, lambda commit: build_pipeline(parts, commit), parts.counters, poll_timeout_s=0).run(Turns())
    health.close()
    assert commits_during_fault == [{}, {}, {}]
    assert backend.committed == {Partition("t", 0): 6}
    assert parts.counters.get(metrics.WRITE_FAILURES, "EEXIST") + parts.counters.get(
        metrics.WRITE_FAILURES, "ENOTDIR") == 3
    files = sorted((lake / "events").rglob("*.parquet"))
    assert len(files) == 2


def test_stop_during_a_fault_commits_nothing(tmp_path: Path, parts_factory) -> None:
    lake = tmp_path / "lake"
    lake.mkdir()
    (lake / "events").write_text("not a directory")
    backend = MemoryBackend("t", {0: [event(i) for i in range(3)]})
    parts = parts_factory(lake, max_batch=3)
    stop = RecordingStop(on_wait=lambda n: stop.set() if n == 2 else None)
    health = guard_writes(parts, lake, stop)
    complete = Consumer(backend, lambda commit: build_pipeline(parts, commit), parts.counters,
                        poll_timeout_s=0).run(stop)
    health.close()
    assert backend.committed == {} and complete is False  # the CLI says the batch will be re-delivered
    shutil.rmtree(lake / "_ingest", ignore_errors=True)
