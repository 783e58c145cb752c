"""The sandbox's allow-list is scoped (issue 11, item 2).

A ``WITH`` name is visible only where SQL scoping makes it visible, so a CTE
named like a system view in one scope never lets the same name reach
DuckDB's catalog in another. System views, catalogs, settings, statistics
and table functions are unreachable by any spelling.

Every statement in ``BYPASSES`` was accepted by the sandbox before the
scoped walk (most of them returned catalog data: the views' SQL with the lake
path and the tenant filter, settings, another tenant's values); each must now
be refused before anything runs. ``LEGITIMATE`` statements keep working.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tracelake.queries.engine import LakeConnection, open_lake
from tracelake.queries.sandbox import ALLOWED_TABLE_FUNCTIONS, SqlRefused, check_tree, run_sql

# A CTE named like a system object, declared in a scope that does not cover the reference.
SHADOW = "(WITH duckdb_views AS (SELECT 1 AS sql) FROM duckdb_views)"

BYPASSES: dict[str, str] = {
    # the statement and the same trick through every kind of sibling scope
    "issue": "SELECT v.sql FROM (WITH duckdb_views AS (SELECT 1) FROM duckdb_views) x, duckdb_views v",
    "from-first": f"FROM duckdb_views v, {SHADOW} x SELECT v.sql",
    "quoted-case": 'SELECT v.sql FROM (WITH "DUCKDB_VIEWS" AS (SELECT 1) FROM "Duckdb_Views") x, "DuckDB_Views" v',
    "set-operation": "(WITH duckdb_views AS (SELECT 'x' AS sql) SELECT sql FROM duckdb_views) "
                     "UNION ALL SELECT sql FROM duckdb_views",
    "set-operation-right": "SELECT sql FROM duckdb_views UNION ALL "
                           "(WITH duckdb_views AS (SELECT 'x' AS sql) SELECT sql FROM duckdb_views)",
    "scalar-subquery": "SELECT (WITH duckdb_views AS (SELECT 1) SELECT 1 FROM duckdb_views), "
                       "(SELECT string_agg(sql, ';') FROM duckdb_views)",
    "where-subquery": f"SELECT sql FROM duckdb_views WHERE EXISTS {SHADOW}",
    "in-subquery": f"SELECT 1 AS x FROM {SHADOW} t WHERE 'x' IN (SELECT sql FROM duckdb_views)",
    "having": f"SELECT count(*) FROM {SHADOW} t HAVING max((SELECT sql FROM duckdb_views LIMIT 1)) IS NOT NULL",
    "order-by": f"SELECT 1 AS x FROM {SHADOW} t ORDER BY (SELECT min(sql) FROM duckdb_views)",
    "qualify": f"SELECT 1 AS x FROM {SHADOW} t QUALIFY row_number() OVER () = (SELECT count(*) FROM duckdb_views)",
    "lateral": f"SELECT v.sql FROM {SHADOW} x, LATERAL (SELECT sql FROM duckdb_views) v",
    "join-on": f"SELECT 1 AS x FROM {SHADOW} a JOIN {SHADOW} b ON (SELECT count(*) FROM duckdb_views) > 0",
    "values": f"SELECT * FROM (VALUES ((SELECT string_agg(sql, ';') FROM duckdb_views))) t(x), {SHADOW} y",
    "cte-inside-cte": "WITH a AS (WITH duckdb_views AS (SELECT 1) SELECT * FROM duckdb_views) "
                      "SELECT sql FROM duckdb_views, a",
    "cte-in-scalar-of-where": "SELECT sql FROM duckdb_views "
                              "WHERE (WITH duckdb_views AS (SELECT true AS b) SELECT b FROM duckdb_views)",
    "unnest-argument": f"SELECT * FROM unnest((SELECT list(sql) FROM duckdb_views)), {SHADOW} y",
    "pivot": f"SELECT * FROM {SHADOW} y, (SELECT * FROM duckdb_views PIVOT (first(sql) FOR schema_name IN ('main')))",
    "unpivot": f"SELECT * FROM {SHADOW} y, (SELECT * FROM duckdb_views UNPIVOT (v FOR k IN (sql)))",
    "summarize": f"SELECT * FROM {SHADOW} y, (SUMMARIZE SELECT sql FROM duckdb_views)",
    # the CTE's own body and the WITH clause's earlier names do not see it (DuckDB reads the catalog there)
    "self-reference": "WITH duckdb_views AS (SELECT sql FROM duckdb_views) SELECT * FROM duckdb_views",
    "forward-reference": "WITH a AS (SELECT sql FROM duckdb_views), duckdb_views AS (SELECT 1) SELECT * FROM a",
    "recursive-without-union": "WITH RECURSIVE duckdb_views AS (SELECT sql FROM duckdb_views) "
                               "SELECT * FROM duckdb_views",
    "recursive-anchor": "WITH RECURSIVE duckdb_views AS (SELECT sql FROM duckdb_views UNION "
                        "SELECT sql FROM duckdb_views WHERE false) SELECT * FROM duckdb_views",
    "recursive-forward": "WITH RECURSIVE b AS (SELECT sql FROM duckdb_views), duckdb_views AS (SELECT 1) "
                         "SELECT * FROM b",
    # a qualified name never means a CTE
    "qualified-main": "WITH duckdb_views AS (SELECT 1) SELECT sql FROM main.duckdb_views",
    "qualified-memory": "WITH duckdb_views AS (SELECT 1) SELECT sql FROM memory.main.duckdb_views",
    # the other system views, same trick
    "pg_settings": "SELECT s.name, s.setting FROM (WITH pg_settings AS (SELECT 1) FROM pg_settings) x, pg_settings s",
    "duckdb_databases": "SELECT d.path FROM (WITH duckdb_databases AS (SELECT 1) FROM duckdb_databases) x, "
                        "duckdb_databases d",
    "duckdb_tables": "SELECT t.* FROM (WITH duckdb_tables AS (SELECT 1) FROM duckdb_tables) x, duckdb_tables t",
    "duckdb_columns": "SELECT c.table_name FROM (WITH duckdb_columns AS (SELECT 1) FROM duckdb_columns) x, "
                      "duckdb_columns c",
    "sqlite_master": "SELECT m.sql FROM (WITH sqlite_master AS (SELECT 1) FROM sqlite_master) x, sqlite_master m",
    "pg_views": "SELECT p.definition FROM (WITH pg_views AS (SELECT 1) FROM pg_views) x, pg_views p",
    "pragma_database_list": "SELECT p.* FROM (WITH pragma_database_list AS (SELECT 1) FROM pragma_database_list) x, "
                            "pragma_database_list p",
    # functions that read the catalog, settings or file statistics
    "pg_get_viewdef": "SELECT pg_get_viewdef(o) FROM range(0, 100000) t(o) WHERE pg_get_viewdef(o) IS NOT NULL",
    "pg_get_viewdef-qualified": "SELECT pg_catalog.pg_get_viewdef(o) FROM range(0, 100000) t(o) "
                                "WHERE pg_catalog.pg_get_viewdef(o) IS NOT NULL",
    "pg_get_viewdef-method": "SELECT (o).pg_get_viewdef() FROM range(0, 100000) t(o) WHERE o.pg_get_viewdef() > ''",
    "format_type": "SELECT format_type(25, NULL)",
    "get_block_size": "SELECT get_block_size('memory')",
    "json_serialize_plan": "SELECT json_serialize_plan('SELECT * FROM events')",
    "stats": "SELECT stats(workflow) FROM events LIMIT 1",
    "current_database": "SELECT current_database(), current_schemas(true)",
    "current_schema-keyword": "SELECT current_schema, current_catalog",
    "in_search_path": "SELECT in_search_path('system', 'main')",
    "window-form": "SELECT current_setting('threads') OVER ()",
}

# Refused before and after (regression guard, not counted as a bypass).
STILL_REFUSED = [
    "SELECT * FROM duckdb_settings()", "SELECT * FROM duckdb_extensions()", "SELECT * FROM duckdb_secrets()",
    "SELECT * FROM duckdb_temporary_files()", "SELECT * FROM duckdb_memory()", "SELECT * FROM duckdb_dependencies()",
    "SELECT * FROM duckdb_functions()", "SELECT current_setting('memory_limit')", "SELECT getvariable('x')",
    "SELECT * FROM pragma_table_info('events')", "SELECT * FROM glob('/*')",
    "SELECT * FROM which_secret('s3://x', 's3')",
    "SELECT * FROM query('SELECT 1')", "SELECT * FROM query_table('events')", "SELECT * FROM parquet_schema('x')",
    "SELECT * FROM information_schema.tables", "SELECT * FROM pg_catalog.pg_settings", "SELECT * FROM temp.main.x",
    "SELECT * FROM system.main.duckdb_views", "WITH tables AS (SELECT 1) SELECT * FROM information_schema.tables",
    "SELECT * FROM histogram(events, tenant)", "SELECT duckdb_settings()",
]

LEGITIMATE: dict[str, tuple[str, list[tuple[object, ...]]]] = {
    "nested-ctes": ("WITH a AS (SELECT run_id FROM runs), b AS (WITH c AS (SELECT * FROM a) SELECT count(*) AS n "
                    "FROM c) SELECT n FROM b", [(10,)]),
    "cte-in-subquery-of-body": ("WITH ok AS (SELECT run_id FROM runs WHERE outcome = 'success') "
                                "SELECT count(*) FROM runs WHERE run_id IN (SELECT run_id FROM ok) "
                                "AND EXISTS (SELECT 1 FROM (SELECT * FROM ok) x)", [(4,)]),
    "cte-in-lateral": ("WITH ok AS (SELECT run_id FROM runs) SELECT count(*) FROM runs r, "
                       "LATERAL (SELECT 1 FROM ok WHERE ok.run_id = r.run_id) x", [(10,)]),
    "earlier-cte": ("WITH a AS (SELECT 2 AS x), b AS (SELECT x * 2 AS y FROM a) SELECT y FROM b", [(4,)]),
    "recursive-over-view": ("WITH RECURSIVE n(i, k) AS (SELECT 1, (SELECT count(*) FROM runs) UNION ALL "
                            "SELECT i + 1, k FROM n WHERE i < k) SELECT max(i) FROM n", [(10,)]),
    "recursive-on-view-rows": ("WITH RECURSIVE r AS (SELECT run_id, 0 AS d FROM runs UNION ALL "
                               "SELECT run_id, d + 1 FROM r WHERE d < 2) SELECT count(*) FROM r", [(30,)]),
    "shadow-view-own-scope": ("WITH runs AS (SELECT * FROM runs WHERE outcome = 'success') "
                              "SELECT count(*) FROM runs", [(4,)]),
    "shadow-then-outer-view": ("SELECT (WITH runs AS (SELECT 1 AS x) SELECT count(*) FROM runs), "
                               "(SELECT count(*) FROM runs)", [(1, 10)]),
    "set-operation-with": ("WITH a AS (SELECT 1 AS x) SELECT x FROM a UNION ALL SELECT x + 1 FROM a ORDER BY 1",
                           [(1,), (2,)]),
    "quoted-cte": ('WITH "Ok" AS (SELECT 1 AS x) SELECT x FROM ok', [(1,)]),
    "qualified-view": ("SELECT count(*) FROM main.runs, memory.main.runs r2 WHERE false", [(0,)]),
    "describe": ("SELECT column_name FROM (DESCRIBE SELECT run_id FROM runs)", [("run_id",)]),
    "values-and-unnest": ("SELECT sum(x) FROM (VALUES (1), (2)) t(x), unnest([1]) u(y)", [(3,)]),
    "functions": ("SELECT pg_typeof(1), current_date IS NOT NULL, lower('A'), list_sum([1, 2])",
                  [("integer", True, "a", 3)]),
}


@pytest.fixture
def con(golden_lake: Path) -> Iterator[LakeConnection]:
    with open_lake(golden_lake, tenant="globex") as connection:
        yield connection


@pytest.mark.parametrize("sql", list(BYPASSES.values()), ids=list(BYPASSES))
def test_bypass_is_refused_with_one_line(con: LakeConnection, sql: str) -> None:
    with pytest.raises(SqlRefused) as refused:
        run_sql(con, sql, max_rows=100)
    message = str(refused.value)
    assert message.startswith("refused:") and "\n" not in message


@pytest.mark.parametrize("sql", STILL_REFUSED)
def test_system_objects_stay_refused(con: LakeConnection, sql: str) -> None:
    with pytest.raises(SqlRefused):
        run_sql(con, sql, max_rows=100)


def test_the_refusal_names_what_was_refused(con: LakeConnection) -> None:
    for sql, named in ((BYPASSES["issue"], "duckdb_views"), (BYPASSES["pg_settings"], "pg_settings"),
                       (BYPASSES["qualified-memory"], "memory.main.duckdb_views"),
                       (BYPASSES["pg_get_viewdef"], "pg_get_viewdef"), (BYPASSES["stats"], "stats"),
                       ("SELECT current_schema", "current_schema")):
        with pytest.raises(SqlRefused, match=re.escape(named)):
            run_sql(con, sql, max_rows=100)


@pytest.mark.parametrize("name", list(LEGITIMATE), ids=list(LEGITIMATE))
def test_legitimate_cte_uses_keep_working(golden_lake: Path, name: str) -> None:
    sql, expected = LEGITIMATE[name]
    with open_lake(golden_lake) as connection:
        assert run_sql(connection, sql, max_rows=100).rows == expected


def _tree(con: LakeConnection, sql: str) -> dict[str, Any]:
    tree: dict[str, Any] = orjson.loads(con.serialize(sql))
    return tree


def test_every_table_function_but_the_generators_is_refused(con: LakeConnection) -> None:
    names = {r[0] for r in con.execute("SELECT DISTINCT function_name FROM duckdb_functions() "
                                       "WHERE function_type IN ('table', 'table_macro')").fetchall()}
    assert names >= ALLOWED_TABLE_FUNCTIONS
    for name in sorted(names - ALLOWED_TABLE_FUNCTIONS):
        with pytest.raises(SqlRefused, match=re.escape(name)):
            check_tree(_tree(con, f"SELECT * FROM {name}()"))


def test_no_allowed_macro_reads_the_catalog(con: LakeConnection) -> None:
    """Tripwire for DuckDB upgrades: a built-in macro the sandbox lets through must itself pass the sandbox."""
    macros = con.execute("SELECT function_name, macro_definition FROM duckdb_functions() "
                         "WHERE function_type = 'macro' AND macro_definition IS NOT NULL").fetchall()
    assert len(macros) > 50
    for name, definition in macros:
        try:
            check_tree(_tree(con, f"SELECT {name}()"))
        except SqlRefused:
            continue  # refused by name: its body never runs
        check_tree(_tree(con, f"SELECT {definition}"))


# Scalar functions whose names sound like settings, files, the catalog or the session, reviewed and harmless
# (pure computations on their arguments, or constants).
REVIEWED_HARMLESS = frozenset({
    "array_to_string_comma_default", "cast_to_type", "current_date", "current_localtime", "current_localtimestamp",
    "current_role", "current_user", "session_user", "user", "dayname", "monthname", "error", "format_pg_type",
    "get_current_time", "get_current_timestamp", "get_type", "make_type", "replace_type", "invoke", "typeof",
    "json_deserialize_sql", "json_serialize_sql", "json_extract_path", "json_extract_path_text", "json_type", "log",
    "log10", "log2", "map_to_pg_oid", "map_type_id_to_pg_oid", "parse_dirname", "parse_dirpath", "parse_filename",
    "parse_path", "path_join", "parse_duckdb_log_message", "pg_typeof", "pg_size_pretty", "transaction_timestamp",
    "uuid_extract_version", "variant_type", "variant_typeof", "vector_type", "version", "sleep_ms", "pg_sleep",
})
RISKY_NAME = re.compile(
    r"setting|variable|env|secret|file|glob|read|catalog|schema|database|query|sql|plan|pragma|extension|connection|"
    r"transaction|txid|sequence|nextval|currval|setval|seed|log|profil|memory|temp|current|version|description|"
    r"privilege|visible|oid|type|block|def|sleep|stats|invoke|internal|duckdb|pg_|path|dir|user|role|session|system")


def test_every_risky_looking_function_is_refused_or_reviewed(con: LakeConnection) -> None:
    """Tripwire for DuckDB upgrades: a new function whose name sounds like state must be classified."""
    names = {r[0] for r in con.execute("SELECT DISTINCT function_name FROM duckdb_functions() WHERE function_type "
                                       "IN ('scalar', 'aggregate', 'window', 'macro')").fetchall()}
    unclassified = []
    for name in sorted(n for n in names if RISKY_NAME.search(n) and n not in REVIEWED_HARMLESS):
        try:
            check_tree(_tree(con, f'SELECT "{name}"()'))
        except SqlRefused:
            continue
        unclassified.append(name)
    assert unclassified == []
