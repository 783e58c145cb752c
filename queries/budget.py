"""Query budgets: memory, time, output size, concurrency and spill that actually bound the process.

What escapes DuckDB's own limits (measured with DuckDB 2.0.1 on a 2-core,
24 GiB Linux VM; ``memory_limit = 256MB``, a 5 s interrupt timer):

- Values built by *scalar* functions live outside DuckDB's buffer manager,
  so ``memory_limit`` does not count them: ``len(range(20000000))`` peaked at
  1.75 GB, ``len(generate_series(1, 20000000))`` 1.75 GB, ``unnest`` of
  ``range(20000000)`` 1.75 GB, ``repeat('x', 1e9)`` / ``lpad`` /
  ``format('{:>1000000000}', …)`` / ``printf('%1000000000d', …)`` 1.97 GB,
  ``string_split`` of a 100 MB string and ``list_resize([1], 1e8)`` more than
  3.5 GB (stopped there). Staying under a per-call cap is not enough either:
  ``[range(10000) for x in range(10000)]`` (each list 80 KB) passed 3.5 GB,
  and a vector of 2048 rows multiplies any per-row value.
- Aggregates *are* governed: ``string_agg``, ``list``/``array_agg`` of 5e7
  rows stop with DuckDB's "Out of Memory Error" under the limit; ``ORDER BY``
  and hash aggregates spill to ``temp_directory`` (default ``./.tmp`` of the
  process's working directory, uncapped).
- Time: the interrupt is only checked between vectors, so one long scalar
  call is not stopped: ``regexp_replace`` over a 100 MB string ran 15.4 s and
  ``lpad(…, 1e9)`` 15.7 s against a 5 s limit.

What closes it (each measured to work):

1. **A worker process per ad-hoc statement** (:func:`run_isolated`, used by
   :func:`tracelake.queries.sandbox.execute_sql`, hence ``tracelake sql`` and
   ``POST /v1/sql``). The worker is forked from a clean ``forkserver``
   process, opens the lake, then caps its own address space with
   ``RLIMIT_AS`` = its size at that point + the query's memory + room for the
   answer. Under that cap every allocation DuckDB makes, buffer-managed or
   not, fails cleanly: DuckDB turns the failed allocation into an "Out of
   Memory Error" (measured: ``len(range(20000000))`` under a 1 GB cap stops in
   0.01 s, the process survives), reported as :class:`QueryTooLarge` (413).
   The worker is killed when it overruns its time limit by
   :data:`KILL_GRACE_S` (the interrupt alone did not stop it), and runs at a
   lower CPU priority (``nice``) so the server that waits for it keeps
   answering. Chosen over bounding functions alone because no list of
   function caps bounds their combinations; chosen over a cap on the API
   process itself because one hostile query would then make every other
   request of the process fail for lack of memory.
2. **A static check** (:func:`check_budget`, called by the sandbox's check):
   the classes above that build a large value from a small statement —
   scalar ``range``/``generate_series``, ``repeat``, ``lpad``/``rpad``,
   ``list_resize``/``array_resize``, widths in ``format``/``printf`` — must
   have literal sizes under :data:`MAX_LIST_ELEMENTS` /
   :data:`MAX_STRING_CHARS` and may not appear inside a lambda or list
   comprehension; otherwise the statement is refused (422) with one line
   saying why, before any process starts. This is the clear message; (1) is
   the guarantee.
3. **A process-wide cap on concurrent queries** (the engine's slots; every
   query of the product takes one: SQL, metrics, dashboard, alerts). Each
   query gets ``memory_limit = total / slots`` and its spill directory gets
   ``max_temp_directory_size = total spill / slots``, so the total is bounded
   whatever the load. A query that waits longer than the queue wait for a
   slot is answered :class:`~tracelake.queries.engine.QueryBusy` (429 with
   ``Retry-After``; exit 2 in the CLI, where one query runs at a time).
4. **Answers capped by bytes as well as rows** (the engine's fetch loop):
   ad-hoc SQL is truncated (``truncated: true``); a server-built query over
   the hard ceiling fails with :class:`QueryTooLarge` rather than return a
   silently partial metric.

Measured after (same machine): the hostile statements above are refused in
a few milliseconds; the ones that pass the static check but build large
values (a comprehension of ``repeat`` via a column, a huge ``string_agg``
re-split) stop with a 413 once the worker reaches its cap (about 0.4 s); a
``regexp_replace`` the interrupt misses is killed 1 s past its limit; 8
concurrent hostile statements, twice over, keep the API process at about
320 MB RSS at most (it holds only answers), the server with its workers at
about 1.4 GB, and ``/healthz`` under 70 ms (``tests/api/test_hostile_load.py``).
Before: one ``len(range(50000000))`` took the API to 3.7 GB and 13 s.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import resource
import threading
from multiprocessing.connection import Connection
from typing import Any

from tracelake.errors import TracelakeError
from tracelake.lake.lake import LakeRef, as_lake
from tracelake.queries.engine import (
    Limits,
    QueryError,
    QueryResult,
    QueryTimeout,
    QueryTooLarge,
    parse_size,
    query_slot,
)
from tracelake.queries.timewin import Window

MAX_LIST_ELEMENTS = 100_000
"""Largest list a scalar ``range``/``generate_series``/``list_resize`` may build (literal sizes only)."""
MAX_STRING_CHARS = 1_000_000
"""Largest string ``repeat``/``lpad``/``rpad``/a format width may build (literal sizes only)."""
KILL_GRACE_S = 1.0
"""How long past its time limit a worker may run before it is killed (the interrupt comes first)."""
WORKER_NICE = 10
"""CPU niceness of a worker: the server process that waits for it keeps its share of the CPU."""

_LIST_BUILDERS = {"range", "generate_series", "list_resize", "array_resize"}
_STRING_BUILDERS = {"repeat", "lpad", "rpad"}
_FORMATTERS = {"format", "printf"}
_BUILDERS = _LIST_BUILDERS | _STRING_BUILDERS | _FORMATTERS


# -- the static check --------------------------------------------------------------------------------------------
def _refuse(message: str) -> TracelakeError:
    from tracelake.queries.sandbox import SqlRefused  # sandbox imports this module: import at call time

    return SqlRefused(f"refused: {message}")


def _literal(expression: Any) -> tuple[str, str] | None:
    """(kind, text) of a literal constant argument, else None."""
    if not isinstance(expression, dict) or expression.get("type") != "VALUE_CONSTANT":
        return None
    literal = expression.get("literal")
    if isinstance(literal, dict):
        return str(literal.get("kind", "")), str(literal.get("text", ""))
    value = expression.get("value")  # older serializations carry a typed value instead
    if isinstance(value, dict) and not value.get("is_null"):
        kind = str((value.get("type") or {}).get("id", ""))
        return ("STRING" if kind == "VARCHAR" else "INTEGER" if "INT" in kind else kind), str(value.get("value"))
    return None


def _integer(expression: Any) -> int | None:
    found = _literal(expression)
    if found is None or found[0] != "INTEGER":
        return None
    try:
        return int(found[1])
    except ValueError:
        return None


def _arguments(node: dict[str, Any]) -> list[Any]:
    out = []
    for argument in node.get("arguments") or node.get("children") or []:
        out.append(argument.get("expression") if isinstance(argument, dict) and "expression" in argument
                   else argument)
    return out


def _check_builder(name: str, args: list[Any]) -> None:
    """Refuse one call of a value-building function unless its size is a small literal."""
    if name in ("range", "generate_series"):
        numbers = [_integer(a) for a in args]
        if not args or any(n is None for n in numbers):
            raise _refuse(f"{name}() as a value needs integer literals (it builds the whole list in memory, "
                          f"outside the query's memory limit); use it as a table: FROM {name}(n)")
        bounds = [int(n) for n in numbers if n is not None]
        start, stop, step = (0, bounds[0], 1) if len(bounds) == 1 else (bounds[0], bounds[1],
                                                                         bounds[2] if len(bounds) > 2 else 1)
        count = 0 if step == 0 else max(0, -(-(stop - start) // step))
        if count > MAX_LIST_ELEMENTS:
            raise _refuse(f"{name}() as a value would build a list of {count} elements; the limit is "
                          f"{MAX_LIST_ELEMENTS} (use it as a table: FROM {name}(n))")
    elif name in ("list_resize", "array_resize"):
        size = _integer(args[1]) if len(args) > 1 else None
        if size is None or size > MAX_LIST_ELEMENTS:
            raise _refuse(f"{name}() needs an integer literal size up to {MAX_LIST_ELEMENTS}")
    elif name == "repeat":
        repeats = _integer(args[1]) if len(args) > 1 else None
        text = _literal(args[0]) if args else None
        unit = len(text[1]) if text is not None and text[0] == "STRING" else None
        built = None if repeats is None else repeats * (unit if unit is not None else MAX_STRING_CHARS // 100)
        if built is None or built > MAX_STRING_CHARS:
            raise _refuse(f"repeat() builds a value outside the query's memory limit; give an integer literal count "
                          f"with at most {MAX_STRING_CHARS} characters in all (at most 100 repeats of a column)")
    elif name in ("lpad", "rpad"):
        width = _integer(args[1]) if len(args) > 1 else None
        if width is None or width > MAX_STRING_CHARS:
            raise _refuse(f"{name}() needs an integer literal width up to {MAX_STRING_CHARS}")
    elif name in _FORMATTERS:
        pattern = _literal(args[0]) if args else None
        if pattern is None or pattern[0] != "STRING":
            raise _refuse(f"{name}() needs a string literal as its format")
        widest = max((int(n) for n in re.findall(r"\d+", pattern[1])), default=0)
        if widest > MAX_STRING_CHARS:
            raise _refuse(f"{name}() with a width of {widest} builds a value outside the query's memory limit; "
                          f"the limit is {MAX_STRING_CHARS}")


def check_budget(tree: Any) -> None:
    """Refuse a serialized SELECT whose functions build values too large for its memory budget. Pure logic.

    Raises :class:`tracelake.queries.sandbox.SqlRefused` (one line) for: a
    scalar ``range``/``generate_series``/``list_resize`` over
    :data:`MAX_LIST_ELEMENTS` or with a non-literal size; ``repeat``,
    ``lpad``/``rpad`` or a ``format``/``printf`` width over
    :data:`MAX_STRING_CHARS` or not literal; any of these inside a lambda or
    list comprehension (the size is then multiplied by the list's length).
    ``range``/``generate_series`` in ``FROM`` stream rows and are not
    limited here. Whatever passes is still bounded by the worker's memory cap.
    """
    table_functions: set[int] = set()
    stack: list[tuple[Any, bool]] = [(tree, False)]
    while stack:
        item, in_lambda = stack.pop()
        if isinstance(item, list):
            stack.extend((child, in_lambda) for child in item)
            continue
        if not isinstance(item, dict):
            continue
        if item.get("type") == "TABLE_FUNCTION" and isinstance(item.get("function"), dict):
            table_functions.add(id(item["function"]))
        if (item.get("class") == "FUNCTION" or item.get("type") == "FUNCTION") and id(item) not in table_functions:
            name = str(item.get("function_name", "")).lower()
            if name in _BUILDERS:
                if in_lambda:
                    raise _refuse(f"{name}() inside a lambda or list comprehension builds one value per element, "
                                  "outside the query's memory limit; build it once, outside the lambda")
                _check_builder(name, _arguments(item))
        inner = in_lambda or item.get("type") == "LAMBDA"
        stack.extend((child, inner) for child in item.values())


# -- the worker process --------------------------------------------------------------------------------------------
_context_lock = threading.Lock()
_context: Any = None


def _forkserver() -> Any:
    """The multiprocessing context: forks from a clean, single-threaded server with DuckDB already imported.

    Forking the API process itself would copy its threads' locks mid-use;
    spawning a fresh interpreter costs ~0.4 s per query (measured).
    """
    global _context
    with _context_lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["tracelake.queries.sandbox"])
            _context = context
        return _context


def _status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def worker_headroom(limits: Limits, max_bytes: int | None) -> int:
    """Bytes a worker may add to its address space once the lake is open.

    The query's DuckDB memory, four times the answer's byte cap (the rows as
    Python objects, then pickled for the pipe) and 256 MiB of slack for
    DuckDB's own bookkeeping and thread arenas.
    """
    answer = max_bytes if max_bytes is not None else limits.max_result_bytes
    return parse_size(limits.memory_limit) + 4 * answer + 256 * 1024 * 1024


def _cap_address_space(headroom: int) -> None:
    # RLIMIT_AS bounds virtual size, hence RSS; measured: DuckDB reports a failed allocation as an
    # Out of Memory Error and the process carries on. The base is what is mapped now (libraries, arenas).
    if not hasattr(resource, "RLIMIT_AS") or not os.path.exists("/proc/self/status"):
        return
    limit = _status_kib("VmSize") * 1024 + headroom
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _worker(conn: Connection, lake_root: LakeRef, sql: str, tenant: str | None, window: Window | None,
            limits: Limits, max_rows: int, max_bytes: int | None, timeout_s: float | None,
            controls: Any = None) -> None:
    """Body of a worker: open, tell the parent, cap memory, check and run, send one message, exit.
    ``controls``: the parent's control library (its control_results view; a forkserver child has its own)."""
    from tracelake.queries.controls.library import use_library
    from tracelake.queries.engine import open_lake
    from tracelake.queries.sandbox import run_sql

    message: tuple[str, Any]
    try:
        os.nice(WORKER_NICE)
        use_library(controls)
        with open_lake(lake_root, tenant=tenant, window=window, limits=limits) as con:
            conn.send(("ready", None))
            _cap_address_space(worker_headroom(limits, max_bytes))
            message = ("ok", run_sql(con, sql, max_rows=max_rows, max_bytes=max_bytes, timeout_s=timeout_s))
    except TracelakeError as exc:
        message = ("error", exc)
    except MemoryError:
        message = ("error", QueryTooLarge(sql_label(sql), f"its memory budget ({limits.memory_limit})"))
    except BaseException as exc:  # noqa: BLE001 - a bug: reported to the parent, which raises it there
        message = ("bug", f"{type(exc).__name__}: {str(exc).strip()[:300]}")
    try:
        conn.send(message)
    except BaseException as exc:  # noqa: BLE001 - e.g. an answer that cannot be pickled within the cap
        conn.send(("error", QueryTooLarge(sql_label(sql), f"its memory budget ({type(exc).__name__})")))
    conn.close()


def sql_label(sql: str) -> str:
    """The name a statement is reported by: its first words (as :func:`~tracelake.queries.sandbox.run_sql`)."""
    label = " ".join(sql.split())
    return "sql: " + (label if len(label) <= 60 else label[:57] + "...")


def _controls() -> Any:
    from tracelake.queries.controls.library import active_library

    return active_library()


def run_isolated(lake_root: LakeRef, sql: str, *, tenant: str | None, window: Window | None,
                 limits: Limits | None, max_rows: int, max_bytes: int | None,
                 timeout_s: float | None) -> QueryResult:
    """Check and run one ad-hoc statement in a worker process under an OS memory cap; see the module docstring.

    Takes one of the engine's query slots for the worker's whole life
    (:class:`~tracelake.queries.engine.QueryBusy` when none frees up in
    time). Raises what the check or the query raised in the worker
    (``SqlRefused``, ``QueryError``, ``QueryTimeout``, ``QueryTooLarge``);
    ``QueryTimeout`` also when the worker overruns its limit by
    :data:`KILL_GRACE_S` (it is then killed); ``QueryTooLarge`` when the
    worker dies without an answer (out of memory); ``RuntimeError`` for a bug
    in the worker.
    """
    limits = limits or Limits()
    limit = limits.timeout_s if timeout_s is None else min(timeout_s, limits.timeout_s)
    context = _forkserver()
    with query_slot(limits):
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=_worker, daemon=True,
                                  args=(sender, as_lake(lake_root), sql, tenant, window, limits, max_rows, max_bytes,
                                        timeout_s, _controls()))
        process.start()
        sender.close()
        try:
            return _await(process, receiver, sql, limit, limits)
        finally:
            receiver.close()
            process.join(timeout=KILL_GRACE_S)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)


def _await(process: Any, receiver: Connection, sql: str, limit: float, limits: Limits) -> QueryResult:
    name = sql_label(sql)
    # Opening the lake (reading footers) is bounded by the connection's ceiling, as in-process.
    for phase, wait in (("open", limits.timeout_s + KILL_GRACE_S), ("run", limit + KILL_GRACE_S)):
        if not receiver.poll(wait):
            process.kill()
            raise QueryTimeout(name, limit)
        try:
            kind, payload = receiver.recv()
        except (EOFError, OSError):
            process.join(timeout=5)
            raise QueryTooLarge(name, f"its memory budget (the worker stopped with code {process.exitcode} "
                                      f"while {'opening the lake' if phase == 'open' else 'running'})") from None
        if kind == "ready":
            continue
        if kind == "ok":
            result: QueryResult = payload
            return result
        if kind == "error" and isinstance(payload, BaseException):
            raise payload
        raise RuntimeError(f"the query worker failed: {payload}")
    raise QueryError(f"query {name!r}: the worker sent no answer")
