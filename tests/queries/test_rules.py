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
                          "time_to_safe_fallback_p95_rise", "new_error_type", "new_tool_name"}
    drop = rules["success_rate_drop"]
    assert (drop.p_value, drop.min_delta, drop.min_n, drop.group_by) == (0.01, 0.05, 30, ("workflow",))
    assert (drop.current_window, drop.baseline_window) == (timedelta(hours=24), timedelta(days=7))
    assert rules["cost_per_success_rise"].factor == 1.25 and rules["latency_p95_rise"].factor == 1.5
    assert rules["new_tool_name"].min_count == 5
    assert len(DEFAULT_RULES) == 9


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
