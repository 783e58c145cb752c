"""Keep the days still being written de-duplicated on disk, without rewriting them (the consumer's tidy step).

Compaction (:mod:`tracelake.ingest.compact`) de-duplicates and marks clean the *closed* days; the open day
(and a closed day that received late events) would otherwise be de-duplicated by every query
(:mod:`tracelake.queries.views`), which on a day of 333 k events costs 0.05–0.15 s per question. Tidying a
day extends its clean *prefix* (:func:`tracelake.lake.delta.clean_files`: the files written up to its
marker, verified copy-free) over the files added since (its *tail*):

1. The tail's rows that are copies — of a row of the prefix, or of an earlier-ingested row of the tail (the
   order of the views: ``ingested_at``, ``kafka_partition``, ``kafka_offset``) — are found from the key
   columns only.
2. None: the day's files (prefix + tail, as listed at one table version) are marked clean, in an empty
   commit that never conflicts with appends (:func:`tracelake.lake.delta.mark_clean`).
3. Some: they are deleted with a Delta ``DELETE`` naming each copy by its source position (source, topic,
   partition, offset, ingest time); delta-rs
   rewrites only the tail files holding them, the prefix is untouched. A concurrent append into the day
   makes delta-rs refuse the delete: it is tried again from the new version, at most
   :data:`MAX_ATTEMPTS` times. Then the day is checked again (step 1) and marked.

Guarantees: only copies are removed, and only when each named position matches exactly one stored row (else
the day is left for compaction); a marker only ever names files that were verified; a file appended while a
day is tidied is either in the tail of the next tidy or makes the marker stale (the whole day is then
de-duplicated by readers until the next tidy) — never read as clean unverified. Which copy is kept: the
prefix's, even when a tail copy was ingested earlier (a race of two consumers); copies of an event are the
same event, so only pipeline columns (``ingested_at``, the source position) can differ.

Failure modes: storage errors become ``OSError`` (the consumer's step logs and counts them, never stops);
an unreadable file leaves its day untidied (``skipped``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from tracelake.lake.delta import (
    ROW_GROUP_SIZE,
    DataFile,
    add_files,
    clean_app_id,
    clean_until_app_id,
    mark_clean,
    marked_part,
    open_table,
    storage_error,
)
from tracelake.lake.duck import private_connection
from tracelake.lake.lake import Lake
from tracelake.lake.tables import EVENTS, Table
from tracelake.queries.views import sql_string

if TYPE_CHECKING:
    import duckdb
    from deltalake import DeltaTable

log = logging.getLogger("tracelake.ingest.tidy")

MAX_ATTEMPTS = 3
MAX_DAYS = 8
"""Days tidied per call, the most recent first (the others wait for the next call, or for compaction)."""

# The key of the views' de-duplication, the copy order, and the position naming one stored row (a source position
# is stored once by the writer; its ingest time tells apart a re-delivery that reached the lake another way). The
# event's ts adds nothing to the identity but lets delta-rs skip, by their statistics, the files that cannot hold it.
_KEY = ("tenant", "event_id", "event_type")
_ORDER = "ingested_at, kafka_partition, kafka_offset"
_POSITION = ("source", "kafka_topic", "kafka_partition", "kafka_offset", "ingested_at", "ts")

_COPIES_SQL = """
WITH tail AS (
    SELECT {columns}, row_number() OVER (PARTITION BY tenant, event_id, event_type ORDER BY {order}) AS _copy
    FROM {tail}
)
SELECT {columns} FROM tail
WHERE _copy > 1 OR EXISTS (
    SELECT 1 FROM {prefix} AS kept
    WHERE kept.tenant IS NOT DISTINCT FROM tail.tenant AND kept.event_id = tail.event_id
        AND kept.event_type = tail.event_type)
