"""Every metric of ``metrics.md``, defined once: the SQL in ``queries/sql/<name>.sql``, the spec here.

The CLI (``tracelake metrics``), the API (``GET /v1/metrics/{name}``) and the
alert jobs all call :func:`run_metric` (on an open connection) or
:func:`compute_metric` (which opens one pruned to the window). Output: a list
of row dicts whose columns are the group columns, the metric column and the
extra columns ``metrics.md`` names, ordered by the group columns.

Safety: ``--group-by`` and ``--where`` keys are checked against the metric's
allow-list and only then placed in the SQL as quoted identifiers; every value
(times, ``--where`` values) is a bound parameter, never formatted into SQL.
Failure modes: :class:`MetricArgumentError` (unknown metric, column or bad
window; a user error), :class:`~tracelake.queries.engine.QueryError` /
``QueryTimeout`` from the engine.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from tracelake.errors import UserError
from tracelake.lake.lake import LakeRef
from tracelake.queries.engine import LakeConnection, Limits, open_lake
from tracelake.queries.sqlparts import in_clause, read_sql
from tracelake.queries.timewin import LATEST, Window

Row = dict[str, Any]

# Columns a run (or an event) can be grouped and filtered by (metrics.md "Windows and grouping").
RUN_KEYS = frozenset({"tenant", "team", "release", "environment", "workflow", "workflow_version"})
DEFAULT_GROUP = ("workflow", "workflow_version")
# How late an outcome_confirmed may arrive after the window's end and still count (metrics.md "Confirmed
# outcomes"): the confirmed metrics' connections read this far past ``until``.
CONFIRMATION_DELAY = timedelta(days=30)
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


class MetricArgumentError(UserError, ValueError):
    """A metric was asked for with arguments that cannot work (a user error, never a crash)."""


@dataclass(frozen=True)
class MetricSpec:
    """How one metric is computed and read.

    ``kind``: ``run`` metrics select finished runs by their ``run_finished``
    time (their events may sit in earlier partitions, so the connection's
    window is widened by the longest run); ``event`` metrics select events by
    their own ``ts``. ``value`` is the metric column; ``n`` the sample size an
    alert checks; ``x`` the count of "hits" of a proportion (x / n).
    """

    name: str
    kind: Literal["run", "event"]
    value: str
    n: str
    x: str | None = None
    default_group: tuple[str, ...] = DEFAULT_GROUP
    keys: frozenset[str] = RUN_KEYS
    public: bool = True
    empty_maps: tuple[str, ...] = field(default=())
    # False: DuckDB only, left out of Spark (tracelake.spark; control_pass_rate reads control_results, whose
    # controls' SQL is DuckDB's: docs/controls.md "Spark").
    spark: bool = True
    # Joins the runs' late outcome_confirmed events (sql/run_confirmations.sql): the connection reads
    # CONFIRMATION_DELAY past the window's end as well.
    confirmations: bool = False

    @property
    def sql_template(self) -> str:
        return _template(self.name)


METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec("success_rate", "run", "success_rate", n="runs", x="successes"),
        MetricSpec("cost_per_success", "run", "cost_per_success", n="successes"),
        MetricSpec("tool_call_validity", "event", "tool_call_validity", n="tool_calls", x="valid_calls",
                   keys=RUN_KEYS | {"tool_name"}),
        MetricSpec("tool_call_success", "event", "tool_call_success", n="tool_calls", x="successful_calls",
                   keys=RUN_KEYS | {"tool_name"}),
        MetricSpec("postcondition_pass_rate", "event", "postcondition_pass_rate", n="checks", x="passed_checks"),
        MetricSpec("escalation_rate", "run", "escalation_rate", n="runs", x="escalated_runs",
                   empty_maps=("reasons",)),
        MetricSpec("time_to_safe_fallback", "run", "time_to_safe_fallback", n="runs"),
        MetricSpec("latency_split", "run", "latency_split", n="runs"),
        MetricSpec("control_pass_rate", "run", "control_pass_rate", n="applicable", x="passed",
                   default_group=("control_id", "workflow", "workflow_version"), keys=RUN_KEYS | {"control_id"},
                   spark=False),
        MetricSpec("confirmed_success_rate", "run", "confirmed_success_rate", n="runs", x="confirmed_successes",
                   confirmations=True),
        MetricSpec("cost_per_confirmed_success", "run", "cost_per_confirmed_success", n="confirmed_successes",
                   confirmations=True),
        MetricSpec("success_claim_gap", "run", "success_claim_gap", n="claimed_successes", x="unconfirmed_claims",
                   confirmations=True),
        MetricSpec("cost_attribution", "event", "cost_usd", n="cost_usd",
                   default_group=("team", "workflow", "release"), keys=RUN_KEYS | {"model"}),
        # Internal series behind the new_error_type / new_tool_name alerts (not in metrics.md).
        MetricSpec("error_types", "event", "value", n="n", default_group=("workflow",), public=False),
        MetricSpec("tool_names", "event", "value", n="n", default_group=("workflow",), public=False),
        # Internal series behind control_regression (docs/controls.md): failures per control.
        MetricSpec("control_failures", "run", "value", n="n", default_group=("workflow",),
                   keys=RUN_KEYS | {"control_id"}, public=False, spark=False),
    )
}

PUBLIC_METRICS = tuple(name for name, spec in METRICS.items() if spec.public)


def _template(name: str) -> str:
    return read_sql(f"{name}.sql")


def get_spec(name: str, *, internal: bool = False) -> MetricSpec:
    spec = METRICS.get(name)
    if spec is None or not (spec.public or internal):
        raise MetricArgumentError(f"unknown metric {name!r}; choose one of: {', '.join(PUBLIC_METRICS)}")
    return spec


# -- arguments --------------------------------------------------------------------
def parse_group_by(text: str | None) -> tuple[str, ...] | None:
    """``"a,b"`` → ``("a", "b")``; None → the metric's default; ``""`` or ``"none"`` → no grouping."""
    if text is None:
        return None
    if text.strip().lower() in ("", "none"):
        return ()
    return tuple(part.strip() for part in text.split(",") if part.strip())


