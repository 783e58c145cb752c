"""Alerts and canary verdicts that set workflow flags when the rules file's ``[flags]`` section says so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tracelake.queries.alerts.rules import RulesError, load_rules
from tracelake.queries.alerts.runner import run_once
from tracelake.queries.flags import FlagTable
from tracelake.queries.flags_auto import FlagAutomation, apply_canary, load_flag_automation
from tracelake.queries.timewin import parse_time

from .conftest import ingest, runs_of

NOW = parse_time("2026-11-24T00:00:00Z")
RULES = """
[rules.success_rate_drop]
group_by = ["tenant", "workflow"]

[flags]
canary_rollback = "pin_version"
[flags.rules.success_rate_drop]
action = "throttle"
rate = 0.25
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    return path


def test_the_section_is_read_and_checked(tmp_path: Path) -> None:
    automation = load_flag_automation(write(tmp_path, RULES))
    assert automation.canary_rollback == "pin_version" and automation.rules["success_rate_drop"].rate == 0.25
    assert load_rules(write(tmp_path, RULES))  # the drift rules still load with the section there
    assert not load_flag_automation(None).enabled
    assert not load_flag_automation(write(tmp_path, "[rules.success_rate_drop]\nmin_delta = 0.1\n")).enabled


@pytest.mark.parametrize(("text", "words"), [
    ("[flags.rules.success_rate_drop]\naction = \"pause\"\n", "group_by"),
    ("[flags.rules.nope]\naction = \"pause\"\n", "no enabled drift rule"),
    ("[flags]\ncanary_rollback = \"explode\"\n", "canary_rollback"),
    ("[flags.rules.success_rate_drop]\naction = \"throttle\"\n", "rate"),
    ("[flags]\nunknown = 1\n", "unknown"),
])
def test_a_bad_section_is_one_line(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(RulesError) as caught:
        load_flag_automation(write(tmp_path, text))
    assert "\n" not in str(caught.value) and words in str(caught.value) and "rules.toml" in str(caught.value)


def verdict(verdict: str, by: str = "workflow_version") -> dict[str, Any]:
    return {"workflow": "refund", "baseline": "v3", "candidate": "v4", "by": by, "verdict": verdict,
            "tests": [{"rule": "success_rate_drop", "status": "fired" if verdict == "rollback" else "ok"}]}


def test_a_rollback_verdict_pins_the_baseline_once(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    automation = FlagAutomation(canary_rollback="pin_version")
    assert apply_canary(lake, automation, verdict("promote"), tenant="acme") is None
    assert apply_canary(lake, automation, verdict("rollback"), tenant=None) is None  # flags are per tenant
    change = apply_canary(lake, automation, verdict("rollback"), tenant="acme")
    assert change is not None
    assert (change.flag.action, change.flag.version, change.flag.who) == ("pin_version", "v3", "alert:canary")
    assert "success_rate_drop" in (change.flag.reason or "") and change.previous.action == "allow"
    assert apply_canary(lake, automation, verdict("rollback"), tenant="acme") is None  # already pinned
    assert FlagTable(lake).get("acme", "refund").version == "v3"
    assert FlagTable(lake).get("globex", "refund").action == "allow"
    by_release = apply_canary(lake, automation, verdict("rollback", by="release"), tenant="globex")
    assert by_release is not None and by_release.flag.action == "pause"  # a release names no version to pin
    assert apply_canary(lake, FlagAutomation(), verdict("rollback"), tenant="acme") is None  # not configured


def test_an_alert_of_a_named_rule_sets_its_flag(tmp_path: Path) -> None:
    events: list[dict[str, Any]] = []
    for day in [f"2026-11-{d:02d}" for d in range(16, 23)]:
        events += runs_of("refund", "v1", day, 20, successes=18)
    events += runs_of("refund", "v1", "2026-11-23", 100, successes=60)
    lake = tmp_path / "lake"
    ingest(lake, [orjson.dumps(e) for e in events], tmp_path)
    path = write(tmp_path, RULES)
    rules, automation = load_rules(path), load_flag_automation(path)
    report = run_once(lake, rules, NOW, flags=automation)
    assert [(c.flag.tenant, c.flag.workflow, c.flag.action, c.flag.rate, c.flag.who) for c in report.flag_changes] \
        == [("acme", "refund", "throttle", 0.25, "alert:success_rate_drop")]
    again = run_once(lake, rules, NOW, flags=automation)
    assert again.raised == 1 and again.flag_changes == []  # the alert is stored already: nothing new to act on
    assert run_once(lake, rules, NOW).flag_changes == []
    history = FlagTable(lake).history("acme", "refund")
    assert len(history) == 1 and "0.9" in (history[0].flag.reason or "")
