"""What the dashboard shows, computed by the same functions as the JSON API and the CLI.

Every call is scoped to ``tenant`` (None: every tenant), exactly as the
caller's API key is on ``/v1``. Nothing here defines a metric: success rate,
cost per success, time to safe fallback and escalations come from
:func:`tracelake.queries.metrics.compute_metric`; alerts from the lake's
``alerts`` table; canary verdicts from :func:`tracelake.queries.alerts.canary.compare`;
the run list and timelines from the SQL of ``GET /v1/runs`` (:mod:`tracelake.api.runs`).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from tracelake.api.runs import RUN_ROW_SQL, TIMELINE_SQL, Search, build_search, event_from_row, span_tree
from tracelake.queries.alerts.canary import compare
from tracelake.queries.alerts.rules import load_rules
from tracelake.queries.alerts.store import list_alerts
from tracelake.queries.engine import Limits, open_lake
from tracelake.queries.metrics import compute_metric
from tracelake.queries.timewin import Window
from tracelake.settings import Settings

HISTORY_DAYS = 8


def _natural(version: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", version)]


def success_over_time(settings: Settings, tenant: str | None, now: datetime) -> dict[str, list[tuple[str, Any]]]:
    """success_rate per UTC day and workflow version, over the last ``HISTORY_DAYS`` days."""
    series: dict[str, list[tuple[str, Any]]] = defaultdict(list)
    start = (now - timedelta(days=HISTORY_DAYS - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    days = [start + timedelta(days=i) for i in range(HISTORY_DAYS)]
    for day in days:
        rows = compute_metric(settings.lake, "success_rate", since=day, until=min(day + timedelta(days=1), now),
                              tenant=tenant, limits=Limits.from_settings(settings))
        for row in rows:
            series[f"{row['workflow']} {row['workflow_version']}"].append((day.strftime("%m-%d"),
                                                                           row["success_rate"]))
    return dict(sorted(series.items()))


def canaries(settings: Settings, tenant: str | None, now: datetime,
             versions: dict[str, list[str]]) -> list[dict[str, Any]]:
    """For each workflow with two versions in the last 24 hours: the older one vs the newer one."""
    rules = load_rules(None)
    out = []
    for workflow, seen in sorted(versions.items()):
        if len(seen) < 2:
            continue
        ordered = sorted(seen, key=_natural)
        out.append(compare(settings.lake, rules, workflow=workflow, baseline=ordered[-2], candidate=ordered[-1],
                           window=Window(now - timedelta(days=1), now), tenant=tenant,
                           limits=Limits.from_settings(settings)))
    return out


def dashboard_data(settings: Settings, tenant: str | None, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    limits = Limits.from_settings(settings)
    day = now - timedelta(days=1)
    cost = compute_metric(settings.lake, "cost_per_success", since=day, until=now, tenant=tenant, limits=limits)
    ttsf = compute_metric(settings.lake, "time_to_safe_fallback", group_by=["workflow"], tenant=tenant,
                          limits=limits)
    escalations = compute_metric(settings.lake, "escalation_rate", group_by=["workflow"], tenant=tenant,
                                 limits=limits)
    reasons: Counter[str] = Counter()
    for row in escalations:
        reasons.update(row.get("reasons") or {})
    versions: dict[str, list[str]] = defaultdict(list)
    for row in cost:
        versions[row["workflow"]].append(row["workflow_version"])
    with open_lake(settings.lake, tenant=tenant, limits=limits) as con:
        alerts = list_alerts(con, limit=20)
        sql, params = build_search(Search(limit=25))
        runs = con.query(sql, params, name="dashboard runs").dicts()[:25]
    return {
        "now": now,
        "tenant": tenant,
        "success": success_over_time(settings, tenant, now),
        "cost": cost,
        "ttsf": ttsf,
        "reasons": reasons.most_common(),
        "alerts": alerts,
        "canaries": canaries(settings, tenant, now, versions),
        "runs": runs,
    }


def timeline_data(settings: Settings, tenant: str | None, run_id: str) -> dict[str, Any] | None:
    """The run row, its events in order and the span tree; None when the run is not visible."""
    with open_lake(settings.lake, tenant=tenant, limits=Limits.from_settings(settings)) as con:
        runs = con.query(RUN_ROW_SQL, {"run_id": run_id}, name="run").dicts()
        if not runs:
            return None
        events = [event_from_row(r) for r in con.query(TIMELINE_SQL, {"run_id": run_id}, name="timeline").dicts()]
    return {"run": runs[0], "events": events, "tree": span_tree(events)}
