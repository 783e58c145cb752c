"""What the dashboard shows, computed by the same functions as the JSON API and the CLI.

Every call is scoped to ``tenant`` (None: every tenant), exactly as the
caller's API key is on ``/v1``, and reads the app's one
:class:`~tracelake.lake.lake.Lake` (``ctx.lake``) through one connection per
page (:func:`page_window`: wide enough for every panel), so each page pays
for opening the lake once and every panel gets the engine's fast path
(the ``runs`` rollup, compacted partitions). Nothing here defines a metric: success rate,
cost per success, time to safe fallback and escalations come from
:func:`tracelake.queries.metrics.run_metric` (what ``compute_metric`` runs for
``/v1/metrics``, on its own connection); alerts from the lake's
``alerts`` table; canary verdicts from :func:`tracelake.queries.alerts.canary.compare_many`
(``compare`` for several workflows at once);
the run list and timelines from :mod:`tracelake.queries.runs`, as ``GET /v1/runs`` calls it.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tracelake.api.dashboard.controls_panel import controls_data
from tracelake.api.lake import limits, run_horizon
from tracelake.queries.alerts.canary import Canary, compare_many
from tracelake.queries.alerts.rules import RulesError, load_rules
from tracelake.queries.alerts.store import list_alerts
from tracelake.queries.engine import LakeConnection, open_lake
from tracelake.queries.metrics import connection_window, get_spec, run_metric
from tracelake.queries.runs import RunTimeline, Search, run_timeline, search_runs
from tracelake.queries.timewin import Window

if TYPE_CHECKING:
    from tracelake.api.context import AppContext

HISTORY_DAYS = 8  # the success chart's days; also the window of time to safe fallback and escalations
ALERTS = 20  # newest alerts listed
RUNS = 25  # newest runs listed
# The panels' metrics (queries/metrics.py defines them; the page only picks windows and groups).
SUCCESS, COST, TTSF, ESCALATIONS = "success_rate", "cost_per_success", "time_to_safe_fallback", "escalation_rate"


def _natural(version: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", version)]


def history_start(now: datetime) -> datetime:
    """Midnight UTC ``HISTORY_DAYS - 1`` days before ``now``: the dashboard's long window starts here."""
    return (now - timedelta(days=HISTORY_DAYS - 1)).astimezone(UTC).replace(hour=0, minute=0, second=0,
                                                                             microsecond=0)


def page_window(now: datetime, run_horizon: timedelta) -> Window:
    """The partitions every panel of the page needs: the union of the connection windows the same questions
    get one by one (:func:`~tracelake.queries.metrics.connection_window` of each panel's metric; a canary's
    day widened by ``run_horizon``, as :func:`compare` widens it). Every panel's metric is a run metric, so
    this is ``[history_start(now) − run_horizon, now)``."""
    since = history_start(now)
    day = Window(now - timedelta(days=1), now)
    needed = [connection_window(get_spec(name), window, run_horizon)
              for name, window in ((SUCCESS, Window(since, now)), (COST, day), (TTSF, Window(since, now)),
                                   (ESCALATIONS, Window(since, now)))]
    needed.append(day.widened(run_horizon))  # the canaries (any rule's metric: run or event)
    return Window(min(w.since for w in needed), max(w.until for w in needed))


def success_over_time(con: LakeConnection, now: datetime) -> tuple[list[str], dict[str, list[tuple[str, Any]]]]:
    """success_rate per UTC day and workflow version over the last ``HISTORY_DAYS`` days (today until ``now``).

    Returns the day labels (``MM-DD``, oldest first) and one series per
    ``"<workflow> <version>"`` holding only the days that version finished runs.
    One :func:`run_metric` call per day on the page's connection: the metric's own definition, per bucket.
    """
    start = history_start(now)
    days = [start + timedelta(days=i) for i in range(HISTORY_DAYS)]
    series: dict[str, list[tuple[str, Any]]] = defaultdict(list)
    for day in days:
        if day >= now:  # now is exactly midnight: today has no instant yet
            continue
        for row in run_metric(con, SUCCESS, since=day, until=min(day + timedelta(days=1), now)):
            series[f"{row['workflow']} {row['workflow_version']}"].append((day.strftime("%m-%d"),
                                                                           row["success_rate"]))
    return [day.strftime("%m-%d") for day in days], dict(sorted(series.items(), key=lambda kv: _natural(kv[0])))


