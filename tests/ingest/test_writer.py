"""The Parquet lake writer: Hive partitions, atomic replace on replay, readable by pyarrow datasets."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from tracelake.lake.tables import EVENTS_SCHEMA
from tracelake.lake.writer import ParquetLakeWriter


def table(ids: list[str], date: str = "2026-11-24") -> pa.Table:
    rows = [{"event_id": i, "event_type": "custom", "name": "x", "event_date": date,
             "ts": datetime.fromisoformat(f"{date}T10:00:00+00:00").astimezone(UTC)} for i in ids]
    return pa.Table.from_pylist(rows, schema=EVENTS_SCHEMA)


def read(root: Path) -> pa.Table:
    return ds.dataset(root / "events", format="parquet", partitioning="hive").to_table()


def test_partitions_by_date_and_reads_back(tmp_path: Path) -> None:
    writer = ParquetLakeWriter(tmp_path)
    files = writer.write(pa.concat_tables([table(["a", "b"]), table(["c"], "2026-11-25")]), "p0-o0-2")
    assert sorted(f.parent.name for f in files) == ["event_date=2026-11-24", "event_date=2026-11-25"]
    got = read(tmp_path)
    assert sorted(got.column("event_id").to_pylist()) == ["a", "b", "c"]
    assert sorted(set(got.column("event_date").to_pylist())) == ["2026-11-24", "2026-11-25"]
    assert not list(tmp_path.rglob("*.tmp"))


def test_replaying_a_batch_replaces_instead_of_duplicating(tmp_path: Path) -> None:
    writer = ParquetLakeWriter(tmp_path)
    writer.write(table(["a", "b"]), "p0-o0-1")
    writer.write(table(["a", "b"]), "p0-o0-1")
    assert sorted(read(tmp_path).column("event_id").to_pylist()) == ["a", "b"]


def test_unsafe_batch_name_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="batch name"):
        ParquetLakeWriter(tmp_path).write(table(["a"]), "../escape")


def test_files_are_zstd(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    (path,) = ParquetLakeWriter(tmp_path).write(table(["a"]), "b1")
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"
