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
- Giving it back keeps the lake's views when the catalog holds exactly the
  views the connection defined (their catalog ids, compared); the
  next connection whose view statements are the very same text (same tenant,
  window partitions, files, rollup tail) uses them as they are, any other
  connection replaces them (:func:`define_views`). Every file list, tenant
  filter and tail of the rollup is written into that text, so equal text is
  an equal view. Binding the views costs 0.01–0.03 s on the 10M-event bench
  lake (it reads the files' schemas and plans the rollup's tail), more than a
  one-day question.
- *Tails* are materialized on first use (:func:`materialize_tails`): the
  views :data:`tracelake.queries.views.TAILS` hold what the other views
  compute from the files the upkeep has not seen yet (the open day's newest
  files de-duplicated against its clean prefix, the runs they touch
  recomputed). Before a query runs, each tail it reads (by the names it
  references, :data:`~tracelake.queries.views.TAIL_DEPENDENCIES`) is replaced
  by a table of its rows, so the connection's next questions, and the next
  connection over the same files, do not compute it again. A table made from
  the same text over the same immutable files holds the same rows; a tail
  the analysis misses stays a view, which gives the same answer, slower.
  A database that failed a query, or whose catalog holds anything else
  (another table or view, or one of its own altered), is closed, never
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
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from tracelake.lake.duck import load_lake_extensions
from tracelake.queries.views import TAIL_DEPENDENCIES, TAILS, VIEW_NAMES, sql_string

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
    # The statements that defined the current views and tail tables, and the (kind, name, catalog id) of
    # every object they made (None: none).
    statements: tuple[str, ...] | None = None
    catalog: Catalog | None = None
    # The tails still defined as views (not materialized yet).
    tails: frozenset[str] = frozenset()

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


def acquire(key: DatabaseKey, lake: Lake, statements: tuple[str, ...] | None = None) -> Database:
    """An idle database for ``key`` whose views are ``statements`` when there is one, else the most recently
    used one for ``key``, else a new one, locked down for ``lake``."""
    with _lock:
        idle = _own_pool()
        matching = [i for i in range(len(idle)) if idle[i].key == key]
        if matching:
            same = [i for i in matching if statements is not None and idle[i].statements == statements]
            database = idle.pop((same or matching)[-1])
            database.uses += 1
            return database
    database = _create(key, lake)
    database.uses = 1
    return database


def release(database: Database, *, reusable: bool) -> None:
    """Give ``database`` back after its connection closed, views kept, for the next connection; or close it
    (not ``reusable``, its catalog not exactly the views :func:`define_views` made, expired, or the pool full)."""
    if not reusable or database.expired or not _unchanged(database):
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


def forget_views() -> int:
    """Make every idle database of this process re-create its views and tails at its next use, as a new lake
    version makes it (its Parquet footers stay cached); returns how many (benches: the first question after a
    batch)."""
    with _lock:
        idle = list(_own_pool())
    for database in idle:
        database.statements = None
    return len(idle)


atexit.register(close_idle)


_CATALOG = """
SELECT
    (SELECT list((table_name, table_oid) ORDER BY table_name) FROM duckdb_tables() WHERE NOT internal),
    (SELECT list((view_name, view_oid) ORDER BY view_name) FROM duckdb_views() WHERE NOT internal)
"""


@dataclass(frozen=True)
class Catalog:
    """The (name, catalog id) of every table and view of a database. An object replaced, or dropped and created
    again, gets a new id (reading DuckDB's SQL text of each view instead costs ~3 ms)."""

    tables: tuple[tuple[str, int], ...]
    views: tuple[tuple[str, int], ...]


def _catalog(con: duckdb.DuckDBPyConnection) -> Catalog:
    row = con.execute(_CATALOG).fetchone()
    tables, views = row or (None, None)
    return Catalog(tuple((str(name), int(oid)) for name, oid in (tables or ())),
                   tuple((str(name), int(oid)) for name, oid in (views or ())))


def _unchanged(database: Database) -> bool:
    """True when the catalog holds exactly the tables and views :func:`define_views` made, unaltered."""
    try:
        return _catalog(database.con) == (database.catalog or Catalog((), ()))
    except duckdb.Error:
        return False


def define_views(database: Database, statements: tuple[str, ...]) -> None:
    """Make ``statements`` (CREATE VIEW statements over :data:`VIEW_NAMES`, tails included) the database's
    views: nothing to do when they already are (same text; tails materialized since stay), else the old views
    and materialized tails are dropped and these created. Raises ``duckdb.Error`` as creating a view does (a
    file that cannot be read); the database is then not reusable (the caller does not give it back as such)."""
    if database.statements == statements:
        return
    old = database.catalog or Catalog((), ())
    database.statements = database.catalog = None
    database.tails = frozenset()
    views = {name for name, _ in old.views}
    for name in reversed(VIEW_NAMES):  # dependants first
        if name in views:
            database.con.execute(f'DROP VIEW "{name}"')
    for name, _ in old.tables:
        database.con.execute(f'DROP TABLE "{name}"')
    for statement in statements:
        database.con.execute(statement)
    database.catalog = _catalog(database.con)
    database.tails = frozenset(name for name, _ in database.catalog.views if name in TAILS)
    database.statements = statements


_PARAMETER = re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*|\$\d+|\?")


def materialize_tails(database: Database, sql: str) -> None:
    """Replace each tail view that ``sql`` reads (by the view names it references) by a table of its rows (the
    module docstring). Raises ``duckdb.Error`` as computing a tail does; the caller runs this under the query's
    time limit and treats a failure as the query's (the database is then closed, not reused). SQL that does
    not parse is left to fail as the query."""
    if not database.tails:
        return
    try:
        # Parameters as NULL: DuckDB refuses to extract names from some statements holding prepared parameters.
        names = duckdb.get_table_names(_PARAMETER.sub("NULL", sql))
    except duckdb.Error:
        return
    wanted = {tail for name in names for tail in TAIL_DEPENDENCIES.get(name, ())} & database.tails
    if not wanted:
        return
    for tail in TAILS:  # in dependency order: the runs tail reads the touched runs
        if tail in wanted:
            database.con.execute(f'CREATE TABLE "__materializing" AS SELECT * FROM "{tail}"')
            database.con.execute(f'DROP VIEW "{tail}"')
            database.con.execute(f'ALTER TABLE "__materializing" RENAME TO "{tail}"')
            database.tails -= {tail}
    database.catalog = _catalog(database.con)


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
