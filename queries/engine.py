"""The one place every DuckDB query of the product runs (the CLI, the API, alert jobs, the demo).

A :class:`LakeConnection` is an in-memory DuckDB connection that

1. defines the lake's views (:mod:`tracelake.queries.views`), optionally
   pruned to a time window and scoped to one tenant;
2. loads the DuckDB extensions it needs from their installed PyPI packages
   (:mod:`tracelake.lake.duck`: httpfs and the lake's S3 secret for a lake on
   object storage; nothing for a local lake, whose views read Parquet with
   DuckDB's built-in reader; both delta and httpfs when asked), with
   autoinstall/autoload of known extensions off, so nothing is downloaded;
3. is then locked down with DuckDB's own controls, in this order:
   ``allowed_directories`` = the lake (its absolute path, or its ``s3://``
   prefix: DuckDB 1.5.5 compares URLs by prefix there, measured: another
   bucket or prefix is refused with a Permission Error),
   ``enable_external_access = false`` (no other file, no network),
   extension autoinstall/autoload off, Python
   replacement scans off (a table name never resolves to a Python variable),
   memory and thread limits, and finally ``lock_configuration = true`` so no
   statement can undo any of it;
4. runs every query under a time limit: a timer thread calls
   ``con.interrupt()``; the resulting :class:`QueryTimeout` names the query.
   The limit is the connection's ceiling; a caller may lower it, never raise it.
5. runs every query under a budget (:class:`Limits`, :mod:`tracelake.queries.budget`
   says what was measured and why): one of a process-wide number of query
   slots (:func:`query_slot`; none free within the queue wait:
   :class:`QueryBusy`, 429), DuckDB's ``memory_limit`` = the total budget /
   the slots, a private spill directory under the configured temp directory
   (never the working directory) capped by ``max_temp_directory_size`` and,
   because DuckDB 1.5.5 does not hold that cap for sorts and hash tables
   (measured: 300–800 MiB spilled under a 1 MiB cap), by a watcher that
   interrupts a query whose spill directory passes it, and
   an answer capped by bytes as well as rows (:meth:`LakeConnection.query`).
   Out of memory or over the byte ceiling: :class:`QueryTooLarge` (413).

The database behind a connection comes from a per-process pool
(:mod:`tracelake.queries.pool`): created locked down once, used by one
connection at a time, its views dropped when the connection closes, closed
instead of reused after a failed query. A fresh DuckDB database costs ~14 ms
to open and close and re-reads every Parquet footer; a one-day question on
the rollup takes less than that.

Nothing writes through DuckDB: the only writers of the lake are the ingest
writer and the alerts store, both via pyarrow. Errors from DuckDB become
:class:`QueryError` (one line, fit for a user); a query that races a
compaction (a file deleted between listing and reading) is retried once.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb

from tracelake.errors import Busy, TimedOut, TooLarge, TracelakeError, Unavailable
from tracelake.lake.duck import needed_extensions
from tracelake.lake.files import BadFile
from tracelake.lake.lake import LakeRef, as_lake
from tracelake.queries import pool
from tracelake.queries.pool import DatabaseKey
from tracelake.queries.timewin import Window
from tracelake.queries.views import NOT_READY, collect_skipped, note_skipped, view_statements

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

    def __reduce__(self) -> tuple[Any, ...]:
        # Raised in a query worker and re-raised in the parent: rebuild from the constructor's arguments.
        return (type(self), (self.name, self.timeout_s))


class QueryTooLarge(QueryError, TooLarge):
    """A query ran out of its memory budget, its spill cap, or the ceiling on answer bytes (413)."""

    def __init__(self, name: str, what: str) -> None:
        super().__init__(f"query {name!r} exceeded {what} and was stopped; aggregate, filter or narrow it "
                         "(a shorter --since/--until, a --where, a LIMIT)")
        self.name = name
        self.what = what

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.name, self.what))


class QueryUnavailable(QueryError, Unavailable):
    """A view refused to answer until the lake's upkeep has run (503, exit 2): its SQL raised a message that
    starts with :data:`tracelake.queries.views.NOT_READY` (``control_results`` too far behind to evaluate on the
    fly, :mod:`tracelake.queries.controls.results`)."""


class QueryBusy(Busy):
    """Every query slot of the process stayed taken for the whole queue wait (429, ``Retry-After``)."""

    def __init__(self, slots: int, waited_s: float) -> None:
        super().__init__(f"all {slots} query slots are busy (waited {waited_s:g} s); retry shortly",
                         headers={"Retry-After": "1"})
        self.slots = slots
        self.waited_s = waited_s

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.slots, self.waited_s))


# -- sizes ---------------------------------------------------------------------------------------------------------
_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
          "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(text: str | int) -> int:
    """Bytes of a DuckDB-style size (``"2GB"``, ``"512MiB"``, ``"1.5 GB"``, ``1024``); ``ValueError`` if not one."""
    if isinstance(text, int):
        return text
    match = _SIZE.match(text)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _UNITS:
        raise ValueError(f"not a size such as 2GB or 512MiB: {text!r}")
    return int(float(match.group(1)) * _UNITS[unit])


def format_size(size: int) -> str:
    """A size DuckDB accepts, in whole MiB (at least 1)."""
    return f"{max(1, size // (1024 * 1024))}MiB"


def value_bytes(value: Any) -> int:
    """About how many bytes ``value`` takes in a JSON answer (strings by length, scalars 8, others 32)."""
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str | bytes | bytearray):
            total += len(item) + 2
        elif item is None or isinstance(item, bool | int | float):
            total += 8
        elif isinstance(item, dict):
            total += 2
            for key, inner in item.items():
                total += len(str(key)) + 4
                stack.append(inner)
        elif isinstance(item, list | tuple | set):
            total += 2 + len(item)
            stack.extend(item)
        else:
            total += 32
    return total


SPILL_POLL_S = 0.05
"""How often a running query's spill directory is measured against its cap."""


