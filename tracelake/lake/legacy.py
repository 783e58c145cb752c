"""The pre-Delta lake writer: Hive-partitioned Parquet, ``<root>/<table>/event_date=YYYY-MM-DD/<batch>.parquet``.

Lakes written before the Delta table look like this. tracelake no longer
writes them; this writer stays so that ``tracelake lake convert`` has a lake
to convert in its tests, and benches can build the same files to compare
reading them with and without the Delta log.

- It returns only after every file it wrote is durable (temporary name,
  fsync, rename, directory fsync).
- Writing the same batch ``name`` again replaces its files.
- The ``event_date`` column lives in the path, not the file.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tracelake.fsutil import fsync_dir
from tracelake.lake.layout import data_file_name, partition_name, temp_file_name
from tracelake.lake.tables import Table, by_name
from tracelake.lake.writer import LAKE_DIR_MODE, LAKE_FILE_MODE, make_dirs

_SAFE_NAME = re.compile(r"^[A-Za-z0-9._=-]+$")


class ParquetLakeWriter:
    """zstd Parquet, large row groups (DuckDB reads small ones several times slower)."""

    def __init__(self, root: str | os.PathLike[str], table: str | Table = "events", row_group_size: int = 122_880, *,
                 file_mode: int = LAKE_FILE_MODE, dir_mode: int = LAKE_DIR_MODE) -> None:
        """Write ``table`` (a declaration, or a declared table's name) under ``root``; ``KeyError`` for a table
        the lake does not declare."""
        self.table = table if isinstance(table, Table) else by_name(table)
        self.root = Path(root) / self.table.name
        self.row_group_size = row_group_size
        self.file_mode = file_mode
        self.dir_mode = dir_mode

    def write(self, table: pa.Table, name: str) -> list[Path]:
        if not _SAFE_NAME.match(name):
            raise ValueError(f"batch name {name!r} may only hold letters, digits and . _ = -")
        written: list[Path] = []
        self.table.check_columns(table)
        if table.num_rows == 0:
            return written
        partition = self.table.partition
        dates = table.column(partition)
        for date in pc.unique(dates).to_pylist():
            part = table.filter(pc.equal(dates, date)).drop_columns([partition])
            directory = self.root / partition_name(date)
            make_dirs(directory, self.dir_mode)
            final = directory / data_file_name(name)
            tmp = directory / temp_file_name(name, uuid.uuid4().hex[:8])
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                os.fchmod(fd, self.file_mode)
                with os.fdopen(fd, "wb") as fh:
                    pq.write_table(part, fh, compression="zstd", row_group_size=self.row_group_size)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, final)
            finally:
                tmp.unlink(missing_ok=True)
            fsync_dir(directory)
            written.append(final)
        return written
