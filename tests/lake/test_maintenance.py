"""Delta maintenance under ``tracelake compact``: vacuum, checkpoints, stray files, and compaction racing appends."""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import deltalake
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from tracelake.ingest import compact
from tracelake.ingest.compact import compact_lake, compact_partition
from tracelake.lake.lake import Lake
from tracelake.lake.tables import EVENTS
from tracelake.queries.views import connect

DAY = "2026-11-20"
TODAY = date(2026, 11, 25)


def rows(ids: list[str], offset: int, partition: int = 0, *, minute: int = 0, topic: str = "t") -> pa.Table:
    ts = datetime.fromisoformat(f"{DAY}T10:00:00+00:00").replace(minute=minute)
    return EVENTS.to_arrow(
        [{"event_id": i, "event_type": "custom", "name": "x", "ts": ts, "event_date": DAY, "source": "kafka",
          "kafka_topic": topic, "kafka_partition": partition, "kafka_offset": offset + n, "ingested_at": ts}
         for n, i in enumerate(ids)])


def live_ids(lake: Lake) -> Counter[str]:
    """event_id → copies in the table's live files (file level, not the de-duplicating view)."""
    out: Counter[str] = Counter()
    for item in lake.data_files("events"):
        out.update(pq.read_table(item.uri, columns=["event_id"]).column("event_id").to_pylist())
    return out


def on_disk(root: Path) -> set[str]:
    return {p.name for p in (root / "events").rglob("*.parquet") if "_delta_log" not in p.parts}


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    """A closed partition in three files, with one re-sent copy (so compaction rewrites it)."""
    lake = Lake.at(tmp_path / "lake")
    writer = lake.writer("events")
    writer.write(rows(["a", "b"], 0), "t.p0.o0-1")
    writer.write(rows(["c"], 2), "t.p0.o2-2")
    writer.write(rows(["b"], 0, partition=1, minute=5), "t.p1.o0-0")
    return lake


def test_vacuum_deletes_removed_files_after_the_retention_and_keeps_live_ones(lake: Lake) -> None:
    root = lake.local_root
    before = on_disk(root)
    report = compact_lake(lake, older_than_days=1, today=TODAY)  # default retention: one week
    assert report.maintenance[0].vacuumed == 0
    live = {Path(f.uri).name for f in lake.data_files("events")}
    assert len(live) == 1 and on_disk(root) == before | live  # the removed files wait out the retention
    report = compact_lake(lake, older_than_days=1, today=TODAY, retention_hours=0)
    assert report.maintenance[0].vacuumed == 3
    assert on_disk(root) == live
    assert sorted(live_ids(lake)) == ["a", "b", "c"]
    assert compact_lake(lake, older_than_days=1, today=TODAY, retention_hours=0).maintenance[0].vacuumed == 0


def test_a_stray_file_is_never_read_and_vacuum_takes_it_once_old(lake: Lake) -> None:
    root = lake.local_root
    part = root / "events" / f"event_date={DAY}"
    stray = part / "stray.parquet"
    pq.write_table(EVENTS.file_schema.empty_table(), stray)  # not in the log: not data, whatever its name
    junk = part / "junk.parquet"
    junk.write_bytes(b"not parquet")
    assert str(stray) not in {f.uri for f in lake.data_files("events")}
    assert connect(root).execute("SELECT count(*) FROM events").fetchone()[0] == 3
    assert lake.scan() == []  # lake check looks at live files only
    report = compact_lake(lake, older_than_days=1, today=TODAY, retention_hours=0)
    assert report.maintenance[0].orphans == 0 and stray.exists()  # younger than an append in flight may be
    old = time.time() - 2 * 3600
    for path in (stray, junk):
        os.utime(path, (old, old))
    report = compact_lake(lake, older_than_days=1, today=TODAY, retention_hours=0)
    assert report.maintenance[0].orphans == 2 and not stray.exists() and not junk.exists()


def test_a_checkpoint_is_written_at_the_latest_version(lake: Lake) -> None:
    root = lake.local_root
    compact_lake(lake, older_than_days=1, today=TODAY)
    version = DeltaTable(str(root / "events")).version()
    checkpoint = json.loads((root / "events" / "_delta_log" / "_last_checkpoint").read_text())
    assert checkpoint["version"] == version
    assert (root / "events" / "_delta_log" / f"{version:020d}.checkpoint.parquet").exists()
    # a reader opens the table from the checkpoint: same rows
    assert sorted(DeltaTable(str(root / "events")).to_pyarrow_table().column("event_id").to_pylist()) == [
        "a", "b", "c"]


