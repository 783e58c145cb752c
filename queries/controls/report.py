"""What the surfaces show of the controls: the library, one run's verdicts explained, failing runs, pass rates.

Every surface (``tracelake controls …``, ``GET /v1/controls…``, the run timeline, the evidence bundle, the
dashboard panel, the alert rules) reads through these functions and the ``control_pass_rate`` metric, on a
connection whose views decide the tenant (:func:`tracelake.queries.engine.open_lake`). The queries are the
SQL files beside the controls' (``run_verdicts.sql``, ``failing_runs.sql``, ``evidence_events.sql``).

Failure modes: :class:`~tracelake.queries.metrics.MetricArgumentError` for a bad filter or window, the engine's
``QueryError`` family for a failing query.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

import orjson

from tracelake.queries.controls.evaluate import budgets_relation, results_sql
from tracelake.queries.controls.library import ControlLibrary, active_library
from tracelake.queries.engine import LakeConnection
from tracelake.queries.metrics import METRICS, MetricArgumentError, build_query, render
from tracelake.queries.sqlparts import in_clause
from tracelake.queries.timewin import Window

Row = dict[str, Any]
FILTER_KEYS = METRICS["control_pass_rate"].keys


@cache
def _sql(name: str) -> str:
    return (resources.files("tracelake.queries") / "controls" / "sql" / name).read_text(encoding="utf-8")


def describe(library: ControlLibrary | None = None) -> list[Row]:
    """The library's controls: id, version, severity, owner, description, risk, practice, applies_to, sql."""
    library = library or active_library()
    return [{"id": c.id, "version": c.version, "severity": c.spec.severity, "owner": c.spec.owner,
             "description": c.spec.description, "risk": c.spec.risk, "practice": c.spec.practice,
             "applies_to": {k: list(v) for k, v in c.spec.applies_to.items()}, "sql": c.spec.sql}
            for c in library.controls]


def run_verdicts(con: LakeConnection, run_id: str, library: ControlLibrary | None = None) -> list[Row]:
    """The run's verdict per control (``control_id, control_version, severity, verdict, evidence`` as a list of
    event ids), evaluated from the run's events on ``con``, and the other runs' successes under its
    idempotency keys (the rows ``control_results`` holds for it when ``con`` reads every event from the key
    horizon before the run); empty when the connection holds no such run."""
    # The idempotency keys are compared with the other runs' successes under the run's keys (the connection's
    # events: the whole lake for the timeline, the evidence bundle and explain).
    results = results_sql(library or active_library(), "(SELECT * FROM events WHERE run_id = $run_id)",
                          "(SELECT * FROM events WHERE event_type = 'tool_call' AND idempotency_key IN ("
                          "SELECT idempotency_key FROM events WHERE run_id = $run_id AND event_type = 'tool_call'))")
    rows = con.query(render(_sql("run_verdicts.sql"), {"results": results}), {"run_id": run_id},
                     name="run verdicts").dicts()
    for row in rows:
        row["evidence"] = orjson.loads(row["evidence"] or "[]")
    return rows


def explain(con: LakeConnection, run_id: str, library: ControlLibrary | None = None) -> list[Row]:
    """:func:`run_verdicts` with each control's description, risk and practice and the evidence events
    themselves (the fields the controls read); empty when the connection holds no such run."""
    library = library or active_library()
    known = {c.id: c.spec for c in library.controls}
    out = []
    for row in run_verdicts(con, run_id, library):
        spec = known.get(row["control_id"])
        events = con.query(_sql("evidence_events.sql"), {"run_id": run_id, "ids": row["evidence"]},
                           name="evidence events").dicts() if row["evidence"] else []
        out.append({**row, "description": spec.description if spec else None,
                    "risk": spec.risk if spec else None, "practice": spec.practice if spec else None,
                    "events": [{k: v for k, v in e.items() if v is not None} for e in events]})
    return out


def check_filters(where: Sequence[tuple[str, str]], group_by: Sequence[str] | None = None,
                  since: datetime | None = None, until: datetime | None = None) -> None:
    """Raise :class:`MetricArgumentError` for a filter, grouping or window the pass rates and the failing runs
    cannot take (pure: for a surface to refuse bad input before it does any work)."""
    try:
        window = Window.of(since, until)
    except ValueError as exc:
        raise MetricArgumentError(str(exc)) from None
    build_query(METRICS["control_pass_rate"], window, group_by, where)


def failing_runs(con: LakeConnection, *, since: datetime | None = None, until: datetime | None = None,
                 where: Sequence[tuple[str, str]] = (), limit: int = 100) -> list[Row]:
    """Finished runs in ``[since, until)`` that failed a control, newest first, at most ``limit`` rows;
    ``where`` filters on ``control_id`` and the run keys (repeated key: any of the values)."""
    try:
        window = Window.of(since, until)
    except ValueError as exc:
        raise MetricArgumentError(str(exc)) from None
    params: dict[str, Any] = {"since": window.since, "until": window.until, "limit": limit}
    by_key: dict[str, list[str]] = {}
    for key, value in where:
        if key not in FILTER_KEYS:
            raise MetricArgumentError(f"controls cannot filter on {key!r}; allowed: {', '.join(sorted(FILTER_KEYS))}")
        by_key.setdefault(key, []).append(value)
    clauses = " ".join(f"AND {in_clause(key, values, params, 'w_')}" for key, values in by_key.items())
    rows = con.query(render(_sql("failing_runs.sql"), {"where": clauses}), params, name="failing runs").dicts()
    for row in rows:
        row["evidence"] = orjson.loads(row["evidence"] or "[]")
    return rows


def daily_budgets(con: LakeConnection, *, since: datetime | None = None, until: datetime | None = None,
                  library: ControlLibrary | None = None) -> list[Row]:
    """Spend per UTC day in ``[since, until)`` against the configured daily budgets (``[budgets]
    daily_usd_by_workflow`` and ``daily_usd_by_team``): ``day, scope`` (``workflow`` or ``team``), ``name,
    spend_usd, budget_usd, over_budget``; only names that have a budget and spent something that day."""
    library = library or active_library()
    try:
        window = Window.of(since, until)
    except ValueError as exc:
        raise MetricArgumentError(str(exc)) from None
    budgets = library.config.budgets
    sql = render(_sql("daily_spend.sql"), {
        "workflow_budgets": budgets_relation(dict(budgets.daily_usd_by_workflow), "name"),
        "team_budgets": budgets_relation(dict(budgets.daily_usd_by_team), "name")})
    return con.query(sql, {"since": window.since, "until": window.until}, name="daily budgets").dicts()
