"""Compaction: fewer files, no row lost, duplicates removed, open partitions left alone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa

from tracelake.ingest.compact import compact_lake
from tracelake.lake.tables import EVENTS_SCHEMA
from tracelake.lake.writer import ParquetLakeWriter
from tracelake.queries.views import connect


def rows(ids: list[str], day: str, offset: int) -> pa.Table:
    ts = datetime.fromisoformat(f"{day}T10:00:00+00:00").astimezone(UTC)
    return pa.Table.from_pylist(
        [{"event_id": i, "event_type": "custom", "name": "x", "ts": ts, "event_date": day, "source": "kafka",
          "kafka_topic": "t", "kafka_partition": 0, "kafka_offset": offset + n, "ingested_at": ts}
         for n, i in enumerate(ids)], schema=EVENTS_SCHEMA)


def test_merges_closed_partitions_dedups_and_keeps_open_ones(tmp_path: Path) -> None:
    writer = ParquetLakeWriter(tmp_path, "events")
    writer.write(rows(["a", "b"], "2026-11-20", 0), "t.p0.o0-1")
    writer.write(rows(["c"], "2026-11-20", 2), "t.p0.o2-2")
    writer.write(rows(["b", "c", "d"], "2026-11-20", 10), "t.p0.o10-12")  # a replay cut elsewhere
    writer.write(rows(["x"], "2026-11-25", 0), "t.p0.o0-0")
    writer.write(rows(["y"], "2026-11-25", 1), "t.p0.o1-1")
    results = compact_lake(tmp_path, older_than_days=1, today=date(2026, 11, 25))
    assert [(r.partition, r.files_in, r.rows_in, r.rows_out) for r in results] == [
        ("event_date=2026-11-20", 3, 6, 4)]
    closed = list((tmp_path / "events" / "event_date=2026-11-20").glob("*.parquet"))
    assert len(closed) == 1 and closed[0].name.startswith("compacted-")
    assert len(list((tmp_path / "events" / "event_date=2026-11-25").glob("*.parquet"))) == 2
    con = connect(tmp_path)
    assert con.execute("SELECT list(event_id ORDER BY event_id) FROM events").fetchone()[0] == [
        "a", "b", "c", "d", "x", "y"]
    # the first-ingested copy of b was kept (offset 1, not the replay's 10)
    assert con.execute("SELECT kafka_offset FROM events WHERE event_id = 'b'").fetchone()[0] == 1
    import pyarrow.parquet as pq

    assert pq.read_schema(closed[0]) == EVENTS_SCHEMA.remove(EVENTS_SCHEMA.get_field_index("event_date"))
    # running again changes nothing
    assert compact_lake(tmp_path, older_than_days=1, today=date(2026, 11, 25)) == []