def _racing(monkeypatch: pytest.MonkeyPatch, lake: Lake, times: int) -> list[str]:
    """Make the first ``times`` partition rewrites lose to an append into their partition committed just before."""
    real = deltalake.write_deltalake
    appended: list[str] = []

    def write(table_or_uri: Any, data: Any, **kw: Any) -> None:
        if kw.get("predicate") and len(appended) < times:
            n = len(appended)
            appended.append(f"late{n}")
            lake.writer("events").write(rows([f"late{n}"], 100 + n, partition=7), f"t.p7.o{100 + n}")
        real(table_or_uri, data, **kw)

    monkeypatch.setattr(deltalake, "write_deltalake", write)
    return appended


def test_a_rewrite_that_loses_to_an_append_is_redone_with_the_appended_rows(lake: Lake,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    appended = _racing(monkeypatch, lake, times=1)
    result = compact_partition(lake, EVENTS, date.fromisoformat(DAY))
    assert result is not None and result.action == "rewrite"
    assert appended == ["late0"] and result.rows_in == 5 and result.rows_out == 4
    assert live_ids(lake) == Counter({"a": 1, "b": 1, "c": 1, "late0": 1})


def test_a_partition_that_keeps_losing_is_skipped_and_nothing_is_lost(lake: Lake,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    appended = _racing(monkeypatch, lake, times=100)
    result = compact_partition(lake, EVENTS, date.fromisoformat(DAY))
    assert result is not None and result.action == "skipped" and "left for the next run" in result.note
    assert len(appended) == compact.MAX_REWRITE_ATTEMPTS
    assert live_ids(lake) == Counter({"a": 1, "b": 2, "c": 1, **{i: 1 for i in appended}})


def test_compaction_while_a_consumer_appends_to_the_same_partition(lake: Lake) -> None:
    """A thread appends batches (each with a fresh event and a re-sent copy of an old one) into the partition
    compaction is rewriting, while compaction (vacuum at zero retention, checkpoints) runs in a loop. In step,
    without sleeps: batch n is appended once compaction run n has started (so it lands while that run may be
    rewriting), and run n + 1 starts once batch n is written."""
    batches = 30
    stop = threading.Event()
    errors: list[BaseException] = []
    step = threading.Condition()
    started, written = [0], [0]  # compaction runs started, batches written

    def consumer() -> None:
        writer = lake.writer("events")
        try:
            for n in range(batches):
                with step:
                    assert step.wait_for(lambda n=n: started[0] > n or stop.is_set(), 60), "no compaction run started"
                table = pa.concat_tables([rows([f"new{n}"], 2 * n, partition=3),
                                          rows(["a"], 2 * n + 1, partition=3, minute=30)])
                writer.write(table, f"t.p3.o{2 * n}-{2 * n + 1}")
                with step:
                    written[0] = n + 1
                    step.notify_all()
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)
        finally:
            stop.set()
            with step:
                step.notify_all()

    thread = threading.Thread(target=consumer)
    thread.start()
    runs: Counter[str] = Counter()
    try:
        for n in range(batches):  # bounded: one run per batch
            with step:
                assert step.wait_for(lambda n=n: written[0] >= n or stop.is_set(), 60), "the consumer stalled"
                started[0] = n + 1
                step.notify_all()
            report = compact_lake(lake, older_than_days=1, today=TODAY, retention_hours=0)
            runs.update(r.action for r in report.partitions)
    finally:
        stop.set()  # the consumer's waits end if this loop failed
        with step:
            step.notify_all()
    thread.join(60)
    assert not thread.is_alive() and not errors, errors
    final = compact_lake(lake, older_than_days=1, today=TODAY, retention_hours=0)
    runs.update(r.action for r in final.partitions)
    # it ran while the consumer appended (rewrites that lost a race were redone or skipped), then once after
    assert sum(runs.values()) >= 3 and runs["rewrite"] >= 1, runs
    assert live_ids(lake) == Counter({"a": 1, "b": 1, "c": 1, **{f"new{n}": 1 for n in range(batches)}})
    assert DeltaTable(str(lake.local_root / "events")).transaction_version("kafka:t:3") == 2 * batches - 1
    kept = connect(lake.local_root).execute("SELECT kafka_offset FROM events WHERE event_id = 'a'").fetchone()
    assert kept == (0,)  # the first-ingested copy


def test_compact_refuses_a_lake_not_converted_yet(tmp_path: Path) -> None:
    from tracelake.errors import Unavailable
    from tracelake.lake.legacy import ParquetLakeWriter

    ParquetLakeWriter(tmp_path, "events").write(rows(["a"], 0), "old")
    with pytest.raises(Unavailable, match="lake convert"):
        compact_lake(tmp_path, older_than_days=0, today=datetime.now(UTC).date())