def _tree_size(directory: Path) -> int:
    """Bytes of the regular files under ``directory`` (files that vanish while walking count as 0)."""
    total = 0
    for root, _dirs, files in os.walk(directory):
        for name in files:
            with suppress(OSError):
                total += os.stat(os.path.join(root, name)).st_blocks * 512
    return total


def default_temp_dir() -> Path:
    """Where queries spill when no directory is configured: the user's cache, never the working directory.

    ``$XDG_CACHE_HOME/tracelake/query-spill`` (``~/.cache/…`` by default). Not
    under the lake: the lake may be read-only or shared, and its files are
    what compaction and backups walk.
    """
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "tracelake" / "query-spill"


_swept: set[Path] = set()
_swept_lock = threading.Lock()
_SPILL_NAME = re.compile(r"^q-(\d+)-")


def sweep_spill(base: Path) -> int:
    """Remove the spill directories under ``base`` left by processes that are gone (killed before a connection
    closed); once per process and directory. A directory is named ``q-<pid>-…`` by the process that made it;
    one whose process still runs (or that cannot be told) is left alone. Returns how many were removed."""
    with _swept_lock:
        if base in _swept:
            return 0
        _swept.add(base)
    removed = 0
    with suppress(OSError):
        for entry in os.scandir(base):
            found = _SPILL_NAME.match(entry.name)
            if found is None or not entry.is_dir(follow_symlinks=False) or _alive(int(found.group(1))):
                continue
            shutil.rmtree(entry.path, ignore_errors=True)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process: it exists
        return True
    return True


