"""``tracelake lake convert``: a pre-Delta lake (Hive-partitioned Parquet) becomes Delta tables, in place.

Lakes written before the Delta table (:mod:`tracelake.lake.legacy`) hold
``<lake>/<table>/event_date=YYYY-MM-DD/*.parquet``, the day in the path, not
in the files. For every declared table (:mod:`tracelake.lake.tables`) found
there, :func:`convert_lake`:

1. moves every file no reader may take into the quarantine
   (:func:`tracelake.lake.files.quarantine`, logged in
   ``_quarantine/quarantine.jsonl``): files failing the footer check
   (zero-byte, truncated, not Parquet), whose schema cannot be read, with
   ``deep`` those whose row groups do not decode, and hidden ``.*.parquet``
   files (never data in the old layout, but a Delta conversion would take
   them in). Nothing unreadable becomes part of a table.
2. normalises each file whose columns are not exactly the table's (a file
   written before a column was added lacks it; an older writer may have put
   the day column in): it is rewritten in place with the table's file schema,
   missing columns as nulls (temporary name, fsync, rename). A file holding a
   column the table does not declare stops the conversion of that table
   (nothing is dropped silently).
3. converts the directory with delta-rs ``convert_to_deltalake``
   (``partition_strategy="hive"``, ``event_date`` as a ``DATE``): one commit,
   version 0, an ``add`` action per file, statistics from the footers. The data
   files stay where they are; no row is copied.
4. checks the result: the table's schema is the declared one, and its row
   count (from the log) equals the rows of the files converted.

Idempotent: a table that already has a Delta log is left alone
(``already delta``). A crash during step 2 leaves each file either old or
normalised (re-run), during step 3 no log or the whole commit.

Local lakes only: on ``s3://`` the steps that move and rewrite files are
not offered; convert a local copy and upload it, or run the conversion where
the files are.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tracelake.errors import Unavailable, UserError
from tracelake.fsutil import fsync_dir
from tracelake.lake.delta import LOG_DIR
from tracelake.lake.files import BadFile, deep_problem, one_line, partition_files, partitions, quarantine
from tracelake.lake.lake import Lake
from tracelake.lake.layout import DATA_GLOB, QUARANTINE_DIR, QUARANTINE_LOG
from tracelake.lake.tables import TABLES, Table

OnQuarantine = Callable[[BadFile, Path], None]

HIDDEN_FILE = "hidden file: never data in the pre-Delta layout"


@dataclass(frozen=True)
class Conversion:
    """What ``lake convert`` did to one table.

    ``status``: ``converted``, ``already delta`` (left alone), ``created empty`` (partition directories
    without a data file), ``absent`` (no directory). ``files`` and ``rows``: in the table afterwards.
    """

    table: str
    status: str
    partitions: int
    files: int
    rows: int
    normalised: int
    quarantined: int


def _delta() -> Any:
    import deltalake

    return deltalake


def _quarantine(lake: Lake, bad: BadFile, on_quarantine: OnQuarantine | None) -> None:
    try:
        moved = quarantine(lake, bad)
    except FileNotFoundError:
        return
    except Unavailable:
        # The file is moved and logged; committing its removal found no Delta log yet (nothing to commit).
        moved = _moved_to(lake, bad)
    if on_quarantine is not None:
        on_quarantine(bad, moved)


def _moved_to(lake: Lake, bad: BadFile) -> Path:
    """Where :func:`quarantine` put ``bad``: the last line of the quarantine log names it."""
    import orjson

    lines = (lake.resolved / QUARANTINE_DIR / QUARANTINE_LOG).read_bytes().splitlines()
    return lake.resolved / orjson.loads(lines[-1])["moved_to"]


def _schema_of(path: Path) -> pa.Schema | str:
    """The Arrow schema of ``path``, or why it cannot be read (one line)."""
    try:
        return pq.read_schema(path)
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure makes the file unreadable; reported, not raised
        return one_line(exc)


def _normalise(path: Path, table: Table, lake: Lake) -> None:
    """Rewrite ``path`` in place with exactly the table's file schema (missing columns as nulls)."""
    rows = pq.read_table(path)
    if table.partition in rows.column_names:
        rows = rows.drop_columns([table.partition])
    extra = [name for name in rows.column_names if name not in table.file_schema.names]
    if extra:
        raise UserError(f"{path} holds columns the {table.name} table does not declare ({', '.join(extra)}); "
                        "not converted: nothing is dropped silently")
    columns = [rows.column(f.name).cast(f.type) if f.name in rows.column_names else pa.nulls(rows.num_rows, f.type)
               for f in table.file_schema]
    fixed = pa.Table.from_arrays(columns, schema=table.file_schema)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.fchmod(fd, lake.file_mode)
        with os.fdopen(fd, "wb") as fh:
            pq.write_table(fixed, fh, compression="zstd", row_group_size=122_880)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def _same_columns(schema: pa.Schema, wanted: pa.Schema) -> bool:
    return [(f.name, f.type) for f in schema] == [(f.name, f.type) for f in wanted]


