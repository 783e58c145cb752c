"""Retention by risk class: the policy file, the plan, the apply (runs kept or deleted whole, by their highest
tier; events without a run by their own rule; dead letters by theirs), the rollup, the vacuum grace, the
governance log; concurrent appends during an apply; an S3 lake."""

from __future__ import annotations

import itertools
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tests.helpers import file_rows
from tracelake.governance.log import read_entries
from tracelake.governance.retention_apply import apply_retention
from tracelake.governance.retention_plan import plan_retention
from tracelake.governance.retention_policy import PolicyError, load_policy
from tracelake.lake.lake import Lake
from tracelake.lake.tables import DEAD_LETTERS, EVENTS
from tracelake.queries.rollup import compute_runs, read_runs, refresh_runs

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
HORIZON = timedelta(days=120)

POLICY = """
default_days = 365

[dead_letters]
keep_days = 14

[[rule]]
risk_tier = "red"
keep_days = 2555

[[rule]]
risk_tier = "green"
keep_days = 30

[[rule]]
environment = "!production"
keep_days = 7
"""

_ids = itertools.count(1)


def event(run_id: str | None, ts: str, event_type: str = "custom", *, tier: str | None = None,
          environment: str = "production", **fields: Any) -> dict[str, Any]:
    when = datetime.fromisoformat(ts).astimezone(UTC)
    row = {"event_id": f"e{next(_ids):05d}", "schema_version": "1", "event_type": event_type, "ts": when,
           "run_id": run_id, "workflow": "refund", "tenant": "acme", "environment": environment,
           "ingested_at": when, "source": "test", "event_date": when.date().isoformat()}
    if tier is not None:
        row.update(event_type="policy_decision", action="refund", risk_tier=tier, decision="allow")
    row.update(fields)
    return row


def run(run_id: str, *days: str, tier: str | None = None, environment: str = "production") -> list[dict[str, Any]]:
    """A run with one event per day given (the first one carries the tier, when given), finished on the last."""
    out = [event(run_id, f"{days[0]}T10:00:00+00:00", "run_started", environment=environment)]
    if tier is not None:
        out.append(event(run_id, f"{days[0]}T10:00:01+00:00", tier=tier, environment=environment))
    for day in days[1:]:
        out.append(event(run_id, f"{day}T00:30:00+00:00", environment=environment))
    out.append(event(run_id, f"{days[-1]}T11:00:00+00:00", "run_finished", environment=environment,
                     outcome="success"))
    return out


def lake_events() -> list[dict[str, Any]]:
    return [
        *run("red-old", "2026-09-01", tier="red"),          # red: seven years, kept
        *run("mixed-old", "2026-09-01", tier="green"),      # green and red: its highest tier (red) keeps it
        *[event("mixed-old", "2026-09-01T10:00:02+00:00", tier="red")],
        *run("green-old", "2026-09-01", tier="green"),      # green, 87 days: expires
        *run("green-new", "2026-11-20", tier="green"),      # green, 7 days: kept
        *run("span", "2026-10-01", "2026-10-02", tier="green"),  # expires whole, in both partitions
        *run("keep-oct", "2026-10-01", tier="red"),        # shares 2026-10-01 with span: a rewrite
        *run("staging", "2026-11-10", environment="staging"),     # non-production, 17 days: expires
        *run("staging-red", "2026-11-10", tier="red", environment="staging"),  # tie 2555 vs 7: kept
        *run("late", "2026-09-01", "2026-11-26", tier="green"),  # a late event: last event 1 day old, kept
        *run("confirmed", "2026-09-01", tier="green"),      # a late confirmation (no run fact) 2 days old: kept
        event("confirmed", "2026-11-25T10:00:00+00:00", "outcome_confirmed"),
        event("only-confirmation", "2026-09-02T10:00:00+00:00", "outcome_confirmed"),  # no rule: default 365
        event("old-confirmation", "2025-09-02T10:00:00+00:00", "outcome_confirmed"),  # 451 days: expires
        event(None, "2025-01-01T10:00:00+00:00"),          # no run, 695 days: default 365, expires
        event(None, "2026-11-01T10:00:00+00:00"),          # no run, 26 days: kept
    ]


def dead_letters() -> list[dict[str, Any]]:
    out = []
    for offset, ts in enumerate(("2026-11-01T10:00:00+00:00", "2026-11-25T10:00:00+00:00")):
        when = datetime.fromisoformat(ts)
        out.append({"received_at": when, "source": "kafka", "reason": "invalid", "payload": "{}",
                    "kafka_topic": "t", "kafka_partition": 0, "kafka_offset": offset,
                    "event_date": when.date().isoformat()})
    return out


