"""Rule evaluation: the metric over two windows (or two versions) → test outcomes → alerts.

:func:`run_test` and :func:`new_value_outcomes` are pure (rows in, outcomes
out) and shared by drift evaluation and the canary comparison, so both apply
exactly the same tests. :func:`evaluate` does the queries: for every rule the
metric of ``metrics.py`` over the current and the baseline window, on one
connection pruned to the partitions the longest rule needs (the caller's, when
it passes one: the alert job runs evaluation and store on one connection).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson

from tracelake.lake.lake import LakeRef
from tracelake.queries.alerts.rules import FAILURE_KEYS, VALUE_KEYS, Rule
from tracelake.queries.alerts.scope import check_connection
from tracelake.queries.alerts.stats import one_sided_p
from tracelake.queries.engine import LakeConnection, Limits, open_lake
from tracelake.queries.metrics import METRICS, Row, run_metric
from tracelake.queries.timewin import Window, format_time

Status = Literal["fired", "ok", "insufficient_data"]


@dataclass(frozen=True)
class Outcome:
    """One test of one rule on one group: the evidence behind an alert or a canary verdict."""

    rule: str
    metric: str
    group: dict[str, Any]
    status: Status
    baseline_value: float | None
    current_value: float | None
    delta: float | None
    p_value: float | None
    n_baseline: int
    n_current: int
    severity: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def run_test(rule: Rule, base: Mapping[str, Any] | None, cur: Mapping[str, Any] | None,
             group: Mapping[str, Any]) -> Outcome:
    """Apply a proportion or ratio rule to the baseline and current rows of one group. Pure."""
    spec = METRICS[rule.metric]
    n_base = int((base or {}).get(spec.n) or 0)
    n_cur = int((cur or {}).get(spec.n) or 0)
    column = rule.value_column
    b_val, c_val = _num((base or {}).get(column)), _num((cur or {}).get(column))
    delta = None if b_val is None or c_val is None else c_val - b_val

    def outcome(status: Status, reason: str, p: float | None = None) -> Outcome:
        return Outcome(rule.name, rule.metric, dict(group), status, b_val, c_val, delta, p, n_base, n_cur,
                       rule.severity, reason)

    if n_base < rule.min_n or n_cur < rule.min_n or b_val is None or c_val is None:
        return outcome("insufficient_data", f"needs ≥ {rule.min_n} {spec.n} on each side "
                                            f"(baseline {n_base}, current {n_cur})")
    if rule.test in ("proportion_drop", "proportion_rise"):
        assert spec.x is not None
        direction: Literal["drop", "rise"] = "drop" if rule.test == "proportion_drop" else "rise"
        x_base, x_cur = int(base[spec.x]), int(cur[spec.x])  # type: ignore[index]
        p = one_sided_p(x_base, n_base, x_cur, n_cur, direction)
        moved = (b_val - c_val) if direction == "drop" else (c_val - b_val)
        if moved >= rule.min_delta and p < rule.p_value:
            return outcome("fired", f"{direction} of {abs(moved):.4g} (≥ {rule.min_delta:g}), "
                                    f"p = {p:.3g} < {rule.p_value:g}", p)
        return outcome("ok", f"{direction} test: change {c_val - b_val:+.4g}, p = {p:.3g}", p)
    # ratio_rise
    if c_val > b_val and c_val >= rule.factor * b_val:
        return outcome("fired", f"{column} {c_val:.4g} ≥ {rule.factor:g} × baseline {b_val:.4g}")
    return outcome("ok", f"{column} {c_val:.4g} < {rule.factor:g} × baseline {b_val:.4g}")


def new_value_outcomes(rule: Rule, base_rows: Sequence[Mapping[str, Any]], cur_rows: Sequence[Mapping[str, Any]],
                       groups: Sequence[str], extra_group: Mapping[str, Any] | None = None) -> list[Outcome]:
    """``new_value`` rules: one fired outcome per value seen ≥ ``min_count`` times now and never before. Pure."""
    key = VALUE_KEYS[rule.metric]
    seen = {(tuple(r[g] for g in groups), r["value"]) for r in base_rows}
    out = []
    for row in cur_rows:
        group_key = tuple(row[g] for g in groups)
        if row["n"] >= rule.min_count and (group_key, row["value"]) not in seen:
            group = {**(extra_group or {}), **dict(zip(groups, group_key, strict=True)), key: row["value"]}
            out.append(Outcome(rule.name, rule.metric, group, "fired", 0.0, float(row["n"]), float(row["n"]), None,
                               0, int(row["n"]), rule.severity,
                               f"{key} {row['value']!r} seen {row['n']} times, never in the baseline"))
    return out


def new_failure_outcomes(rule: Rule, base_rows: Sequence[Mapping[str, Any]], cur_rows: Sequence[Mapping[str, Any]],
                         groups: Sequence[str], extra_group: Mapping[str, Any] | None = None) -> list[Outcome]:
    """``new_failure`` rules: one fired outcome per control failing ≥ ``min_count`` times now that the baseline
    passed (it applied to baseline runs, none failed). Rows: ``value`` (the control), ``n`` (failed runs),
    ``passed``. Pure."""
    key = FAILURE_KEYS[rule.metric]
    passed = {(tuple(r[g] for g in groups), r["value"]): int(r["passed"]) for r in base_rows
              if int(r["n"]) == 0 and int(r["passed"]) > 0}
    out = []
    for row in cur_rows:
        group_key = tuple(row[g] for g in groups)
        before = passed.get((group_key, row["value"]))
        if row["n"] >= rule.min_count and before is not None:
            group = {**(extra_group or {}), **dict(zip(groups, group_key, strict=True)), key: row["value"]}
            out.append(Outcome(rule.name, rule.metric, group, "fired", 0.0, float(row["n"]), float(row["n"]), None,
                               before, int(row["n"]) + int(row["passed"]), rule.severity,
                               f"{key} {row['value']!r} failed {row['n']} run(s); the baseline passed all {before}"))
    return out


def _keyed(rows: Sequence[Row], groups: Sequence[str]) -> dict[tuple[Any, ...], Row]:
    return {tuple(row[g] for g in groups): row for row in rows}


def rule_windows(rule: Rule, now: datetime) -> tuple[Window, Window]:
    """(baseline, current) windows of ``rule`` at ``now``: they end ``rule.settle`` before it."""
    end = now - rule.settle
    cut = end - rule.current_window
    return Window(cut - rule.baseline_window, cut), Window(cut, end)


def evaluate_rule(con: LakeConnection, rule: Rule, now: datetime) -> list[Outcome]:
    """Every group's outcome of one rule at ``now`` (fired, ok or insufficient_data)."""
    base_w, cur_w = rule_windows(rule, now)
    where = [("workflow", rule.workflow)] if rule.workflow else []
    groups = list(rule.group_by)
    kw: dict[str, Any] = {"group_by": groups, "where": where, "internal": True}
    base_rows = run_metric(con, rule.metric, since=base_w.since, until=base_w.until, **kw)
    cur_rows = run_metric(con, rule.metric, since=cur_w.since, until=cur_w.until, **kw)
    extra = {"workflow": rule.workflow} if rule.workflow and "workflow" not in groups else {}
    if rule.test == "new_value":
        outcomes = new_value_outcomes(rule, base_rows, cur_rows, groups, extra)
    elif rule.test == "new_failure":
        outcomes = new_failure_outcomes(rule, base_rows, cur_rows, groups, extra)
    else:
        base_k, cur_k = _keyed(base_rows, groups), _keyed(cur_rows, groups)
        outcomes = [run_test(rule, base_k.get(key), cur_k.get(key), {**extra, **dict(zip(groups, key, strict=True))})
                    for key in sorted(base_k.keys() | cur_k.keys(), key=lambda k: tuple(str(v) for v in k))]
    if rule.exclude_workflows and "workflow" in groups:
        # Those workflows have their own copy of the rule (rules file [workflows.X]).
        outcomes = [o for o in outcomes if o.group.get("workflow") not in rule.exclude_workflows]
    return outcomes


