"""Rules: the defaults of metrics.md, the TOML file, per-workflow copies, clear errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tracelake.queries.alerts.rules import DEFAULT_RULES, RulesError, build_rules, load_rules


def test_defaults_are_those_of_metrics_md() -> None:
    rules = {r.name: r for r in load_rules(None)}
    assert set(rules) == {"success_rate_drop", "tool_call_validity_drop", "postcondition_pass_rate_drop",
                          "escalation_rate_rise", "cost_per_success_rise", "latency_p95_rise",
                          "time_to_safe_fallback_p95_rise", "new_error_type", "new_tool_name",
                          "control_pass_rate_drop", "control_regression", "success_claim_gap_rise"}
    drop = rules["success_rate_drop"]
    assert (drop.p_value, drop.min_delta, drop.min_n, drop.group_by) == (0.01, 0.05, 30, ("workflow",))
    assert (drop.current_window, drop.baseline_window) == (timedelta(hours=24), timedelta(days=7))
    assert rules["cost_per_success_rise"].factor == 1.25 and rules["latency_p95_rise"].factor == 1.5
    assert rules["new_tool_name"].min_count == 5
    assert rules["control_regression"].min_count == 1
    assert rules["control_pass_rate_drop"].group_by == ("workflow", "control_id")
    assert rules["success_claim_gap_rise"].settle == timedelta(hours=48)
    assert rules["success_rate_drop"].settle == timedelta(0)
    assert len(DEFAULT_RULES) == 12


def test_rules_file_changes_windows_thresholds_grouping_and_adds_rules(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text("""
[defaults]
current_window = "6h"
baseline_window = "3d"
group_by = ["workflow", "tenant"]

[rules.success_rate_drop]
min_delta = 0.1
min_n = 50

[rules.cost_per_success_rise]
enabled = false

[rules.tool_call_success_drop]
metric = "tool_call_success"
test = "proportion_drop"
severity = "critical"

[workflows.refund]
current_window = "1h"
[workflows.refund.rules.success_rate_drop]
min_delta = 0.02
""")
    rules = load_rules(path)
    base = {r.name: r for r in rules if r.workflow is None}
    refund = {r.name: r for r in rules if r.workflow == "refund"}
    assert "cost_per_success_rise" not in base and "cost_per_success_rise" not in refund
    assert base["success_rate_drop"].min_delta == 0.1 and base["success_rate_drop"].min_n == 50
    assert base["success_rate_drop"].current_window == timedelta(hours=6)
    assert base["success_rate_drop"].group_by == ("workflow", "tenant")
    assert base["success_rate_drop"].exclude_workflows == ("refund",)
    assert base["tool_call_success_drop"].severity == "critical"
    assert refund["success_rate_drop"].min_delta == 0.02 and refund["success_rate_drop"].min_n == 50
    assert refund["success_rate_drop"].current_window == timedelta(hours=1)
    assert refund["latency_p95_rise"].current_window == timedelta(hours=1)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[rules.success_rate_drop]\nmin_delta = 'big'\n",
         r"rules\.success_rate_drop\.min_delta: Input should be a valid number"),
        ("[rules.success_rate_drop]\nbogus = 1\n", "unknown key 'bogus'"),
        ("[rules.mine]\nmetric = 'success_rate'\n", "needs metric and test"),
        ("[rules.mine]\nmetric = 'nope'\ntest = 'ratio_rise'\n", "unknown metric 'nope'"),
        ("[rules.mine]\nmetric = 'latency_split'\ntest = 'proportion_drop'\n", "not a proportion"),
        ("[defaults]\ncurrent_window = 'soon'\n", "not a duration"),
        ("[defaults]\ngroup_by = ['model']\n", "cannot group by 'model'"),
        ("[other]\n", "unknown section 'other'"),
        ("not toml at all [", "not valid TOML"),
    ],
)
def test_bad_rules_files_say_what_is_wrong(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(RulesError, match=words) as error:
        load_rules(path)
    assert "\n" not in str(error.value)


def test_missing_rules_file(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match=r"nope\.toml: rules file does not exist"):
        load_rules(tmp_path / "nope.toml")


def test_build_rules_empty_is_defaults() -> None:
    assert [r.name for r in build_rules({})] == [r.name for r in DEFAULT_RULES]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[rules.success_rate_drop\n", "not valid TOML: "),
        ("[rules.success_rate_drop]\nenabled = 'yes'\n",
         "rules.success_rate_drop.enabled: Input should be a valid boolean"),
        ("[rules.cost_spike]\nmetric = 'cost_per_success'\ntest = 'ratio_rise'\nfactor = 0\n",
         "rules.cost_spike.factor: Input should be greater than 0"),
        ("[rules.success_rate_drop]\nseverity = 'high'\n",
         "rules.success_rate_drop.severity: Input should be 'info', 'warning' or 'critical'"),
        ("[rules.x]\nmetric = 'success_rate'\ntest = 'drop'\n",
         "rules.x.test: Input should be 'proportion_drop', 'proportion_rise', 'ratio_rise', 'new_value' or "
         "'new_failure'"),
        ("[workflows.refund.rules.success_rate_drop]\nmin_n = 0\n",
         "workflows.refund.rules.success_rate_drop.min_n: Input should be greater than or equal to 1"),
        ("[workflows.refund.rules.success_rate_drop]\nthreshold = 1\n",
         "workflows.refund.rules.success_rate_drop: unknown key 'threshold' (known: metric, test,"),
        ("[workflows.refund.rules.mine]\nmetric = 'error_types'\ntest = 'ratio_rise'\n",
         "workflows.refund.rules.mine.test: test new_value goes with metrics error_types, tool_names only"),
        ("[defaults]\ngroup_by = ['workflow', 3]\n", "defaults.group_by[2]: Input should be a valid string"),
        ("[defaults]\np_value = 1\n", "defaults.p_value: Input should be less than 1"),
        ("workflows = 3\n", "workflows: Input should be a table"),
    ],
)
def test_bad_rules_files_name_file_entry_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(RulesError) as error:
        load_rules(path)
    assert str(error.value).startswith(f"{path}: {expected}")
    assert "\n" not in str(error.value)


def test_rules_errors_are_config_errors_and_value_errors(tmp_path: Path) -> None:
    from tracelake.errors import ConfigError

    assert issubclass(RulesError, ConfigError) and issubclass(RulesError, ValueError)
    with pytest.raises(RulesError, match=r"^cfg: rules\.x: a new rule needs metric and test$"):
        build_rules({"rules": {"x": {"min_n": 3}}}, source="cfg")


def test_durations_accept_seconds_and_one_group_key() -> None:
    (rule, *_) = build_rules({"defaults": {"current_window": 3600, "group_by": "tenant"}})
    assert rule.current_window == timedelta(hours=1) and rule.group_by == ("tenant",)
