"""``tracelake compact``: merge the small files of closed partitions into one, atomically.

For each ``event_date=`` directory at least ``older_than_days`` old (UTC), the
files present when compaction starts are read, de-duplicated (``events``:
one row per ``(tenant, event_id)``, the first ingested copy, the same rule as
the view), sorted by ``ts`` and written as one file through the lake writer
(temp name, fsync, rename). Only then are the inputs deleted. At every
instant each row is in at least one visible file, and where it is briefly in
two the views show it once. Files the consumer adds meanwhile (late events,
a replayed batch) are not inputs and are left alone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import cast

import polars as pl
import pyarrow.parquet as pq

from tracelake.ingest.lake import DEAD_LETTERS_TABLE, EVENTS_TABLE
from tracelake.ingest.writer import ParquetLakeWriter, fsync_dir
from tracelake.transforms.schema import DEAD_LETTERS_SCHEMA, EVENTS_SCHEMA

# Per table: the columns that identify one logical row, and the order that picks the copy to keep.
_IDENTITY = {
    EVENTS_TABLE: (["tenant", "event_id"], ["ingested_at", "kafka_partition", "kafka_offset"]),
    DEAD_LETTERS_TABLE: (["source", "kafka_topic", "kafka_partition", "kafka_offset"], ["received_at"]),
}


_SCHEMAS = {EVENTS_TABLE: EVENTS_SCHEMA, DEAD_LETTERS_TABLE: DEAD_LETTERS_SCHEMA}


@dataclass(frozen=True)
class CompactionResult:
    table: str
    partition: str
    files_in: int
    rows_in: int
    rows_out: int


def closed_partitions(table_dir: Path, older_than_days: int, today: date | None = None) -> list[Path]:
    cutoff = (today or datetime.now(UTC).date()) - timedelta(days=older_than_days)
    out = []
    for directory in sorted(table_dir.glob("event_date=*")):
        try:
            day = date.fromisoformat(directory.name.split("=", 1)[1])
        except ValueError:
            continue
        if day <= cutoff:
            out.append(directory)
    return out


def compact_partition(table: str, directory: Path) -> CompactionResult | None:
    """Merge ``directory``'s files; None when there is nothing to merge."""
    inputs = sorted(directory.glob("*.parquet"))
    if len(inputs) < 2:
        return None
    frames = [cast(pl.DataFrame, pl.from_arrow(pq.read_table(path))) for path in inputs]  # a Table: a DataFrame
    frame = pl.concat(frames, how="diagonal_relaxed")
    keys, order = _IDENTITY[table]
    merged = frame.sort(order, nulls_last=True).unique(subset=keys, keep="first", maintain_order=True)
    if "ts" in merged.columns:
        merged = merged.sort("ts")
    digest = hashlib.sha256("\n".join(p.name for p in inputs).encode()).hexdigest()[:16]
    day = directory.name.split("=", 1)[1]
    schema = _SCHEMAS[table]
    merged = merged.with_columns(pl.lit(day).alias("event_date"))
    # Polars may pick other physical types (large_string…); keep the lake's schema exact.
    arrow = merged.to_arrow().select(schema.names).cast(schema)
    ParquetLakeWriter(directory.parent.parent, table).write(arrow, f"compacted-{digest}")
    for path in inputs:
        path.unlink(missing_ok=True)
    fsync_dir(directory)
    return CompactionResult(table, directory.name, len(inputs), frame.height, merged.height)


def compact_lake(root: str | Path, older_than_days: int = 1, today: date | None = None) -> list[CompactionResult]:
    results = []
    for table in (EVENTS_TABLE, DEAD_LETTERS_TABLE):
        for directory in closed_partitions(Path(root) / table, older_than_days, today):
            result = compact_partition(table, directory)
            if result is not None:
                results.append(result)
    return results