def alert_id(rule: str, group: Mapping[str, Any], now: datetime) -> str:
    """Deterministic id: the same rule, group and evaluation time always give the same id."""
    key = orjson.dumps([rule, dict(group), format_time(now)], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(key).hexdigest()[:32]


def to_alert(outcome: Outcome, rule: Rule, now: datetime, created_at: datetime) -> dict[str, Any]:
    """An ``alerts`` row (``metrics.md``) for a fired outcome; ``group`` stays a dict until stored."""
    _, cur_w = rule_windows(rule, now)
    return {
        "alert_id": alert_id(outcome.rule, outcome.group, now),
        "rule": outcome.rule,
        "metric": outcome.metric,
        "group": outcome.group,
        "window_start": cur_w.since,
        "window_end": cur_w.until,
        "baseline_value": outcome.baseline_value,
        "current_value": outcome.current_value,
        "delta": outcome.delta,
        "p_value": outcome.p_value,
        "n_baseline": outcome.n_baseline,
        "n_current": outcome.n_current,
        "severity": outcome.severity,
        "created_at": created_at,
        "tenant": outcome.group.get("tenant"),
    }


def evaluation_window(rules: Sequence[Rule], now: datetime, run_horizon: timedelta) -> Window:
    """The partitions an evaluation at ``now`` reads: the longest rule's baseline and current windows, widened
    by ``run_horizon`` (run metrics read the events of runs finishing in them). ``rules`` must not be empty."""
    span = max(r.settle + r.current_window + r.baseline_window for r in rules)
    return Window(now - span, now).widened(run_horizon)


def evaluate(lake_root: LakeRef, rules: Sequence[Rule], now: datetime, *, tenant: str | None = None,
             limits: Limits | None = None, run_horizon: timedelta = timedelta(hours=24),
             created_at: datetime | None = None, con: LakeConnection | None = None) -> list[dict[str, Any]]:
    """Every alert the rules raise at ``now`` (not yet stored; see :mod:`.store`).

    ``con``: evaluate on this open connection (the alert job's one); it must be
    scoped to ``tenant`` and read at least :func:`evaluation_window`, else
    :class:`~tracelake.queries.alerts.scope.ConnectionScopeError`. Without it,
    one connection pruned to that window is opened here (``lake_root`` and
    ``limits`` are only used then). The engine's errors from the queries.
    """
    if not rules:
        return []
    window = evaluation_window(rules, now, run_horizon)
    created = created_at or datetime.now(UTC)
    if con is None:
        with open_lake(lake_root, tenant=tenant, window=window, limits=limits, run_horizon=run_horizon) as own:
            return _alerts(own, rules, now, created)
    check_connection(con, window, tenant)
    return _alerts(con, rules, now, created)


def _alerts(con: LakeConnection, rules: Sequence[Rule], now: datetime, created: datetime) -> list[dict[str, Any]]:
    return [to_alert(outcome, rule, now, created)
            for rule in rules for outcome in evaluate_rule(con, rule, now) if outcome.status == "fired"]