def build(lake: Lake) -> None:
    lake.writer(EVENTS).write(EVENTS.to_arrow(lake_events()), "seed")
    lake.writer(DEAD_LETTERS).write(DEAD_LETTERS.to_arrow(dead_letters()), "seed-dl")
    refresh_runs(lake)


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "retention.toml"
    path.write_text(POLICY)
    return path


def strip(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Plan rows without what only an apply knows (the version committed, the attempts)."""
    return [{k: v for k, v in row.items() if k not in ("version", "attempts")} for row in rows]


def run_ids(lake: Lake) -> set[str | None]:
    return set(file_rows(lake, "events", "run_id"))


def test_policy_file_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rule]]\nrisk_tier = "purple"\nkeep_days = 3\n')
    with pytest.raises(PolicyError, match="risk tier 'purple'") as caught:
        load_policy(bad)
    assert "\n" not in str(caught.value)
    bad.write_text('[[rule]]\nkeep_days = 3\nenviroment = "x"\n')
    with pytest.raises(PolicyError, match="enviroment"):
        load_policy(bad)
    bad.write_text('[[rule]]\nkeep_days = -1\n')
    with pytest.raises(PolicyError, match="keep_days"):
        load_policy(bad)
    with pytest.raises(PolicyError):
        load_policy(tmp_path / "missing.toml")


def test_most_specific_rule_wins_and_ties_keep_longest(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[[rule]]\nkeep_days = 5\n[[rule]]\nrisk_tier = "red"\nkeep_days = 1\n'
                    '[[rule]]\nrisk_tier = "red"\nworkflow = ["refund", "access"]\nkeep_days = 9\n'
                    '[[rule]]\nworkflow = "refund"\nkeep_days = 3\n')
    policy = load_policy(path)
    assert [r.keep_days for r in policy.ordered] == [9, 3, 1, 5]
    assert policy.digest == load_policy(path).digest


def test_plan_shows_what_apply_deletes_and_apply_deletes_runs_whole(tmp_path: Path, policy_file: Path) -> None:
    lake = Lake.at(tmp_path / "lake")
    build(lake)
    policy = load_policy(policy_file)
    before = run_ids(lake)

    plan = plan_retention(lake, policy, NOW)
    assert plan.expired_runs == 4  # green-old, span, staging, old-confirmation
    by_partition = {(r["table"], r["partition"]): r for r in plan.rows()}
    assert by_partition[("events", "2026-10-02")]["action"] == "drop"
    assert by_partition[("events", "2026-10-01")]["action"] == "rewrite"
    assert by_partition[("events", "2026-10-01")]["removed_runs"] == 1
    assert by_partition[("events", "2025-01-01")]["action"] == "drop"
    assert ("events", "2026-11-20") not in by_partition
    assert by_partition[("dead_letters", "2026-11-01")]["action"] == "drop"
    assert run_ids(lake) == before  # a plan writes nothing

    # the run "late" spans 86 days: the rollup's refresh must look that far (Settings.run_max_duration_h)
    result = apply_retention(lake, policy, NOW, vacuum_grace_h=0, run_horizon=HORIZON)
    assert strip(result.plan.rows()) == strip(plan.rows())
    left = run_ids(lake)
    assert left == before - {"green-old", "span", "staging", "old-confirmation"}
    assert None in left  # the recent event without a run stays
    # the run tables: no row of an expired run, and the rollup equals the runs computed from the events
    stored_runs = {r for r in read_runs(lake).column("run_id").to_pylist()}
    assert stored_runs == {r for r in left if r is not None} - {"only-confirmation"}  # confirmations: no run row
    assert read_runs(lake).to_pylist() == compute_runs(lake).to_pylist()
    assert [d.isoformat() for d in file_rows(lake, "dead_letters", "received_at")] == ["2026-11-25T10:00:00+00:00"]
    # vacuum with no grace: the dropped partition's files are gone from disk
    assert not list((tmp_path / "lake" / "events" / "event_date=2026-10-02").glob("*.parquet"))

    entries = read_entries(lake)
    assert len(entries) == 1 and entries[0].action == "retention"
    assert entries[0].policy_digest == policy.digest
    assert entries[0].detail["expired_runs"] == 4
    assert entries[0].detail["totals"]["events"]["runs"] >= 4

    again = apply_retention(lake, policy, NOW, vacuum_grace_h=0)
    assert again.plan.rows() == [] and again.plan.expired_runs == 0
    assert len(read_entries(lake)) == 2  # every application is logged, even one that removes nothing


def test_files_stay_for_the_grace_period(tmp_path: Path, policy_file: Path) -> None:
    lake = Lake.at(tmp_path / "lake")
    build(lake)
    apply_retention(lake, load_policy(policy_file), NOW, vacuum_grace_h=24)
    # removed from the table, still on disk for readers of an older snapshot
    assert "span" not in run_ids(lake)
    assert list((tmp_path / "lake" / "events" / "event_date=2026-10-02").glob("*.parquet"))


def test_concurrent_appends_survive_an_apply(tmp_path: Path, policy_file: Path) -> None:
    lake = Lake.at(tmp_path / "lake")
    build(lake)
    start = threading.Event()
    appended: list[str] = []
    errors: list[BaseException] = []

    def append() -> None:
        writer = lake.writer(EVENTS)
        start.wait(30)
        try:
            for n in range(12):  # bounded: into the partition the apply rewrites, and into today's
                day = "2026-10-01" if n % 2 else "2026-11-27"
                rows = [event(f"new-{n}", f"{day}T09:00:00+00:00", "run_started")]
                writer.write(EVENTS.to_arrow(rows), f"concurrent-{n}")
                appended.append(f"new-{n}")
        except Exception as exc:  # noqa: BLE001 - reported below (a thread cannot raise into the test)
            errors.append(exc)

    thread = threading.Thread(target=append)
    thread.start()
    start.set()
    result = apply_retention(lake, load_policy(policy_file), NOW, vacuum_grace_h=0)
    thread.join(120)
    assert not thread.is_alive() and not errors
    left = run_ids(lake)
    assert set(appended) <= left and len(appended) == 12  # no concurrent append lost
    assert not left & {"green-old", "span", "staging", "old-confirmation"}
    assert result.log_entry is not None


@pytest.mark.s3
def test_retention_on_s3(s3_server: Any, policy_file: Path) -> None:
    bucket = f"lake-{uuid.uuid4().hex[:10]}"
    s3_server.create_bucket(bucket)
    lake = Lake.at(f"s3://{bucket}/prod/lake", s3_server.env())
    build(lake)
    before = run_ids(lake)
    result = apply_retention(lake, load_policy(policy_file), NOW, vacuum_grace_h=0, run_horizon=HORIZON)
    assert result.plan.expired_runs == 4
    assert run_ids(lake) == before - {"green-old", "span", "staging", "old-confirmation"}
    assert read_runs(lake).to_pylist() == compute_runs(lake).to_pylist()
    assert [e.action for e in read_entries(lake)] == ["retention"]


def test_without_a_rule_nothing_expires(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path / "lake")
    build(lake)
    path = tmp_path / "empty.toml"
    path.write_text("")
    plan = plan_retention(lake, load_policy(path), NOW + timedelta(days=10_000))
    assert plan.expired_runs == 0 and plan.rows() == []
    assert isinstance(pa.table({"a": [1]}), pa.Table)


def test_a_sealed_application_keeps_the_chain_clean(tmp_path: Path, policy_file: Path) -> None:
    from tracelake.governance.seal import seal_lake
    from tracelake.governance.signing import generate
    from tracelake.governance.verify import verify_lake

    key = generate(tmp_path / "chain.pem")
    lake = Lake.at(tmp_path / "lake")
    build(lake)
    seal_lake(lake, key)
    apply_retention(lake, load_policy(policy_file), NOW, vacuum_grace_h=0, after_commit=lambda: seal_lake(lake, key))
    report = verify_lake(lake)
    assert report.status == "clean", [f for f in report.findings if f.severity != "info"]


def test_an_append_racing_a_rewrite_is_kept_and_the_partition_retried(tmp_path: Path, policy_file: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Deterministic race: an append lands in the partition between the rewrite's read and its commit."""
    from tracelake.governance import retention_partitions

    lake = Lake.at(tmp_path / "lake")
    build(lake)
    original = retention_partitions._rewritten
    raced: list[str] = []

    def racing(con: Any, step: Any, files: Any) -> pa.Table:
        rows = original(con, step, files)
        if step.table is EVENTS and not raced:
            raced.append("racer")
            lake.writer(EVENTS).write(EVENTS.to_arrow([event("racer", files[0].day.isoformat() + "T09:00:00+00:00",
                                                             "run_started")]), "race")
        return rows

    monkeypatch.setattr(retention_partitions, "_rewritten", racing)
    result = apply_retention(lake, load_policy(policy_file), NOW, vacuum_grace_h=0, run_horizon=HORIZON)
    assert raced and "racer" in run_ids(lake)
    rewritten = [p for p in result.plan.steps[0].partitions if p.action == "rewrite"]
    assert max(p.attempts or 0 for p in rewritten) == 2  # the raced partition committed on its second attempt
    assert not run_ids(lake) & {"green-old", "span", "staging", "old-confirmation"}
