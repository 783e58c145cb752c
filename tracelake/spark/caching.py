"""Which views a metric keeps in Spark's cache, and with which columns.

Spark plans every reference to a view again (its own scan, its own de-duplication) unless the view is cached;
DuckDB's ``AS MATERIALIZED`` has no Spark syntax. A cache costs heap: the first query that reads a cached view
materialises all of it, every column it keeps, for every row. So on the fast path a view is cached only when

- the metric's query reads it more than once (:func:`reads`, through ``llm_calls`` / ``tool_calls`` for
  ``events``), and
- reading it again is work, not a scan: ``runs`` when it is computed (the rollup's tail, or every run from the
  events when the lake has no rollup), ``events`` when ``runs`` is computed from it (``run_facts.sql`` reads
  ``events`` nine times).

``events`` over the rollup is never cached: a second scan of Parquet reads only the columns asked for, and a
clean day needs no de-duplication, while a cache would hold every column of every event (prompts,
completions, attributes) in the heap — what ran Spark out of a 4 GB heap at 30 M events.

A cached ``runs`` keeps only the columns the metric names (:func:`needed_columns`), unless the query selects
``*`` from it.
"""

from __future__ import annotations

from collections import Counter

from sqlglot import exp

from tracelake.spark.transpile import parse

# Views defined over events: a read of one is a read of events.
_OVER_EVENTS = ("llm_calls", "tool_calls")


def reads(sql: str) -> Counter[str]:
    """How many times the DuckDB query ``sql`` reads each view by name once its CTEs are inlined, as Spark
    plans them (a CTE read twice reads its views twice); a read of ``llm_calls`` / ``tool_calls`` counts as a
    read of ``events`` too."""
    tree = parse(sql)
    bodies: dict[str, exp.Expression] = {}
    for cte in tree.find_all(exp.CTE):
        body = cte.this.copy()
        body.set("with_", None)
        bodies[cte.alias_or_name] = body
    main = tree.copy()
    for node in main.find_all(exp.With):
        node.pop()
    memo: dict[str, Counter[str]] = {}

    def count(node: exp.Expression, seen: frozenset[str]) -> Counter[str]:
        found: Counter[str] = Counter()
        for table in node.find_all(exp.Table):
            name = table.name
            if name in bodies and name not in seen:  # a CTE: what its body reads, once per reference
                if name not in memo:
                    memo[name] = count(bodies[name], seen | {name})
                found.update(memo[name])
            elif name:
                found[name] += 1
                if name in _OVER_EVENTS:
                    found["events"] += 1
        return found

    return count(main, frozenset())


def needed_columns(sql: str, columns: list[str]) -> list[str] | None:
    """The ``columns`` (of a view) the query ``sql`` can name, in their order; None when it selects a bare
    ``*`` (every column is needed). Over-approximates: any column name in the query counts."""
    tree = parse(sql)
    if any(isinstance(star.parent, exp.Select | exp.Column)
           for star in tree.find_all(exp.Star)):
        return None
    named = {column.name for column in tree.find_all(exp.Column)}
    return [c for c in columns if c in named]


def views_to_cache(sql: str, *, runs_computed: bool, runs_from_events: bool) -> list[str]:
    """The views to cache for the query ``sql`` (module docstring): ``runs_computed`` — reading ``runs`` is
    more than a scan of the rollup; ``runs_from_events`` — it is computed from the ``events`` view."""
    counts = reads(sql)
    cached = []
    if runs_from_events and counts["runs"] > 0:
        cached.append("events")
    if runs_computed and counts["runs"] > 1:
        cached.append("runs")
    return cached
