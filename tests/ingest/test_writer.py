"""The Delta lake writer: partitions by day, exactly once per source, modes, zstd, readable by pyarrow and DuckDB."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tracelake.lake.delta import source_id
from tracelake.lake.lake import Lake
from tracelake.lake.tables import EVENTS_SCHEMA


def table(ids: list[str], date: str = "2026-11-24", *, first: int = 0, partition: int = 0,
          topic: str = "t") -> pa.Table:
    rows = [{"event_id": i, "event_type": "custom", "name": "x", "event_date": date, "source": "kafka",
             "kafka_topic": topic, "kafka_partition": partition, "kafka_offset": first + n,
             "ts": datetime.fromisoformat(f"{date}T10:00:00+00:00").astimezone(UTC)} for n, i in enumerate(ids)]
    return pa.Table.from_pylist(rows, schema=EVENTS_SCHEMA)


def ids(lake: Lake) -> list[str]:
    files = [f.uri for f in lake.data_files("events")]
    if not files:
        return []
    return sorted(r[0] for r in duckdb.sql(f"SELECT event_id FROM read_parquet({files})").fetchall())


def test_partitions_by_date_and_reads_back(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path)
    added = lake.writer("events").write(pa.concat_tables([table(["a", "b"]), table(["c"], "2026-11-25", first=2)]),
                                        "p0-o0-2")
    assert added == 2
    assert sorted(f.day.isoformat() for f in lake.data_files("events")) == ["2026-11-24", "2026-11-25"]
    assert ids(lake) == ["a", "b", "c"]
    assert (tmp_path / "events" / "_delta_log").is_dir()


def test_a_replayed_batch_adds_nothing_whatever_its_cut(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path)
    writer = lake.writer("events")
    writer.write(table(["a", "b", "c"]), "o0-2")
    assert writer.write(table(["a", "b", "c"]), "o0-2") == 0  # the same batch again
    assert writer.write(table(["b", "c", "d"], first=1), "o1-3") == 1  # re-cut: only offset 3 is new
    assert ids(lake) == ["a", "b", "c", "d"]
    assert lake.positions("events", [source_id("kafka", "t", 0)]) == {"kafka:t:0": 3}


def test_explicit_positions_move_a_source_on_without_rows(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path)
    writer = lake.writer("events")
    writer.write(table([]), "nothing", {"kafka:t:1": 41})
    assert lake.positions("events", ["kafka:t:1", "kafka:t:0"]) == {"kafka:t:1": 41}
    assert writer.write(table(["x"], first=41, partition=1), "o41") == 0  # at the recorded offset: not written
    assert ids(lake) == []


def test_a_second_writer_for_the_same_source_never_duplicates(tmp_path: Path) -> None:
    # Two writers (a revoked owner finishing its batch and the new owner) race on one partition.
    lake = Lake.at(tmp_path)
    first, second = lake.writer("events"), lake.writer("events")
    first.write(table(["a"]), "o0")
    second.write(table(["a"]), "o0")  # second has a stale view until it re-reads: nothing is added
    first.write(table(["b", "c"], first=1), "o1-2")
    second.write(table(["b", "c", "d"], first=1), "o1-3")
    assert ids(lake) == ["a", "b", "c", "d"]


def test_concurrent_writers_of_other_sources_lose_no_commit(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path)
    lake.writer("events").write(table([]), "create", {"kafka:t:9": 0})
    errors: list[BaseException] = []

    def run(partition: int) -> None:
        writer = lake.writer("events")
        try:
            for batch in range(5):
                names = [f"p{partition}-{batch}-{n}" for n in range(3)]
                writer.write(table(names, first=batch * 3, partition=partition), f"p{partition}.b{batch}")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors and not any(t.is_alive() for t in threads)
    assert len(ids(lake)) == 45 and len(set(ids(lake))) == 45
    assert lake.positions("events", [f"kafka:t:{p}" for p in range(3)]) == {f"kafka:t:{p}": 14 for p in range(3)}


def test_files_are_zstd_with_the_day_in_the_path(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path)
    lake.writer("events").write(table(["a"]), "b1")
    (item,) = lake.data_files("events")
    assert "/event_date=2026-11-24/" in item.uri
    assert pq.ParquetFile(item.uri).metadata.row_group(0).column(0).compression == "ZSTD"


def test_a_pre_delta_table_directory_is_refused_with_the_way_out(tmp_path: Path) -> None:
    from tracelake.errors import Unavailable
    from tracelake.lake.legacy import ParquetLakeWriter

    ParquetLakeWriter(tmp_path, "events").write(table(["a"]), "old")
    with pytest.raises(Unavailable, match="tracelake lake convert"):
        Lake.at(tmp_path).writer("events").write(table(["b"], first=1), "new")
