"""Drift rules: the defaults of ``metrics.md`` and a TOML file to change them.

A rule compares a *current* window with a *baseline* window per group, both
ending at ``end = now − settle`` (``settle`` is 0 but for metrics whose data
arrives late): current = ``[end − current_window, end)``, baseline =
``[end − current_window − baseline_window, end − current_window)``.

Tests (``test``):

- ``proportion_drop`` / ``proportion_rise``: one-sided two-proportion z-test
  on the metric's ``x / n``; fires when the move is in that direction, at
  least ``min_delta``, with p < ``p_value`` and ≥ ``min_n`` on both sides.
- ``ratio_rise``: ``current ≥ factor × baseline`` (and current > baseline) of
  the ``value`` column, ≥ ``min_n`` on both sides.
- ``new_failure``: a control (``control_failures``) failing ≥ ``min_count`` times in the current window
  that the baseline passed (it applied to baseline runs and none failed): docs/controls.md.
- ``new_value``: a value (error type, tool name) seen ≥ ``min_count`` times
  in the current window and never in the baseline.

Rules file (TOML; every key optional)::

    [defaults]                      # for every rule
    current_window = "24h"          # s, m, h, d, w (or a number of seconds)
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

The sections are ``defaults``, ``rules``, ``workflows`` and ``flags`` (alerts and canary verdicts that set
workflow flags: :mod:`tracelake.queries.flags_auto`). A rule table, the
``[defaults]`` table and a workflow table (besides its ``rules``) take these
keys, and no others:

- ``metric``: a metric of ``metrics.md`` (``success_rate``, …)
- ``test``: ``proportion_drop``, ``proportion_rise``, ``ratio_rise``, ``new_value`` or ``new_failure``
- ``value``: the column ``ratio_rise`` compares (default: the metric's)
- ``min_n``: integer ≥ 1 (default 30)
- ``p_value``: number in (0, 1) (default 0.01)
- ``min_delta``: number ≥ 0 (default 0.05)
- ``factor``: number > 0 (default 1.25)
- ``min_count``: integer ≥ 1 (default 5)
- ``group_by``: a run key or a list of them (default ``["workflow"]``)
- ``current_window``, ``baseline_window``: durations (default ``"24h"``, ``"7d"``)
- ``severity``: ``info``, ``warning`` or ``critical`` (default ``warning``)
- ``enabled``: true or false (default true)
- ``gate``: true or false (default false); a canary "holds" without enough data for it
- ``settle``: a duration or ``"0s"`` (default ``"0s"``): how far behind ``now`` both windows end, for a metric whose
  data settles late (``success_claim_gap``: confirmations arrive hours or days after the run). A rule with a
  settle time judges no canary (a candidate's runs are newer than it).

A proportion test needs a proportion metric, and ``new_value`` goes with
``error_types`` and ``tool_names`` only. A new rule in a workflow table that
is not in ``[rules]`` takes that workflow's defaults, not ``[defaults]``.

Failure modes: :class:`RulesError` (a :class:`~tracelake.errors.ConfigError`,
also a ``ValueError``) for a missing or unreadable file, bad TOML, an unknown
key or a bad value, with one line naming the file, the entry and the field,
e.g. ``rules.toml: rules.cost_spike.factor: Input should be greater than 0``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict, StrictStr

from tracelake.configfile import describe, load_toml_model, validate_model
from tracelake.errors import ConfigError
from tracelake.queries.flags_auto import FlagAutomation
from tracelake.queries.metrics import METRICS, RUN_KEYS
from tracelake.queries.timewin import parse_duration

Test = Literal["proportion_drop", "proportion_rise", "ratio_rise", "new_value", "new_failure"]
TESTS = ("proportion_drop", "proportion_rise", "ratio_rise", "new_value", "new_failure")
# new_failure rules: their series, and the key under which the failing control appears in the alert's group.
FAILURE_KEYS = {"control_failures": "control_id"}
# Besides the run keys, what a rule may group by: control_id, for the controls' metrics (their spec's keys).
GROUP_KEYS = RUN_KEYS | {"control_id"}
Severity = Literal["info", "warning", "critical"]
SEVERITIES = ("info", "warning", "critical")
# new_value rules: the key under which the new value appears in the alert's group.
VALUE_KEYS = {"error_types": "error_type", "tool_names": "tool_name"}


class RulesError(ConfigError, ValueError):
    """The rules file or a rule is invalid; the message names the file, the entry and the field."""


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
    settle: timedelta = timedelta(0)  # both windows end this long before now (data that arrives late)

    @property
    def value_column(self) -> str:
        return self.value or METRICS[self.metric].value

    def problem(self) -> tuple[str, str] | None:
        """``(field, what is wrong)`` for an invalid rule, else None.

        A rules file's values are checked field by field by :class:`RuleSettings`
        first; what is left for a file is the fit of ``test`` to ``metric``.
        """
        if self.metric not in METRICS:
            return "metric", f"unknown metric {self.metric!r}; choose one of {', '.join(METRICS)}"
        if self.test not in TESTS:
            return "test", f"unknown test {self.test!r}; choose one of {', '.join(TESTS)}"
        spec = METRICS[self.metric]
        if self.test.startswith("proportion") and spec.x is None:
            return "test", f"{self.metric} is not a proportion; use test = \"ratio_rise\""
        if (self.test == "new_value") != (self.metric in VALUE_KEYS):
            return "test", f"test new_value goes with metrics {', '.join(VALUE_KEYS)} only"
        if (self.test == "new_failure") != (self.metric in FAILURE_KEYS):
            return "test", f"test new_failure goes with metrics {', '.join(FAILURE_KEYS)} only"
        bad = [g for g in self.group_by if g not in spec.keys]
        if bad:
            return "group_by", f"cannot group by {bad[0]!r}; allowed: {', '.join(sorted(spec.keys))}"
        if self.severity not in SEVERITIES:
            return "severity", f"severity must be one of {', '.join(SEVERITIES)}"
        if not (0 < self.p_value < 1) or self.min_delta < 0 or self.factor <= 0 or self.min_n < 1 \
                or self.min_count < 1:
            return "p_value", "p_value must be in (0, 1); min_delta ≥ 0; factor > 0; min_n, min_count ≥ 1"
        return None

    def validate(self) -> Rule:
        """This rule, or :class:`RulesError` naming the rule and the field."""
        problem = self.problem()
        if problem:
            raise RulesError(f"rule {self.name!r}: {problem[0]}: {problem[1]}")
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
    # Controls (docs/controls.md): a pass rate falling per control, and a control failing that the baseline
    # passed (in a canary: the candidate fails a control the baseline passed, so rollback).
    Rule("control_pass_rate_drop", "control_pass_rate", "proportion_drop", group_by=("workflow", "control_id"),
         severity="critical"),
    Rule("control_regression", "control_failures", "new_failure", min_count=1, severity="critical"),
    # Ground truth (metrics.md "Confirmed outcomes"): more claimed successes the system of record did not confirm
    # (reversed, or still unconfirmed after two days) than in the week before. Judged two days late, when the
    # confirmations of the window's runs have had time to arrive.
    Rule("success_claim_gap_rise", "success_claim_gap", "proportion_rise", settle=timedelta(hours=48)),
)

def _duration(value: Any) -> timedelta:
    # parse_duration refuses anything but "24h"-style text and positive seconds (a bool included).
    return value if isinstance(value, timedelta) else parse_duration(value)


def _settle(value: Any) -> timedelta:
    # A settle time may be zero (no lag): "0s", "0h", 0; otherwise a duration as the windows take.
    if (isinstance(value, int) and not isinstance(value, bool) and value == 0) or (
            isinstance(value, str) and value.strip().rstrip("smhdw") in ("0", "0.0")):
        return timedelta(0)
    return _duration(value)


def _group_list(value: Any) -> Any:
    # One key may be written without the list; TOML lists become the stored tuple.
    return (value,) if isinstance(value, str) else tuple(value) if isinstance(value, list) else value


def _known_metric(value: str) -> str:
    if value not in METRICS:
        raise ValueError(f"unknown metric {value!r}; choose one of {', '.join(METRICS)}")
    return value


def _run_keys(value: tuple[str, ...]) -> tuple[str, ...]:
    bad = [g for g in value if g not in GROUP_KEYS]  # control_id: checked against the rule's metric later
    if bad:
        raise ValueError(f"cannot group by {bad[0]!r}; allowed: {', '.join(sorted(GROUP_KEYS))}")
    return value


# Strict numbers and booleans: TOML has both, so "0.1" or 1 for true is a mistake.
StrictInt = Annotated[int, Strict()]
StrictNumber = Annotated[float, Strict()]  # an integer is a number too
Duration = Annotated[timedelta, BeforeValidator(_duration)]
Lag = Annotated[timedelta, BeforeValidator(_settle)]
GroupBy = Annotated[tuple[StrictStr, ...], BeforeValidator(_group_list), AfterValidator(_run_keys)]


class RuleSettings(BaseModel):
    """The keys of a ``[rules.<name>]`` table, of ``[defaults]`` and of a workflow table.

    Every key is optional; only the keys a table sets change a rule.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: Annotated[StrictStr, AfterValidator(_known_metric)] | None = None
    test: Test | None = None
    value: StrictStr | None = None
    min_n: Annotated[StrictInt, Field(ge=1)] | None = None
    p_value: Annotated[StrictNumber, Field(gt=0, lt=1)] | None = None
    min_delta: Annotated[StrictNumber, Field(ge=0)] | None = None
    factor: Annotated[StrictNumber, Field(gt=0)] | None = None
    min_count: Annotated[StrictInt, Field(ge=1)] | None = None
    group_by: GroupBy | None = None
    current_window: Duration | None = None
    baseline_window: Duration | None = None
    severity: Severity | None = None
    enabled: Annotated[bool, Strict()] | None = None
    gate: Annotated[bool, Strict()] | None = None
    settle: Lag | None = None

    def changes(self) -> dict[str, Any]:
        """The keys this table sets, as :class:`Rule` fields."""
        return {name: getattr(self, name) for name in self.model_fields_set if name in RuleSettings.model_fields}