def canaries(ctx: AppContext, con: LakeConnection, now: datetime,
             versions: dict[str, list[str]]) -> list[dict[str, Any]]:
    """For each workflow with two or more versions finishing runs in the last 24 hours: the newest version
    (natural order, so ``v10`` after ``v9``) against the one before it, over those 24 hours.

    The verdicts of :func:`compare` with the rules file and window of ``POST /v1/alerts/compare`` with its
    defaults, all from one :func:`compare_many` on the page's connection (``con``: scoped to the page's tenant,
    reading at least :func:`page_window`), which asks each rule's metric once for every canary.
    Raises :class:`~tracelake.queries.alerts.rules.RulesError` when the server's rules file is broken.
    """
    rules = load_rules(ctx.settings.alerts_rules_file)
    pairs = []
    for workflow, seen in sorted(versions.items()):
        ordered = sorted(set(seen), key=_natural)
        if len(ordered) >= 2:
            pairs.append(Canary(workflow, baseline=ordered[-2], candidate=ordered[-1]))
    if not pairs:
        return []
    return compare_many(ctx.lake, rules, pairs, window=Window(now - timedelta(days=1), now), tenant=con.tenant,
                        run_horizon=run_horizon(ctx.settings), con=con)


def newest_runs(ctx: AppContext, con: LakeConnection, since: datetime) -> list[dict[str, Any]]:
    """The ``RUNS`` newest runs (by first event), as ``GET /v1/runs`` lists them.

    On the page's connection when at least ``RUNS`` runs started at or after
    ``since`` (:func:`history_start`, one run horizon after the connection's
    first partition): those are exactly the rows every partition gives, since
    such a run's events all lie in the connection's partitions, and a run that
    began before them ended, by the run horizon, before ``since``, so its
    partial row cannot pass for one starting at ``since`` or later. Otherwise
    (a quiet lake or tenant) older runs are needed: one more connection over
    every partition, as the page always opened before.
    """
    runs, _ = search_runs(con, Search(since=since, limit=RUNS))
    if len(runs) >= RUNS:
        return runs
    with open_lake(ctx.lake, tenant=con.tenant, limits=con.limits, run_horizon=con.run_horizon) as every_day:
        runs, _ = search_runs(every_day, Search(limit=RUNS))
    return runs


def dashboard_data(ctx: AppContext, tenant: str | None, now: datetime | None = None) -> dict[str, Any]:
    """Everything ``GET /dashboard`` shows, for ``tenant`` (None: every tenant), as of ``now`` (default: now).

    Windows: success rate per day and time to safe fallback and escalations over
    the ``HISTORY_DAYS`` days up to now; cost per success and canaries over the
    last 24 hours; the newest ``ALERTS`` alerts and ``RUNS`` runs.
    One lake connection for the whole page (:func:`page_window`), every panel a
    :func:`run_metric` on it: the same rows as ``GET /v1/metrics`` for each
    panel's window (a second one only for a run list reaching past the page's
    days, see :func:`newest_runs`).
    Raises the engine's ``QueryError``/``QueryTimeout`` (the route maps them like ``/v1``);
    a broken rules file is reported in ``canary_error`` instead of failing the page.
    """
    now = now or datetime.now(UTC)
    since = history_start(now)
    day = now - timedelta(days=1)
    horizon = run_horizon(ctx.settings)
    with open_lake(ctx.lake, tenant=tenant, window=page_window(now, horizon), limits=limits(ctx.settings),
                   run_horizon=horizon) as con:
        cost = run_metric(con, COST, since=day, until=now)
        ttsf = run_metric(con, TTSF, since=since, until=now, group_by=["workflow"])
        escalations = run_metric(con, ESCALATIONS, since=since, until=now, group_by=["workflow"])
        reasons: Counter[str] = Counter()
        for row in escalations:
            reasons.update(row.get("reasons") or {})
        versions: dict[str, list[str]] = defaultdict(list)
        for row in cost:
            versions[row["workflow"]].append(row["workflow_version"])
        canary_error = None
        try:
            verdicts = canaries(ctx, con, now, versions)
        except RulesError as exc:
            verdicts, canary_error = [], str(exc)
        days, success = success_over_time(con, now)
        alerts = list_alerts(con, limit=ALERTS)  # the alerts view reads its whole table, whatever the window
        runs = newest_runs(ctx, con, since)
        controls = controls_data(con, since, now)  # pass rates per control and version, failing runs (last:
        # on a lake whose control_results is not built yet it is the costliest panel, and it may fail alone)
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
        "controls": controls,
    }


def timeline_data(ctx: AppContext, tenant: str | None, run_id: str) -> RunTimeline | None:
    """The run row, its events in order and the span tree (:func:`run_timeline`, as ``GET /v1/runs/{run_id}``);
    None when the run does not exist for this tenant."""
    with open_lake(ctx.lake, tenant=tenant, limits=limits(ctx.settings), run_horizon=run_horizon(ctx.settings)) as con:
        return run_timeline(con, run_id)
