"""Locked-down DuckDB databases, kept between connections of one process.

Opening a DuckDB database costs ~10 ms of its own (1.5.5 on this VM: catalog,
built-in extensions) and ~4 ms to close, and every fresh database reads every
Parquet footer again to bind the views; for a one-day question on the runs
rollup that was most of the 0.03–0.05 s answer. A :class:`LakeConnection`
(:mod:`tracelake.queries.engine`) therefore takes a database from here and
gives it back when it closes.

Contract:

- A database is used by **one connection at a time** (never shared by two
  live connections), so each query keeps its own memory limit, threads and
  private spill directory exactly as with a fresh database.
- It is created already locked down (:func:`lock_down`: allowed directories =
  the lake, external access off, extension autoload off, configuration
  locked) with the lake's extensions and S3 secret loaded; callers only
  create the views. It is reused only by a caller with the same lake, storage
  options, extensions and limits (:class:`DatabaseKey`).
- Giving it back drops the lake's views; a database that failed a query, or
  whose catalog holds anything else (a table, another view), is closed, never
  reused. A database is also closed after :data:`MAX_USES` uses or
  :data:`MAX_AGE_S` seconds, so what it caches (Parquet footers of files a
  compaction removed since) stays bounded; at most :data:`MAX_IDLE` wait.
- Per process: a forked child never touches its parent's databases (DuckDB
  is not fork-safe); it starts with an empty pool.
- Parquet footers are cached per database (``parquet_metadata_cache``):
  Delta data files are never rewritten in place, and DuckDB checks a cached
  footer against the file's modification time.

Failure modes: :func:`acquire` raises what ``duckdb.connect`` or loading the
extensions raises (the engine turns it into one line); the spill directory is
removed when creation fails.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from tracelake.lake.duck import load_lake_extensions
from tracelake.queries.views import VIEW_NAMES, sql_string

if TYPE_CHECKING:
    from tracelake.lake.lake import Lake

MAX_USES = 256
MAX_AGE_S = 300.0
MAX_IDLE = 8


@dataclass(frozen=True)
class DatabaseKey:
    """What makes two databases interchangeable: the lake and how it is read, and the per-query limits."""

    root: str
    options: tuple[tuple[str, str], ...]
    extensions: tuple[str, ...]
    threads: int
    memory_limit: str
    temp_dir: str
    temp_max_size: str


@dataclass
class Database:
    """One locked-down DuckDB database, its private spill directory and its age."""

    key: DatabaseKey
    con: duckdb.DuckDBPyConnection
    spill: Path
    created: float = field(default_factory=time.monotonic)
    uses: int = 0

    def close(self) -> None:
        """Close DuckDB, then remove the spill directory (both best effort)."""
        try:
            self.con.close()
        except duckdb.Error:
            pass
        finally:
            shutil.rmtree(self.spill, ignore_errors=True)

    @property
    def expired(self) -> bool:
        return self.uses >= MAX_USES or time.monotonic() - self.created > MAX_AGE_S


_lock = threading.Lock()
_idle: list[Database] = []
_pid = os.getpid()


def _own_pool() -> list[Database]:
    """The idle list of this process (a forked child forgets its parent's without closing them)."""
    global _pid
    if os.getpid() != _pid:
        _idle.clear()
        _pid = os.getpid()
    return _idle


def acquire(key: DatabaseKey, lake: Lake) -> Database:
    """An idle database for ``key`` (most recently used first), or a new one, locked down for ``lake``."""
    with _lock:
        idle = _own_pool()
        for index in range(len(idle) - 1, -1, -1):
            if idle[index].key == key:
                database = idle.pop(index)
                database.uses += 1
                return database
    database = _create(key, lake)
    database.uses = 1
    return database


def release(database: Database, *, reusable: bool) -> None:
    """Give ``database`` back after its connection closed: drop the lake's views and keep it for the next
    connection, or close it (not ``reusable``, anything else in its catalog, expired, or the pool full)."""
    if not reusable or database.expired or not _clear(database):
        database.close()
        return
    with _lock:
        idle = _own_pool()
        idle.append(database)
        surplus = idle[:-MAX_IDLE] if len(idle) > MAX_IDLE else []
        del idle[:len(surplus)]
    for old in surplus:
        old.close()


def close_idle() -> int:
    """Close every idle database of this process; returns how many (tests, process exit)."""
    with _lock:
        idle = list(_own_pool())
        _idle.clear()
    for database in idle:
        database.close()
    return len(idle)


atexit.register(close_idle)


_VIEWS_AND_TABLES = """
SELECT
    (SELECT count(*) FROM duckdb_tables() WHERE NOT internal),
    (SELECT list(view_name) FROM duckdb_views() WHERE NOT internal)
"""


def _clear(database: Database) -> bool:
    """Drop the views (in dependency order, dependants first); False when the catalog held anything else."""
    try:
        row = database.con.execute(_VIEWS_AND_TABLES).fetchone()
        tables, views = (row or (1, None))
        if tables or set(views or ()) - set(VIEW_NAMES):
            return False
        for name in reversed(VIEW_NAMES):
            database.con.execute(f'DROP VIEW IF EXISTS "{name}"')
    except duckdb.Error:
        return False
    return True


def _create(key: DatabaseKey, lake: Lake) -> Database:
    base = Path(key.temp_dir)
    # A private spill directory per database: DuckDB names its temp files by process id, so two databases
    # of one process must not share one. Named q-<pid>-… so that a later process sweeps it if this one dies.
    spill = Path(tempfile.mkdtemp(prefix=f"q-{os.getpid()}-", dir=base))
    try:
        con = duckdb.connect(":memory:", config={
            "threads": key.threads, "memory_limit": key.memory_limit,
            "temp_directory": str(spill), "max_temp_directory_size": key.temp_max_size})
    except BaseException:
        shutil.rmtree(spill, ignore_errors=True)
        raise
    database = Database(key, con, spill)
    try:
        con.execute("SET TimeZone = 'UTC'")
        # Footers read once per database, not once per view and query (see the module docstring).
        con.execute("SET parquet_metadata_cache = true")
        load_lake_extensions(con, lake, key.extensions)
        lock_down(con, lake.uri)
    except BaseException:
        database.close()
        raise
    return database


def lock_down(con: duckdb.DuckDBPyConnection, root: str) -> None:
    """DuckDB's own controls, in this order (engine module docstring, point 3).

    ``allowed_directories`` must be set while external access is still on; the lake's views read their files
    afterwards (an s3:// lake through httpfs and its secret), nothing else can be read. The extensions are
    loaded by now: autoload off keeps any other from loading. The lock comes last.
    """
    lake = sql_string(root.rstrip("/") + "/")
    for statement in (
        f"SET allowed_directories = [{lake}]",
        "SET enable_external_access = false",
        "SET autoinstall_known_extensions = false",
        "SET autoload_known_extensions = false",
        "SET python_enable_replacements = false",
        # DuckDB draws a progress bar on stdout for long queries; stdout belongs to the result.
        "SET enable_progress_bar = false",
        "SET lock_configuration = true",
    ):
        con.execute(statement)
