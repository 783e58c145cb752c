"""``tracelake retention plan|apply`` and ``tracelake erase`` on a small lake: JSON out, one-line errors, exit 2
for bad input, the governance log written by apply and erase (not by plan or a dry run); the scheduler's
retention job."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.governance.test_erase import EMAIL, KEY
from tests.governance.test_erase import build as build_erase_lake
from tests.governance.test_retention import POLICY
from tests.governance.test_retention import build as build_retention_lake
from tests.helpers import wait_until
from tracelake.cli.main import main
from tracelake.governance.log import read_entries
from tracelake.lake.lake import Lake


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main([*args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "retention.toml"
    path.write_text(POLICY)
    return path


def test_retention_plan_then_apply(tmp_path: Path, policy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "lake"
    build_retention_lake(Lake.at(root))
    code, out, err = run(capsys, "retention", "plan", "--lake", str(root), "--policy", str(policy), "--format", "json")
    assert code == 0, err
    rows = orjson.loads(out)
    assert {r["table"] for r in rows} >= {"events", "dead_letters"}
    assert "expired runs" in err
    assert read_entries(root) == []

    code, out, err = run(capsys, "retention", "apply", "--lake", str(root), "--policy", str(policy),
                         "--grace-hours", "0", "--format", "json")
    assert code == 0, err
    assert [(r["table"], r["partition"], r["action"]) for r in orjson.loads(out)] == \
        [(r["table"], r["partition"], r["action"]) for r in rows]
    assert [e.action for e in read_entries(root)] == ["retention"]


def test_retention_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACELAKE_RETENTION_POLICY_FILE", raising=False)
    code, _, err = run(capsys, "retention", "plan", "--lake", str(tmp_path / "lake"))
    assert code == 2 and "no retention policy" in err and err.count("\n") == 1
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rule]]\nkeep_days = "soon"\n')
    code, _, err = run(capsys, "retention", "apply", "--lake", str(tmp_path / "lake"), "--policy", str(bad))
    assert code == 2 and "bad.toml" in err and "keep_days" in err and "Traceback" not in err


def test_erase_dry_run_then_erase(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACELAKE_PSEUDONYM_KEY", KEY.decode())
    root = tmp_path / "lake"
    build_erase_lake(Lake.at(root))
    code, out, err = run(capsys, "erase", "--lake", str(root), "--email", EMAIL, "--dry-run", "--format", "json")
    assert code == 0, err
    summary = orjson.loads(out)
    assert summary["dry_run"] and {r["run_id"] for r in summary["runs"]} == {"r1", EMAIL}
    assert read_entries(root) == []

    code, out, err = run(capsys, "erase", "--lake", str(root), "--email", EMAIL, "--vacuum", "--format", "json")
    assert code == 0, err
    summary = orjson.loads(out)
    assert summary["totals"]["events"]["rows"] >= 3 and summary["purged"]
    assert "time travel" in err
    entries = read_entries(root)
    assert [e.action for e in entries] == ["erase"]
    assert EMAIL.lower() not in orjson.dumps(entries[0].__dict__, default=str).decode().lower()


def test_erase_needs_a_person(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "erase", "--lake", str(tmp_path / "lake"))
    assert code == 2 and "name the person" in err


def _scheduled_entries(start: Any, config: Any, lake: Lake) -> list[Any]:
    """Start a scheduler job with ``start`` (none without a cron), on a cron that ticks every second; stop it
    once the governance log shows an entry; return the log's entries."""
    stop = threading.Event()
    assert start(config, lake, None, stop) is None  # no cron: no job
    thread = start(config, lake, "* * * * * *", stop)
    assert thread is not None
    assert wait_until(lambda: bool(read_entries(lake)), timeout=60, interval=0.2)
    stop.set()
    thread.join(60)
    return read_entries(lake)


def test_the_scheduler_applies_retention_on_its_cron(tmp_path: Path, policy: Path) -> None:
    from tracelake.cli.governance_commands import start_retention_schedule
    from tracelake.settings import Settings

    root = tmp_path / "lake"
    lake = Lake.at(root)
    build_retention_lake(lake)
    config = Settings(lake=root, retention_policy_file=policy, retention_vacuum_grace_h=0)
    entries = _scheduled_entries(start_retention_schedule, config, lake)
    assert entries and entries[0].action == "retention" and entries[0].actor == "scheduler"


def test_the_scheduler_verifies_on_its_cron_into_the_governance_log(tmp_path: Path) -> None:
    from tests.governance.test_chain import rows
    from tracelake.cli.governance_commands import start_verify_schedule
    from tracelake.governance.seal import seal_lake
    from tracelake.governance.signing import generate
    from tracelake.settings import Settings

    root = tmp_path / "lake"
    lake = Lake.at(root)
    lake.writer("events").write(rows(["a", "b"]), "b1")
    key_file = tmp_path / "keys" / "chain.pem"
    head = seal_lake(lake, generate(key_file)).head
    config = Settings(lake=root, chain_key_file=key_file)
    entry = _scheduled_entries(start_verify_schedule, config, lake)[-1]
    assert (entry.action, entry.actor) == ("verify", "scheduler")
    assert entry.detail["status"] == "clean" and entry.detail["head"] == head
