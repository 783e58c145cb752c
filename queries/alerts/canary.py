"""Canary verdicts (``tracelake alerts compare``): the drift tests between two versions of one workflow.

Over one window ``[since, until)`` the baseline is the rows of
``workflow_version = baseline`` (or ``release = baseline`` with
``by="release"``), the candidate plays the current window. Every enabled rule
runs its test (:func:`~tracelake.queries.alerts.evaluate.run_test`, the same
code as drift alerts) on the two, without grouping beyond the workflow.
Each rule's metric is asked once per call, grouped by workflow and version, for
every canary of the call (:func:`compare_many`: the dashboard's canaries in
one go; :mod:`.version_rows` says why that is the same answer).

Verdict:

- ``rollback``: any rule fires against the candidate;
- ``hold``: no rule fires but a *gate* rule (``gate = true``; by default
  ``success_rate_drop``) has too little data on either side;
- ``promote``: otherwise.

Exit codes of the CLI (documented in the README): 0 promote, 1 rollback, 3 hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from tracelake.lake.lake import LakeRef
from tracelake.queries.alerts.evaluate import Outcome, new_failure_outcomes, new_value_outcomes, run_test
from tracelake.queries.alerts.rules import Rule
from tracelake.queries.alerts.scope import check_connection
from tracelake.queries.alerts.version_rows import By, VersionRows
from tracelake.queries.engine import LakeConnection, Limits, open_lake
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


@dataclass(frozen=True)
class Canary:
    """One comparison: ``candidate`` against ``baseline`` (versions or releases) of ``workflow``."""

    workflow: str
    baseline: str
    candidate: str


def compare(lake_root: LakeRef, rules: Sequence[Rule], *, workflow: str, baseline: str, candidate: str,
            window: Window, by: By = "workflow_version",
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
    [result] = compare_many(lake_root, rules, [Canary(workflow, baseline, candidate)], window=window, by=by,
                            tenant=tenant, limits=limits, run_horizon=run_horizon, con=con)
    return result


def compare_many(lake_root: LakeRef, rules: Sequence[Rule], canaries: Sequence[Canary], *, window: Window,
                 by: By = "workflow_version", tenant: str | None = None, limits: Limits | None = None,
                 run_horizon: timedelta = timedelta(hours=24),
                 con: LakeConnection | None = None) -> list[dict[str, Any]]:
    """:func:`compare` of each canary over the same window, in order, asking each rule's metric once for all of
    them (:class:`~tracelake.queries.alerts.version_rows.VersionRows`): the same verdicts and evidence as one
    :func:`compare` call per canary. Arguments and failure modes as :func:`compare`."""
    for canary in canaries:
        if canary.baseline == canary.candidate:
            raise ValueError("baseline and candidate must differ")
    needed = window.widened(run_horizon)
    if con is None:
        with open_lake(lake_root, tenant=tenant, window=needed, limits=limits, run_horizon=run_horizon) as own:
            return _compare_on(own, rules, canaries, window, by)
    check_connection(con, needed, tenant)
    return _compare_on(con, rules, canaries, window, by)


def _compare_on(con: LakeConnection, rules: Sequence[Rule], canaries: Sequence[Canary], window: Window,
                by: By) -> list[dict[str, Any]]:
    rows = VersionRows(con, window, by, [(c.workflow, v) for c in canaries for v in (c.baseline, c.candidate)])
    out = []
    for canary in canaries:
        outcomes, gates = _tests(rows, rules, canary)
        out.append({
            "workflow": canary.workflow, "baseline": canary.baseline, "candidate": canary.candidate, "by": by,
            "window_start": window.since, "window_end": window.until,
            "verdict": verdict_of(outcomes, gates),
            "tests": [o.as_dict() for o in outcomes],
        })
    return out


def _tests(rows: VersionRows, rules: Sequence[Rule], canary: Canary) -> tuple[list[Outcome], set[str]]:
    """Every rule's outcome for the canary's candidate against its baseline, and the names of the gate rules.
    Per-workflow rule copies replace the general rule of the same name."""
    workflow = canary.workflow
    # A rule that waits for late data (settle) cannot judge a candidate's runs, newer than its settle time.
    chosen = {r.name: r for r in rules if r.workflow is None and not r.settle}
    chosen.update({r.name: r for r in rules if r.workflow == workflow and not r.settle})
    outcomes: list[Outcome] = []
    group = {"workflow": workflow}
    for rule in chosen.values():
        base_rows = rows.rows(rule.metric, workflow, canary.baseline)
        cand_rows = rows.rows(rule.metric, workflow, canary.candidate)
        if rule.test == "new_value":
            fired = new_value_outcomes(rule, base_rows, cand_rows, (), group)
            outcomes.extend(fired or [Outcome(rule.name, rule.metric, group, "ok", None, None, None, None,
                                              sum(r["n"] for r in base_rows), sum(r["n"] for r in cand_rows),
                                              rule.severity, "no value new in the candidate")])
        elif rule.test == "new_failure":  # the candidate fails a control the baseline passed: rollback
            fired = new_failure_outcomes(rule, base_rows, cand_rows, (), group)
            outcomes.extend(fired or [Outcome(rule.name, rule.metric, group, "ok", None, None, None, None,
                                              sum(r["n"] + r["passed"] for r in base_rows),
                                              sum(r["n"] + r["passed"] for r in cand_rows), rule.severity,
                                              "the candidate fails no control the baseline passed")])
        else:
            outcomes.append(run_test(rule, base_rows[0] if base_rows else None,
                                     cand_rows[0] if cand_rows else None, group))
    return outcomes, {r.name for r in chosen.values() if r.gate}
