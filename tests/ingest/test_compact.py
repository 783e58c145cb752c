"""Compaction as Delta maintenance: closed partitions rewritten without duplicate rows and with fewer files, in one
transaction each; open partitions and the consumers' offsets untouched; a second run changes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable, write_deltalake

from tracelake.ingest.compact import compact_lake
from tracelake.lake.lake import Lake
from tracelake.lake.tables import DEAD_LETTERS, EVENTS
from tracelake.queries.views import connect

TODAY = date(2026, 11, 25)


def rows(ids: list[str], day: str, offset: int, partition: int = 0, *, hour: int = 10) -> pa.Table:
    ts = datetime.fromisoformat(f"{day}T{hour:02d}:00:00+00:00").astimezone(UTC)
    return EVENTS.to_arrow(
        [{"event_id": i, "event_type": "custom", "name": "x", "ts": ts, "event_date": day, "source": "kafka",
          "kafka_topic": "t", "kafka_partition": partition, "kafka_offset": offset + n, "ingested_at": ts}
         for n, i in enumerate(ids)])


def files_of(lake: Lake, table: str, day: str) -> list[str]:
    return sorted(f.uri for f in lake.data_files(table) if f.day.isoformat() == day)


def test_rewrites_closed_partitions_without_copies_and_keeps_open_ones(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path)
    writer = lake.writer("events")
    writer.write(rows(["a", "b"], "2026-11-20", 0), "t.p0.o0-1")
    writer.write(rows(["c"], "2026-11-20", 2), "t.p0.o2-2")
    writer.write(rows(["b", "c", "d"], "2026-11-20", 10, partition=1, hour=11), "t.p1.o10-12")  # re-sent copies
    writer.write(rows(["x"], "2026-11-25", 0, partition=2), "t.p2.o0-0")
    writer.write(rows(["y"], "2026-11-25", 1, partition=2), "t.p2.o1-1")
    open_files = files_of(lake, "events", "2026-11-25")
    positions = {s: DeltaTable(str(tmp_path / "events")).transaction_version(s)
                 for s in ("kafka:t:0", "kafka:t:1", "kafka:t:2")}

    report = compact_lake(lake, older_than_days=1, today=TODAY)
    assert [(r.table, r.partition, r.action, r.files_before, r.files_after, r.rows_in, r.rows_out)
            for r in report.partitions] == [("events", "event_date=2026-11-20", "rewrite", 3, 1, 6, 4)]
    assert report.partitions[0].read_ms_before > 0 and report.partitions[0].read_ms_after > 0
    (closed,) = files_of(lake, "events", "2026-11-20")
    assert files_of(lake, "events", "2026-11-25") == open_files
    # one transaction replaced the partition; the consumers' recorded offsets are as they were
    delta = DeltaTable(str(tmp_path / "events"))
    assert {s: delta.transaction_version(s) for s in positions} == positions
    assert [h["operation"] for h in delta.history() if h["operation"] == "WRITE" and
            "predicate" in h.get("operationParameters", {})] == ["WRITE"]
    # every row stored exactly once, the first-ingested copy of b kept (offset 1, not the re-sent 11)
    stored = pq.read_table(closed)
    assert sorted(stored.column("event_id").to_pylist()) == ["a", "b", "c", "d"]
    assert stored.column("ts").to_pylist() == sorted(stored.column("ts").to_pylist())
    con = connect(tmp_path)
    assert con.execute("SELECT list(event_id ORDER BY event_id) FROM events").fetchone()[0] == [
        "a", "b", "c", "d", "x", "y"]
    assert con.execute("SELECT kafka_offset FROM events WHERE event_id = 'b'").fetchone()[0] == 1
    # a second run has nothing to compact
    assert compact_lake(lake, older_than_days=1, today=TODAY).partitions == []
    # the consumer appends exactly once after a compaction too: a replay of an old batch adds nothing
    assert writer.write(rows(["a", "b"], "2026-11-20", 0), "t.p0.o0-1") == 0


def test_an_events_partition_without_copies_is_rewritten_sorted_in_one_file(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path)
    writer = lake.writer("events")
    for n in range(4):
        writer.write(rows([f"e{n}"], "2026-11-21", n), f"t.p0.o{n}-{n}")
    (result,) = compact_lake(lake, older_than_days=1, today=TODAY).partitions
    assert (result.action, result.files_before, result.files_after, result.rows_in, result.rows_out) == (
        "rewrite", 4, 1, 4, 4)
    # the rewrite (sorted by event type, workflow, time: SORT_KEYS), then the empty commit marking it clean
    assert [h["operation"] for h in DeltaTable(str(tmp_path / "events")).history(2)] == ["WRITE", "WRITE"]
    assert connect(tmp_path).execute("SELECT count(*) FROM events").fetchone()[0] == 4


def test_dead_letters_keep_one_row_per_source_offset(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path)
    at = datetime(2026, 11, 20, 9, tzinfo=UTC)

    def dead(offsets: list[int], minute: int) -> pa.Table:
        return DEAD_LETTERS.to_arrow([{"received_at": at.replace(minute=minute), "source": "kafka", "reason": "bad",
                                       "payload": f"p{o}", "kafka_topic": "t", "kafka_partition": 0,
                                       "kafka_offset": o, "event_date": "2026-11-20"} for o in offsets])

    writer = lake.writer("dead_letters")
    writer.write(dead([1, 2], 0), "d1")
    # dead letter 2 stored again by a writer that records no offsets (a file ingested twice, an older tool)
    write_deltalake(str(tmp_path / "dead_letters"), DEAD_LETTERS.for_delta(dead([2, 3], 5)), mode="append")
    (result,) = compact_lake(lake, older_than_days=0, today=TODAY).partitions
    assert (result.table, result.action, result.rows_in, result.rows_out) == ("dead_letters", "rewrite", 4, 3)
    kept = DeltaTable(str(tmp_path / "dead_letters")).to_pyarrow_table().to_pylist()
    assert sorted((r["kafka_offset"], r["received_at"].minute) for r in kept) == [(1, 0), (2, 0), (3, 5)]


def test_maintenance_runs_on_every_table(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path)
    lake.writer("events").write(rows(["a"], "2026-11-24", 0), "t.p0.o0-0")
    report = compact_lake(lake, older_than_days=1, today=TODAY)
    # only tables that exist: events, and the runs rollup compaction brought up to date
    assert [m.table for m in report.maintenance] == ["events", "runs", "control_results"]
    assert (tmp_path / "events" / "_delta_log" / "_last_checkpoint").exists()
    assert report.rollup is not None and report.rollup.covered_after is not None
    from tracelake.queries.rollup import pending_files

    assert pending_files(lake) == 0