class WorkflowSettings(RuleSettings):
    """A ``[workflows.<name>]`` table: defaults for the workflow's copies, and per-rule changes."""

    rules: dict[str, RuleSettings] = Field(default_factory=dict)


class RulesFile(BaseModel):
    """The whole rules file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    defaults: RuleSettings = Field(default_factory=RuleSettings)
    rules: dict[str, RuleSettings] = Field(default_factory=dict)
    workflows: dict[str, WorkflowSettings] = Field(default_factory=dict)
    # Alerts and canary verdicts that set workflow flags (tracelake.queries.flags_auto, docs/flags.md).
    flags: FlagAutomation = Field(default_factory=FlagAutomation)


def _apply(rules: dict[str, Rule], defaults: dict[str, Any], overrides: Mapping[str, RuleSettings],
           where: tuple[str, ...], source: str) -> dict[str, Rule]:
    out = {name: replace(rule, **defaults) for name, rule in rules.items()}
    for name, table in overrides.items():
        changes = table.changes()
        if name in out:
            out[name] = replace(out[name], **changes)
        else:
            if "metric" not in changes or "test" not in changes:
                raise RulesError(describe(source, (*where, "rules", name), "a new rule needs metric and test"))
            out[name] = Rule(name=name, **{**defaults, **changes})
    return out


def build_rules(config: Mapping[str, Any], source: str = "rules") -> list[Rule]:
    """Concrete, validated rule instances from a parsed rules file (``{}`` → the defaults).

    ``source`` names the file in messages. Raises :class:`RulesError` (one line:
    file, entry, field) for an unknown section or key, a bad value, a new rule
    without metric and test, or a test that does not fit its metric.
    """
    parsed = validate_model(source, config, RulesFile, RulesError)
    return _rules(parsed, source)


def _rules(parsed: RulesFile, source: str) -> list[Rule]:
    base = _apply({r.name: r for r in DEFAULT_RULES}, parsed.defaults.changes(), parsed.rules, (), source)
    workflows = parsed.workflows
    instances = [replace(rule, exclude_workflows=tuple(sorted(workflows))) for rule in base.values()]
    for workflow, table in sorted(workflows.items()):
        per_wf = _apply(base, table.changes(), table.rules, ("workflows", workflow), source)
        instances.extend(replace(rule, workflow=workflow) for rule in per_wf.values())
    out = []
    for rule in instances:
        if not rule.enabled:
            continue
        problem = rule.problem()
        if problem:
            # Name the table that set the rule: the workflow's own, else [rules].
            in_workflow = rule.workflow is not None and rule.name in workflows[rule.workflow].rules
            where = ("workflows", rule.workflow, "rules") if in_workflow else ("rules",)
            raise RulesError(describe(source, (*where, rule.name, problem[0]), problem[1]))
        out.append(rule)
    return out


def load_rules(path: str | Path | None) -> list[Rule]:
    """The rules of ``path`` (TOML, see the module docstring), or the defaults when None.

    Raises :class:`RulesError` (one line: file, entry, field) for a missing,
    unreadable or invalid file.
    """
    if path is None:
        return build_rules({})
    parsed = load_toml_model(path, RulesFile, kind="rules file", error=RulesError)
    return _rules(parsed, str(path))
