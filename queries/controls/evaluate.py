"""Evaluating the controls: one SQL statement giving every run a verdict per control (docs/controls.md).

:func:`results_sql` assembles it from the library: the shared relations (``queries/controls/sql/common.sql``),
then one CTE per control (its SQL file, the configuration filled into its ``{placeholders}`` with the metric
SQL's own :func:`~tracelake.queries.metrics.render`), then one ``SELECT`` per control over every run of the
events. A control's SQL returns one row per item it checked (``tenant, run_id, passed, evidence``): a run
with no item is ``not_applicable``, a run with a failed item ``fail`` (evidence: the failed items' event
ids), else ``pass`` (evidence: every item's event ids). A run outside the control's ``applies_to`` filter is
``not_applicable`` with no evidence. Evidence is a JSON list of event ids, sorted.

The rows have exactly the columns of :data:`tracelake.lake.tables.CONTROL_RESULTS` (``event_date`` as a
DATE). The same statement feeds the maintained table and the on-the-fly part of the ``control_results``
view (:mod:`tracelake.queries.controls.results`): one SQL, two sources.

Safety: only product-controlled values reach the SQL text: the manifest's ids and filter values and the
configuration's numbers and workflow names (validated by :mod:`~tracelake.queries.controls.model`), as
literals via :func:`~tracelake.queries.views.sql_string`.
"""

from __future__ import annotations

from datetime import timedelta

from tracelake.lake.tables import CONTROL_RESULTS
from tracelake.queries.controls.library import Control, ControlLibrary
from tracelake.queries.controls.model import ControlsConfig
from tracelake.queries.metrics import render
from tracelake.queries.views import sql_string

COLUMNS: tuple[str, ...] = tuple(CONTROL_RESULTS.schema.names)


def _number(value: float) -> str:
    return repr(float(value))


def budgets_relation(budgets: dict[str, float], key: str = "workflow") -> str:
    """A relation ``(<key>, limit_usd)`` of configured budgets (names are validated configuration values)."""
    if not budgets:
        return f"(SELECT CAST(NULL AS VARCHAR) AS {key}, CAST(NULL AS DOUBLE) AS limit_usd WHERE false)"
    rows = ", ".join(f"({sql_string(name)}, {_number(limit)})" for name, limit in sorted(budgets.items()))
    return f"(SELECT * FROM (VALUES {rows}) AS budgets({key}, limit_usd))"


def config_values(config: ControlsConfig) -> dict[str, str]:
    """The ``{placeholder}`` values the controls' SQL may use, as SQL text."""
    slo = config.approval_slo_ms
    return {
        "fallback_window_ms": _number(config.fail_closed.fallback_window_s * 1000.0),
        "slo_green_ms": _number(slo.green), "slo_yellow_ms": _number(slo.yellow), "slo_red_ms": _number(slo.red),
        "slo_default_ms": _number(slo.default),
        "run_budgets": budgets_relation(dict(config.budgets.run_cost_usd)),
        "key_horizon_us": str(int(config.idempotency.key_horizon_h * 3_600_000_000)),
    }


def key_horizon(library: ControlLibrary) -> timedelta:
    """How far back another run's success under the same idempotency key counts (``[idempotency]
    key_horizon_h``): the evaluation of a run must see the key successes that far before its calls."""
    return timedelta(hours=library.config.idempotency.key_horizon_h)


def _applies(control: Control) -> str:
    """The SQL condition on ``k`` (a ``run_keys`` row) of the control's ``applies_to`` filter."""
    clauses = [f'k."{key}" IN ({", ".join(sql_string(v) for v in values)})'
               for key, values in control.spec.applies_to.items()]
    return " AND ".join(clauses) or "true"


def _cte(control: Control) -> str:
    return f"c_{control.id}"


