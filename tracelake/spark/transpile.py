"""The shared DuckDB SQL, turned into Spark SQL at run time with sqlglot (``duckdb`` → ``spark``).

Nothing here holds a metric or a view: the statements come from
:mod:`tracelake.queries.views` (the view statements) and
:mod:`tracelake.queries.metrics` (``queries/sql/<name>.sql`` rendered by
``build_query``). sqlglot translates most of them as they are (``QUALIFY`` into
a sub-select, ``* EXCLUDE`` into ``* EXCEPT``, ``json_extract_string`` into
``get_json_object``, ``arg_min`` into ``min_by``, quoted identifiers into
back-ticks, DuckDB's ``NULLS LAST`` default made explicit, ``$name`` into
``:name``). What it does not translate is done by the small transforms below,
applied to the parsed tree before Spark SQL is written (each names the gap):

- :func:`temporary_views`: ``CREATE OR REPLACE VIEW`` → ``… TEMPORARY VIEW`` (a
  Spark session's views over DataFrames must be temporary).
- :func:`drop_materialized`: ``WITH x AS MATERIALIZED (…)`` → ``WITH x AS (…)``
  (a DuckDB planning hint Spark's parser refuses; Spark decides reuse itself).
- :func:`epoch_us`: ``epoch_us(ts)`` → ``unix_micros(ts)`` (sqlglot leaves the
  DuckDB name; same value: microseconds since the epoch).
- :func:`quantile_cont`: ``quantile_cont(x, q)`` → ``percentile(x, q)``
  (sqlglot writes ``percentile_cont(x, q)``, which Spark only takes as
  ``percentile_cont(q) WITHIN GROUP (ORDER BY x)``; both interpolate linearly).
- :func:`histogram`: ``histogram(x) [FILTER (WHERE c)]`` → a map of value →
  count built from ``collect_list(x) [FILTER (WHERE c)]`` (Spark has no
  histogram aggregate). With no rows it is an empty map where DuckDB gives
  NULL; the metric layer reads both as ``{}`` (``MetricSpec.empty_maps``).
- :func:`unwrap_try`: ``try(json_extract_string(…))`` → ``get_json_object(…)``
  (Spark has no generic ``try``; ``get_json_object`` answers NULL for bad JSON
  instead of raising, which is what ``try`` is there for).
- :func:`union_by_position`: ``UNION ALL BY NAME`` → ``UNION ALL`` (Spark SQL
  has no ``BY NAME``). Equal only when both sides give the same columns in the
  same order, which the fast path's view statements do: every part of
  ``events`` is the events table read with its declared schema
  (:mod:`tracelake.spark.sources`) and the ``runs`` parts list the rollup's
  columns in one order. A union by name whose sides list different columns
  raises here.
- :func:`bind_literals`: ``$since`` / ``$w_0`` … → SQL literals written by
  sqlglot (timestamps as ``CAST('…+00:00' AS TIMESTAMP)``, text escaped for
  Spark's back-slash strings). Spark's own parameter markers do not reach
  through Delta's SQL parser extension, so values are bound here, from the
  already-checked parameters of ``build_query`` (never from raw SQL text).

Anything else sqlglot cannot write for Spark raises (``unsupported_level`` is
RAISE): a new DuckDB-only construct in the shared SQL fails loudly here and in
the equivalence test, never silently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

READ = "duckdb"
WRITE = "spark"

Transform = Callable[[exp.Expression], exp.Expression]


def _function_name(node: exp.Expression) -> str:
    return str(node.this).lower() if isinstance(node, exp.Anonymous) else ""


def temporary_views(tree: exp.Expression) -> exp.Expression:
    """``CREATE [OR REPLACE] VIEW v`` → ``CREATE OR REPLACE TEMPORARY VIEW v``."""
    if isinstance(tree, exp.Create) and str(tree.args.get("kind", "")).upper() == "VIEW":
        properties = tree.args.get("properties") or exp.Properties(expressions=[])
        if not any(isinstance(p, exp.TemporaryProperty) for p in properties.expressions):
            properties.append("expressions", exp.TemporaryProperty())
        tree.set("properties", properties)
        tree.set("replace", True)
    return tree


def drop_materialized(tree: exp.Expression) -> exp.Expression:
    """``AS MATERIALIZED`` / ``AS NOT MATERIALIZED`` on a CTE → plain ``AS``."""
    for cte in tree.find_all(exp.CTE):
        cte.set("materialized", None)
    return tree


def epoch_us(tree: exp.Expression) -> exp.Expression:
    """``epoch_us(x)`` → ``unix_micros(x)``."""
    def swap(node: exp.Expression) -> exp.Expression:
        if _function_name(node) == "epoch_us":
            return exp.Anonymous(this="unix_micros", expressions=list(node.expressions))
        return node
    return tree.transform(swap)


def quantile_cont(tree: exp.Expression) -> exp.Expression:
    """``quantile_cont(x, q)`` (parsed as ``PercentileCont``) → ``percentile(x, q)``."""
    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.PercentileCont) and node.args.get("expression") is not None:
            return exp.Anonymous(this="percentile", expressions=[node.this, node.expression])
        return node
    return tree.transform(swap)


def _histogram_of(values: exp.Expression) -> exp.Expression:
    """``map_from_arrays(array_distinct(L), transform(array_distinct(L), k -> size(filter(L, v -> v <=> k))))``."""
    keys = exp.Anonymous(this="array_distinct", expressions=[values.copy()])
    k, v = exp.to_identifier("__k"), exp.to_identifier("__v")
    same = exp.NullSafeEQ(this=exp.column(v), expression=exp.column(k))
    matching = exp.Anonymous(this="filter", expressions=[values.copy(), exp.Lambda(this=same, expressions=[v])])
    count = exp.Anonymous(this="size", expressions=[matching])
    counts = exp.Anonymous(this="transform", expressions=[keys.copy(), exp.Lambda(this=count, expressions=[k])])
    return exp.Anonymous(this="map_from_arrays", expressions=[keys, counts])


def histogram(tree: exp.Expression) -> exp.Expression:
    """``histogram(x) [FILTER (WHERE c)]`` → a value → count map over ``collect_list(x) [FILTER (WHERE c)]``."""
    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Filter) and _function_name(node.this) == "histogram":
            (arg,) = node.this.expressions
            collected = exp.Filter(this=exp.Anonymous(this="collect_list", expressions=[arg.copy()]),
                                   expression=node.expression.copy())
            return _histogram_of(collected)
        if _function_name(node) == "histogram" and not isinstance(node.parent, exp.Filter):
            (arg,) = node.expressions
            return _histogram_of(exp.Anonymous(this="collect_list", expressions=[arg.copy()]))
        return node
    return tree.transform(swap)


def unwrap_try(tree: exp.Expression) -> exp.Expression:
    """``try(json_extract_string(…))`` → the extraction itself (``get_json_object`` never raises)."""
    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Try):
            if isinstance(node.this, exp.JSONExtractScalar | exp.JSONExtract):
                return node.this
            raise ValueError(f"try() around {node.this.sql(READ)} has no Spark equivalent here")
        return node
    return tree.transform(swap)


def union_by_position(tree: exp.Expression) -> exp.Expression:
    """``a UNION ALL BY NAME b`` → ``a UNION ALL b`` (module docstring: only for sides in the same column order)."""
    for union in tree.find_all(exp.Union):
        if not union.args.get("by_name"):
            continue
        left, right = union.left, union.right
        if (isinstance(left, exp.Select) and isinstance(right, exp.Select)
                and not any(isinstance(e, exp.Star) for e in (*left.expressions, *right.expressions))
                and left.named_selects != right.named_selects):
            raise ValueError(f"UNION BY NAME of {left.named_selects} and {right.named_selects}: "
                             "the columns differ in order, Spark SQL unions by position")
        union.set("by_name", None)
    return tree


def literal(value: Any) -> exp.Expression:
    """A Spark SQL literal of a bound value (aware datetimes as UTC timestamps)."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("a bound time must carry a UTC offset")
        text = value.astimezone(UTC).isoformat(sep=" ")
        return exp.cast(exp.Literal.string(text), exp.DataType.build("TIMESTAMP", dialect=WRITE))
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.build("DATE", dialect=WRITE))
    if isinstance(value, str):
        return exp.Literal.string(value)
    raise TypeError(f"cannot bind a {type(value).__name__} into Spark SQL")


