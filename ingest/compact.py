"""``tracelake compact``: Delta maintenance of the lake's tables — compaction, vacuum, log checkpoints.

Compaction. For each closed partition (a day at least ``older_than_days``
old, UTC) of ``events`` and ``dead_letters`` (:data:`COMPACTED`), the live
files of the table's current version (its Delta log) are read and
de-duplicated by the table's identity (:attr:`Table.identity`: ``events``
keeps one row per ``(tenant, event_id)``, the first ingested copy by
:attr:`Table.copy_order` — the rule of the ``events`` view), then:

- copies were found, or the partition has several files and its table a sort
  order (``events``: :data:`SORT_KEYS`) → the partition is rewritten as **one Delta transaction**
  that replaces exactly that partition (``write_deltalake(mode="overwrite",
  predicate="event_date = '…'")``): remove actions for the files read, add
  actions for the rewritten rows (sorted by :data:`SORT_KEYS`, bin-packed into files of up
  to ~100 MB, row groups of 122 880 rows). The commit carries no application
  transaction, so the per-source offsets the consumers resume from
  (:mod:`tracelake.lake.delta`) are untouched.
- no copies, several files, no sort order (``dead_letters``) → delta-rs
  ``optimize.compact`` on that partition (bin-packing; a ``dataChange=false``
  rewrite that never conflicts with appends).
- one file, no copies → nothing rewritten.

Clean markers. After a rewrite or an optimize, and for a partition that
needed neither, the partition's live files are checked to hold no two rows
with the same identity (the rows just read; after a commit, the identity
columns of exactly the files then live, a concurrent append included) and
are then marked *clean* (:func:`tracelake.lake.delta.mark_clean`: an
application transaction ``tracelake.clean/<table>/<day>`` recording a digest
of exactly those files, in its own empty commit). The views read a clean
partition as it is and de-duplicate only the others
(:mod:`tracelake.queries.views`). A partition whose marker still matches its
files is not read at all, unless it still has more than one small file (under
:data:`SMALL_FILE_BYTES`): a day the consumers kept tidy while it was written is
marked clean already, but as their many batch files. Running ``compact``
twice commits nothing the second time. A later append into a marked partition (a late event) changes
its files, so it reads as not clean until the next run compacts and marks it
again. Markers never touch the consumers' offsets (other app ids).

Safe while consumers append. The rewrite commits against the version it
read; a consumer appending into the *same* partition meanwhile (a late
event) makes delta-rs refuse the commit ("a concurrent transaction added new
data") — the rewrite is redone from the new version, at most
:data:`MAX_REWRITE_ATTEMPTS` times, then the partition is skipped for this
run (a warning, a ``skipped`` row). Appends into other partitions never
conflict. No appended row can be lost: a rewrite removes only the files it
read, and only if no file was added to its partition since.

Unreadable files. On a local lake every live file of the compacted tables
gets the footer check (:mod:`tracelake.lake.files`) first, and a file of a
closed partition that fails to decode while it is read is treated the same:
it is moved to ``<lake>/_quarantine/`` (logged, its removal committed to the
table) and the partition is compacted without it. On ``s3://`` a partition
with an unreadable file is skipped with a warning (``tracelake lake check``
reports it).

Maintenance, for every declared table that exists, after compaction:

- ``vacuum``: data files no longer in the table (removed by a compaction, a
  quarantine, an overwrite) for longer than ``retention_hours`` (default
  :data:`DEFAULT_RETENTION_HOURS`, one week: a reader that listed a table
  version before a compaction can still read its files meanwhile) are
  deleted; then a full listing deletes files the log never referenced (an
  append that crashed between writing its file and committing it) that are
  older than the retention and never younger than
  :data:`ORPHAN_MIN_AGE_HOURS` (an append in flight has written its file but
  not committed it yet).
- ``create_checkpoint``: a Parquet checkpoint of the log at the current
  version, so opening the table does not replay every JSON commit.
- ``cleanup_metadata``: log entries older than the table's
  ``delta.logRetentionDuration`` (Delta's default: 30 days) that a checkpoint
  covers are deleted.

Measured: each result carries files and rows before and after, and the time
to read the partition before and after (:func:`read_time`: on a local lake
DuckDB scanning the identity and copy-order columns of the partition's live
files — what every view reads to de-duplicate; on ``s3://`` a pyarrow read of
every column).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from tracelake.lake.delta import (
    ROW_GROUP_SIZE,
    DataFile,
    add_files,
    advance_transaction,
    clean_app_id,
    files_digest,
    mark_clean,
    open_table,
    storage_error,
)
from tracelake.lake.files import BadFile, one_line, quarantine, split_files
from tracelake.lake.lake import Lake, as_lake
from tracelake.lake.layout import partition_name
from tracelake.lake.tables import CONTROL_RESULTS, DEAD_LETTERS, EVENTS, FLAGS, RUNS, TABLES, Table

if TYPE_CHECKING:
    from deltalake import DeltaTable

# The tables compaction rewrites (alerts are few and small: vacuumed and checkpointed, never rewritten).
# flags: one small file per change; bin-packed per closed day like dead_letters (every row kept: the table is the
# flags' audit trail, docs/flags.md).
COMPACTED: tuple[Table, ...] = (EVENTS, DEAD_LETTERS, FLAGS)
# How often a partition's rewrite is redone after losing to a concurrent append into it, before skipping it.
MAX_REWRITE_ATTEMPTS = 3
# How long a file stays after leaving the table before vacuum deletes it (Delta's default, one week).
DEFAULT_RETENTION_HOURS = 168
# Files the log never referenced are deleted only when at least this old: an append in flight has written its
# files but not yet committed them.
ORPHAN_MIN_AGE_HOURS = 1
# A clean partition is still compacted while more than one of its files is smaller than this (compaction writes
# files of up to ~100 MB: one small remainder per partition is expected).
SMALL_FILE_BYTES = 32 * 1024 * 1024
# Custom commit metadata key naming what a compaction commit did (for ``DESCRIBE HISTORY`` readers).
COMPACTION_KEY = "tracelake.compaction"
# The order of a rewritten partition's rows. Events by type, then workflow, then time: a row group then holds
# few event types and workflows, so its min/max statistics let DuckDB skip most of a day for a per-type metric
# (measured on the 10M-event bench lake, 30 days: tool_call_validity 0.61 → 0.18 CPU-s, cost_attribution
# 0.57 → 0.37 CPU-s; docs/analytics.md). Time order only mattered inside a day (a day is ~3 row groups).
SORT_KEYS: dict[str, tuple[str, ...]] = {EVENTS.name: ("event_type", "workflow", "ts")}

log = logging.getLogger("tracelake.ingest")

OnQuarantine = Callable[[BadFile, Path], None]


@dataclass(frozen=True)
class CompactionResult:
    """What compaction did to one partition.

    ``action``: ``rewrite`` (copies removed, one overwrite transaction), ``optimize`` (bin-packing only),
    ``mark`` (nothing to rewrite: one file, no copies; only marked clean) or ``skipped`` (``note`` says why; the
    partition is as it was). ``files_after`` and ``read_ms_after`` count the partition's live files after the
    commit (a file a consumer appended meanwhile included). ``marked``: a clean marker was committed for those
    files (False when a copy or an unreadable file was found in them, or another run marked them first).
    """

    table: str
    partition: str
    action: str
    files_before: int
    files_after: int
    rows_in: int
    rows_out: int
    read_ms_before: float
    read_ms_after: float
    note: str = ""
    marked: bool = False


@dataclass(frozen=True)
class Maintenance:
    """What vacuum and the checkpoint did to one table: files deleted, the version checkpointed."""

    table: str
    vacuumed: int
    orphans: int
    checkpoint_version: int


@dataclass
class CompactionReport:
    """Every partition compacted or skipped, and every table maintained."""

    partitions: list[CompactionResult] = field(default_factory=list)
    maintenance: list[Maintenance] = field(default_factory=list)
    # The runs rollup brought up to date after the rewrites (tracelake.queries.rollup.RefreshReport), or None.
    rollup: Any = None
    # control_results brought up to date with it (tracelake.queries.controls.results.ControlsRefreshReport).
    controls: Any = None


class _Unreadable(Exception):
    """A live file of the partition could not be read (quarantined on a local lake)."""

    def __init__(self, bad: BadFile) -> None:
        super().__init__(bad.error)
        self.bad = bad


def _delta() -> Any:
    import deltalake

    return deltalake


def _writer_properties() -> Any:
    return _delta().WriterProperties(compression="ZSTD", max_row_group_size=ROW_GROUP_SIZE)


def closed_days(days: list[date], older_than_days: int, today: date | None = None) -> list[date]:
    """The days of ``days`` at least ``older_than_days`` old (UTC), sorted."""
    cutoff = (today or datetime.now(UTC).date()) - timedelta(days=older_than_days)
    return sorted(day for day in days if day <= cutoff)


def _quarantined(lake: Lake, bad: BadFile, on_quarantine: OnQuarantine | None) -> None:
    """Move ``bad`` to the quarantine (logged there, removal committed) and tell the caller; a file already
    gone is nothing to do."""
    try:
        moved = quarantine(lake, bad)
    except FileNotFoundError:
        return
    log.warning("quarantined unreadable file %s (%s) as %s", bad.path, bad.error, moved)
    if on_quarantine is not None:
        on_quarantine(bad, moved)


def quarantine_bad_files(lake: Lake, table: Table, on_quarantine: OnQuarantine | None = None) -> int:
    """Quarantine the live files of ``table`` that fail the footer check (local lakes); return how many."""
    if lake.is_remote:
        return 0
    _, bad = split_files(lake.data_files(table))
    for item in bad:
        _quarantined(lake, item, on_quarantine)
    return len(bad)


def _day_files(lake: Lake, table: Table, delta: DeltaTable, day: date) -> list[DataFile]:
    """The live files of ``day``'s partition at ``delta``'s version (the version a rewrite commits against)."""
    return sorted((f for f in add_files(lake, table, delta.get_add_actions(flatten=True)) if f.day == day),
                  key=lambda f: f.uri)


def _read_file(lake: Lake, item: DataFile, columns: list[str] | None = None) -> pa.Table:
    if not lake.is_remote:
        return pq.read_table(item.uri, columns=columns)
    from tracelake.lake.lake import _filesystem, _fs_path

    return pq.read_table(_fs_path(item.uri), columns=columns, filesystem=_filesystem(lake))


def read_partition(lake: Lake, table: Table, files: list[DataFile], day: date) -> tuple[pa.Table, float]:
    """The rows of ``files`` (one partition) with exactly the table's Delta schema, and the time the read took
    (ms). Raises :class:`_Unreadable` for the first file that does not decode."""
    started = time.perf_counter()
    parts = []
    for item in files:
        try:
            rows = _read_file(lake, item)
        except FileNotFoundError:
            raise
        except (pa.ArrowException, OSError) as exc:
            raise _Unreadable(BadFile(Path(item.uri), item.size, one_line(exc))) from None
        if table.partition in rows.column_names:
            rows = rows.drop_columns([table.partition])
        rows = rows.append_column(table.partition, pa.array([day] * rows.num_rows, pa.date32()))
        parts.append(table.for_delta(rows))
    elapsed = (time.perf_counter() - started) * 1000
    if not parts:
        return table.delta_schema.empty_table(), elapsed
    return pa.concat_tables(parts), elapsed


def deduplicated(table: Table, rows: pa.Table) -> pa.Table:
    """``rows`` with one row per :attr:`Table.identity` — the first by :attr:`Table.copy_order` (nulls last,
    then the order read) — sorted by :data:`SORT_KEYS` (events: event type, workflow, time), else by ``ts``
    when the table has it, else by the copy order."""
    frame = cast(pl.DataFrame, pl.from_arrow(rows)).with_row_index("_read")
    kept = frame.sort([*table.copy_order, "_read"], nulls_last=True, maintain_order=True).unique(
        subset=list(table.identity), keep="first", maintain_order=True)
    order = list(SORT_KEYS.get(table.name, ("ts",) if "ts" in kept.columns else table.copy_order))
    kept = kept.sort([*order, "_read"], nulls_last=True, maintain_order=True).drop("_read")
    return table.for_delta(kept.to_arrow())


def has_copies(lake: Lake, table: Table, files: list[DataFile]) -> bool | None:
    """Whether two rows of ``files`` share an identity (:attr:`Table.identity`; nulls compare equal, as in the
    views' de-duplication); None when a file cannot be read (then nothing may be marked clean)."""
    parts = []
    for item in files:
        try:
            parts.append(_read_file(lake, item, list(table.identity)))
        except (pa.ArrowException, OSError):
            return None
    if not parts:
        return False
    frame = cast(pl.DataFrame, pl.from_arrow(pa.concat_tables(parts, promote_options="permissive")))
    return bool(frame.is_duplicated().any())


def _is_clean(delta: DeltaTable, lake: Lake, table: Table, day: date, files: list[DataFile]) -> bool:
    """Whether ``files`` are exactly the set ``day``'s clean marker records (verified when it was written)."""
    return delta.transaction_version(clean_app_id(table, day)) == files_digest(lake, table, files)


def read_time(lake: Lake, table: Table, files: list[DataFile], day: date) -> float:
    """How long reading ``files`` (one partition) takes, in ms: on a local lake DuckDB scanning the columns every
    view reads to de-duplicate (identity and copy order), else a pyarrow read of every column. 0 when a file
    cannot be read."""
    if not files:
        return 0.0
    if lake.is_remote:
        try:
            return read_partition(lake, table, files, day)[1]
        except (_Unreadable, FileNotFoundError):
            return 0.0
    import duckdb

    columns = ", ".join(f'count("{c}")' for c in (*table.identity, *table.copy_order))
    query = f"SELECT {columns} FROM read_parquet(?, union_by_name = true)"
    con = duckdb.connect()
    try:
        started = time.perf_counter()
        con.execute(query, [[f.uri for f in files]]).fetchall()
        return round((time.perf_counter() - started) * 1000, 1)
    except duckdb.Error:
        return 0.0
    finally:
        con.close()


def _after_commit(lake: Lake, table: Table, day: date) -> tuple[int, float, bool]:
    """``day``'s live files now: how many, :func:`read_time` of them, and whether they were marked clean
    (verified first by :func:`has_copies` over exactly those files)."""
    delta = open_table(lake, table)
    if delta is None:
        return 0, 0.0, False
    files = _day_files(lake, table, delta, day)
    marked = bool(files) and has_copies(lake, table, files) is False and mark_clean(lake, table, delta, day, files)
    return len(files), read_time(lake, table, files, day), marked


def compact_partition(lake: Lake, table: Table, day: date, on_quarantine: OnQuarantine | None = None,
                      *, max_attempts: int = MAX_REWRITE_ATTEMPTS) -> CompactionResult | None:
    """Compact ``day``'s partition of ``table`` (see the module docstring); None when there is nothing to do.

    Raises ``OSError`` when the storage refuses (:func:`tracelake.lake.delta.storage_error`).
    """
    deltalake = _delta()
    name = partition_name(day)
    lost = 0
    quarantined = 0
    while True:
        delta = open_table(lake, table)
        if delta is None:
            return None
        files = _day_files(lake, table, delta, day)
        if not files or (_is_clean(delta, lake, table, day, files)
                         and sum(1 for item in files if item.size < SMALL_FILE_BYTES) < 2):
            return None  # compacted, verified and marked, and unchanged since: not even read
        try:
            rows, _ = read_partition(lake, table, files, day)
        except FileNotFoundError:
            lost += 1  # a vacuum or a quarantine raced the listing: read the new version
        except _Unreadable as exc:
            if lake.is_remote:
                log.warning("%s %s: unreadable file %s (%s); partition skipped, see 'tracelake lake check'",
                            table.name, name, exc.bad.path, exc.bad.error)
                return CompactionResult(table.name, name, "skipped", len(files), len(files), 0, 0, 0.0, 0.0,
                                        f"unreadable file {exc.bad.path}")
            _quarantined(lake, exc.bad, on_quarantine)
            quarantined += 1
            if quarantined > len(files) + 1:
                raise OSError(f"cannot quarantine {exc.bad.path}: it is still in the table") from None
            continue
        else:
            merged = deduplicated(table, rows)
            if merged.num_rows == rows.num_rows and len(files) < 2:
                # Nothing to rewrite; the rows just read verify exactly these files.
                if not mark_clean(lake, table, delta, day, files):
                    return None
                read_ms = read_time(lake, table, files, day)
                return CompactionResult(table.name, name, "mark", 1, 1, rows.num_rows, rows.num_rows, read_ms,
                                        read_ms, marked=True)
            copies = merged.num_rows < rows.num_rows
            action = "rewrite" if copies or table.name in SORT_KEYS else "optimize"
            read_before = read_time(lake, table, files, day)
            properties = deltalake.CommitProperties(custom_metadata={
                COMPACTION_KEY: f"{action} {table.name} {name}: {len(files)} files, {rows.num_rows} rows in, "
                                f"{merged.num_rows} out"})
            try:
                if action == "rewrite":
                    deltalake.write_deltalake(
                        delta, merged, mode="overwrite", predicate=f"{table.partition} = '{day.isoformat()}'",
                        partition_by=[table.partition], writer_properties=_writer_properties(),
                        commit_properties=properties)
                else:
                    delta.optimize.compact(partition_filters=[(table.partition, "=", day.isoformat())],
                                           writer_properties=_writer_properties(), commit_properties=properties)
            except deltalake.exceptions.CommitFailedError as exc:
                lost += 1
                log.info("%s of %s %s lost a race to a concurrent commit (%s); attempt %d of %d",
                         action, table.name, name, one_line(exc), lost, max_attempts)
            except deltalake.exceptions.DeltaError as exc:
                raise storage_error(exc) from exc
            else:
                if table is EVENTS:
                    carry_derived(lake, properties.custom_metadata[COMPACTION_KEY])
                files_after, read_after, marked = _after_commit(lake, table, day)
                return CompactionResult(table.name, name, action, len(files), files_after, rows.num_rows,
                                        merged.num_rows, read_before, read_after, marked=marked)
        if lost >= max_attempts:
            note = f"concurrent appends into the partition won {lost} times; left for the next run"
            log.warning("%s %s skipped: %s", table.name, name, note)
            return CompactionResult(table.name, name, "skipped", len(files), len(files), 0, 0, 0.0, 0.0, note)


def _commit_version(lake: Lake, table: Table, note: str) -> int | None:
    """The version of this process's commit of ``table`` whose compaction note is ``note`` (among the last few)."""
    delta = open_table(lake, table)
    if delta is None:
        return None
    for entry in delta.history(8):
        if entry.get(COMPACTION_KEY) == note and isinstance(entry.get("version"), int):
            return int(entry["version"])
    return None


def carry_derived(lake: Lake, note: str) -> list[str]:
    """After a compaction's commit of ``events`` (``note``: its metadata), tell the derived tables that still
    reflect the version just before it that they reflect this one too; returns the app ids carried over.

    A compaction changes no fact: it drops copies the views drop anyway and rewrites the rest. Without this,
    its new files are new to the runs rollup and ``control_results``: every reader's tail would recompute the
    runs of the whole day until the next upkeep, and that upkeep would recompute them again. A derived table
    behind (it did not cover the version before) is left to its refresh, which reads the rewrite as new files,
    as before. Concurrent refreshes are safe: :func:`~tracelake.lake.delta.advance_transaction` commits only
    from the exact version, and one app id's transactions never both commit.
    """
    from tracelake.queries.controls.library import active_library
    from tracelake.queries.controls.results import app_id as controls_app_id
    from tracelake.queries.rollup.runs import APP_ID as RUNS_APP_ID

    version = _commit_version(lake, EVENTS, note)
    if version is None:
        return []
    carried = []
    for table, app in ((RUNS, RUNS_APP_ID), (CONTROL_RESULTS, controls_app_id(active_library()))):
        if advance_transaction(lake, table, app, version - 1, version, note):
            carried.append(app)
    return carried


def maintain_table(lake: Lake, table: Table, retention_hours: int = DEFAULT_RETENTION_HOURS) -> Maintenance | None:
    """Vacuum ``table``, write a log checkpoint and clean up expired log entries (module docstring); None when
    the table does not exist. Raises ``OSError`` when the storage refuses."""
    deltalake = _delta()
    delta = open_table(lake, table)
    if delta is None:
        return None
    try:
        removed = _vacuum(lake, table, delta, retention_hours, full=False)
        orphans = _vacuum(lake, table, delta, max(retention_hours, ORPHAN_MIN_AGE_HOURS), full=True)
        delta.update_incremental()
        delta.create_checkpoint()
        delta.cleanup_metadata()
    except deltalake.exceptions.DeltaError as exc:
        raise storage_error(exc) from exc
    return Maintenance(table.name, removed, orphans, delta.version())


def _vacuum(lake: Lake, table: Table, delta: DeltaTable, hours: int, *, full: bool) -> int:
    """Delete what vacuum names (nothing committed when it names nothing); return how many files went.

    The log keeps naming removed files until their tombstones expire, deleted or not: on a local lake only
    the files still there are counted.
    """
    named = delta.vacuum(retention_hours=hours, dry_run=True, enforce_retention_duration=False, full=full)
    if not lake.is_remote:
        base = Path(lake.table_uri(table))
        named = [name for name in named if (base / name).exists()]
    if not named:
        return 0
    delta.vacuum(retention_hours=hours, dry_run=False, enforce_retention_duration=False, full=full)
    return len(named)


COMPACT_UPKEEP_TIMEOUT_S = 3600.0
"""How long compaction's refresh of the derived tables may take (a first build of a large lake's rollup and
control results takes minutes); past it the worker is killed and ``TimeoutError`` (an ``OSError``) raised."""


def compact_lake(root: Lake | str | Path, older_than_days: int = 1, today: date | None = None,
                 on_quarantine: OnQuarantine | None = None, *,
                 retention_hours: int = DEFAULT_RETENTION_HOURS,
                 run_horizon: timedelta = timedelta(hours=24)) -> CompactionReport:
    """Compact every closed partition of :data:`COMPACTED`, then vacuum and checkpoint every table of ``root`` (a
    :class:`~tracelake.lake.lake.Lake`, or its root directory); see the module docstring.

    On a local lake every live file of the compacted tables (open partitions too) is first footer-checked:
    a bad one is quarantined and ``on_quarantine(bad, new_path)`` is called. Raises ``OSError`` when the lake
    cannot be written and :class:`tracelake.errors.Unavailable` for a lake not converted to Delta yet.
    """
    lake = as_lake(root)
    report = CompactionReport()
    for table in COMPACTED:
        quarantine_bad_files(lake, table, on_quarantine)
        for day in closed_days(list(lake.partitions(table)), older_than_days, today):
            result = compact_partition(lake, table, day, on_quarantine)
            if result is not None:
                report.partitions.append(result)
    # A rewrite replaces files, so the runs rollup sees them as new: bring it up to date here, once, rather
    # than leave the recompute to the next reader's tail (its rows do not change: compaction keeps every
    # event the views count). The consumer's upkeep does it (with control_results, under the default controls
    # configuration; the open days' tidy is the consumers' job), in a worker with a time limit: a DuckDB query
    # that parks for good must not hang compact.
    from tracelake.ingest.derived import refresh_derived_isolated

    derived = refresh_derived_isolated(lake, run_horizon, timeout_s=COMPACT_UPKEEP_TIMEOUT_S, tidy=False)
    report.rollup, report.controls = derived.runs, derived.controls
    for table in (*TABLES, RUNS, CONTROL_RESULTS, FLAGS):
        done = maintain_table(lake, table, retention_hours)
        if done is not None:
            report.maintenance.append(done)
    return report
