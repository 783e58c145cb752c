"""The :class:`Lake`: one object per process that says where the lake is and how it is written and read.

Every entry point (the CLI commands, the API app factory, the demo, the alert
scheduler, the consumer) builds it once with :meth:`Lake.from_settings` and
hands it down; functions below them take the ``Lake`` (low-level helpers that
only need a directory may still take a path, and :func:`as_lake` turns one
into a ``Lake``).

The lake is a local directory or ``s3://bucket/prefix`` (any S3-compatible
store); each table in it is a Delta Lake table (:mod:`tracelake.lake.delta`).
The ``Lake`` holds the location, the object-store options (from the standard
``AWS_*`` variables, :func:`object_store_options`), the file and directory
modes of a local lake; it makes the writers (:meth:`Lake.writer`) and gives
readers the live data files (:meth:`Lake.data_files`) and which partitions
hold no copies on disk (:meth:`Lake.clean_days`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from tracelake.lake.files import BadFile, one_line, quarantine, scan_lake, split_files
from tracelake.lake.layout import partition_dir, table_dir
from tracelake.lake.tables import EVENTS, TABLES, Table
from tracelake.lake.writer import LAKE_DIR_MODE, LAKE_FILE_MODE

if TYPE_CHECKING:
    from tracelake.lake.delta import DataFile, DeltaLakeWriter
    from tracelake.settings import Settings

# The object-store variables the lake passes to delta-rs and DuckDB (the standard AWS names).
AWS_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ALLOW_HTTP", "AWS_CONDITIONAL_PUT",
                 "AWS_S3_ALLOW_UNSAFE_RENAME", "AWS_VIRTUAL_HOSTED_STYLE_REQUEST")


def object_store_options(environ: Mapping[str, str]) -> dict[str, str]:
    """The options of an ``s3://`` lake from ``environ``: the ``AWS_*`` variables that are set, plus two defaults.

    - ``AWS_CONDITIONAL_PUT=etag`` unless set: a Delta commit is a put-if-absent of the next log file, which
      AWS S3 and S3Proxy honour; without it two writers could both take one version (docs/operations.md).
      ``AWS_S3_LOCKING_PROVIDER`` is not passed on: deltalake 1.6.1 removed the DynamoDB lock, and the setting
      now means commits without any lock.
    - ``AWS_ALLOW_HTTP=true`` when ``AWS_ENDPOINT_URL`` is ``http://`` (a loopback or private store).
    - ``AWS_REGION`` from ``AWS_DEFAULT_REGION`` when only that is set.
    """
    options = {name: environ[name] for name in AWS_VARIABLES if environ.get(name)}
    if "AWS_DEFAULT_REGION" in options:
        options.setdefault("AWS_REGION", options.pop("AWS_DEFAULT_REGION"))
    if "AWS_S3_ALLOW_UNSAFE_RENAME" not in options:
        options.setdefault("AWS_CONDITIONAL_PUT", "etag")
    if options.get("AWS_ENDPOINT_URL", "").startswith("http://"):
        options.setdefault("AWS_ALLOW_HTTP", "true")
    return options


@dataclass(frozen=True)
class Lake:
    """A lake at ``root`` (a local ``Path`` or an ``s3://`` URL); immutable and picklable (query workers
    receive it).

    A local ``root`` is kept as given (relative paths stay relative to the working directory); readers that
    need an absolute path use :attr:`resolved` / :attr:`uri`. ``options`` are the object-store options of an
    ``s3://`` lake (empty for a local one).
    """

    root: Path | str
    file_mode: int = LAKE_FILE_MODE
    dir_mode: int = LAKE_DIR_MODE
    options: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", _checked(self.root))

    @classmethod
    def from_settings(cls, settings: Settings, environ: Mapping[str, str] | None = None) -> Lake:
        """The lake of ``settings`` (``TRACELAKE_LAKE`` / ``--lake``, already checked by the settings); an
        ``s3://`` lake takes its options from ``environ`` (default ``os.environ``)."""
        return cls.at(settings.lake, environ)

    @classmethod
    def at(cls, root: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Lake:
        """A lake at ``root`` with the default modes; ``ValueError`` (one line) for a URL the lake cannot use."""
        where = _checked(root)
        options: tuple[tuple[str, str], ...] = ()
        if isinstance(where, str):
            options = tuple(sorted(object_store_options(os.environ if environ is None else environ).items()))
        return cls(where, options=options)

    @property
    def is_remote(self) -> bool:
        """Whether the lake is on object storage (``s3://``)."""
        return isinstance(self.root, str)

    @property
    def storage_options(self) -> dict[str, str]:
        """The object-store options (delta-rs / ``object_store`` keys); empty for a local lake."""
        return dict(self.options)

    @property
    def uri(self) -> str:
        """Where the lake is, as delta-rs and DuckDB take it: the absolute local path, or the ``s3://`` URL."""
        return self.root if isinstance(self.root, str) else str(self.resolved)

    def table_uri(self, table: Table | str) -> str:
        """``<uri>/<table>``: where one table's Delta log and files are."""
        return f"{self.uri.rstrip('/')}/{_name(table)}"

    @property
    def local_root(self) -> Path:
        """The root of a local lake; ``ValueError`` for a lake on object storage (a local-only operation)."""
        if isinstance(self.root, str):
            raise ValueError(f"{self.root} is on object storage; this operation needs a local lake")
        return self.root

    @property
    def resolved(self) -> Path:
        """The root as an absolute path, symlinks resolved (local lakes only)."""
        return self.local_root.resolve()

    @property
    def state_dir(self) -> Path:
        """Where this host keeps per-process state about the lake (health files): the lake itself when
        local, else a folder under ``$XDG_STATE_HOME/tracelake`` named after the lake's URL."""
        if not isinstance(self.root, str):
            return self.root
        base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
        return base / "tracelake" / hashlib.sha256(self.root.encode()).hexdigest()[:16]

    def __str__(self) -> str:
        return str(self.root)

    def __fspath__(self) -> str:
        # A local Lake can go wherever a path went (Path(lake)): keeps low-level helpers path-based.
        return os.fspath(self.local_root)

    # -- layout (local lakes) -----------------------------------------------------------------------------------
    def table_dir(self, table: Table | str) -> Path:
        """``<root>/<table>`` of a local lake."""
        return table_dir(self.local_root, _name(table))

    def partition_dir(self, table: Table | str, day: str | date) -> Path:
        """``<root>/<table>/event_date=<day>`` of a local lake."""
        return partition_dir(self.local_root, _name(table), day)

    # -- writing ---------------------------------------------------------------------------------------------------
    def writer(self, table: Table | str) -> DeltaLakeWriter:
        """The exactly-once Delta writer of ``table`` (:class:`~tracelake.lake.delta.DeltaLakeWriter`)."""
        from tracelake.lake.delta import DeltaLakeWriter

        return DeltaLakeWriter(self, table)

    def positions(self, table: Table | str, sources: list[str]) -> dict[str, int]:
        """The last offsets ``table`` records for ``sources`` (:func:`tracelake.lake.delta.source_positions`)."""
        from tracelake.lake.delta import source_positions

        return source_positions(self, table, sources)

    # -- reading ---------------------------------------------------------------------------------------------------
    def data_files(self, table: Table | str) -> list[DataFile]:
        """The live data files of ``table``'s current version (from its Delta log); empty when it has none."""
        from tracelake.lake.delta import live_files

        return live_files(self, table)

    def partitions(self, table: Table | str) -> dict[date, list[DataFile]]:
        """The live data files of ``table`` by day (only days that have some)."""
        out: dict[date, list[DataFile]] = {}
        for item in self.data_files(table):
            out.setdefault(item.day, []).append(item)
        return dict(sorted(out.items()))

    def clean_days(self, table: Table | str, partitions: Mapping[date, Sequence[DataFile]]) -> set[date]:
        """The days of ``partitions`` (as :meth:`partitions` lists them) whose exact file sets compaction marked
        clean — no two rows with the same identity: readers may skip de-duplicating them
        (:func:`tracelake.lake.delta.clean_days`)."""
        from tracelake.lake.delta import clean_days

        return clean_days(self, table, partitions)

    def clean_files(self, table: Table | str, partitions: Mapping[date, Sequence[DataFile]]
                    ) -> dict[date, list[DataFile]]:
        """Per day of ``partitions``, the files a clean marker covers (all of them, or a clean prefix: the files
        written up to the marker), which readers take as they are (:func:`tracelake.lake.delta.clean_files`)."""
        from tracelake.lake.delta import clean_files

        return clean_files(self, table, partitions)

    def scan(self, *, deep: bool = False, tables: tuple[Table, ...] = TABLES) -> list[BadFile]:
        """Every unreadable live file of ``tables``; see :func:`tracelake.lake.files.scan_lake`."""
        return scan_lake(self, tables, deep=deep)

    def quarantine(self, bad: BadFile) -> Path:
        """Move ``bad`` under ``<root>/_quarantine/``; see :func:`tracelake.lake.files.quarantine`."""
        return quarantine(self, bad)

    def stored_event_ids(self, keys: set[tuple[str, str]], dates: set[str]) -> set[tuple[str, str]]:
        """The subset of ``keys`` — ``(tenant, event_id)`` pairs — already in ``events``, looking only at those
        dates' files.

        An event's identity is tenant-scoped: another tenant's row with the same ``event_id`` does not
        count. Files that fail the footer check are not read. Raises :class:`tracelake.errors.Unavailable`
        when a file cannot be read, naming the way out
        (``tracelake lake check --deep``).
        """
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.dataset as ds

        wanted = {date.fromisoformat(d) for d in dates}
        live = [f for f in self.data_files(EVENTS) if f.day in wanted]
        # Files that fail the footer check hold no event anyone can see: not read (local lakes; on object
        # storage a bad file surfaces as the error below).
        files = [f.uri for f in live] if self.is_remote else split_files(live)[0]
        if not files or not keys:
            return set()
        tenant, event_id = EVENTS.identity
        try:
            filesystem = _filesystem(self)
            paths = [_fs_path(uri) for uri in files] if filesystem is not None else files
            table = ds.dataset(paths, format="parquet", filesystem=filesystem).to_table(
                columns=[tenant, event_id], filter=pc.field(event_id).isin(sorted({i for _, i in keys})))
        except (pa.ArrowException, OSError) as exc:
            from tracelake.errors import Unavailable

            raise Unavailable(f"cannot read the lake's events to skip duplicates ({one_line(exc)}); "
                              "run 'tracelake lake check --deep' to find the unreadable file") from None
        found = zip(table.column(tenant).to_pylist(), table.column(event_id).to_pylist(), strict=True)
        return {("default" if t is None else t, i) for t, i in found} & keys


def _filesystem(lake: Lake) -> object | None:
    """A pyarrow S3 filesystem for an ``s3://`` lake's options; None for a local lake."""
    if not lake.is_remote:
        return None
    from pyarrow import fs

    options = lake.storage_options
    endpoint = options.get("AWS_ENDPOINT_URL")
    return fs.S3FileSystem(
        access_key=options.get("AWS_ACCESS_KEY_ID"), secret_key=options.get("AWS_SECRET_ACCESS_KEY"),
        session_token=options.get("AWS_SESSION_TOKEN"), region=options.get("AWS_REGION"),
        endpoint_override=endpoint, scheme="http" if (endpoint or "").startswith("http://") else "https",
        force_virtual_addressing=options.get("AWS_VIRTUAL_HOSTED_STYLE_REQUEST") == "true")


def _fs_path(uri: str) -> str:
    return uri.split("://", 1)[1]


# What functions that read the lake accept: the entry point's Lake, or (for tests and tools) its root.
LakeRef = Lake | str | os.PathLike[str]


def as_lake(lake: LakeRef) -> Lake:
    """``lake`` itself, or a :class:`Lake` at that path (default options); ``ValueError`` for a URL."""
    return lake if isinstance(lake, Lake) else Lake.at(lake)


def _checked(root: str | os.PathLike[str]) -> Path | str:
    from tracelake.lake.layout import check_location

    return root if isinstance(root, Path) else check_location(os.fspath(root))


def _name(table: Table | str) -> str:
    return table.name if isinstance(table, Table) else table


def stored_event_ids(lake: LakeRef, keys: set[tuple[str, str]],
                     dates: set[str]) -> set[tuple[str, str]]:
    """:meth:`Lake.stored_event_ids` of ``lake`` (a ``Lake`` or its root)."""
    return as_lake(lake).stored_event_ids(keys, dates)