def bind_literals(params: Mapping[str, Any]) -> Transform:
    """A transform replacing ``$name`` placeholders with the literals of ``params`` (a missing one raises)."""
    def bind(tree: exp.Expression) -> exp.Expression:
        def swap(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Placeholder) and node.this:
                name = str(node.this)
                if name not in params:
                    raise KeyError(f"no value bound for ${name}")
                return literal(params[name])
            return node
        return tree.transform(swap)
    return bind


TRANSFORMS: tuple[Transform, ...] = (temporary_views, drop_materialized, epoch_us, quantile_cont, histogram,
                                     unwrap_try, union_by_position)


def parse(sql: str) -> exp.Expression:
    """One DuckDB statement as a sqlglot tree."""
    tree = sqlglot.parse_one(sql, read=READ)
    if not isinstance(tree, exp.Expression):
        raise ValueError("no SQL statement to transpile")
    return tree


def write(tree: exp.Expression) -> str:
    """Spark SQL of ``tree``; raises ``sqlglot.errors.UnsupportedError`` for anything Spark cannot say."""
    return tree.sql(dialect=WRITE, unsupported_level=ErrorLevel.RAISE, comments=False)


def to_spark(sql: str, params: Mapping[str, Any] | None = None,
             rewrite: Transform | None = None) -> str:
    """One DuckDB statement of the shared SQL as Spark SQL: parsed, :data:`TRANSFORMS` applied (then ``rewrite``,
    then the bound ``params``), written for Spark."""
    tree = parse(sql)
    for transform in TRANSFORMS:
        tree = transform(tree)
    if rewrite is not None:
        tree = rewrite(tree)
    if params is not None:
        tree = bind_literals(params)(tree)
    return write(tree)
