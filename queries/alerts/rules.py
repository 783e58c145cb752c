"""Drift rules: the defaults of ``metrics.md`` and a TOML file to change them.

A rule compares a *current* window with a *baseline* window per group, both
ending at ``now``: current = ``[now − current_window, now)``, baseline =
``[now − current_window − baseline_window, now − current_window)``.

Tests (``test``):

- ``proportion_drop`` / ``proportion_rise``: one-sided two-proportion z-test
  on the metric's ``x / n``; fires when the move is in that direction, at
  least ``min_delta``, with p < ``p_value`` and ≥ ``min_n`` on both sides.
- ``ratio_rise``: ``current ≥ factor × baseline`` (and current > baseline) of
  the ``value`` column, ≥ ``min_n`` on both sides.
- ``new_value``: a value (error type, tool name) seen ≥ ``min_count`` times
  in the current window and never in the baseline.

Rules file (TOML; every key optional)::

    [defaults]                      # for every rule
    current_window = "24h"          # s, m, h, d, w
    baseline_window = "7d"
    group_by = ["workflow"]

    [rules.success_rate_drop]       # change a default rule
    min_delta = 0.03
    [rules.cost_per_success_rise]
    enabled = false
    [rules.tool_call_success_drop]  # a new rule names its metric and test
    metric = "tool_call_success"
    test = "proportion_drop"

    [workflows.refund_request]      # this workflow gets its own copy of every rule,
    current_window = "6h"           # with these defaults …
    [workflows.refund_request.rules.success_rate_drop]
    min_delta = 0.02                # … and these per-rule changes

Failure modes: :class:`RulesError` (unreadable file, unknown key, bad value),
raised with a message that names the file and the key.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from tracelake.queries.metrics import METRICS, RUN_KEYS
from tracelake.queries.timewin import parse_duration

Test = Literal["proportion_drop", "proportion_rise", "ratio_rise", "new_value"]
TESTS = ("proportion_drop", "proportion_rise", "ratio_rise", "new_value")
SEVERITIES = ("info", "warning", "critical")
# new_value rules: the key under which the new value appears in the alert's group.
VALUE_KEYS = {"error_types": "error_type", "tool_names": "tool_name"}


class RulesError(ValueError):
    """The rules file or a rule is invalid; the message names the file and key."""


@dataclass(frozen=True)
class Rule:
    """One drift rule (see the module docstring). ``workflow`` set = a per-workflow copy."""

    name: str
    metric: str
    test: Test
    value: str | None = None  # column compared by ratio_rise (default: the metric's column)
    min_n: int = 30
    p_value: float = 0.01
    min_delta: float = 0.05
    factor: float = 1.25
    min_count: int = 5
    group_by: tuple[str, ...] = ("workflow",)
    current_window: timedelta = timedelta(hours=24)
    baseline_window: timedelta = timedelta(days=7)
    severity: str = "warning"
    enabled: bool = True
    gate: bool = False  # canary: without enough data for this rule the verdict is "hold"
    workflow: str | None = None
    exclude_workflows: tuple[str, ...] = field(default=())

    @property
    def value_column(self) -> str:
        return self.value or METRICS[self.metric].value

    def validate(self) -> Rule:
        where = f"rule {self.name!r}"
        if self.metric not in METRICS:
            raise RulesError(f"{where}: unknown metric {self.metric!r}; choose one of {', '.join(METRICS)}")
        if self.test not in TESTS:
            raise RulesError(f"{where}: unknown test {self.test!r}; choose one of {', '.join(TESTS)}")
        spec = METRICS[self.metric]
        if self.test.startswith("proportion") and spec.x is None:
            raise RulesError(f"{where}: {self.metric} is not a proportion; use test = \"ratio_rise\"")
        if (self.test == "new_value") != (self.metric in VALUE_KEYS):
            raise RulesError(f"{where}: test new_value goes with metrics {', '.join(VALUE_KEYS)} only")
        bad = [g for g in self.group_by if g not in RUN_KEYS]
        if bad:
            raise RulesError(f"{where}: cannot group by {bad[0]!r}; allowed: {', '.join(sorted(RUN_KEYS))}")
        if self.severity not in SEVERITIES:
            raise RulesError(f"{where}: severity must be one of {', '.join(SEVERITIES)}")
        if not (0 < self.p_value < 1) or self.min_delta < 0 or self.factor <= 0 or self.min_n < 1 \
                or self.min_count < 1:
            raise RulesError(f"{where}: p_value must be in (0, 1); min_delta ≥ 0; factor > 0; min_n, min_count ≥ 1")
        return self


DEFAULT_RULES: tuple[Rule, ...] = (
    Rule("success_rate_drop", "success_rate", "proportion_drop", severity="critical", gate=True),
    Rule("tool_call_validity_drop", "tool_call_validity", "proportion_drop"),
    Rule("postcondition_pass_rate_drop", "postcondition_pass_rate", "proportion_drop", severity="critical"),
    Rule("escalation_rate_rise", "escalation_rate", "proportion_rise"),
    Rule("cost_per_success_rise", "cost_per_success", "ratio_rise", factor=1.25),
    Rule("latency_p95_rise", "latency_split", "ratio_rise", value="run_ms_p95", factor=1.5),
    Rule("time_to_safe_fallback_p95_rise", "time_to_safe_fallback", "ratio_rise", value="p95_ms", factor=1.5),
    Rule("new_error_type", "error_types", "new_value", min_count=5, severity="info"),
    Rule("new_tool_name", "tool_names", "new_value", min_count=5, severity="info"),
)

_SETTABLE = {f.name for f in fields(Rule)} - {"name", "workflow", "exclude_workflows"}
_DURATIONS = ("current_window", "baseline_window")


def _coerce(key: str, value: Any, where: str) -> Any:
    if key not in _SETTABLE:
        raise RulesError(f"{where}: unknown key {key!r}; known: {', '.join(sorted(_SETTABLE))}")
    try:
        if key in _DURATIONS:
            return parse_duration(value)
        if key == "group_by":
            items = [value] if isinstance(value, str) else list(value)
            return tuple(str(v) for v in items)
        if key in ("min_n", "min_count"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError("must be an integer")
            return value
        if key in ("p_value", "min_delta", "factor"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError("must be a number")
            return float(value)
        if key in ("enabled", "gate"):
            if not isinstance(value, bool):
                raise ValueError("must be true or false")
            return value
        return str(value)
    except ValueError as exc:
        raise RulesError(f"{where}: {key}: {exc}") from None


def _settings(table: Mapping[str, Any], where: str, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    return {k: _coerce(k, v, where) for k, v in table.items() if k not in skip}


def _apply(rules: dict[str, Rule], defaults: dict[str, Any], overrides: Mapping[str, Any], where: str
           ) -> dict[str, Rule]:
    out = {name: replace(rule, **defaults) for name, rule in rules.items()}
    for name, table in overrides.items():
        if not isinstance(table, Mapping):
            raise RulesError(f"{where}: rules.{name} must be a table")
        changes = _settings(table, f"{where}: rules.{name}")
        if name in out:
            out[name] = replace(out[name], **changes)
        else:
            if "metric" not in changes or "test" not in changes:
                raise RulesError(f"{where}: new rule {name!r} needs metric and test")
            base = {**defaults, **changes}
            out[name] = Rule(name=name, **base)
    return out


def build_rules(config: Mapping[str, Any], source: str = "rules") -> list[Rule]:
    """Concrete, validated rule instances from a parsed rules file (``{}`` → the defaults)."""
    unknown = set(config) - {"defaults", "rules", "workflows"}
    if unknown:
        raise RulesError(f"{source}: unknown section {sorted(unknown)[0]!r}; use defaults, rules, workflows")
    defaults = _settings(config.get("defaults", {}), f"{source}: defaults")
    base = _apply({r.name: r for r in DEFAULT_RULES}, defaults, config.get("rules", {}), source)
    workflows = config.get("workflows", {})
    instances = [replace(rule, exclude_workflows=tuple(sorted(workflows))) for rule in base.values()]
    for workflow, table in sorted(workflows.items()):
        where = f"{source}: workflows.{workflow}"
        if not isinstance(table, Mapping):
            raise RulesError(f"{where} must be a table")
        wf_defaults = _settings(table, where, skip=("rules",))
        per_wf = _apply(base, wf_defaults, table.get("rules", {}), where)
        instances.extend(replace(rule, workflow=workflow) for rule in per_wf.values())
    return [rule.validate() for rule in instances if rule.enabled]


def load_rules(path: str | Path | None) -> list[Rule]:
    """The rules of ``path`` (TOML), or the defaults when None."""
    if path is None:
        return build_rules({})
    try:
        with open(path, "rb") as fh:
            config = tomllib.load(fh)
    except OSError as exc:
        raise RulesError(f"cannot read rules file {str(path)!r}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"rules file {str(path)!r} is not valid TOML: {exc}") from None
    return build_rules(config, source=str(path))
