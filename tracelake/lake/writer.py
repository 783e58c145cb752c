"""The lake writer: one method, ``write``; the local implementation writes Hive-partitioned Parquet.

Contract of :meth:`LakeWriter.write`:

- It returns only after every file it wrote is durable: each file is written
  to a temporary name, fsynced, renamed into place (atomic on POSIX), and the
  directory fsynced. A reader never sees a half-written file.
- ``name`` identifies the batch (for Kafka: topic, partition and the first and
  last offset). Writing the same ``name`` again *replaces* the files instead
  of adding to them, so a batch replayed after a crash cannot duplicate rows.
- Rows are split by their ``event_date`` column into
  ``<root>/<table>/event_date=YYYY-MM-DD/<name>.parquet`` (names from
  :mod:`tracelake.lake.layout`), readable as is by DuckDB
  ``read_parquet(..., hive_partitioning=true)``, Polars and pyarrow
  datasets. The ``event_date`` column itself lives in the path, not the file.
- A column the table's declaration (:mod:`tracelake.lake.tables`) lacks is
  refused (:class:`~tracelake.lake.tables.UnknownColumns`), never written.
- It raises ``OSError`` when the disk refuses; the caller must then not
  commit offsets for the batch.
- **Modes, whatever the umask.** Files are created ``0640``
  (:data:`LAKE_FILE_MODE`: owner writes, the owner's group may read, others
  nothing) and the directories the writer creates (the lake root when it is
  missing, ``<table>/``, ``event_date=…/``) ``0750`` (:data:`LAKE_DIR_MODE`).
  The mode is set explicitly (``fchmod`` on the temporary file before the
  rename, ``chmod`` after ``mkdir``), so a reader never sees a file with a
  wider mode and a umask of ``022`` or ``077`` changes nothing. Directories
  that already exist keep their mode: an operator's choice for the lake root
  stands. Both modes are constructor arguments (``file_mode``, ``dir_mode``);
  :meth:`tracelake.lake.lake.Lake.writer` passes the lake's.

Writers are made by :meth:`tracelake.lake.lake.Lake.writer`; constructing
:class:`ParquetLakeWriter` directly is for tests and tools.
"""

from __future__ import annotations

import os
import re
import uuid
from abc import ABC, abstractmethod
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tracelake import fsutil
from tracelake.lake.layout import data_file_name, partition_name, temp_file_name
from tracelake.lake.tables import Table, by_name

_SAFE_NAME = re.compile(r"^[A-Za-z0-9._=-]+$")
LAKE_FILE_MODE = 0o640
LAKE_DIR_MODE = 0o750


class LakeWriter(ABC):
    @abstractmethod
    def write(self, table: pa.Table, name: str) -> list[Path]:
        """Durably write ``table`` under batch ``name``; return the files written."""


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(path: Path, mode: int = LAKE_DIR_MODE) -> None:
    """``mkdir -p`` with the lake's directory mode (exactly ``mode``, whatever the umask)."""
    fsutil.make_dirs(path, mode)


class ParquetLakeWriter(LakeWriter):
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
