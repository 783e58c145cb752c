"""Partition by partition changes of one Delta table, shared by retention and erasure.

A *step* names a table, which rows it touches (``changed``: SQL over one stored row ``t``) and what a
touched partition becomes (``rewrite``: a SELECT over the partition's files, by default the rows not
touched). :func:`survey` counts, per partition of the table's live files, the stored rows and the touched
ones (every copy counts: these are rows on storage, not de-duplicated events); :func:`apply_step` changes
each touched partition in its own Delta commit:

- **drop**: every row goes (and the step allows it): ``DELETE WHERE <partition> = day``, which only
  removes files (no rewrite);
- **rewrite**: ``write_deltalake(mode="overwrite", predicate="<partition> = day")`` with the rows the
  ``rewrite`` SELECT gives, read from exactly the files of the table snapshot the commit replaces.

Only the partition's date appears in the Delta log's commit (the predicate): never a run id or an
identifier. A commit that loses a race with a concurrent writer (delta-rs ``CommitFailedError``) re-reads
the table, counts that partition again and retries, at most :data:`MAX_ATTEMPTS` times; an append into
the partition that commits first is therefore either included in the rewrite or left untouched, never lost.

The SQL runs on a private DuckDB connection (the lake's S3 secret when remote) where the caller registers
the temp tables its SQL needs (``expired_runs``). Failure modes: ``OSError`` when the storage refuses,
:class:`tracelake.errors.Unavailable` when the files cannot be read or races keep being lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from tracelake.errors import Unavailable
from tracelake.lake.delta import DataFile, add_files, open_table, storage_error
from tracelake.lake.duck import private_connection
from tracelake.lake.tables import Table
from tracelake.queries.views import sql_string

if TYPE_CHECKING:
    import duckdb

    from tracelake.lake.lake import Lake

log = logging.getLogger("tracelake.governance")

MAX_ATTEMPTS = 10
COMMIT_KEY = "tracelake.governance"


def read_sql(name: str) -> str:
    """The text of ``tracelake/governance/sql/<name>`` as shipped in the package."""
    return (resources.files("tracelake.governance") / "sql" / name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class Step:
    """What one table undergoes: ``changed`` (SQL over row ``t``: true when the row is touched), ``rewrite``
    (None: keep the untouched rows; else a SELECT with ``{source}`` giving the partition's new rows),
    ``drop_all`` (a partition whose every row is touched may be dropped whole), ``run_key`` (SQL: the row's
    run, counted in ``removed_runs``; NULL for tables of no runs)."""

    table: Table
    changed: str
    rewrite: str | None = None
    drop_all: bool = True
    run_key: str = "CASE WHEN t.run_id IS NULL THEN NULL ELSE (t.tenant, t.run_id) END"


@dataclass
class PartitionChange:
    """One partition of one table: rows stored, rows touched, runs touched, bytes stored and about how many
    of them go (exact for a drop, proportional to rows for a rewrite), and what is (or would be) done."""

    table: str
    partition: str
    rows: int
    removed_rows: int
    removed_runs: int
    bytes: int
    removed_bytes: int
    action: str  # drop | rewrite | keep
    version: int | None = None  # the table version the change committed (apply only)
    attempts: int | None = None  # commit attempts (apply only)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class StepReport:
    table: str
    partitions: list[PartitionChange] = field(default_factory=list)
    # Per partition surveyed, the live files its counts were made from (a partition whose files are still
    # exactly these has the same counts: nothing to count again).
    files: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)

    @property
    def changed(self) -> list[PartitionChange]:
        return [p for p in self.partitions if p.action != "keep"]


def connection(lake: Lake) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
    """A private DuckDB connection able to read ``lake``'s files (:func:`tracelake.lake.duck.private_connection`)."""
    return private_connection(lake)


def _source(files: list[DataFile]) -> str:
    listed = ", ".join(sql_string(f.uri) for f in files)
    return f"read_parquet([{listed}], hive_partitioning = true, union_by_name = true)"


def _by_day(files: list[DataFile]) -> dict[date, list[DataFile]]:
    out: dict[date, list[DataFile]] = {}
    for item in files:
        out.setdefault(item.day, []).append(item)
    return out


def _count(con: duckdb.DuckDBPyConnection, step: Step, files: list[DataFile]) -> dict[date, tuple[int, int, int]]:
    """Per day of ``files``: (rows, touched rows, touched runs)."""
    import duckdb

    sql = (read_sql("retention_partitions.sql").replace("{source}", _source(files))
           .replace("{partition}", step.table.partition).replace("{removed}", step.changed)
           .replace("{run_key}", step.run_key))
    try:
        found = con.execute(sql).fetchall()
    except duckdb.Error as exc:
        raise Unavailable(f"cannot read the {step.table.name} table: {str(exc).splitlines()[0]}") from None
    out = {}
    for day, rows, removed, runs in found:
        out[day if isinstance(day, date) else date.fromisoformat(str(day))] = (int(rows), int(removed), int(runs))
    return out


def _change(step: Step, day: date, files: list[DataFile], counts: tuple[int, int, int]) -> PartitionChange:
    rows, removed, runs = counts
    size = sum(f.size for f in files)
    if removed == 0:
        action, gone = "keep", 0
    elif removed == rows and step.drop_all:
        action, gone = "drop", size
    else:
        action = "rewrite"
        gone = size * removed // rows if step.rewrite is None and rows else 0
    return PartitionChange(step.table.name, day.isoformat(), rows, removed, runs, size, gone, action)


def survey(lake: Lake, con: duckdb.DuckDBPyConnection, step: Step) -> StepReport:
    """What ``step`` would do to each partition of its table's current live files (nothing is written)."""
    report = StepReport(step.table.name)
    delta = open_table(lake, step.table)
    if delta is None:
        return report
    files = add_files(lake, step.table, delta.get_add_actions(flatten=True))
    if not files:
        return report
    days = _by_day(files)
    for day, counts in sorted(_count(con, step, files).items()):
        report.partitions.append(_change(step, day, days.get(day, []), counts))
        report.files[day.isoformat()] = frozenset(f.uri for f in days.get(day, []))
    return report


def apply_step(lake: Lake, con: duckdb.DuckDBPyConnection, step: Step, *, label: str,
               after_commit: Callable[[], None] | None = None, planned: StepReport | None = None) -> StepReport:
    """Survey ``step`` (unless ``planned`` is its survey) and carry it out, one commit per touched partition
    (module docstring); returns what was done, with the version each change committed. ``label`` names the
    commits (custom metadata ``tracelake.governance``) for ``DESCRIBE HISTORY`` readers."""
    planned = planned or survey(lake, con, step)
    done = StepReport(step.table.name)
    for change in planned.partitions:
        if change.action == "keep":
            done.partitions.append(change)
            continue
        done.partitions.append(_apply_partition(lake, con, step, date.fromisoformat(change.partition), label,
                                                change, planned.files.get(change.partition)))
        if after_commit is not None:
            after_commit()
    return done


def _apply_partition(lake: Lake, con: duckdb.DuckDBPyConnection, step: Step, day: date, label: str,
                     known: PartitionChange | None = None, known_files: frozenset[str] | None = None
                     ) -> PartitionChange:
    """Change one partition (module docstring). ``known``: its survey over ``known_files``, used instead of
    counting again while the partition's live files are exactly those."""
    import deltalake

    predicate = f"{step.table.partition} = '{day.isoformat()}'"
    commit = deltalake.CommitProperties(custom_metadata={COMMIT_KEY: f"{label} {step.table.name} {day}"})
    for attempt in range(1, MAX_ATTEMPTS + 1):
        delta = open_table(lake, step.table)
        if delta is None:
            return PartitionChange(step.table.name, day.isoformat(), 0, 0, 0, 0, 0, "keep", attempts=attempt)
        files = [f for f in add_files(lake, step.table, delta.get_add_actions(flatten=True)) if f.day == day]
        if known is not None and known_files == frozenset(f.uri for f in files):
            counts = (known.rows, known.removed_rows, known.removed_runs)
        else:
            counts = _count(con, step, files).get(day, (0, 0, 0)) if files else (0, 0, 0)
        change = _change(step, day, files, counts)
        change.attempts = attempt
        if change.action == "keep":
            return change
        try:
            if change.action == "drop":
                delta.delete(predicate, commit_properties=commit)
            else:
                rows = _rewritten(con, step, files)
                deltalake.write_deltalake(delta, step.table.for_delta(rows), mode="overwrite", predicate=predicate,
                                          partition_by=[step.table.partition], commit_properties=commit,
                                          writer_properties=_writer_properties())
        except deltalake.exceptions.CommitFailedError as exc:
            log.info("%s of %s %s lost a race (%s); re-reading (attempt %d)", label, step.table.name, day, exc,
                     attempt)
            continue
        except deltalake.exceptions.DeltaError as exc:
            raise storage_error(exc) from exc
        change.version = int(delta.version())  # delta-rs moves the object to the version it committed
        return change
    raise Unavailable(f"could not commit the {label} of {step.table.name} {day} after {MAX_ATTEMPTS} attempts: "
                      "other writers keep winning")


def _writer_properties() -> Any:
    import deltalake

    from tracelake.lake.delta import ROW_GROUP_SIZE

    return deltalake.WriterProperties(compression="ZSTD", max_row_group_size=ROW_GROUP_SIZE)


def _rewritten(con: duckdb.DuckDBPyConnection, step: Step, files: list[DataFile]) -> pa.Table:
    """The partition's new rows: ``step.rewrite`` (or the untouched rows) over exactly ``files``."""
    import duckdb

    template = step.rewrite or read_sql("retention_kept_rows.sql")
    sql = template.replace("{source}", _source(files)).replace("{removed}", step.changed)
    try:
        rows = con.execute(sql).to_arrow_table()
    except duckdb.Error as exc:
        raise Unavailable(f"cannot rewrite the {step.table.name} table: {str(exc).splitlines()[0]}") from None
    # DuckDB gives the partition column as a DATE; the table's declared schema holds it as text.
    index = rows.schema.get_field_index(step.table.partition)
    if index >= 0:
        rows = rows.set_column(index, step.table.partition, rows.column(index).cast(pa.string()))
    return rows