def parse_where(items: Iterable[str]) -> list[tuple[str, str]]:
    """``["workflow=refund", …]`` → ``[("workflow", "refund"), …]``; the value may hold ``=``."""
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise MetricArgumentError(f"--where {item!r} must look like key=value")
        out.append((key.strip(), value))
    return out


def _check_keys(spec: MetricSpec, keys: Iterable[str], what: str) -> None:
    allowed = ", ".join(sorted(spec.keys))
    for key in keys:
        if key not in spec.keys:
            raise MetricArgumentError(f"{spec.name} cannot {what} {key!r}; allowed: {allowed}")


def build_query(spec: MetricSpec, window: Window, group_by: Sequence[str] | None = None,
                where: Sequence[tuple[str, str]] = ()) -> tuple[str, dict[str, Any]]:
    """The metric's SQL and its bound parameters. Pure: no I/O.

    Repeated ``where`` keys mean "any of these values" (``IN``); different keys
    must all hold.
    """
    groups = tuple(spec.default_group if group_by is None else group_by)
    if len(set(groups)) != len(groups):
        raise MetricArgumentError(f"--group-by repeats a column: {','.join(groups)}")
    _check_keys(spec, groups, "group by")
    _check_keys(spec, (k for k, _ in where), "filter on")
    params: dict[str, Any] = {"since": window.since, "until": window.until}
    by_key: dict[str, list[str]] = {}
    for key, value in where:
        by_key.setdefault(key, []).append(value)
    clauses = [f"AND {in_clause(key, values, params, 'w_')}" for key, values in by_key.items()]
    quoted = [f'"{g}"' for g in groups]
    sql = render(spec.sql_template, {
        "select_groups": "".join(f"{q}, " for q in quoted),
        "where": " ".join(clauses),
        "group_by": f"GROUP BY {', '.join(quoted)}" if quoted else "",
        "order_by": f"ORDER BY {', '.join(f'{q} NULLS LAST' for q in quoted)}" if quoted else "",
        # Two aggregates of one metric meeting on their group values (escalation_rate: rates and reasons).
        "join_groups": " AND ".join(f"r.{q} IS NOT DISTINCT FROM s.{q}" for q in quoted) or "true",
        "confirmations": read_sql("run_confirmations.sql") if spec.confirmations else "",
    })
    return sql, params


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill ``{placeholder}`` slots (only those named in ``values``; other braces stay as they are)."""
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)] if m.group(1) in values else m.group(0), template)


def _post(spec: MetricSpec, rows: list[Row]) -> list[Row]:
    for row in rows:
        for column in spec.empty_maps:
            if row.get(column) is None:
                row[column] = {}
    return rows


def run_metric(con: LakeConnection, name: str, *, group_by: Sequence[str] | None = None,
               since: datetime | None = None, until: datetime | None = None,
               where: Sequence[tuple[str, str]] = (), timeout_s: float | None = None,
               internal: bool = False) -> list[Row]:
    """One metric over ``[since, until)`` on an open connection (its views decide tenant and partitions)."""
    spec = get_spec(name, internal=internal)
    try:
        window = Window.of(since, until)
    except ValueError as exc:
        raise MetricArgumentError(str(exc)) from None
    sql, params = build_query(spec, window, group_by, where)
    return _post(spec, con.query(sql, params, name=f"metric {name}", timeout_s=timeout_s).dicts())


def connection_window(spec: MetricSpec, window: Window, run_horizon: timedelta) -> Window:
    """The partitions a metric over ``window`` needs: run metrics also read ``run_horizon`` earlier; the confirmed
    metrics also :data:`CONFIRMATION_DELAY` later (where the runs' late confirmations are)."""
    needed = window.widened(run_horizon) if spec.kind == "run" else window
    if spec.confirmations and needed.until < LATEST - CONFIRMATION_DELAY:
        needed = Window(needed.since, needed.until + CONFIRMATION_DELAY)
    return needed


def compute_metric(lake_root: LakeRef, name: str, *, group_by: Sequence[str] | None = None,
                   since: datetime | None = None, until: datetime | None = None,
                   where: Sequence[tuple[str, str]] = (), tenant: str | None = None,
                   limits: Limits | None = None, run_horizon: timedelta = timedelta(hours=24),
                   timeout_s: float | None = None, rollup: bool = True) -> list[Row]:
    """:func:`run_metric` on a fresh connection that reads only the partitions the window needs.

    ``tenant`` scopes every view to that tenant (an API key's scope).
    ``run_horizon`` is the longest run assumed (``Settings.run_max_duration_h``).
    ``rollup=False`` computes runs from the events even when the lake has a runs rollup (the event-level path,
    the cross-check of the rollup).
    """
    spec = get_spec(name)
    try:
        window = Window.of(since, until)
    except ValueError as exc:
        raise MetricArgumentError(str(exc)) from None
    with open_lake(lake_root, tenant=tenant, window=connection_window(spec, window, run_horizon),
                   limits=limits, rollup=rollup, run_horizon=run_horizon) as con:
        return run_metric(con, name, group_by=group_by, since=window.since, until=window.until, where=where,
                          timeout_s=timeout_s)


def metric_rows_by_group(rows: Sequence[Mapping[str, Any]], groups: Sequence[str]) -> dict[tuple[Any, ...], Row]:
    """Rows keyed by their group values (for comparing two windows or two versions)."""
    return {tuple(row[g] for g in groups): dict(row) for row in rows}