"""

# How many stored rows of the day each named position matches (must be exactly one each).
_MATCHES_SQL = """
SELECT count(*) FROM {day} AS stored
SEMI JOIN (SELECT * FROM (VALUES {values}) AS v({names})) AS wanted
ON {on}
"""


@dataclass(frozen=True)
class TidyResult:
    """What tidying one day did: ``copies`` deleted, whether the day's files are now marked clean (``marked``),
    the files then covered, or why it was left (``skipped``)."""

    table: str
    day: date
    copies: int
    marked: bool
    files: int
    skipped: str | None = None


def tidy_lake(lake: Lake, table: Table = EVENTS, days: Iterable[date] | None = None,
              max_days: int = MAX_DAYS) -> list[TidyResult]:
    """Tidy the days of ``table`` (default: those with files no marker covers, the most recent ``max_days``)."""
    delta = open_table(lake, table)
    if delta is None:
        return []
    if days is None:
        days = _untidy_days(lake, table, delta)
    return [tidy_day(lake, table, day) for day in sorted(set(days), reverse=True)[:max_days]]


def _untidy_days(lake: Lake, table: Table, delta: DeltaTable) -> list[date]:
    by_day: dict[date, list[DataFile]] = {}
    for item in add_files(lake, table, delta.get_add_actions(flatten=True)):
        by_day.setdefault(item.day, []).append(item)
    return [day for day, files in by_day.items() if len(_prefix(lake, table, delta, day, files)) < len(files)]


def _prefix(lake: Lake, table: Table, delta: DeltaTable, day: date, files: Sequence[DataFile]) -> list[DataFile]:
    digest = delta.transaction_version(clean_app_id(table, day))
    until = delta.transaction_version(clean_until_app_id(table, day))
    return marked_part(lake, table, files, None if digest is None else int(digest),
                       None if until is None else int(until))


def tidy_day(lake: Lake, table: Table, day: date) -> TidyResult:
    """Tidy one day (module docstring). Raises ``OSError`` when the storage refuses."""
    deltalake = _deltalake()
    removed = 0
    for _attempt in range(MAX_ATTEMPTS + 1):
        delta = open_table(lake, table)
        if delta is None:
            return TidyResult(table.name, day, removed, False, 0, "no table")
        files = [f for f in add_files(lake, table, delta.get_add_actions(flatten=True)) if f.day == day]
        prefix = _prefix(lake, table, delta, day, files)
        tail = [f for f in files if f not in prefix]
        if not tail:
            return TidyResult(table.name, day, removed, False, len(files))
        try:
            with private_connection(lake) as con:
                copies = _copies(con, prefix, tail)
                if copies and not _unique_positions(con, files, copies):
                    return TidyResult(table.name, day, removed, False, len(files),
                                      "a copy's source position names more than one row (left for compaction)")
        except Exception as exc:  # noqa: BLE001 - duckdb's errors: one unreadable file leaves the day as it is
            return TidyResult(table.name, day, removed, False, len(files), f"cannot read the day: {_line(exc)}")
        if not copies:
            marked = mark_clean(lake, table, delta, day, files)
            return TidyResult(table.name, day, removed, marked, len(files))
        try:
            # Row groups as compaction writes them: the rewritten file stays prunable by time.
            delta.delete(_delete_predicate(table, day, copies), writer_properties=deltalake.WriterProperties(
                compression="ZSTD", max_row_group_size=ROW_GROUP_SIZE))
            removed += len(copies)
        except deltalake.exceptions.CommitFailedError as exc:
            log.info("tidy of %s %s lost a race with an append (%s); trying again", table.name, day, _line(exc))
        except deltalake.exceptions.DeltaError as exc:
            raise storage_error(exc) from exc
    return TidyResult(table.name, day, removed, False, 0, f"still changing after {MAX_ATTEMPTS} attempts")


def _copies(con: duckdb.DuckDBPyConnection, prefix: Sequence[DataFile], tail: Sequence[DataFile]
            ) -> list[tuple[Any, ...]]:
    columns = ", ".join((*_KEY, *_POSITION))
    sql = _COPIES_SQL.format(columns=columns, order=_ORDER, tail=_parquet(tail),
                             prefix=_parquet(prefix) if prefix else _NO_ROWS)
    return con.execute(sql).fetchall()


def _unique_positions(con: duckdb.DuckDBPyConnection, files: Sequence[DataFile],
                      copies: Sequence[tuple[Any, ...]]) -> bool:
    """Whether each copy's (key, position) matches exactly one stored row of the day: a delete by those values
    removes the copies and nothing else."""
    names = (*_KEY, *_POSITION)
    values = ", ".join("(" + ", ".join(_duck_literal(v) for v in row) + ")" for row in copies)
    on = " AND ".join(f"stored.{n} IS NOT DISTINCT FROM wanted.{n}" for n in names)
    found = con.execute(_MATCHES_SQL.format(day=_parquet(files), values=values, names=", ".join(names), on=on))
    row = found.fetchone()
    return row is not None and row[0] == len(copies)


def _delete_predicate(table: Table, day: date, copies: Sequence[tuple[Any, ...]]) -> str:
    """A DataFusion predicate naming exactly ``copies`` within ``day``'s partition."""
    names = (*_KEY, *_POSITION)
    rows = []
    for row in copies:
        parts = [f'"{n}" IS NULL' if v is None else f'"{n}" = {_literal(v)}' for n, v in zip(names, row, strict=True)]
        rows.append("(" + " AND ".join(parts) + ")")
    return f"\"{table.partition}\" = '{day.isoformat()}' AND (" + " OR ".join(rows) + ")"


def _literal(value: Any) -> str:
    if isinstance(value, datetime):
        stamp = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
        return f"arrow_cast('{stamp}', 'Timestamp(Microsecond, Some(\"UTC\"))')"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return sql_string(str(value))


def _duck_literal(value: Any) -> str:
    if isinstance(value, datetime):
        return f"TIMESTAMPTZ '{value.astimezone(UTC).isoformat()}'"
    return "NULL" if value is None else _literal(value)


_NO_ROWS = "(SELECT NULL::VARCHAR AS tenant, NULL::VARCHAR AS event_id, NULL::VARCHAR AS event_type WHERE false)"


def _parquet(files: Sequence[DataFile]) -> str:
    listed = ", ".join(sql_string(f.uri) for f in files)
    return f"read_parquet([{listed}], union_by_name = true)"


def _deltalake() -> Any:
    import deltalake

    return deltalake


def _line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
