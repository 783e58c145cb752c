"""``tracelake compact``: merge the small files of closed partitions into one, atomically.

For each ``event_date=`` directory at least ``older_than_days`` old (UTC), the
files present when compaction starts are read, de-duplicated (``events``:
one row per ``(tenant, event_id)``, the first ingested copy, the same rule as
the view), sorted by ``ts`` and written as one file through the lake writer
(temp name, fsync, rename). Only then are the inputs deleted. At every
instant each row is in at least one visible file, and where it is briefly in
two the views show it once. Files the consumer adds meanwhile (late events,
a replayed batch) are not inputs and are left alone.

Unreadable files (zero-byte, truncated, not Parquet, or failing to decode)
never crash it: they are moved to ``<lake>/_quarantine/`` with a log entry
(:mod:`tracelake.ingest.lakefiles`) and the readable files are merged.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import cast

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from tracelake.ingest.lake import DEAD_LETTERS_TABLE, EVENTS_TABLE
from tracelake.ingest.lakefiles import BadFile, one_line, partition_files, quarantine, table_partitions
from tracelake.ingest.writer import ParquetLakeWriter, fsync_dir
from tracelake.transforms.schema import DEAD_LETTERS_SCHEMA, EVENTS_SCHEMA

# Per table: the columns that identify one logical row, and the order that picks the copy to keep.
_IDENTITY = {
    EVENTS_TABLE: (["tenant", "event_id"], ["ingested_at", "kafka_partition", "kafka_offset"]),
    DEAD_LETTERS_TABLE: (["source", "kafka_topic", "kafka_partition", "kafka_offset"], ["received_at"]),
}


_SCHEMAS = {EVENTS_TABLE: EVENTS_SCHEMA, DEAD_LETTERS_TABLE: DEAD_LETTERS_SCHEMA}
log = logging.getLogger("tracelake.ingest")


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


OnQuarantine = Callable[[BadFile, Path], None]


def _quarantined(root: Path, bad: BadFile, on_quarantine: OnQuarantine | None) -> None:
    """Move ``bad`` to the quarantine (logged there) and tell the caller; a file already gone is nothing to do."""
    try:
        moved = quarantine(root, bad)
    except FileNotFoundError:
        return
    log.warning("quarantined unreadable file %s (%s) as %s", bad.path, bad.error, moved)
    if on_quarantine is not None:
        on_quarantine(bad, moved)


def quarantine_partition(table_dir: Path, directory: Path, on_quarantine: OnQuarantine | None = None) -> list[Path]:
    """Quarantine ``directory``'s files that fail the footer check; return its readable files."""
    good, bad = partition_files(directory)
    for item in bad:
        _quarantined(table_dir.parent, item, on_quarantine)
    return good


def compact_partition(table: str, directory: Path, on_quarantine: OnQuarantine | None = None
                      ) -> CompactionResult | None:
    """Merge ``directory``'s files; None when there is nothing to merge.

    Unreadable files never stop it: one that fails the footer check or does not decode is moved to
    the quarantine (:func:`tracelake.ingest.lakefiles.quarantine`, ``on_quarantine`` is told) and the
    readable rest is merged.
    """
    root = directory.parent.parent
    candidates = quarantine_partition(directory.parent, directory, on_quarantine)
    if len(candidates) < 2:
        return None
    inputs: list[Path] = []
    frames = []
    for path in candidates:
        try:
            table_in = pq.read_table(path)
        except FileNotFoundError:
            continue  # another compaction took it
        except (pa.ArrowException, OSError) as exc:
            _quarantined(root, BadFile(path, _size(path), one_line(exc)), on_quarantine)
            continue
        inputs.append(path)
        frames.append(cast(pl.DataFrame, pl.from_arrow(table_in)))  # a Table: a DataFrame
    if len(inputs) < 2:
        return None
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


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def compact_lake(root: str | Path, older_than_days: int = 1, today: date | None = None,
                 on_quarantine: OnQuarantine | None = None) -> list[CompactionResult]:
    """Compact every closed partition of ``events`` and ``dead_letters``; see the module docstring.

    Every partition (open ones too) is first cleared of files that fail the footer check: they go to
    the quarantine and ``on_quarantine(bad, new_path)`` is called for each. Raises ``OSError`` when
    the lake cannot be written.
    """
    results = []
    for table in (EVENTS_TABLE, DEAD_LETTERS_TABLE):
        table_dir = Path(root) / table
        closed = closed_partitions(table_dir, older_than_days, today)
        for directory in table_partitions(Path(root), table):
            if directory not in closed:
                quarantine_partition(table_dir, directory, on_quarantine)
        for directory in closed:
            result = compact_partition(table, directory, on_quarantine)
            if result is not None:
                results.append(result)
    return results
