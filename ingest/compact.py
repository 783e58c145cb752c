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
(:mod:`tracelake.lake.files`) and the readable files are merged.

Which tables are compacted, their identity (the copy kept) and schemas come
from :mod:`tracelake.lake.tables`; paths from :mod:`tracelake.lake.layout`.
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

from tracelake.lake.files import BadFile, one_line, partition_files, quarantine, table_partitions
from tracelake.lake.lake import Lake, as_lake
from tracelake.lake.layout import PARTITION_GLOB, parse_partition
from tracelake.lake.tables import DEAD_LETTERS, EVENTS, Table, by_name
from tracelake.lake.writer import fsync_dir

# The tables compaction merges (alerts are few and small: never compacted).
COMPACTED: tuple[Table, ...] = (EVENTS, DEAD_LETTERS)
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
    for directory in sorted(table_dir.glob(PARTITION_GLOB)):
        day = parse_partition(directory.name)
        if day is not None and day <= cutoff:
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


def compact_partition(table: str | Table, directory: Path, on_quarantine: OnQuarantine | None = None, *,
                      lake: Lake | None = None) -> CompactionResult | None:
    """Merge ``directory``'s files (a partition of ``table`` in ``lake``, by default the lake two levels up);
    None when there is nothing to merge.

    Unreadable files never stop it: one that fails the footer check or does not decode is moved to
    the quarantine (:func:`tracelake.lake.files.quarantine`, ``on_quarantine`` is told) and the
    readable rest is merged.
    """
    spec = table if isinstance(table, Table) else by_name(table)
    lake = lake or Lake.at(directory.parent.parent)
    root = lake.root
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
    merged = frame.sort(list(spec.copy_order), nulls_last=True).unique(subset=list(spec.identity), keep="first",
                                                                        maintain_order=True)
    if "ts" in merged.columns:
        merged = merged.sort("ts")
    digest = hashlib.sha256("\n".join(p.name for p in inputs).encode()).hexdigest()[:16]
    day = parse_partition(directory.name)
    if day is None:
        raise ValueError(f"{directory} is not a partition directory")
    schema = spec.schema
    merged = merged.with_columns(pl.lit(day.isoformat()).alias(spec.partition))
    # Polars may pick other physical types (large_string…); keep the lake's schema exact.
    arrow = merged.to_arrow().select(schema.names).cast(schema)
    lake.writer(spec).write(arrow, f"compacted-{digest}")
    for path in inputs:
        path.unlink(missing_ok=True)
    fsync_dir(directory)
    return CompactionResult(spec.name, directory.name, len(inputs), frame.height, merged.height)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def compact_lake(root: Lake | str | Path, older_than_days: int = 1, today: date | None = None,
                 on_quarantine: OnQuarantine | None = None) -> list[CompactionResult]:
    """Compact every closed partition of ``events`` and ``dead_letters`` (:data:`COMPACTED`) of ``root``
    (a :class:`~tracelake.lake.lake.Lake`, or its root directory); see the module docstring.

    Every partition (open ones too) is first cleared of files that fail the footer check: they go to
    the quarantine and ``on_quarantine(bad, new_path)`` is called for each. Raises ``OSError`` when
    the lake cannot be written.
    """
    lake = as_lake(root)
    results = []
    for table in COMPACTED:
        table_dir = lake.table_dir(table)
        closed = closed_partitions(table_dir, older_than_days, today)
        for directory in table_partitions(lake.root, table.name):
            if directory not in closed:
                quarantine_partition(table_dir, directory, on_quarantine)
        for directory in closed:
            result = compact_partition(table, directory, on_quarantine, lake=lake)
            if result is not None:
                results.append(result)
    return results