@dataclass(frozen=True)
class Limits:
    """Resource ceilings of one query (one connection): see the module docstring.

    ``memory_limit`` and ``temp_max_size`` are per query; :meth:`from_settings`
    divides the process's totals by ``max_concurrent``. ``temp_dir`` None:
    :func:`default_temp_dir`. ``max_result_bytes``: the hard ceiling on one
    answer (an explicit, lower ``max_bytes`` truncates instead).
    """

    timeout_s: float = 60.0
    memory_limit: str = "512MiB"
    threads: int = 2
    max_concurrent: int = 4
    queue_wait_s: float = 2.0
    temp_dir: Path | None = None
    temp_max_size: str = "1GiB"
    max_result_bytes: int = 256 * 1024 * 1024

    @classmethod
    def from_settings(cls, settings: Any) -> Limits:
        """From a :class:`tracelake.settings.Settings` (typed loosely to keep this module import-light).

        Raises ``ValueError`` when a size setting is not a size (the settings validate them first).
        """
        slots = settings.query_max_concurrent
        return cls(timeout_s=settings.query_timeout_s, threads=settings.duckdb_threads,
                   memory_limit=format_size(parse_size(settings.duckdb_memory_limit) // slots),
                   max_concurrent=slots, queue_wait_s=settings.query_queue_wait_s,
                   temp_dir=settings.query_temp_dir,
                   temp_max_size=format_size(parse_size(settings.query_temp_max_size) // slots),
                   max_result_bytes=settings.query_max_result_bytes)


_slots_lock = threading.Lock()
_slots: dict[int, threading.BoundedSemaphore] = {}


@contextmanager
def query_slot(limits: Limits) -> Iterator[None]:
    """Hold one of the process's ``limits.max_concurrent`` query slots while the block runs.

    Waits up to ``limits.queue_wait_s`` for one, then raises
    :class:`QueryBusy`. Process-wide: every connection (and every query
    worker) with the same ``max_concurrent`` shares one semaphore, so the
    memory and spill budgets divided by it hold in total.
    """
    with _slots_lock:
        semaphore = _slots.setdefault(limits.max_concurrent, threading.BoundedSemaphore(limits.max_concurrent))
    if not semaphore.acquire(timeout=limits.queue_wait_s):
        raise QueryBusy(limits.max_concurrent, limits.queue_wait_s)
    try:
        yield
    finally:
        semaphore.release()


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


def _query_error(exc: duckdb.Error) -> QueryError:
    """A DuckDB error as a :class:`QueryError`; a view's refusal (:data:`NOT_READY`) as :class:`QueryUnavailable`
    carrying the view's own line."""
    line = _one_line(exc)
    if NOT_READY in line:
        return QueryUnavailable(line[line.index(NOT_READY) + len(NOT_READY):])
    return QueryError(line)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first[:500]


class LakeConnection:
    """A locked-down, read-only DuckDB connection over one lake; see the module docstring.

    Not thread-safe: one connection per thread (or per request). ``close()``
    (or ``with``) releases it.
    """

    def __init__(self, lake: LakeRef, *, tenant: str | None = None,
                 window: Window | None = None, limits: Limits | None = None,
                 extensions: tuple[str, ...] | None = None, rollup: bool = True,
                 run_horizon: timedelta = timedelta(hours=24)) -> None:
        self.lake = as_lake(lake)
        self.rollup = rollup
        self.run_horizon = run_horizon
        self.root = self.lake.uri  # the absolute local path, or the s3:// URL
        # None: what reading the lake needs (tracelake.lake.duck.needed_extensions); delta costs ~0.45 s to load.
        self.extensions = needed_extensions(self.lake) if extensions is None else extensions
        self.tenant = tenant
        self.window = window
        self.limits = limits or Limits()
        base = self.limits.temp_dir or default_temp_dir()
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        sweep_spill(base)
        key = DatabaseKey(self.root, tuple(sorted(self.lake.storage_options.items())), self.extensions,
                          self.limits.threads, self.limits.memory_limit, str(base), self.limits.temp_max_size)
        # The views' statements first: a pooled database that already has exactly these views is taken as is.
        statements = self._statements()
        # A locked-down database of this process's pool (tracelake.queries.pool: used by this connection alone).
        try:
            self._database = pool.acquire(key, self.lake, statements)
        except duckdb.Error as exc:
            raise QueryError(f"cannot open a query database for the lake at {self.root}: {_one_line(exc)}") from None
        self._con = self._database.con
        self._spill = self._database.spill
        self._reusable = False  # until the views are in place; any failed query clears it again
        self._lock = threading.Lock()  # guards the interrupt against a query that just finished
        self._running = False
        self._spilled_over = False
        try:
            pool.define_views(self._database, statements)
        except duckdb.Error as exc:
            # Binding a view reads the files' footers: a corrupt or vanished file is reported here.
            self.close()
            raise QueryError(f"cannot read the lake at {self.root}: {_one_line(exc)}") from None
        except BaseException:
            self.close()
            raise
        self._reusable = True

    def _statements(self) -> tuple[str, ...]:
        """The views' statements for the lake as it is now; the unreadable files they leave out become
        ``skipped`` (and are reported to an open :func:`~tracelake.queries.views.collect_skipped` block)."""
        with collect_skipped() as skipped:
            statements = view_statements(self.lake, tenant=self.tenant, window=self.window, rollup=self.rollup,
                                         run_horizon=self.run_horizon, tails=True)
        note_skipped(skipped)
        self.skipped: list[BadFile] = skipped
        return tuple(statements)

    def _refresh_views(self) -> None:
        """Rebuild the views from the lake as it is now (best effort: the retry reports what still fails)."""
        with suppress(duckdb.Error):
            pool.define_views(self._database, self._statements())

    # -- running queries -------------------------------------------------------
    def query(self, sql: str, params: Params = None, *, name: str, timeout_s: float | None = None,
              max_rows: int | None = None, max_bytes: int | None = None) -> QueryResult:
        """Run one statement in a query slot; see the module docstring for the budget.

        ``timeout_s`` can only lower the connection's limit. ``max_rows`` and
        ``max_bytes`` (about the answer's JSON size, :func:`value_bytes`;
        lowered to ``limits.max_result_bytes``) stop fetching and set
        ``truncated``. Raises :class:`QueryTimeout` past the time limit,
        :class:`QueryTooLarge` out of memory or spill, or when an answer
        without ``max_bytes`` passes ``limits.max_result_bytes``,
        :class:`QueryBusy` when no slot frees up, :class:`QueryError` on any
        other failure.
        """
        limit = self.limits.timeout_s if timeout_s is None else min(timeout_s, self.limits.timeout_s)
        for attempt in range(2):
            try:
                with query_slot(self.limits):
                    return self._run(sql, params, name, limit, max_rows, max_bytes)
            except duckdb.IOException as exc:
                # A compaction may delete a file between the view's glob and its read: retry once, with the
                # views rebuilt (a partition holding a bad file is read by its file list, not a glob).
                if attempt == 1:
                    raise QueryError(f"query {name!r} could not read the lake: {_one_line(exc)}") from None
                self._refresh_views()
        raise AssertionError("unreachable")

    def _run(self, sql: str, params: Params, name: str, limit: float, max_rows: int | None,
             max_bytes: int | None) -> QueryResult:
        timer = threading.Timer(limit, self._interrupt)
        timer.daemon = True
        with self._lock:
            self._running = True
            self._spilled_over = False
        timer.start()
        done = threading.Event()
        watcher = threading.Thread(target=self._watch_spill, args=(done,), daemon=True)
        watcher.start()
        reusable, self._reusable = self._reusable, False  # a database a query failed on is not reused
        try:
            # The tails this query reads, computed once for this database (tracelake.queries.pool).
            pool.materialize_tails(self._database, sql)
            cursor = self._con.execute(sql, params) if params is not None else self._con.execute(sql)
            columns = [d[0] for d in cursor.description] if cursor.description else []
            rows, truncated = self._fetch(cursor, name, max_rows, max_bytes)
            self._reusable = reusable
        except duckdb.InterruptException:
            if self._spilled_over:
                raise QueryTooLarge(name, self._budget()) from None
            raise QueryTimeout(name, limit) from None
        except (duckdb.OutOfMemoryException, MemoryError):
            raise QueryTooLarge(name, self._budget()) from None
        except duckdb.IOException:
            raise
        except duckdb.Error as exc:
            raise _query_error(exc) from None
        finally:
            with self._lock:
                self._running = False
            timer.cancel()
            done.set()
            watcher.join()
        return QueryResult(columns, rows, truncated)

    def _budget(self) -> str:
        return f"its memory budget ({self.limits.memory_limit} of DuckDB memory, {self.limits.temp_max_size} of spill)"

    def _watch_spill(self, done: threading.Event) -> None:
        """Interrupt the running query once its spill directory passes ``limits.temp_max_size``.

        DuckDB 1.5.5 lets sorts, windows and hash tables spill past ``max_temp_directory_size``; polled
        every 50 ms, so a query may overshoot by what it writes in that time.
        """
        cap = parse_size(self.limits.temp_max_size)
        while not done.wait(SPILL_POLL_S):
            if _tree_size(self._spill) > cap:
                with self._lock:
                    if self._running:
                        self._spilled_over = True
                        self._con.interrupt()
                return

    def _fetch(self, cursor: Any, name: str, max_rows: int | None,
               max_bytes: int | None) -> tuple[list[tuple[Any, ...]], bool]:
        """Rows until the answer ends or a cap is reached: (rows, truncated); see :meth:`query`."""
        hard = max_bytes is None
        cap = self.limits.max_result_bytes if hard else min(int(max_bytes or 0), self.limits.max_result_bytes)
        rows: list[tuple[Any, ...]] = []
        size = 0
        chunk = 16
        while True:
            # Few rows at a time while rows are large: a chunk is converted to Python objects before it is measured.
            want = chunk if max_rows is None else min(chunk, max_rows - len(rows) + 1)
            batch = cursor.fetchmany(want)
            if not batch:
                return rows, False
            for row in batch:
                if max_rows is not None and len(rows) >= max_rows:
                    return rows, True
                size += value_bytes(row)
                if size > cap:
                    if hard:
                        raise QueryTooLarge(name, f"the answer size limit of {cap} bytes")
                    return rows, True
                rows.append(row)
            average = max(1, size // max(1, len(rows)))
            chunk = max(1, min(2048, (cap - size) // average // 2))

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
        """Give the database back to the process's pool (its views kept for a connection with the same ones),
        or close it and remove its spill directory when a query failed on it (:mod:`tracelake.queries.pool`).
        Closing twice does nothing."""
        database = self.__dict__.pop("_database", None)
        if database is not None:
            pool.release(database, reusable=self._reusable)

    def __enter__(self) -> LakeConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_lake(lake: LakeRef, *, tenant: str | None = None, window: Window | None = None,
              limits: Limits | None = None, extensions: tuple[str, ...] | None = None, rollup: bool = True,
              run_horizon: timedelta = timedelta(hours=24)) -> LakeConnection:
    """A :class:`LakeConnection` over ``lake`` (the entry point's :class:`~tracelake.lake.lake.Lake`, or its
    root); the API opens one per request with the key's tenant. ``runs`` reads the runs rollup (plus the runs
    touched since its last refresh) when the lake has one and ``rollup`` is on, else the events (the
    event-level path, :func:`tracelake.queries.views.view_statements`). Raises :class:`QueryError` when the
    lake's files cannot be bound (a corrupt footer, a vanished file)."""
    return LakeConnection(lake, tenant=tenant, window=window, limits=limits, extensions=extensions,
                          rollup=rollup, run_horizon=run_horizon)
