"""Canary verdicts (``tracelake alerts compare``): the drift tests between two versions of one workflow.

Over one window ``[since, until)`` the baseline is the rows of
``workflow_version = baseline`` (or ``release = baseline`` with
``by="release"``), the candidate plays the current window. Every enabled rule
runs its test (:func:`~tracelake.queries.alerts.evaluate.run_test`, the same
code as drift alerts) on the two, without grouping beyond the workflow.

Verdict:

- ``rollback``: any rule fires against the candidate;
- ``hold``: no rule fires but a *gate* rule (``gate = true``; by default
  ``success_rate_drop``) has too little data on either side;
- ``promote``: otherwise.

Exit codes of the CLI (documented in the README): 0 promote, 1 rollback, 3 hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Literal

from tracelake.lake.lake import LakeRef
from tracelake.queries.alerts.evaluate import Outcome, new_value_outcomes, run_test
from tracelake.queries.alerts.rules import Rule
from tracelake.queries.alerts.scope import check_connection
from tracelake.queries.engine import LakeConnection, Limits, open_lake
from tracelake.queries.metrics import run_metric
from tracelake.queries.timewin import Window

Verdict = Literal["promote", "hold", "rollback"]
EXIT_CODES: dict[str, int] = {"promote": 0, "rollback": 1, "hold": 3}


def verdict_of(outcomes: Sequence[Outcome], gates: set[str]) -> Verdict:
    """Pure: rollback if anything fired, hold if a gate rule lacks data, else promote."""
    if any(o.status == "fired" for o in outcomes):
        return "rollback"
    if any(o.status == "insufficient_data" and o.rule in gates for o in outcomes):
        return "hold"
    return "promote"


def compare(lake_root: LakeRef, rules: Sequence[Rule], *, workflow: str, baseline: str, candidate: str,
            window: Window, by: Literal["workflow_version", "release"] = "workflow_version",
            tenant: str | None = None, limits: Limits | None = None,
            run_horizon: timedelta = timedelta(hours=24), con: LakeConnection | None = None) -> dict[str, Any]:
    """The verdict and its evidence: ``{"workflow", "baseline", "candidate", "by", "window_start",
    "window_end", "verdict", "tests": [outcome, …]}``.

    Per-workflow rule copies (rules file ``[workflows.X]``) apply when X is
    the compared workflow; group-by and windows of the rules are not used
    (the comparison is one window, two versions).

    ``con``: run every query on this open connection (a page or job that asks
    several questions opens one); it must be scoped to ``tenant`` and read at
    least ``window`` widened by ``run_horizon``, else
    :class:`~tracelake.queries.alerts.scope.ConnectionScopeError`. Without it,
    one connection pruned to exactly that is opened and closed here
    (``lake_root`` and ``limits`` are only used then). Raises ``ValueError``
    when baseline and candidate are the same; the engine's errors from the queries.
    """
    if baseline == candidate:
        raise ValueError("baseline and candidate must differ")
    needed = window.widened(run_horizon)
    if con is None:
        with open_lake(lake_root, tenant=tenant, window=needed, limits=limits, run_horizon=run_horizon) as own:
            outcomes, gates = _tests(own, rules, workflow, baseline, candidate, window, by)
    else:
        check_connection(con, needed, tenant)
        outcomes, gates = _tests(con, rules, workflow, baseline, candidate, window, by)
    return {
        "workflow": workflow, "baseline": baseline, "candidate": candidate, "by": by,
        "window_start": window.since, "window_end": window.until,
        "verdict": verdict_of(outcomes, gates),
        "tests": [o.as_dict() for o in outcomes],
    }


def _tests(con: LakeConnection, rules: Sequence[Rule], workflow: str, baseline: str, candidate: str,
           window: Window, by: str) -> tuple[list[Outcome], set[str]]:
    """Every chosen rule's outcome for candidate against baseline, and the names of the gate rules."""
    chosen = {r.name: r for r in rules if r.workflow is None}
    chosen.update({r.name: r for r in rules if r.workflow == workflow})
    outcomes: list[Outcome] = []
    group = {"workflow": workflow}

    def rows(rule: Rule, version: str) -> list[dict[str, Any]]:
        return run_metric(con, rule.metric, group_by=(), since=window.since, until=window.until,
                          where=[("workflow", workflow), (by, version)], internal=True)

    for rule in chosen.values():
        base_rows, cand_rows = rows(rule, baseline), rows(rule, candidate)
        if rule.test == "new_value":
            fired = new_value_outcomes(rule, base_rows, cand_rows, (), group)
            outcomes.extend(fired or [Outcome(rule.name, rule.metric, group, "ok", None, None, None, None,
                                              sum(r["n"] for r in base_rows), sum(r["n"] for r in cand_rows),
                                              rule.severity, "no value new in the candidate")])
        else:
            outcomes.append(run_test(rule, base_rows[0] if base_rows else None,
                                     cand_rows[0] if cand_rows else None, group))
    return outcomes, {r.name for r in chosen.values() if r.gate}
