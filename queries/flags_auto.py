"""Alerts and canary verdicts that set workflow flags, when the rules file says so (docs/flags.md, "Automation").

The ``[flags]`` section of the drift rules file (``TRACELAKE_ALERTS_RULES_FILE``)::

    [flags]
    canary_rollback = "pin_version"   # a rollback verdict pins the workflow to the baseline ("pause" also works)

    [flags.rules.cost_per_success_rise]   # this drift rule, when it raises a new alert, sets this flag
    action = "throttle"                   # throttle (with rate), pause, or pin_version (with version)
    rate = 0.2

Nothing is automated without the section. Each change is an ordinary flag change (:mod:`tracelake.queries.flags`),
audited with ``who = alert:<rule>`` (``alert:canary`` for a verdict) and a reason naming the evidence; it is
written only when it changes the workflow's flag, so an evaluation repeated on the same alerts writes nothing.

Flags are per tenant, so an alert sets a flag only when it names its tenant and workflow: the rules named in
``[flags.rules]`` must group by both (``group_by = ["tenant", "workflow"]``), which :func:`load_flag_automation`
checks. A canary verdict sets one for the tenant the comparison was scoped to (none without a tenant).

Failure modes: :class:`~tracelake.queries.alerts.rules.RulesError` (one line naming the file and the entry) for a
bad section; ``OSError`` when the flags table cannot be written.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tracelake.lake.lake import LakeRef
from tracelake.queries.flags import FlagChange, FlagError, check_flag, flag_table

log = logging.getLogger("tracelake.queries.flags")


class RuleFlag(BaseModel):
    """``[flags.rules.<rule>]``: the flag a firing rule sets on the alert's workflow."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["throttle", "pause", "pin_version"]
    rate: float | None = None
    version: str | None = None

    @model_validator(mode="after")
    def _a_flag(self) -> RuleFlag:
        try:
            check_flag(self.action, self.rate, self.version)
        except FlagError as exc:
            raise ValueError(str(exc)) from None
        return self


class FlagAutomation(BaseModel):
    """The ``[flags]`` section of the rules file (module docstring); empty: nothing is automated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    canary_rollback: Literal["pin_version", "pause"] | None = None
    rules: dict[str, RuleFlag] = Field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self.canary_rollback is not None or bool(self.rules)


def load_flag_automation(path: str | Path | None) -> FlagAutomation:
    """The ``[flags]`` section of the rules file at ``path`` (empty when None or absent); checks that each rule it
    names exists and groups by tenant and workflow. Raises ``RulesError``."""
    from tracelake.configfile import describe, load_toml_model
    from tracelake.queries.alerts.rules import RulesError, RulesFile, _rules

    if path is None:
        return FlagAutomation()
    parsed = load_toml_model(path, RulesFile, kind="rules file", error=RulesError)
    automation = parsed.flags
    by_name = {rule.name: rule for rule in _rules(parsed, str(path))}
    for name in automation.rules:
        rule = by_name.get(name)
        if rule is None:
            raise RulesError(describe(str(path), ("flags", "rules", name), "no enabled drift rule of that name"))
        if not {"tenant", "workflow"} <= set(rule.group_by):
            raise RulesError(describe(str(path), ("flags", "rules", name),
                                      'flags are per tenant and workflow: the rule needs group_by = ["tenant", '
                                      '"workflow"]'))
    return automation


def apply_alerts(lake: LakeRef, automation: FlagAutomation, alerts: Sequence[Mapping[str, Any]],
                 now: datetime | None = None) -> list[FlagChange]:
    """Set the flags ``[flags.rules]`` asks for, for each alert of a named rule; returns the changes written.
    ``now``: the changes' time (default: the wall clock, whatever instant the alerts were evaluated at)."""
    changes: list[FlagChange] = []
    if not automation.rules:
        return changes
    table = flag_table(lake)
    for alert in alerts:
        wanted = automation.rules.get(str(alert.get("rule")))
        group = alert.get("group") or {}
        tenant, workflow = group.get("tenant") or alert.get("tenant"), group.get("workflow")
        if wanted is None:
            continue
        if not tenant or not workflow:
            log.warning("alert %s names no tenant and workflow: no flag set", alert.get("alert_id"))
            continue
        reason = (f"{alert['rule']}: {alert.get('metric')} {alert.get('baseline_value')} -> "
                  f"{alert.get('current_value')} (alert {alert.get('alert_id')})")
        change = table.set(tenant=tenant, workflow=workflow, action=wanted.action, rate=wanted.rate,
                           version=wanted.version, reason=reason, who=f"alert:{alert['rule']}", now=now,
                           only_if_changed=True)
        if change is not None:
            changes.append(change)
    return changes


def apply_canary(lake: LakeRef, automation: FlagAutomation, result: Mapping[str, Any], *, tenant: str | None,
                 now: datetime | None = None) -> FlagChange | None:
    """A ``rollback`` verdict (:func:`tracelake.queries.alerts.canary.compare`'s result) sets
    ``canary_rollback`` on the workflow of ``tenant``: ``pin_version`` to the baseline (a comparison by release
    names no version, so it pauses instead), or ``pause``. None when nothing was set."""
    if automation.canary_rollback is None or result.get("verdict") != "rollback":
        return None
    if tenant is None:
        log.warning("canary %s: a rollback verdict without a tenant sets no flag (flags are per tenant)",
                    result.get("workflow"))
        return None
    fired = list(dict.fromkeys(str(t["rule"]) for t in result.get("tests", []) if t.get("status") == "fired"))
    pin = automation.canary_rollback == "pin_version" and result.get("by", "workflow_version") == "workflow_version"
    reason = (f"canary {result['candidate']} rolled back to {result['baseline']}: {', '.join(fired) or 'rollback'}")
    return flag_table(lake).set(
        tenant=tenant, workflow=str(result["workflow"]), action="pin_version" if pin else "pause",
        version=str(result["baseline"]) if pin else None, reason=reason, who="alert:canary", now=now,
        only_if_changed=True)
