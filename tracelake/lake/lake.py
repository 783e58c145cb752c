"""The :class:`Lake`: one object per process that says where the lake is and how it is written and read.

Every entry point (the CLI commands, the API app factory, the demo, the alert
scheduler, the consumer) builds it once with :meth:`Lake.from_settings` and
hands it down; functions below them take the ``Lake`` (low-level helpers that
only need a directory may still take a path, and :func:`as_lake` turns one
into a ``Lake``).

It holds the root, the settings-derived options (file and directory modes),
makes the writers (:meth:`Lake.writer`) and gives readers their file lists
(:meth:`Lake.partitions`, :meth:`Lake.partition_files`,
:meth:`Lake.stored_event_ids`). A URL-shaped root (``s3://…``) is refused
(:func:`tracelake.lake.layout.check_location`): object storage arrives with
the Delta Lake table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracelake.lake.files import BadFile, one_line, partition_files, partitions, quarantine, scan_lake
from tracelake.lake.layout import partition_dir, table_dir
from tracelake.lake.tables import EVENTS, TABLES, Table
from tracelake.lake.writer import LAKE_DIR_MODE, LAKE_FILE_MODE, ParquetLakeWriter

if TYPE_CHECKING:
    from tracelake.settings import Settings

@dataclass(frozen=True)
class Lake:
    """A local lake at ``root``; immutable and picklable (query workers receive it).

    ``root`` is kept as given (relative paths stay relative to the working directory); readers that
    need an absolute path use :attr:`resolved`.
    """

    root: Path
    file_mode: int = LAKE_FILE_MODE
    dir_mode: int = LAKE_DIR_MODE

    def __post_init__(self) -> None:
        # Object storage comes with the Delta table; until then a URL would be a local folder named "s3:".
        object.__setattr__(self, "root", _local(self.root))

    @classmethod
    def from_settings(cls, settings: Settings) -> Lake:
        """The lake of ``settings`` (``TRACELAKE_LAKE`` / ``--lake``, already checked by the settings)."""
        return cls(Path(settings.lake))

    @classmethod
    def at(cls, root: str | os.PathLike[str]) -> Lake:
        """A lake at ``root`` with the default options; ``ValueError`` when ``root`` is URL-shaped."""
        return cls(_local(root))

    @property
    def resolved(self) -> Path:
        """The root as an absolute path, symlinks resolved (what DuckDB's ``allowed_directories`` needs)."""
        return self.root.resolve()

    def __str__(self) -> str:
        return str(self.root)

    def __fspath__(self) -> str:
        # A Lake can go wherever a path went (open_lake, Path(lake)): keeps low-level helpers path-based.
        return os.fspath(self.root)

    # -- layout ----------------------------------------------------------------------------------------------------
    def table_dir(self, table: Table | str) -> Path:
        """``<root>/<table>``."""
        return table_dir(self.root, _name(table))

    def partition_dir(self, table: Table | str, day: str | date) -> Path:
        """``<root>/<table>/event_date=<day>``."""
        return partition_dir(self.root, _name(table), day)

    # -- writing ---------------------------------------------------------------------------------------------------
    def writer(self, table: Table | str, **options: Any) -> ParquetLakeWriter:
        """The durable writer of ``table`` with this lake's file and directory modes (``options`` go to
        :class:`~tracelake.lake.writer.ParquetLakeWriter`, e.g. ``row_group_size``)."""
        return ParquetLakeWriter(self.root, table, file_mode=self.file_mode, dir_mode=self.dir_mode, **options)

    # -- reading ---------------------------------------------------------------------------------------------------
    def partitions(self, table: Table | str) -> dict[date, Path]:
        """The table's partition directories that hold at least one data file, by day."""
        return partitions(self.root, _name(table))

    def partition_files(self, table: Table | str, day: str | date) -> tuple[list[Path], list[BadFile]]:
        """One partition's data files as (readable, unreadable); see :func:`tracelake.lake.files.partition_files`."""
        return partition_files(self.partition_dir(table, day))

    def scan(self, *, deep: bool = False, tables: tuple[Table, ...] = TABLES) -> list[BadFile]:
        """Every unreadable file of ``tables``; see :func:`tracelake.lake.files.scan_lake`."""
        return scan_lake(self.root, [t.name for t in tables], deep=deep)

    def quarantine(self, bad: BadFile) -> Path:
        """Move ``bad`` under ``<root>/_quarantine/``; see :func:`tracelake.lake.files.quarantine`."""
        return quarantine(self.root, bad)

    def stored_event_ids(self, keys: set[tuple[str, str]], dates: set[str]) -> set[tuple[str, str]]:
        """The subset of ``keys`` — ``(tenant, event_id)`` pairs — already in ``events``, looking only at those
        dates' partitions.

        An event's identity is tenant-scoped: another tenant's row with the same ``event_id`` does not
        count. Files that fail the footer check are not read (they hold no event anyone can see); a file
        that is corrupt inside raises :class:`tracelake.errors.Unavailable` naming the way out
        (``tracelake lake check --deep``).
        """
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.dataset as ds

        files = [str(path) for day in sorted(dates) for path in self.partition_files(EVENTS, day)[0]]
        if not files or not keys:
            return set()
        tenant, event_id = EVENTS.identity
        try:
            table = ds.dataset(files, format="parquet").to_table(
                columns=[tenant, event_id], filter=pc.field(event_id).isin(sorted({i for _, i in keys})))
        except (pa.ArrowException, OSError) as exc:
            from tracelake.errors import Unavailable

            raise Unavailable(f"cannot read the lake's events to skip duplicates ({one_line(exc)}); "
                              "run 'tracelake lake check --deep' to quarantine the unreadable file") from None
        found = zip(table.column(tenant).to_pylist(), table.column(event_id).to_pylist(), strict=True)
        return {("default" if t is None else t, i) for t, i in found} & keys


# What functions that read the lake accept: the entry point's Lake, or (for tests and tools) its root.
LakeRef = Lake | str | os.PathLike[str]


def as_lake(lake: LakeRef) -> Lake:
    """``lake`` itself, or a :class:`Lake` at that path (default options); ``ValueError`` for a URL."""
    return lake if isinstance(lake, Lake) else Lake.at(lake)


def _local(root: str | os.PathLike[str]) -> Path:
    from tracelake.lake.layout import check_location

    return check_location(os.fspath(root))


def _name(table: Table | str) -> str:
    return table.name if isinstance(table, Table) else table


def stored_event_ids(lake: LakeRef, keys: set[tuple[str, str]],
                     dates: set[str]) -> set[tuple[str, str]]:
    """:meth:`Lake.stored_event_ids` of ``lake`` (a ``Lake`` or its root)."""
    return as_lake(lake).stored_event_ids(keys, dates)
