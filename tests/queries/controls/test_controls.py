"""Each control of the library on hand-made runs that pass, fail and do not apply (docs/controls.md).

Every run is written through the real ingest path; the verdicts are evaluated from scratch
(``compute_results``) and, for one lake, also read through a connection's ``control_results`` view.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.queries.controls.helpers import T0, RunBuilder, verdicts, write
from tracelake.queries.controls.library import load_library
from tracelake.queries.controls.report import explain
from tracelake.queries.engine import open_lake


def _plain(run_id: str, **kw: object) -> RunBuilder:
    """A run with no gate, no mutation, no approval: nothing any control looks at (with a read-only call)."""
    run = RunBuilder(run_id, **kw)  # type: ignore[arg-type]
    run.start()
    run.add("tool_call", tool_name="orders.get", mutating=False, success=True, schema_valid=True)
    run.finish()
    return run


def test_separation_of_duties(tmp_path: Path) -> None:
    ok = RunBuilder("ok")
    ok.start()
    gate = ok.gate("yellow")
    approval = ok.approve("team-lead-payments")
    call = ok.mutate()
    ok.finish()
    self_approved = RunBuilder("self")
    self_approved.start()
    self_approved.gate("yellow")
    own = self_approved.approve("executor")  # the agent that makes the call approves it
    own_call = self_approved.mutate()
    self_approved.finish()
    late = RunBuilder("late")
    late.start()
    late.gate("yellow")
    early_call = late.mutate()
    late.approve("team-lead-payments")  # after the action
    late.finish()
    initiator = RunBuilder("initiator")
    initiator.start(agent="planner")
    initiator.gate("yellow")
    initiator.approve("planner")  # the agent that started the run
    initiator.mutate()
    initiator.finish()
    green = RunBuilder("green")
    green.start()
    green.gate("green")
    green.mutate()
    green.finish()
    got = verdicts(write(tmp_path, ok, self_approved, late, initiator, green, _plain("plain")))
    assert got[("ok", "separation_of_duties")] == ("pass", sorted([gate, approval, call]))
    assert got[("self", "separation_of_duties")][0] == "fail"
    assert {own, own_call} <= set(got[("self", "separation_of_duties")][1])
    assert got[("late", "separation_of_duties")][0] == "fail"
    assert early_call in got[("late", "separation_of_duties")][1]
    assert got[("initiator", "separation_of_duties")][0] == "fail"
    assert got[("green", "separation_of_duties")] == ("not_applicable", [])
    assert got[("plain", "separation_of_duties")] == ("not_applicable", [])


def test_red_tier_needs_a_human_and_an_approval(tmp_path: Path) -> None:
    ok = RunBuilder("ok")
    started = ok.start(initiator="human")
    gate = ok.gate("red")
    approval = ok.approve("risk-officer", wait_ms=60_000)
    call = ok.mutate()
    ok.finish()
    system = RunBuilder("system")
    system.start(initiator="system")
    system.gate("red")
    system.approve("risk-officer")
    system.mutate()
    system.finish()
    unapproved = RunBuilder("unapproved")
    unapproved.start(initiator="human")
    unapproved.gate("red")
    unapproved.mutate()
    unapproved.finish()
    blocked = RunBuilder("blocked")  # red and blocked: no mutation happened
    blocked.start(initiator="system")
    blocked.add("policy_decision", action="issue_refund", risk_tier="red", decision="block")
    blocked.add("escalation", reason="policy_block")
    blocked.finish("escalated")
    got = verdicts(write(tmp_path, ok, system, unapproved, blocked))
    assert got[("ok", "red_tier_human")] == ("pass", sorted([started, gate, approval, call]))
    assert got[("system", "red_tier_human")][0] == "fail"
    assert got[("unapproved", "red_tier_human")][0] == "fail"
    assert got[("blocked", "red_tier_human")] == ("not_applicable", [])


def test_idempotency_key_present(tmp_path: Path) -> None:
    ok = RunBuilder("ok")
    ok.start()
    call = ok.mutate(key="refund:ok")
    ok.finish()
    keyless = RunBuilder("keyless")
    keyless.start()
    bare = keyless.mutate(key=None)
    keyless.mutate(key="refund:keyless")
    keyless.finish()
    got = verdicts(write(tmp_path, ok, keyless, _plain("plain")))
    assert got[("ok", "idempotency_key_present")] == ("pass", [call])
    assert got[("keyless", "idempotency_key_present")] == ("fail", [bare])
    assert got[("plain", "idempotency_key_present")] == ("not_applicable", [])


def test_no_key_succeeds_twice(tmp_path: Path) -> None:
    ok = RunBuilder("ok")
    ok.start()
    first = ok.mutate(key="k", success=False, status="error")
    second = ok.mutate(key="k", success=True)
    ok.finish()
    double = RunBuilder("double")  # a double refund under one key
    double.start()
    one = double.mutate(key="refund:double")
    two = double.mutate(key="refund:double")
    double.mutate(key="other")
    double.finish()
    got = verdicts(write(tmp_path, ok, double, _plain("plain")))
    assert got[("ok", "idempotency_single_success")] == ("pass", sorted([first, second]))
    assert got[("double", "idempotency_single_success")] == ("fail", sorted([one, two]))
    assert got[("plain", "idempotency_single_success")] == ("not_applicable", [])


def test_no_key_succeeds_twice_across_runs(tmp_path: Path) -> None:
    """A key that succeeded in an earlier run of the tenant fails the later run (within the key horizon); the
    first success passes; failures, read calls, other tenants and keys past the horizon do not count."""
    first = RunBuilder("first")
    first.start()
    refund = first.mutate(key="refund:42")
    first.finish()
    again = RunBuilder("again", start=T0 + timedelta(hours=1))  # a double refund: a second run, the same key
    again.start()
    twice = again.mutate(key="refund:42")
    again.finish()
    globex = RunBuilder("globex", tenant="globex", start=T0 + timedelta(hours=2))
    globex.start()
    globex.mutate(key="refund:42")  # another tenant's key space
    globex.finish()
    late = RunBuilder("late", start=T0 + timedelta(hours=1 + 73))  # past the 72 h horizon of `again`'s success
    late.start()
    late.mutate(key="refund:42")
    late.finish()
    tried = RunBuilder("tried")
    tried.start()
    tried.mutate(key="refund:7", success=False, status="error")
    tried.add("tool_call", tool_name="payments.get", mutating=False, success=True, idempotency_key="refund:8")
    tried.finish()
    retried = RunBuilder("retried", start=T0 + timedelta(minutes=30))  # the earlier attempts did not succeed
    retried.start()
    seven = retried.mutate(key="refund:7")
    eight = retried.mutate(key="refund:8")
    retried.finish()
    lake = write(tmp_path, first, again, globex, late, tried, retried)
    got = verdicts(lake)
    control = "idempotency_single_success"
    assert got[("first", control)] == ("pass", [refund])
    assert got[("again", control)] == ("fail", sorted([twice, refund]))  # the call and the earlier success
    assert got[("globex", control)][0] == "pass"
    assert got[("late", control)][0] == "pass"
    assert got[("retried", control)] == ("pass", sorted([seven, eight]))
    # A longer horizon reaches `late` back to the first success (the evidence names the earliest one).
    config = tmp_path / "controls.toml"
    config.write_text("[idempotency]\nkey_horizon_h = 96\n")
    assert verdicts(lake, load_library(config))[("late", control)] == (
        "fail", sorted([late.events[1]["event_id"], refund]))
    # One run's verdicts (timeline, explain) name the other run's event too.
    with open_lake(lake, tenant="acme") as con:
        explained = next(r for r in explain(con, "again") if r["control_id"] == control)
    assert explained["verdict"] == "fail"
    assert {(e["run_id"], e["event_id"]) for e in explained["events"]} == {("again", twice), ("first", refund)}


def test_a_retry_chain_succeeds_once(tmp_path: Path) -> None:
    ok = RunBuilder("ok")
    ok.start()
    failed = ok.mutate(key="a", success=False, status="error", event_id="ok-a")
    retried = ok.mutate(key="b", success=True, retry_of=failed)
    ok.finish()
    twice = RunBuilder("twice")
    twice.start()
    root = twice.mutate(key="a", success=True, event_id="tw-a")
    middle = twice.mutate(key="b", success=False, retry_of=root, event_id="tw-b")
    last = twice.mutate(key="c", success=True, retry_of=middle)
    twice.finish()
    single = RunBuilder("single")  # calls, no retry
    single.start()
    single.mutate(key="x")
    single.finish()
    got = verdicts(write(tmp_path, ok, twice, single))
    assert got[("ok", "retry_chain_single_success")] == ("pass", sorted([failed, retried]))
    assert got[("twice", "retry_chain_single_success")] == ("fail", sorted([root, last]))
    assert got[("single", "retry_chain_single_success")] == ("not_applicable", [])


def test_fail_closed(tmp_path: Path) -> None:
    ok = RunBuilder("ok")
    ok.start()
    bad = ok.mutate(schema_valid=False, success=False, status="error", duration_ms=20.0)
    fallback = ok.add("fallback", step=5, reason="invalid_args", trigger_event_id=bad)
    ok.finish("fallback")
    succeeded = RunBuilder("succeeded")  # invalid arguments, and it went through
    succeeded.start()
    succeeded.mutate(schema_valid=False, success=True)
    succeeded.add("escalation", step=2, reason="invalid_tool_args")
    succeeded.finish("escalated")
    slow = RunBuilder("slow")  # the safe state comes after the window (default 120 s)
    slow.start()
    slow_call = slow.mutate(schema_valid=False, success=False)
    slow.add("fallback", step=300, reason="invalid_args")
    slow.finish("fallback")
    none = RunBuilder("none")
    none.start()
    none.mutate(schema_valid=False, success=False)
    none.finish("failure")
    valid = RunBuilder("valid")
    valid.start()
    valid.mutate()
    valid.finish()
    lake = write(tmp_path, ok, succeeded, slow, none, valid)
    got = verdicts(lake)
    assert got[("ok", "fail_closed")] == ("pass", sorted([bad, fallback]))
    assert got[("succeeded", "fail_closed")][0] == "fail"
    assert got[("slow", "fail_closed")] == ("fail", [slow_call])
    assert got[("none", "fail_closed")][0] == "fail"
    assert got[("valid", "fail_closed")] == ("not_applicable", [])
    config = tmp_path / "controls.toml"
    config.write_text("[fail_closed]\nfallback_window_s = 600\n")
    assert verdicts(lake, load_library(config))[("slow", "fail_closed")][0] == "pass"  # a wider window


def test_budget_halt(tmp_path: Path) -> None:
    cheap = RunBuilder("cheap")
    cheap.start()
    cheap.add("llm_call", model="m", cost_usd=0.01)
    cheap.finish()
    over = RunBuilder("over")  # over the configured budget, no budget_exceeded
    over.start()
    spent = over.add("llm_call", model="m", cost_usd=0.10)
    over.finish()
    halted = RunBuilder("halted")
    halted.start()
    halted.add("llm_call", model="m", cost_usd=0.10)
    stop = halted.add("budget_exceeded", budget="cost", limit=0.05, used=0.10)
    halted.finish("halted")
    ignored = RunBuilder("ignored")  # budget_exceeded, and it carried on
    ignored.start()
    ignored.add("budget_exceeded", budget="cost", limit=0.05, used=0.06)
    after = ignored.add("llm_call", model="m", cost_usd=0.01)
    ignored.finish("success")
    other = RunBuilder("other", workflow="access")  # no budget configured for it, no budget_exceeded
    other.start()
    other.add("llm_call", model="m", cost_usd=5.0)
    other.finish()
    config = tmp_path / "controls.toml"
    config.write_text("[budgets.run_cost_usd]\nrefund = 0.05\n")
    got = verdicts(write(tmp_path, cheap, over, halted, ignored, other), load_library(config))
    assert got[("cheap", "budget_halt")] == ("pass", [])
    assert got[("over", "budget_halt")][0] == "fail"
    assert got[("halted", "budget_halt")] == ("pass", [stop])
    assert got[("ignored", "budget_halt")][0] == "fail" and after in got[("ignored", "budget_halt")][1]
    assert got[("other", "budget_halt")] == ("not_applicable", [])
    assert spent  # the over-budget run's call: no budget_exceeded to point at


def test_approval_wait_slo(tmp_path: Path) -> None:
    quick = RunBuilder("quick")
    quick.start()
    gate = quick.gate("yellow")
    approval = quick.approve("lead", wait_ms=1_000)
    quick.finish()
    slow = RunBuilder("slow")
    slow.start()
    slow.gate("yellow")
    late = slow.approve("lead", wait_ms=400_000)  # yellow SLO 300 s by default
    slow.finish()
    red = RunBuilder("red")
    red.start()
    red.gate("red")
    red.approve("officer", wait_ms=400_000)  # red SLO 900 s
    red.finish()
    got = verdicts(write(tmp_path, quick, slow, red, _plain("plain")))
    assert got[("quick", "approval_wait_slo")] == ("pass", sorted([gate, approval]))
    assert got[("slow", "approval_wait_slo")][0] == "fail" and late in got[("slow", "approval_wait_slo")][1]
    assert got[("red", "approval_wait_slo")][0] == "pass"
    assert got[("plain", "approval_wait_slo")] == ("not_applicable", [])


def test_applies_to_filters_runs(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.toml"
    manifest.write_text('''
[[controls]]
id = "keys_in_staging"
version = 2
description = "d"
risk = "r"
practice = "p"
severity = "warning"
owner = "o"
sql = "idempotency_key_present.sql"
applies_to = { environment = ["staging"] }
''')
    library = load_library(manifest_file=manifest)
    prod = RunBuilder("prod")
    prod.start()
    prod.mutate(key=None)
    prod.finish()
    staging = RunBuilder("staging", environment="staging")
    staging.start()
    staging.mutate(key=None)
    staging.finish()
    got = verdicts(write(tmp_path, prod, staging), library)
    assert got == {("prod", "keys_in_staging"): ("not_applicable", []),
                   ("staging", "keys_in_staging"): ("fail", [staging.events[1]["event_id"]])}


def test_every_run_gets_every_control_through_the_view(tmp_path: Path) -> None:
    run = RunBuilder("R")
    run.start()
    run.gate("yellow")
    run.approve("executor")
    run.mutate()
    run.finish()
    lake = write(tmp_path, run, _plain("P"))
    library = load_library()
    with open_lake(lake) as con:
        rows = con.query("SELECT run_id, control_id, control_version, verdict FROM control_results "
                         "ORDER BY run_id, control_id", name="t").rows
    assert len(rows) == 2 * len(library.controls)
    assert ("R", "separation_of_duties", 1, "fail") in rows
    assert {r[3] for r in rows if r[0] == "P"} == {"not_applicable"}


@pytest.mark.parametrize("tenant", ["acme", "globex"])
def test_view_is_tenant_scoped(tmp_path: Path, tenant: str) -> None:
    lake = write(tmp_path, _plain("A", tenant="acme"), _plain("G", tenant="globex"))
    with open_lake(lake, tenant=tenant) as con:
        runs = {r[0] for r in con.query("SELECT DISTINCT run_id FROM control_results", name="t").rows}
    assert runs == {"A" if tenant == "acme" else "G"}


def test_daily_budgets(tmp_path: Path) -> None:
    from datetime import date, timedelta

    from tests.queries.controls.helpers import T0
    from tracelake.queries.controls.report import daily_budgets

    spent = []
    for n, (workflow, team, usd, day) in enumerate([("refund", "payments", 30.0, 0), ("refund", "payments", 25.0, 0),
                                                    ("refund", "payments", 10.0, 1), ("access", "it", 99.0, 0)]):
        run = RunBuilder(f"r{n}", workflow=workflow, start=T0 + timedelta(days=day))
        run.base["team"] = team
        run.start()
        run.add("llm_call", model="m", cost_usd=usd)
        run.finish()
        spent.append(run)
    config = tmp_path / "controls.toml"
    config.write_text("[budgets.daily_usd_by_workflow]\nrefund = 50\n[budgets.daily_usd_by_team]\nit = 100\n")
    with open_lake(write(tmp_path, *spent)) as con:
        rows = daily_budgets(con, library=load_library(config))
    assert [(r["day"], r["scope"], r["name"], r["spend_usd"], r["budget_usd"], r["over_budget"]) for r in rows] == [
        (date(2026, 11, 24), "team", "it", 99.0, 100.0, False),
        (date(2026, 11, 24), "workflow", "refund", 55.0, 50.0, True),
        (date(2026, 11, 25), "workflow", "refund", 10.0, 50.0, False)]
    with open_lake(tmp_path / "lake") as con:
        assert daily_budgets(con, library=load_library()) == []  # no budget configured: nothing to report
