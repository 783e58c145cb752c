"""What the dashboard shows, computed by the same functions as the JSON API and the CLI.

Every call is scoped to ``tenant`` (None: every tenant), exactly as the
caller's API key is on ``/v1``, and reads the app's one
:class:`~tracelake.lake.lake.Lake` (``ctx.lake``). Nothing here defines a metric: success rate,
cost per success, time to safe fallback and escalations come from
:func:`tracelake.queries.metrics.compute_metric`; alerts from the lake's
``alerts`` table; canary verdicts from :func:`tracelake.queries.alerts.canary.compare`;
the run list and timelines from :mod:`tracelake.queries.runs`, as ``GET /v1/runs`` calls it.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tracelake.api.lake import limits, run_horizon
from tracelake.queries.alerts.canary import compare
from tracelake.queries.alerts.rules import RulesError, load_rules
from tracelake.queries.alerts.store import list_alerts
from tracelake.queries.engine import open_lake
from tracelake.queries.metrics import compute_metric
from tracelake.queries.runs import RunTimeline, Search, run_timeline, search_runs
from tracelake.queries.timewin import Window

if TYPE_CHECKING:
    from tracelake.api.context import AppContext

HISTORY_DAYS = 8  # the success chart's days; also the window of time to safe fallback and escalations
ALERTS = 20  # newest alerts listed
RUNS = 25  # newest runs listed


def _natural(version: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", version)]


def history_start(now: datetime) -> datetime:
    """Midnight UTC ``HISTORY_DAYS - 1`` days before ``now``: the dashboard's long window starts here."""
    return (now - timedelta(days=HISTORY_DAYS - 1)).astimezone(UTC).replace(hour=0, minute=0, second=0,
                                                                             microsecond=0)


def success_over_time(ctx: AppContext, tenant: str | None, now: datetime,
                      ) -> tuple[list[str], dict[str, list[tuple[str, Any]]]]:
    """success_rate per UTC day and workflow version over the last ``HISTORY_DAYS`` days (today until ``now``).

    Returns the day labels (``MM-DD``, oldest first) and one series per
    ``"<workflow> <version>"`` holding only the days that version finished runs.
    One :func:`compute_metric` call per day: the metric's own definition, per bucket.
    """
    start = history_start(now)
    days = [start + timedelta(days=i) for i in range(HISTORY_DAYS)]
    series: dict[str, list[tuple[str, Any]]] = defaultdict(list)
    for day in days:
        if day >= now:  # now is exactly midnight: today has no instant yet
            continue
        for row in _metric(ctx, tenant, "success_rate", day, min(day + timedelta(days=1), now)):
            series[f"{row['workflow']} {row['workflow_version']}"].append((day.strftime("%m-%d"),
                                                                           row["success_rate"]))
    return [day.strftime("%m-%d") for day in days], dict(sorted(series.items(), key=lambda kv: _natural(kv[0])))


def canaries(ctx: AppContext, tenant: str | None, now: datetime,
             versions: dict[str, list[str]]) -> list[dict[str, Any]]:
    """For each workflow with two or more versions finishing runs in the last 24 hours: the newest version
    (natural order, so ``v10`` after ``v9``) against the one before it, over those 24 hours.

    The same :func:`compare` call, rules file and window as ``POST /v1/alerts/compare`` with its defaults.
    Raises :class:`~tracelake.queries.alerts.rules.RulesError` when the server's rules file is broken.
    """
    rules = load_rules(ctx.settings.alerts_rules_file)
    out = []
    for workflow, seen in sorted(versions.items()):
        ordered = sorted(set(seen), key=_natural)
        if len(ordered) < 2:
            continue
        out.append(compare(ctx.lake, rules, workflow=workflow, baseline=ordered[-2], candidate=ordered[-1],
                           window=Window(now - timedelta(days=1), now), tenant=tenant,
                           limits=limits(ctx.settings), run_horizon=run_horizon(ctx.settings)))
    return out


def _metric(ctx: AppContext, tenant: str | None, name: str, since: datetime, until: datetime,
            group_by: list[str] | None = None) -> list[dict[str, Any]]:
    """``compute_metric`` exactly as ``GET /v1/metrics/{name}`` calls it for this tenant."""
    return compute_metric(ctx.lake, name, group_by=group_by, since=since, until=until, tenant=tenant,
                          limits=limits(ctx.settings), run_horizon=run_horizon(ctx.settings))


def dashboard_data(ctx: AppContext, tenant: str | None, now: datetime | None = None) -> dict[str, Any]:
    """Everything ``GET /dashboard`` shows, for ``tenant`` (None: every tenant), as of ``now`` (default: now).

    Windows: success rate per day and time to safe fallback and escalations over
    the ``HISTORY_DAYS`` days up to now; cost per success and canaries over the
    last 24 hours; the newest ``ALERTS`` alerts and ``RUNS`` runs.
    Raises the engine's ``QueryError``/``QueryTimeout`` (the route maps them like ``/v1``);
    a broken rules file is reported in ``canary_error`` instead of failing the page.
    """
    now = now or datetime.now(UTC)
    since = history_start(now)
    day = now - timedelta(days=1)
    cost = _metric(ctx, tenant, "cost_per_success", day, now)
    ttsf = _metric(ctx, tenant, "time_to_safe_fallback", since, now, group_by=["workflow"])
    escalations = _metric(ctx, tenant, "escalation_rate", since, now, group_by=["workflow"])
    reasons: Counter[str] = Counter()
    for row in escalations:
        reasons.update(row.get("reasons") or {})
    versions: dict[str, list[str]] = defaultdict(list)
    for row in cost:
        versions[row["workflow"]].append(row["workflow_version"])
    canary_error = None
    try:
        verdicts = canaries(ctx, tenant, now, versions)
    except RulesError as exc:
        verdicts, canary_error = [], str(exc)
    days, success = success_over_time(ctx, tenant, now)
    with open_lake(ctx.lake, tenant=tenant, limits=limits(ctx.settings)) as con:
        alerts = list_alerts(con, limit=ALERTS)
        runs, _ = search_runs(con, Search(limit=RUNS))
    return {
        "now": now,
        "since": since,
        "tenant": tenant,
        "days": days,
        "success": success,
        "cost": cost,
        "ttsf": ttsf,
        "reasons": reasons.most_common(),
        "alerts": alerts,
        "canaries": verdicts,
        "canary_error": canary_error,
        "runs": runs,
    }


def timeline_data(ctx: AppContext, tenant: str | None, run_id: str) -> RunTimeline | None:
    """The run row, its events in order and the span tree (:func:`run_timeline`, as ``GET /v1/runs/{run_id}``);
    None when the run does not exist for this tenant."""
    with open_lake(ctx.lake, tenant=tenant, limits=limits(ctx.settings)) as con:
        return run_timeline(con, run_id)