def _select(control: Control) -> str:
    spec = control.spec
    return f"""SELECT k.tenant, k.run_id, {sql_string(spec.id)} AS control_id,
       CAST({spec.version} AS BIGINT) AS control_version, {sql_string(spec.severity)} AS severity,
       CASE WHEN NOT ({_applies(control)}) OR c.run_id IS NULL THEN 'not_applicable'
            WHEN c.failed THEN 'fail' ELSE 'pass' END AS verdict,
       CAST(to_json(CASE WHEN NOT ({_applies(control)}) OR c.run_id IS NULL THEN CAST([] AS VARCHAR[])
                         WHEN c.failed THEN c.failed_ids ELSE c.all_ids END) AS VARCHAR) AS evidence,
       k.workflow, k.workflow_version, k.team, k.release, k.environment, k.finished_at, k.first_ts, k.event_date
FROM run_keys k
LEFT JOIN (
    SELECT tenant, run_id,
           bool_or(NOT coalesce(passed, false)) AS failed,
           list_sort(list_distinct(flatten(list(evidence) FILTER (WHERE NOT coalesce(passed, false))))) AS failed_ids,
           list_sort(list_distinct(flatten(list(evidence)))) AS all_ids
    FROM {_cte(control)}
    GROUP BY tenant, run_id
) c ON c.tenant = k.tenant AND c.run_id = k.run_id"""


# The relations common.sql defines, in order (each may read the ones before it).
COMMON_RELATIONS = ("ev", "run_keys", "initiators", "mutations", "key_successes")
# The columns of the events the shared relations read (ev's SELECT).
EVENT_COLUMNS = ("tenant", "run_id", "event_id", "event_type", "ts", "duration_ms", "workflow", "workflow_version",
                 "team", "release", "environment", "agent", "initiator", "outcome", "tool_name", "schema_valid",
                 "success", "mutating", "idempotency_key", "retry_of", "cost_usd", "action", "risk_tier",
                 "decision", "approver", "wait_ms", "budget")


def _common(library: ControlLibrary, events: str, key_events: str | None) -> str:
    return (library.common_sql.strip().replace("{events}", events)
            .replace("{key_events}", events if key_events is None else key_events))


def staged_sql(library: ControlLibrary, events: str = "events",
               key_events: str | None = None) -> tuple[list[str], list[str]]:
    """:func:`results_sql` in steps, for a connection that may create temp tables (the refresh's own): the
    statements that make each shared relation a temp table of that name (over ``events`` and
    ``key_events``), then one statement per control over them. The same rows; each statement small (one
    statement for every control stalled DuckDB 1.5 on a 10M-event lake)."""
    common = _common(library, events, key_events)
    setup = [f"CREATE OR REPLACE TEMP TABLE {name} AS WITH {common} SELECT * FROM {name}"
             for name in COMMON_RELATIONS]
    values = config_values(library.config)
    per_control = [f"WITH {_cte(c)} AS (\n{render(c.sql, values).strip().rstrip(';')}\n)\n{_select(c)}"
                   for c in library.controls]
    return setup, per_control


def results_sql(library: ControlLibrary, events: str = "events", key_events: str | None = None) -> str:
    """Every run's verdict per control of ``library`` over the relation ``events`` (de-duplicated events, any
    scope): one row per (run, control), the :data:`~tracelake.lake.tables.CONTROL_RESULTS` columns.
    ``key_events`` (default: ``events``) holds the events whose successful keyed mutations the runs' keys are
    compared with (``idempotency_single_success``): it must hold every such success of the runs' tenants from
    :func:`key_horizon` before each run's first call up to its last, or a run may pass that fails."""
    values = config_values(library.config)
    ctes = [_common(library, events, key_events)]
    for control in library.controls:
        body = render(control.sql, values).strip().rstrip(";")
        ctes.append(f"{_cte(control)} AS (\n{body}\n)")
    selects = "\nUNION ALL\n".join(_select(c) for c in library.controls)
    return "WITH " + ",\n".join(ctes) + "\n" + selects
