"""The one place every DuckDB query of the product runs (the CLI, the API, alert jobs, the demo).

A :class:`LakeConnection` is an in-memory DuckDB connection that

1. defines the lake's views (:mod:`tracelake.queries.views`), optionally
   pruned to a time window and scoped to one tenant;
2. is then locked down with DuckDB's own controls, in this order:
   ``allowed_directories`` = the lake, ``enable_external_access = false``
   (no other file, no network), extension autoinstall/autoload off, Python
   replacement scans off (a table name never resolves to a Python variable),
   memory and thread limits, and finally ``lock_configuration = true`` so no
   statement can undo any of it;
3. runs every query under a time limit: a timer thread calls
   ``con.interrupt()``; the resulting :class:`QueryTimeout` names the query.
   The limit is the connection's ceiling; a caller may lower it, never raise it.

Nothing writes through DuckDB: the only writers of the lake are the ingest
writer and the alerts store, both via pyarrow. Errors from DuckDB become
:class:`QueryError` (one line, fit for a user); a query that races a
compaction (a file deleted between listing and reading) is retried once.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from tracelake.errors import TimedOut, TracelakeError
from tracelake.queries.timewin import Window
from tracelake.queries.views import create_views, sql_string

Params = Sequence[Any] | Mapping[str, Any] | None


class QueryError(TracelakeError):
    """A query failed for a reason the user can act on (bad SQL, unknown column, out of memory).

    A 400 / exit 2 by default; the API answers a failing query it built itself
    as a 500 (:func:`tracelake.api.lake.query_errors`): that one is a bug.
    """


class QueryTimeout(QueryError, TimedOut):
    """A query ran past its time limit and was interrupted."""

    def __init__(self, name: str, timeout_s: float) -> None:
        super().__init__(f"query {name!r} exceeded its time limit of {timeout_s:g} s and was stopped; "
                         "narrow it (a shorter --since/--until, a --where) or pre-aggregate")
        self.name = name
        self.timeout_s = timeout_s


@dataclass(frozen=True)
class Limits:
    """Resource ceilings of one connection."""

    timeout_s: float = 60.0
    memory_limit: str = "2GB"
    threads: int = 2

    @classmethod
    def from_settings(cls, settings: Any) -> Limits:
        """From a :class:`tracelake.settings.Settings` (typed loosely to keep this module import-light)."""
        return cls(timeout_s=settings.query_timeout_s, memory_limit=settings.duckdb_memory_limit,
                   threads=settings.duckdb_threads)


@dataclass
class QueryResult:
    """Column names and rows of one query; ``truncated`` when ``max_rows`` cut it short."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool = False
    _cursor: int = field(default=0, repr=False)

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    # DB-API-like helpers, so ``connect(lake).execute(sql).fetchone()`` reads as before.
    def fetchone(self) -> tuple[Any, ...] | None:
        if self._cursor >= len(self.rows):
            return None
        self._cursor += 1
        return self.rows[self._cursor - 1]

    def fetchall(self) -> list[tuple[Any, ...]]:
        rest, self._cursor = self.rows[self._cursor:], len(self.rows)
        return rest


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first[:500]


class LakeConnection:
    """A locked-down, read-only DuckDB connection over one lake; see the module docstring.

    Not thread-safe: one connection per thread (or per request). ``close()``
    (or ``with``) releases it.
    """

    def __init__(self, lake_root: str | Path, *, tenant: str | None = None, window: Window | None = None,
                 limits: Limits | None = None) -> None:
        self.root = Path(lake_root).resolve()
        self.tenant = tenant
        self.window = window
        self.limits = limits or Limits()
        self._con = duckdb.connect(":memory:", config={"threads": self.limits.threads,
                                                       "memory_limit": self.limits.memory_limit})
        self._lock = threading.Lock()  # guards the interrupt against a query that just finished
        self._running = False
        try:
            self._con.execute("SET TimeZone = 'UTC'")
            create_views(self._con, self.root, tenant=tenant, window=window)
            self._lock_down()
        except duckdb.Error as exc:
            # Binding a view reads the files' footers: a corrupt or vanished file is reported here.
            self._con.close()
            raise QueryError(f"cannot read the lake at {self.root}: {_one_line(exc)}") from None
        except BaseException:
            self._con.close()
            raise

    def _lock_down(self) -> None:
        # allowed_directories must be set while external access is still on; the lake's views keep
        # reading their files afterwards, nothing else can be read. Order matters: lock comes last.
        lake = sql_string(str(self.root) + "/")
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
            self._con.execute(statement)

    # -- running queries -------------------------------------------------------
    def query(self, sql: str, params: Params = None, *, name: str, timeout_s: float | None = None,
              max_rows: int | None = None) -> QueryResult:
        """Run one statement; raise :class:`QueryTimeout` past the limit, :class:`QueryError` on failure.

        ``timeout_s`` can only lower the connection's limit. ``max_rows``
        stops fetching after that many rows and sets ``truncated``.
        """
        limit = self.limits.timeout_s if timeout_s is None else min(timeout_s, self.limits.timeout_s)
        for attempt in range(2):
            try:
                return self._run(sql, params, name, limit, max_rows)
            except duckdb.IOException as exc:
                # A compaction may delete a file between the view's glob and its read: retry once.
                if attempt == 1:
                    raise QueryError(f"query {name!r} could not read the lake: {_one_line(exc)}") from None
        raise AssertionError("unreachable")

    def _run(self, sql: str, params: Params, name: str, limit: float, max_rows: int | None) -> QueryResult:
        timer = threading.Timer(limit, self._interrupt)
        timer.daemon = True
        with self._lock:
            self._running = True
        timer.start()
        try:
            cursor = self._con.execute(sql, params) if params is not None else self._con.execute(sql)
            columns = [d[0] for d in cursor.description] if cursor.description else []
            if max_rows is None:
                rows = cursor.fetchall()
                truncated = False
            else:
                rows = cursor.fetchmany(max_rows + 1)
                truncated = len(rows) > max_rows
                rows = rows[:max_rows]
        except duckdb.InterruptException:
            raise QueryTimeout(name, limit) from None
        except duckdb.IOException:
            raise
        except duckdb.Error as exc:
            raise QueryError(_one_line(exc)) from None
        finally:
            with self._lock:
                self._running = False
            timer.cancel()
        return QueryResult(columns, rows, truncated)

    def _interrupt(self) -> None:
        with self._lock:
            if self._running:
                self._con.interrupt()

    def execute(self, sql: str, params: Params = None) -> QueryResult:
        """Shortcut for internal callers and tests: :meth:`query` named ``"internal"``."""
        return self.query(sql, params, name="internal")

    def parse(self, sql: str) -> list[Any]:
        """DuckDB's own parser: the statements of ``sql`` (nothing is executed)."""
        try:
            return list(self._con.extract_statements(sql))
        except duckdb.Error as exc:
            raise QueryError(_one_line(exc)) from None

    def serialize(self, sql: str) -> str:
        """DuckDB's JSON form of a SELECT's syntax tree (``json_serialize_sql``; nothing is executed)."""
        return str(self.query("SELECT json_serialize_sql(?)", [sql], name="parse").rows[0][0])

    # -- lifecycle -------------------------------------------------------------
    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> LakeConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_lake(lake_root: str | Path, *, tenant: str | None = None, window: Window | None = None,
              limits: Limits | None = None) -> LakeConnection:
    """A :class:`LakeConnection`; the API opens one per request with the key's tenant."""
    return LakeConnection(lake_root, tenant=tenant, window=window, limits=limits)
