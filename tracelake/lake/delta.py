"""The lake's tables as Delta Lake tables (delta-rs): opening, creating, listing live files, appending exactly once.

Each declared table (:mod:`tracelake.lake.tables`) is one Delta table at
``<lake>/<table>`` — a local directory or ``s3://bucket/prefix/<table>`` —
partitioned by its day column (a ``DATE``): Parquet data files under
``event_date=YYYY-MM-DD/`` plus the transaction log ``_delta_log/``. The log
says which files are the table; a file it does not list is not data, whatever
its name.

Exactly once (:class:`DeltaLakeWriter`). Every append is one Delta
transaction that also records, per *source* — a Kafka topic-partition, or one
ingested file — the last offset it covers, as a Delta *application
transaction* (``txn`` action, ``appId`` → ``version``), the mechanism
delta-io's kafka-delta-ingest uses. Before committing, the writer reads the
recorded offsets and drops every row at or below them; when another writer
records an offset for the same source first, delta-rs refuses the commit
(``CommitFailedError``: concurrent transaction) and the writer re-reads and
tries again. So a batch re-delivered after a crash, a rebalance or a commit
refused by Kafka adds nothing twice, on one host or several. Appends that
touch different sources never conflict: delta-rs rebases them
(optimistic concurrency). On object storage the commit is a put-if-absent of
the next log file (``AWS_CONDITIONAL_PUT=etag``, see docs/operations.md).

:func:`source_positions` gives a consumer the recorded offsets to resume
from on assignment.

Clean partitions. A partition (table, day) is *clean* when its exact set of
live files is known to hold no two rows with the same identity
(:attr:`Table.identity`). Compaction (:mod:`tracelake.ingest.compact`), after
verifying it, records that fact with :func:`mark_clean`: an empty append
whose only content is the application transaction
``tracelake.clean/<table>/<YYYY-MM-DD>`` → :func:`files_digest` of the
partition's live files (a 62-bit digest of their sorted relative paths).
:func:`clean_days` tells a reader which partitions are clean: those whose
current files hash to the recorded version. Any later change to the set (a
late append, a rewrite, an optimize, a quarantine) changes the digest, so the
partition reads as dirty again until the next compaction: a marker can go
stale, never lie. Markers use their own app ids: the per-source offsets above
are untouched.

Clean prefixes. Beside the digest, a marker records the newest modification
time of the files it covers (``tracelake.clean-until/<table>/<day>``, ms).
A reader takes the day's files written up to that time; when exactly they
hash to the digest they are a clean *prefix* (:func:`clean_files`), read as
they are, and only the files added since are de-duplicated (also against
the prefix). The consumer's tidy step (:mod:`tracelake.ingest.tidy`) keeps
extending the prefix of the days being written. A file written before the
marker's time but not in its set (an append that raced the verification)
makes the whole day dirty: still stale, never a lie.

Failure modes: ``OSError`` / ``deltalake.exceptions.DeltaError`` when the
storage refuses (the caller holds the batch uncommitted and retries);
:class:`tracelake.errors.Unavailable` when a local table directory holds
Parquet files but no log (a lake from before the Delta table: ``tracelake
lake convert``), or when a commit keeps losing races (bounded attempts).
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from tracelake.lake.files import one_line
from tracelake.lake.tables import Table, by_name
from tracelake.lake.writer import LakeWriter

if TYPE_CHECKING:
    from deltalake import DeltaTable

    from tracelake.lake.lake import Lake

log = logging.getLogger("tracelake.lake")

LOG_DIR = "_delta_log"
# Row groups as large as the pre-Delta writer's: DuckDB reads small ones several times slower.
ROW_GROUP_SIZE = 122_880
# Races for one source are rare (a rebalance overlapping a slow commit); each attempt re-reads the log.
MAX_COMMIT_ATTEMPTS = 20
# Custom commit metadata key naming the batch (topic, partition, offsets), for `DESCRIBE HISTORY` readers.
BATCH_KEY = "tracelake.batch"
# Application-transaction ids of the clean markers: ``tracelake.clean/<table>/<YYYY-MM-DD>``.
CLEAN_PREFIX = "tracelake.clean"
# Custom commit metadata key of a marker commit (table, day, files), for `DESCRIBE HISTORY` readers.
CLEAN_KEY = "tracelake.clean"
# Delta stores a txn version as a signed 64-bit integer: digests are kept positive and below 2**62.
_DIGEST_MASK = (1 << 62) - 1


@dataclass(frozen=True)
class DataFile:
    """One live data file of a table: where (a local path or an ``s3://`` URL), its day, its size, and when
    it was written (its add action's ``modificationTime``, ms since the epoch; 0 when not known)."""

    uri: str
    day: date
    size: int
    modified: int = 0


def source_id(source: str | None, topic: str | None, partition: int | None) -> str:
    """The application-transaction id of one source of rows: ``kafka:<topic>:<partition>`` for a Kafka
    topic-partition, ``file:<file id>:-`` for an ingested file."""
    return f"{source or 'kafka'}:{topic or ''}:{'-' if partition is None else partition}"


def _delta() -> Any:
    import deltalake

    return deltalake


def _options(lake: Lake) -> dict[str, str] | None:
    return dict(lake.storage_options) or None


def _legacy_refusal(lake: Lake, table: Table) -> None:
    """Refuse a local table directory that holds pre-Delta Parquet partitions but no log."""
    if lake.is_remote:
        return
    directory = lake.table_dir(table)
    if (directory / LOG_DIR).is_dir() or not directory.is_dir():
        return
    if any(p.is_dir() and p.name.startswith(f"{table.partition}=") for p in directory.iterdir()):
        from tracelake.errors import Unavailable

        raise Unavailable(f"{directory} holds Parquet partitions but no Delta log: a lake written before the "
                          "Delta table; run 'tracelake lake convert' first")


def open_table(lake: Lake, table: Table | str) -> DeltaTable | None:
    """The Delta table of ``table`` at its latest version; None when it does not exist yet.

    Raises :class:`~tracelake.errors.Unavailable` for a pre-Delta table directory (see the module docstring).
    """
    spec = table if isinstance(table, Table) else by_name(table)
    _legacy_refusal(lake, spec)
    deltalake = _delta()
    uri = lake.table_uri(spec)
    if not lake.is_remote and not (lake.table_dir(spec) / LOG_DIR).is_dir():
        return None
    try:
        return deltalake.DeltaTable(uri, storage_options=_options(lake))
    except deltalake.exceptions.TableNotFoundError:
        return None
    except deltalake.exceptions.DeltaError as exc:
        # delta-rs says "Path does not exist" / "Not a Delta table" for a prefix with no log yet.
        if lake.is_remote and not deltalake.DeltaTable.is_deltatable(uri, storage_options=_options(lake)):
            return None
        raise storage_error(exc) from exc


def ensure_table(lake: Lake, table: Table | str) -> DeltaTable:
    """The Delta table of ``table``, created empty (schema, partitioning) when missing.

    Two processes creating it at once is fine: the loser of the race opens the winner's table.
    """
    spec = table if isinstance(table, Table) else by_name(table)
    found = open_table(lake, spec)
    if found is not None:
        return found
    deltalake = _delta()
    if not lake.is_remote:
        from tracelake.fsutil import make_dirs

        make_dirs(lake.table_dir(spec), lake.dir_mode)
    try:
        return deltalake.DeltaTable.create(lake.table_uri(spec), schema=spec.delta_schema,
                                           partition_by=[spec.partition], mode="ignore",
                                           storage_options=_options(lake))
    except deltalake.exceptions.CommitFailedError:
        created = open_table(lake, spec)
        if created is None:
            raise
        return created


class _Snapshots:
    """Per-process cache of opened tables, brought up to date before each use (``update_incremental`` reads
    only the log entries added since), so a reader does not replay the whole log per query."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tables: dict[tuple[str, tuple[tuple[str, str], ...]], DeltaTable] = {}
        # The file list of the version last listed: most queries find the table unchanged (measured: 6 ms
        # warm per listing, of which 4 ms are building the list again).
        self._listed: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[int, list[DataFile]]] = {}
        # Per (table, day): the table version the clean marker was last read at, and the digest it recorded.
        # Reading one marker replays the log's txn actions (measured: 0.4 ms with a checkpoint, 2 ms over 360
        # JSON commits), so a marker is read again only for a day that is not clean by the cached one, and only
        # once per table version.
        self._markers: dict[tuple[tuple[str, tuple[tuple[str, str], ...]], date],
                            tuple[int, int | None, int | None]] = {}
        # Per (table, app id): the table version an application transaction was read at, and what it recorded.
        self._txns: dict[tuple[tuple[str, tuple[tuple[str, str], ...]], str], tuple[int, int | None]] = {}

    @staticmethod
    def _key(lake: Lake, table: Table) -> tuple[str, tuple[tuple[str, str], ...]]:
        return lake.table_uri(table), tuple(sorted(lake.storage_options.items()))

    def files(self, lake: Lake, table: Table) -> list[DataFile]:
        key = self._key(lake, table)
        with self._lock:
            found = self._tables.get(key)
            if found is None:
                found = open_table(lake, table)
                if found is None:
                    return []
                self._tables[key] = found
            else:
                found.update_incremental()
            version = found.version()
            listed = self._listed.get(key)
            if listed is not None and listed[0] == version:
                return list(listed[1])
            files = add_files(lake, table, found.get_add_actions(flatten=True))
            self._listed[key] = (version, files)
        return list(files)

    def clean_files(self, lake: Lake, table: Table, partitions: Mapping[date, Sequence[DataFile]]
                    ) -> dict[date, list[DataFile]]:
        key = self._key(lake, table)
        wanted = {day: list(files) for day, files in partitions.items() if files}
        if not wanted:
            return {}
        with self._lock:
            found = self._tables.get(key)
            if found is None:
                found = open_table(lake, table)
                if found is None:
                    return {}
                self._tables[key] = found
            # Not brought up to date here: a marker describes a set of immutable files, so one recorded at any
            # version is true of that set; a stale one can only make a clean day look dirty.
            version = found.version()
            out: dict[date, list[DataFile]] = {}
            for day, files in wanted.items():
                cached = self._markers.get((key, day))
                clean = None if cached is None else marked_part(lake, table, files, cached[1], cached[2])
                if cached is None or (len(clean or ()) < len(files) and cached[0] != version):
                    digest = found.transaction_version(clean_app_id(table, day))
                    until = found.transaction_version(clean_until_app_id(table, day))
                    cached = (version, None if digest is None else int(digest), None if until is None else int(until))
                    self._markers[(key, day)] = cached
                    clean = marked_part(lake, table, files, cached[1], cached[2])
                if clean:
                    out[day] = clean
        return out

    def with_transaction(self, lake: Lake, table: Table, app_id: str) -> tuple[list[DataFile], int | None] | None:
        """The table's current live files and the version its ``app_id`` application transaction records, both
        of one table version (None when the table does not exist; the version None when the app id has none).
        The recorded version is read once per table version."""
        files = self.files(lake, table)
        key = self._key(lake, table)
        with self._lock:
            found = self._tables.get(key)
            if found is None:
                return None
            version = found.version()
            listed = self._listed.get(key)
            if listed is None or listed[0] != version:  # moved on since files(): list again at this version
                files = add_files(lake, table, found.get_add_actions(flatten=True))
                self._listed[key] = (version, files)
            cached = self._txns.get((key, app_id))
            if cached is None or cached[0] != version:
                recorded = found.transaction_version(app_id)
                cached = (version, None if recorded is None else int(recorded))
                self._txns[(key, app_id)] = cached
        return list(files), cached[1]


def add_files(lake: Lake, table: Table, actions: Any) -> list[DataFile]:
    """The data files named by a snapshot's add actions (``get_add_actions(flatten=True)``)."""
    adds = pa.table(actions) if not isinstance(actions, pa.Table) else actions
    if adds.num_rows == 0:
        return []
    paths = adds.column("path").to_pylist()
    sizes = adds.column("size_bytes").to_pylist()
    days = adds.column(f"partition.{table.partition}").to_pylist()
    written = adds.column("modification_time").to_pylist()
    base = lake.table_uri(table).rstrip("/")
    out = []
    for path, size, day, modified in zip(paths, sizes, days, written, strict=True):
        when = day if isinstance(day, date) else date.fromisoformat(str(day))
        uri = path if "://" in path or path.startswith("/") else f"{base}/{path}"
        out.append(DataFile(uri, when, int(size), _millis(modified)))
    return out


def _millis(value: Any) -> int:
    """An add action's modification time as ms since the epoch (delta-rs gives a timestamp or an integer)."""
    if value is None:
        return 0
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return int(value)


_SNAPSHOTS = _Snapshots()


def live_files(lake: Lake, table: Table | str) -> list[DataFile]:
    """The data files of ``table``'s current version (what a reader must read, nothing else); empty when the
    table does not exist yet."""
    return _SNAPSHOTS.files(lake, table if isinstance(table, Table) else by_name(table))


def files_and_transaction(lake: Lake, table: Table, app_id: str) -> tuple[list[DataFile], int | None] | None:
    """``table``'s live files and the version its ``app_id`` application transaction records, read from one
    table version of the per-process snapshot (brought up to date first); None when the table does not exist."""
    return _SNAPSHOTS.with_transaction(lake, table, app_id)


def clean_app_id(table: Table, day: date) -> str:
    """The application-transaction id of ``day``'s clean marker in ``table``:
    ``tracelake.clean/<table>/<YYYY-MM-DD>``."""
    return f"{CLEAN_PREFIX}/{table.name}/{day.isoformat()}"


def clean_until_app_id(table: Table, day: date) -> str:
    """The application-transaction id that records, beside ``day``'s marker, the newest modification time
    (ms) of the files it covers: ``tracelake.clean-until/<table>/<YYYY-MM-DD>``."""
    return f"{CLEAN_PREFIX}-until/{table.name}/{day.isoformat()}"


def relative_path(lake: Lake, table: Table, item: DataFile) -> str:
    """``item``'s path as the Delta log names it: relative to the table (a file outside it: its full URI)."""
    base = lake.table_uri(table).rstrip("/") + "/"
    return item.uri[len(base):] if item.uri.startswith(base) else item.uri


def files_digest(lake: Lake, table: Table, files: Iterable[DataFile]) -> int:
    """A stable positive 62-bit digest of a set of live files (BLAKE2b of their sorted relative paths): the
    version a clean marker records for exactly that set."""
    paths = sorted(relative_path(lake, table, item) for item in files)
    raw = hashlib.blake2b("\n".join(paths).encode(), digest_size=8).digest()
    return int.from_bytes(raw, "big") & _DIGEST_MASK


def marked_part(lake: Lake, table: Table, files: Sequence[DataFile], digest: int | None,
                 until: int | None) -> list[DataFile]:
    """The files of one day a marker (``digest`` of a set, ``until`` = the newest modification time in it)
    covers: the files written up to ``until`` when they are exactly the marked set, else none. A marker
    without ``until`` (written before prefixes existed) covers the whole day or nothing."""
    if digest is None:
        return []
    part = list(files) if until is None else [f for f in files if f.modified <= until]
    return part if part and files_digest(lake, table, part) == digest else []


def clean_files(lake: Lake, table: Table | str, partitions: Mapping[date, Sequence[DataFile]]
                ) -> dict[date, list[DataFile]]:
    """For each day of ``partitions`` (day → its live files, as listed by :func:`live_files`), the files a
    clean marker covers: a set verified to hold no two rows with the same identity, which a reader may take
    as it is. A day maps to all its files (clean), to the files written up to the marker's time (a clean
    *prefix*: the files added since must be de-duplicated, also against the prefix), or is absent (every
    file must be de-duplicated). Empty when the table does not exist.

    Cheap: markers are read from the process's cached table snapshot (no log re-read), and only for days
    the cached marker does not already show wholly clean, once per table version.
    """
    return _SNAPSHOTS.clean_files(lake, table if isinstance(table, Table) else by_name(table), partitions)


def clean_days(lake: Lake, table: Table | str, partitions: Mapping[date, Sequence[DataFile]]) -> set[date]:
    """The days of ``partitions`` (day → its live files, as listed by :func:`live_files`) whose files are
    exactly a set a clean marker was recorded for: their rows hold no duplicate identity, a reader may take
    them as they are. Every other day must be de-duplicated. Empty when the table does not exist.

    Cheap: markers are read from the process's cached table snapshot (no log re-read), and only for days
    that the cached marker does not already show clean.
    """
    clean = clean_files(lake, table, partitions)
    return {day for day, files in partitions.items() if files and len(clean.get(day, ())) == len(files)}


def mark_clean(lake: Lake, table: Table, delta: DeltaTable, day: date, files: Sequence[DataFile]) -> bool:
    """Record that ``files`` — ``day``'s live files in ``delta``, which the caller has *verified* hold no two
    rows with the same identity — are clean (see the module docstring); False when that very set is already
    recorded (nothing committed).

    One commit: an empty append carrying only the marker's application transaction (no data, no other app
    id), which never conflicts with concurrent appends. An append that lands in the partition meanwhile only
    makes the marker stale. Raises ``OSError`` when the storage refuses; a lost race with another marker of
    the same day (``CommitFailedError``) is not retried: False.
    """
    app_id = clean_app_id(table, day)
    digest = files_digest(lake, table, files)
    until = max((item.modified for item in files), default=0)
    if delta.transaction_version(app_id) == digest and delta.transaction_version(
            clean_until_app_id(table, day)) == until:
        return False
    lost = _empty_commit(delta, table, {CLEAN_KEY: f"{table.name} {day.isoformat()}: {len(files)} files"},
                         {app_id: digest, clean_until_app_id(table, day): until})
    if lost is not None:
        log.info("clean marker of %s %s lost a race (%s); left for the next compaction", table.name, day, lost)
        return False
    return True


def _empty_commit(delta: DeltaTable, table: Table, metadata: dict[str, str],
                  transactions: Mapping[str, int]) -> str | None:
    """One commit to ``delta`` with no data, carrying ``metadata`` and the application ``transactions`` (app id
    → version): None when committed, the one-line reason when a concurrent commit won (``CommitFailedError``,
    not retried). Raises ``OSError`` when the storage refuses."""
    deltalake = _delta()
    try:
        deltalake.write_deltalake(
            delta, table.delta_schema.empty_table(), mode="append", partition_by=[table.partition],
            commit_properties=deltalake.CommitProperties(
                custom_metadata=metadata,
                app_transactions=[deltalake.Transaction(app, version) for app, version in transactions.items()]))
    except deltalake.exceptions.CommitFailedError as exc:
        return one_line(exc)
    except deltalake.exceptions.DeltaError as exc:
        raise storage_error(exc) from exc
    return None


def advance_transaction(lake: Lake, table: Table, app_id: str, before: int, after: int, note: str) -> bool:
    """Move ``app_id``'s recorded version in ``table`` from ``before`` to ``after``, in one empty commit (no
    data; ``note`` in its commit metadata). False, nothing committed, when the table does not exist, the
    recorded version is not ``before`` now, or a concurrent commit of the same app id won (delta-rs refuses
    a second transaction of one app id: the other writer's version stands). Raises ``OSError`` when the
    storage refuses.

    What it is for: a derived table records the events version it reflects; a commit of ``events`` that
    changes no fact (a compaction's de-duplicating rewrite) leaves its rows right at the next version too.
    """
    delta = open_table(lake, table)
    if delta is None or delta.transaction_version(app_id) != before:
        return False
    lost = _empty_commit(delta, table, {"tracelake.carried": note}, {app_id: after})
    if lost is not None:
        log.info("carrying %s of %s over to version %d lost a race (%s)", app_id, table.name, after, lost)
        return False
    return True


def source_positions(lake: Lake, table: Table | str, sources: list[str]) -> dict[str, int]:
    """The last offset recorded in ``table`` for each of ``sources`` (ids from :func:`source_id`) that has one."""
    found = open_table(lake, table)
    if found is None:
        return {}
    out = {}
    for source in sources:
        version = found.transaction_version(source)
        if version is not None:
            out[source] = int(version)
    return out


def _row_sources(rows: pa.Table) -> tuple[list[str], list[int]]:
    sources = rows.column("source").to_pylist()
    topics = rows.column("kafka_topic").to_pylist()
    partitions = rows.column("kafka_partition").to_pylist()
    offsets = rows.column("kafka_offset").to_pylist()
    ids = [source_id(s, t, p) for s, t, p in zip(sources, topics, partitions, strict=True)]
    return ids, [-1 if o is None else int(o) for o in offsets]


def _unwritten(rows: pa.Table, ids: list[str], offsets: list[int], stored: Mapping[str, int]) -> pa.Table:
    """``rows`` without those at or below their source's recorded offset."""
    if not stored:
        return rows
    keep = [offset > stored.get(source, -2) for source, offset in zip(ids, offsets, strict=True)]
    return rows.filter(pa.array(keep, pa.bool_()))


_ERRNO_HINTS = (("No space left", errno.ENOSPC), ("Permission denied", errno.EACCES),
                ("Read-only file system", errno.EROFS), ("Disk quota", errno.EDQUOT))


def storage_error(exc: BaseException) -> OSError:
    """A delta-rs storage failure as an ``OSError`` (errno guessed from the message, else ``EIO``), so the
    writers' callers treat a full disk or an unreachable bucket as they treat any I/O fault: hold the batch
    uncommitted and retry."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    code = next((number for hint, number in _ERRNO_HINTS if hint in text), errno.EIO)
    return OSError(code, f"{os.strerror(code)} (delta: {text[:300]})")


class DeltaLakeWriter(LakeWriter):
    """Appends batches to one Delta table, each exactly once per source (see the module docstring).

    Local lakes get the lake's file and directory modes: delta-rs creates files and directories with the
    process's umask, so the writer sets the umask once to what yields exactly those modes
    (``027`` for the default ``0640``/``0750``); the consumer, ``ingest-file`` and the other writing
    commands own their process. An existing lake root keeps its mode.
    """

    def __init__(self, lake: Lake, table: Table | str) -> None:
        self.lake = lake
        self.table = table if isinstance(table, Table) else by_name(table)
        self._delta: DeltaTable | None = None
        if not lake.is_remote:
            os.umask((0o777 & ~lake.dir_mode) | (0o666 & ~lake.file_mode))

    def _open(self) -> DeltaTable:
        if self._delta is None:
            self._delta = ensure_table(self.lake, self.table)
        else:
            self._delta.update_incremental()
        return self._delta

    def write(self, table: pa.Table, name: str, positions: Mapping[str, int] | None = None) -> int:
        """Append ``table`` (this table's columns; rows carry ``source``/``kafka_*`` when the table has them) in
        one transaction named ``name``; return the number of data files added (0 when nothing was new).

        ``positions`` (source id → last offset) are recorded besides those the rows give (their highest
        ``kafka_offset`` per source): a batch whose messages all went elsewhere still moves its sources on.
        Rows at or below a source's recorded offset are dropped, never written twice.
        """
        deltalake = _delta()
        self.table.check_columns(table)
        has_sources = "kafka_offset" in table.column_names and "source" in table.column_names
        ids, offsets = _row_sources(table) if has_sources and table.num_rows else ([], [])
        wanted: dict[str, int] = dict(positions or {})
        for source, offset in zip(ids, offsets, strict=True):
            if offset > wanted.get(source, -1):
                wanted[source] = offset
        for attempt in range(1, MAX_COMMIT_ATTEMPTS + 1):
            delta = self._open()
            stored = {s: int(v) for s in wanted if (v := delta.transaction_version(s)) is not None}
            rows = _unwritten(table, ids, offsets, stored) if ids else table
            fresh = {s: o for s, o in wanted.items() if o > stored.get(s, -1)}
            if wanted and not fresh:
                return 0  # everything here is already in the table
            if rows.num_rows == 0 and not fresh:
                return 0
            try:
                return self._append(delta, rows, name, fresh)
            except deltalake.exceptions.CommitFailedError as exc:
                log.info("commit of %s to %s lost a race (%s); re-reading the log (attempt %d)",
                         name, self.table.name, exc, attempt)
                self._delta = None
            except (deltalake.exceptions.SchemaMismatchError, deltalake.exceptions.DeltaProtocolError):
                raise
            except deltalake.exceptions.DeltaError as exc:
                self._delta = None
                raise storage_error(exc) from exc
        from tracelake.errors import Unavailable

        raise Unavailable(f"could not commit {name} to the {self.table.name} table after "
                          f"{MAX_COMMIT_ATTEMPTS} attempts: other writers keep winning")

    def _append(self, delta: DeltaTable, rows: pa.Table, name: str, fresh: Mapping[str, int]) -> int:
        deltalake = _delta()
        before = delta.version()
        deltalake.write_deltalake(
            delta, self.table.for_delta(rows), mode="append", partition_by=[self.table.partition],
            writer_properties=deltalake.WriterProperties(compression="ZSTD", max_row_group_size=ROW_GROUP_SIZE),
            commit_properties=deltalake.CommitProperties(
                custom_metadata={BATCH_KEY: name},
                app_transactions=[deltalake.Transaction(s, o) for s, o in sorted(fresh.items())]),
        )
        if rows.num_rows == 0:
            return 0
        delta.update_incremental()
        for entry in delta.history(max(1, delta.version() - before)):
            if entry.get(BATCH_KEY) == name:
                metrics = entry.get("operationMetrics") or {}
                return int(metrics.get("num_added_files", 0))
        return 0

