"""Ad-hoc read-only SQL over the lake's views (``tracelake sql``, ``POST /v1/sql``).

A statement runs only if every check passes; a refused one raises
:class:`SqlRefused` (one line saying why) and nothing is executed.

0. Depth, before any parser sees the text: brackets ``(`` and ``[``
   (subqueries, calls, lists, parenthesised expressions) may nest at most
   :data:`MAX_SQL_NESTING` (100) levels, counted by a linear scan that skips
   string literals, quoted identifiers, ``$$`` strings and comments. Deep
   nesting without brackets (``NOT NOT …``, ``CASE`` or ``+`` chains, CTE
   chains) is refused when DuckDB's parser or binder stops it (1000 levels)
   or when its syntax tree is deeper than the JSON reader takes (1024
   levels): always ``refused: the statement is nested too deeply …``, never
   a ``RecursionError`` or a 500. (Measured before this check: subqueries,
   calls, lists or CASE nested 400 deep, NOT/``+`` chains of 600, gave an
   uncaught JSON depth error; scalar subqueries 200 deep a binder error.)
1. DuckDB's parser splits the text: exactly one statement, of type SELECT
   (``extract_statements``; DESCRIBE/SUMMARIZE of a view count as SELECT).
   Everything else — INSERT/UPDATE/DELETE/CREATE/DROP/ALTER, COPY, ATTACH,
   INSTALL/LOAD, SET/RESET/PRAGMA, EXPORT/IMPORT, CALL, PIVOT statements,
   EXPLAIN, transactions — is refused by type.
2. DuckDB's own syntax tree (``json_serialize_sql``) is walked:
   - a table reference must name one of the views, or a ``WITH`` name
     *visible at that place*: a CTE is visible in the later CTEs of its
     WITH clause (and in its own recursive term), in the query it is
     attached to and in every query nested in that one — not in its own
     body, not in earlier CTEs, not in sibling or outer queries, and never
     under a qualified name (there DuckDB reads the catalog, so
     ``SELECT v.sql FROM (WITH duckdb_views AS (SELECT 1) FROM duckdb_views) x,
     duckdb_views v`` used to print the views' SQL). A quoted path such as
     ``FROM '/lake/events/x.parquet'`` (a replacement scan), the system views
     (``duckdb_views``, ``pg_settings``, ``sqlite_master`` …) and other
     catalogs/schemas (``system.``, ``temp.``, ``pg_catalog.``,
     ``information_schema.``) are refused however they are spelled;
   - a table function must be one of a few pure generators (``range``,
     ``unnest`` …): ``read_parquet``, ``read_csv``, ``glob``, ``query``,
     ``duckdb_settings`` … are refused;
   - functions (scalar, aggregate, window, built-in macros) that read
     settings, variables, the catalog or the session, file statistics,
     files or the environment are refused (``current_setting``,
     ``pg_get_viewdef``, ``stats``, ``json_serialize_plan`` …), and so is
     any schema-qualified function call.
   - expression subqueries may nest at most :data:`MAX_SUBQUERY_NESTING` (8)
     levels, WITH names counted where they are used (:func:`subquery_depth`):
     DuckDB 1.5.5 plans them in exponential time.
   With the delta and httpfs extensions loaded (DuckDB 1.5.5), their functions
   are refused as well: ``delta_scan`` and every ``delta_*`` table function
   (table functions are allow-listed), ``write_blob`` (it writes any local
   file even with external access off), ``copy_dir``,
   ``get_delta_test_expression`` (it crashes the process), secrets
   (``duckdb_secrets()``, ``which_secret``; ``CREATE SECRET`` is not a
   SELECT), ``load_aws_credentials``; ``read_parquet`` of an ``s3://`` or
   ``http://`` URL is a table function like any other file read
   (``tests/queries/test_sandbox_extensions.py``).
3. The connection itself (:mod:`tracelake.queries.engine`) is the backstop:
   external access off outside the lake, extensions frozen, configuration
   locked, memory/thread limits, a time limit and a row limit.

Tenant scope: with ``tenant``, the views are replaced by that tenant's rows
before anything runs; with step 2 no statement can name a file or table
outside them, so scoped SQL cannot escape (``tests/queries/test_sandbox.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from tracelake.errors import Refused
from tracelake.lake.lake import LakeRef
from tracelake.queries.budget import check_budget, run_isolated
from tracelake.queries.engine import LakeConnection, Limits, QueryError, QueryResult
from tracelake.queries.timewin import Window
from tracelake.queries.views import VIEW_NAMES

ALLOWED_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest", "json_each", "json_tree"})
DENIED_FUNCTIONS = frozenset({
    "current_setting", "getvariable", "getenv", "write_log", "setseed", "setval", "nextval", "currval",
    "json_execute_serialized_sql", "query", "query_table", "glob", "sniff_csv", "which_secret",
    "checkpoint", "force_checkpoint", "current_query",
    # the catalog and the session: built-in macros over duckdb_views()/duckdb_types()/pragma_database_size()
    # (pg_get_viewdef gave every view's SQL: the lake path, the partitions, the tenant filter), search path
    "current_database", "current_catalog", "current_schema", "current_schemas", "in_search_path", "format_type",
    "get_block_size", "col_description", "obj_description", "shobj_description", "current_query_id",
    "current_connection_id", "current_transaction_id", "txid_current",
    # binds and plans a statement the tree check never saw (its plan names files)
    "json_serialize_plan",
    # statistics of the scanned Parquet files: min/max over every tenant's rows, not the view's
    "stats",
    # added by the delta extension (1.5.5): write_blob writes any local file even with external access off
    # and outside allowed_directories (measured); copy_dir is a macro over read_blob/write_blob;
    # get_delta_test_expression() crashes the process (segmentation fault, measured)
    "write_blob", "copy_dir", "get_delta_test_expression", "parse_delta_filter_logline",
    # the aws extension's credential loader (not installed; refused should it ever be)
    "load_aws_credentials",
})
DENIED_PREFIXES = ("read_", "parquet_", "duckdb_", "pragma_", "__internal", "python_", "pandas", "arrow_",
                   "iceberg_", "delta_", "sqlite_", "postgres_", "mysql_", "pg_", "has_", "write_", "copy_",
                   "load_", "install_", "httpfs", "s3_", "aws_", "http_")
# Words that mark a function of the lake's extensions (delta, httpfs) or of secrets, wherever they sit in the name.
DENIED_WORDS = ("delta", "secret", "blob", "aws", "httpfs")
# Postgres-compatible functions that only compute on their argument.
ALLOWED_DESPITE_PREFIX = frozenset({"pg_typeof", "pg_size_pretty"})
# Bare words DuckDB binds as a function call when no column has that name.
DENIED_KEYWORDS = frozenset({"current_schema", "current_catalog"})
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_SQL_NESTING = 100
MAX_SUBQUERY_NESTING = 8
"""Deepest nesting of subqueries in expressions (:func:`subquery_depth`): DuckDB 1.5.5 plans 8 levels of
``ARRAY(SELECT …)`` in 0.03 s, 10 in 0.23 s, 12 in 3.9 s (measured)."""
# What the depth scan stops at: brackets, and the starts of text in which brackets do not count.
_SCAN = re.compile(r"""[()\[\]'"]|--|/\*|\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$""")
_TOO_DEEP = ("refused: the statement is nested too deeply (DuckDB stops at 1000 levels of expressions, "
             "subqueries or CTEs); simplify it")


class SqlRefused(Refused, ValueError):
    """The statement was refused before anything ran; the message says why, in one line."""


@dataclass(frozen=True)
class Checked:
    """A statement that passed every check: exactly this text is what runs."""

    sql: str


def bracket_depth(sql: str) -> int:
    """The deepest nesting of ``(`` and ``[`` in ``sql``, outside string literals, quoted identifiers,
    dollar-quoted strings and comments. Linear; an unterminated string or comment ends the scan."""
    depth = deepest = 0
    position = 0
    while (match := _SCAN.search(sql, position)) is not None:
        token = match.group()
        position = match.end()
        if token in ("(", "["):
            depth += 1
            deepest = max(deepest, depth)
            continue
        if token in (")", "]"):
            depth = max(0, depth - 1)
            continue
        closer = {"'": "'", '"': '"', "--": "\n", "/*": "*/"}.get(token, token)  # a $tag$ closes itself
        end = sql.find(closer, position)
        if end < 0:
            break
        position = end + len(closer)
    return deepest


def check_depth(sql: str, limit: int = MAX_SQL_NESTING) -> None:
    """Refuse ``sql`` when its brackets nest deeper than ``limit``, before any parser sees it."""
    depth = bracket_depth(sql)
    if depth > limit:
        raise SqlRefused(f"refused: the statement nests brackets {depth} levels deep; the limit is {limit}")


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _fold(name: str) -> str:
    """DuckDB compares identifiers case-insensitively in ASCII only: fold ASCII, keep anything else as is
    (so no Unicode folding, such as the Kelvin sign to ``k``, can make two names equal that DuckDB keeps apart)."""
    return name.lower() if name.isascii() else name


def _cte_names(tree: Any) -> set[str]:
    """Every WITH name declared anywhere in ``tree`` (for messages); refuses a name that is not a plain identifier."""
    names: set[str] = set()
    for node in _walk(tree):
        cte_map = node.get("cte_map")
        if isinstance(cte_map, dict):
            for entry in cte_map.get("map", []):
                name = str(entry.get("key", ""))
                if not _IDENTIFIER.match(name):
                    # A path-like CTE name could shadow, in one scope, a replacement scan in another.
                    raise SqlRefused(f"refused: a WITH name must be a plain identifier, not {name!r}")
                names.add(_fold(name))
    return names


def _scoped(tree: Any) -> Iterator[tuple[dict[str, Any], frozenset[str]]]:
    """Every object of the syntax tree, with the WITH names visible at it.

    A query node's WITH clause is read in order: a CTE's body sees the names
    declared before it in the clause (and, inside the recursive term of a
    ``RECURSIVE_CTE_NODE`` of that name, itself); the rest of the node (select
    list, FROM, WHERE, GROUP BY, HAVING, QUALIFY, ORDER BY/LIMIT, set-operation
    children) sees them all; nested queries at any depth inherit the scope of
    the place they sit in. Never wider than DuckDB's own scoping: where DuckDB
    reads the catalog (a CTE's own body, a later CTE, the anchor of a
    recursive CTE, a sibling or an outer query) the name is not visible here.
    Iterative: no recursion limit, whatever the depth.
    """
    stack: list[tuple[Any, frozenset[str]]] = [(tree, frozenset())]
    while stack:
        item, scope = stack.pop()
        if isinstance(item, list):
            stack.extend((child, scope) for child in item)
            continue
        if not isinstance(item, dict):
            continue
        yield item, scope
        cte_map = item.get("cte_map")
        entries = cte_map.get("map") if isinstance(cte_map, dict) else None
        if not isinstance(entries, list) or not entries:
            stack.extend((child, scope) for child in item.values())
            continue
        visible = scope
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            name = _fold(str(entry.get("key", "")))
            value = entry.get("value")
            holder, slot = _cte_query(value)
            query = holder.get(slot) if holder is not None else None
            if (isinstance(value, dict) and holder is not None and isinstance(query, dict)
                    and query.get("type") == "RECURSIVE_CTE_NODE" and _fold(str(query.get("cte_name", ""))) == name):
                stack.extend((child, visible) for key, child in value.items() if key not in ("query_node", "query"))
                if holder is not value:
                    stack.extend((child, visible) for key, child in holder.items() if key != slot)
                stack.extend((child, visible) for key, child in query.items() if key != "right")
                stack.append((query.get("right"), visible | {name}))
            else:
                stack.append((value, visible))
            visible = visible | {name}
        stack.extend((child, visible) for key, child in item.items() if key != "cte_map")


def _cte_query(value: Any) -> tuple[dict[str, Any] | None, str]:
    """Where a CTE's query node sits: ``value["query_node"]`` (DuckDB 2.x) or ``value["query"]["node"]`` (1.5)."""
    if not isinstance(value, dict):
        return None, ""
    if isinstance(value.get("query_node"), dict):
        return value, "query_node"
    query = value.get("query")
    if isinstance(query, dict) and isinstance(query.get("node"), dict):
        return query, "node"
    return None, ""


def subquery_depth(tree: Any, limit: int = MAX_SUBQUERY_NESTING) -> int:
    """How deeply expression subqueries (scalar, ``EXISTS``, ``IN``/``ANY``, ``ARRAY(SELECT …)``) nest in
    ``tree``, counting through every reference to a WITH name the depth of that name's body; stops counting
    at ``limit + 1``.

    DuckDB 1.5.5 plans nested expression subqueries in time exponential in their depth (measured: scalar
    subqueries 22 deep 1.6 s, 30 deep 560 s; ``ARRAY(SELECT …)`` 12 deep 3.9 s, four times more each level;
    a chain of CTEs each nesting 4 subqueries over the previous one, 6 long, 1.9 s). A WITH name shadowed in
    several places counts as its deepest body. Iterative: no recursion limit, whatever the depth.
    """
    own: dict[str, int] = {}
    refs: dict[str, list[tuple[str, int]]] = {}
    bodies: list[tuple[str, Any]] = [("", tree)]  # "" is the statement itself (no WITH name is empty)
    names = set()
    for node in _walk(tree):
        cte_map = node.get("cte_map")
        if isinstance(cte_map, dict):
            for entry in cte_map.get("map", []):
                if isinstance(entry, dict):
                    name = _fold(str(entry.get("key", "")))
                    names.add(name)
                    bodies.append((name, entry.get("value")))
    for name, body in bodies:
        deepest = own.get(name, 0)
        stack: list[tuple[Any, int]] = [(body, 0)]
        while stack:
            item, depth = stack.pop()
            if isinstance(item, list):
                stack.extend((child, depth) for child in item)
                continue
            if not isinstance(item, dict):
                continue
            if item.get("class") == "SUBQUERY":
                depth += 1
                deepest = max(deepest, depth)
            elif (item.get("type") == "BASE_TABLE" and not item.get("schema_name") and not item.get("catalog_name")
                  and _fold(str(item.get("table_name", ""))) in names):
                refs.setdefault(name, []).append((_fold(str(item.get("table_name", ""))), depth))
            for key, child in item.items():
                if key != "cte_map":  # a nested WITH body counts where its name is used, not where it is declared
                    stack.append((child, depth))
        own[name] = deepest
    # Longest path through the references (a recursive CTE's self-reference adds nothing at depth 0, and any
    # cycle that adds depth runs up to the cap): relax until nothing changes.
    effective = dict(own)
    changed = True
    while changed:
        changed = False
        for name, edges in refs.items():
            best = max([effective[name], *(depth + effective.get(other, 0) for other, depth in edges)])
            best = min(best, limit + 1)
            if best > effective[name]:
                effective[name] = best
                changed = True
    return effective.get("", 0)


def check_subqueries(tree: Any, limit: int = MAX_SUBQUERY_NESTING) -> None:
    """Refuse ``tree`` when its expression subqueries nest deeper than ``limit`` (see :func:`subquery_depth`)."""
    depth = subquery_depth(tree, limit)
    if depth > limit:
        raise SqlRefused(f"refused: the statement is nested too deeply (subqueries in expressions nest more "
                         f"than {limit} levels deep, counting WITH names where they are used); simplify it")


def check_tree(tree: dict[str, Any], views: tuple[str, ...] = VIEW_NAMES) -> None:
    """Refuse a serialized SELECT that reaches anything but the views, WITH names in scope and pure functions.

    Pure logic over ``json_serialize_sql``'s output; raises :class:`SqlRefused`
    (one line naming what was refused) on the first of:

    - a table reference that is neither one of ``views`` (bare, or qualified
      ``main.`` / ``memory.main.``) nor, bare, a WITH name visible at that
      place (see :func:`_scoped`): system views (``duckdb_views``,
      ``pg_settings``, ``sqlite_master`` …), other catalogs and schemas
      (``system.``, ``temp.``, ``pg_catalog.``, ``information_schema.``) and
      file paths are unreachable however they are spelled;
    - a table function other than :data:`ALLOWED_TABLE_FUNCTIONS`;
    - a scalar, aggregate or window function that reads settings, the catalog,
      the session, file statistics or files (:data:`DENIED_FUNCTIONS`,
      :data:`DENIED_PREFIXES`), or any schema-qualified function call;
    - ``current_schema`` / ``current_catalog`` as bare words; ``SHOW`` of the catalog;
    - a WITH name that is not a plain identifier; a tree DuckDB could not produce.
    """
    if tree.get("error"):
        raise SqlRefused(f"refused: the statement could not be analysed ({tree.get('error_message', 'unknown')})")
    declared = _cte_names(tree)
    view_names = {_fold(v) for v in views}
    for node, scope in _scoped(tree):
        kind = node.get("type")
        if kind == "BASE_TABLE":
            _check_table(node, scope, view_names, declared, views)
        elif kind == "TABLE_FUNCTION":
            function = node.get("function") or {}
            name = str(function.get("function_name", "")).lower()
            if name not in ALLOWED_TABLE_FUNCTIONS:
                raise SqlRefused(f"refused: table function {name}() may read outside the views; "
                                 f"allowed: {', '.join(sorted(ALLOWED_TABLE_FUNCTIONS))}")
        elif kind == "SHOW_REF" and node.get("table_name"):
            raise SqlRefused("refused: SHOW lists the catalog; query the views (DESCRIBE events works)")
        elif kind == "COLUMN_REF":
            parts = node.get("column_names") or []
            if len(parts) == 1 and _fold(str(parts[0])) in DENIED_KEYWORDS:
                raise SqlRefused(f"refused: {_fold(str(parts[0]))} reads the catalog")
        if isinstance(node.get("function_name"), str):  # scalar, aggregate, window, a table function's call
            _check_function(node)


def _check_table(node: dict[str, Any], scope: frozenset[str], view_names: set[str], declared: set[str],
                 views: tuple[str, ...]) -> None:
    name = str(node.get("table_name", ""))
    schema = _fold(str(node.get("schema_name", "") or ""))
    catalog = _fold(str(node.get("catalog_name", "") or ""))
    folded = _fold(name)
    if not catalog and not schema and folded in scope:
        return  # a WITH name visible here
    if catalog in ("", "memory") and schema in ("", "main") and folded in view_names:
        return
    shown = ".".join(p for p in (catalog, schema, name) if p)
    if folded in declared:
        where = "a qualified name never means a WITH name" if catalog or schema else \
            "a WITH name is visible only in its own query and the WITH names after it"
        raise SqlRefused(f"refused: {shown!r} is not a view here ({where}); query only {', '.join(views)}")
    raise SqlRefused(f"refused: {shown!r} is not a view; query only {', '.join(views)}")


def _check_function(node: dict[str, Any]) -> None:
    name = str(node.get("function_name", "")).lower()
    denied = name in DENIED_FUNCTIONS or (name.startswith(DENIED_PREFIXES) and name not in ALLOWED_DESPITE_PREFIX)
    if denied or any(word in name for word in DENIED_WORDS):
        raise SqlRefused(f"refused: function {name}() reads settings, the catalog, statistics, files or the "
                         "environment")
    catalog, schema = _fold(str(node.get("catalog") or "")), _fold(str(node.get("schema") or ""))
    if not catalog and schema == "main":
        return  # DuckDB 1.5's parser writes its own calls ([…] list_value, {…} struct_pack, list_apply) as main.*
    qualifier = ".".join(part for part in (catalog, schema) if part)
    if qualifier:
        raise SqlRefused(f"refused: function {qualifier}.{name}() is qualified; call functions by bare name")


def check_statement(con: LakeConnection, sql: str) -> Checked:
    """Parse and check ``sql`` with DuckDB's parser; raise :class:`SqlRefused` unless it is one safe SELECT."""
    if not sql.strip():
        raise SqlRefused("refused: the statement is empty")
    check_depth(sql)
    try:
        statements = con.parse(sql)
    except Exception as exc:  # noqa: BLE001 - any parser failure is the user's SQL: one line back
        if _is_depth_error(exc):
            raise SqlRefused(_TOO_DEEP) from None
        raise SqlRefused(f"refused: the statement does not parse: {_first_line(exc)}") from None
    if len(statements) != 1:
        raise SqlRefused(f"refused: give exactly one statement (got {len(statements)})")
    statement = statements[0]
    kind = getattr(statement.type, "name", str(statement.type))
    if kind != "SELECT":
        raise SqlRefused(f"refused: only read-only SELECT statements run here (this is {kind})")
    text = statement.query
    try:
        tree = orjson.loads(con.serialize(text))
    except orjson.JSONDecodeError as exc:  # deeper than the JSON reader's 1024 levels
        raise SqlRefused(_TOO_DEEP if _is_depth_error(exc) else
                         f"refused: the statement could not be analysed ({exc})") from None
    except QueryError as exc:
        if _is_depth_error(exc):
            raise SqlRefused(_TOO_DEEP) from None
        raise
    check_tree(tree)
    check_subqueries(tree)  # DuckDB 1.5.5 plans nested expression subqueries in exponential time
    check_budget(tree)  # values too large for the memory budget (queries/budget.py)
    return Checked(text)


def _is_depth_error(exc: BaseException) -> bool:
    text = str(exc)
    # "memory exhausted": DuckDB 1.5.5's parser running out of its stack (a CASE chain 1000 deep, measured)
    return ("depth limit" in text or "Max expression depth" in text or "memory exhausted" in text
            or isinstance(exc, RecursionError))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def run_sql(con: LakeConnection, sql: str, *, max_rows: int, timeout_s: float | None = None,
            max_bytes: int | None = None) -> QueryResult:
    """Check, then run one ad-hoc statement; the timeout error names the query by its first words."""
    checked = check_statement(con, sql)
    label = " ".join(checked.sql.split())
    label = label if len(label) <= 60 else label[:57] + "..."
    try:
        return con.query(checked.sql, name=f"sql: {label}", timeout_s=timeout_s, max_rows=max_rows,
                         max_bytes=max_bytes)
    except QueryError as exc:
        if _is_depth_error(exc):  # DuckDB's binder stopped a chain its parser let through
            raise SqlRefused(_TOO_DEEP) from None
        raise


def execute_sql(lake_root: LakeRef, sql: str, *, tenant: str | None = None, max_rows: int = 10_000,
                timeout_s: float | None = None, window: Window | None = None,
                limits: Limits | None = None, max_bytes: int | None = None) -> QueryResult:
    """The sandbox entry point for the CLI and the API: a fresh scoped connection, check, run, close.

    ``tenant`` replaces every view by that tenant's rows before the statement
    runs; ``window`` prunes the ``events`` partitions read. All of it runs in
    a worker process under an OS memory cap (:func:`tracelake.queries.budget.run_isolated`,
    which lists what it raises); ``max_bytes`` truncates the answer like ``max_rows``.
    """
    return run_isolated(lake_root, sql, tenant=tenant, window=window, limits=limits, max_rows=max_rows,
                        max_bytes=max_bytes, timeout_s=timeout_s)