def convert_table(lake: Lake, table: Table, *, deep: bool = False,
                  on_quarantine: OnQuarantine | None = None) -> Conversion:
    """Convert one table of ``lake`` (see the module docstring)."""
    deltalake = _delta()
    directory = lake.table_dir(table)
    if (directory / LOG_DIR).is_dir():
        from tracelake.lake.delta import live_files

        live = live_files(lake, table)
        found = deltalake.DeltaTable(lake.table_uri(table))
        return Conversion(table.name, "already delta", len({f.day for f in live}), len(live),
                          _log_rows(found), 0, 0)
    if not directory.is_dir():
        return Conversion(table.name, "absent", 0, 0, 0, 0, 0)
    quarantined = normalised = rows = files = 0
    days = partitions(lake.local_root, table.name, with_files=False)
    for day_dir in days.values():
        for hidden in sorted(day_dir.glob(".*" + DATA_GLOB[1:])):
            _quarantine(lake, BadFile(hidden, hidden.stat().st_size, HIDDEN_FILE), on_quarantine)
            quarantined += 1
        good, bad = partition_files(day_dir)
        for item in bad:
            _quarantine(lake, item, on_quarantine)
            quarantined += 1
        for path in good:
            schema = _schema_of(path)
            problem = schema if isinstance(schema, str) else (deep_problem(path) if deep else None)
            if problem is not None:
                _quarantine(lake, BadFile(path, path.stat().st_size, problem), on_quarantine)
                quarantined += 1
                continue
            assert isinstance(schema, pa.Schema)
            if not _same_columns(schema, table.file_schema):
                _normalise(path, table, lake)
                normalised += 1
            rows += pq.ParquetFile(path).metadata.num_rows
            files += 1
    uri = lake.table_uri(table)
    if files == 0:
        deltalake.DeltaTable.create(uri, schema=table.delta_schema, partition_by=[table.partition], mode="ignore")
        return Conversion(table.name, "created empty", 0, 0, 0, normalised, quarantined)
    partition_schema = deltalake.Schema.from_arrow(pa.schema([(table.partition, pa.date32())]))
    deltalake.convert_to_deltalake(uri, mode="ignore", partition_by=partition_schema, partition_strategy="hive",
                                   name=table.name)
    converted = deltalake.DeltaTable(uri)
    stored = _log_rows(converted)
    got = pa.schema(converted.schema().to_arrow())
    if not _same_columns(got, table.delta_schema) or stored != rows:
        raise Unavailable(f"the converted {table.name} table does not match its files ({stored} rows in the log, "
                          f"{rows} in the files; columns {got.names}); remove {directory / LOG_DIR} and convert "
                          "again")
    live = converted.get_add_actions(flatten=True)
    return Conversion(table.name, "converted", len(set(pa.table(live).column(f"partition.{table.partition}")
                                                       .to_pylist())), files, rows, normalised, quarantined)


def _log_rows(delta: Any) -> int:
    adds = pa.table(delta.get_add_actions(flatten=True))
    if adds.num_rows == 0:
        return 0
    return sum(n or 0 for n in adds.column("num_records").to_pylist())


def convert_lake(lake: Lake, *, deep: bool = False, on_quarantine: OnQuarantine | None = None) -> list[Conversion]:
    """Convert every declared table of a local pre-Delta ``lake`` to a Delta table, in place; one
    :class:`Conversion` per table. Raises :class:`~tracelake.errors.UserError` for an ``s3://`` lake or a file
    with an undeclared column, ``OSError`` when a file cannot be moved or rewritten."""
    if lake.is_remote:
        raise UserError(f"{lake}: 'lake convert' works on a local lake (it moves and rewrites files); convert a "
                        "local copy, then upload it with its _delta_log")
    if not lake.local_root.is_dir():
        raise UserError(f"no lake at {lake}")
    return [convert_table(lake, table, deep=deep, on_quarantine=on_quarantine) for table in TABLES]
