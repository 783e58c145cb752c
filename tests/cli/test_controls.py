"""``tracelake controls list|run|explain`` on a small hand-made lake (docs/controls.md)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import orjson
import pytest

from tests.queries.controls.helpers import RunBuilder, write
from tracelake.cli.main import main
from tracelake.queries.controls.library import load_library, use_library


@pytest.fixture(autouse=True)
def _default_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACELAKE_CONTROLS_CONFIG_FILE", raising=False)
    use_library(None)


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    bad = RunBuilder("self-approved")
    bad.start()
    bad.gate("yellow")
    bad.approve("executor")
    bad.mutate(key="refund:bad")  # keys of their own: a key shared across runs fails idempotency_single_success
    bad.finish()
    good = RunBuilder("clean")
    good.start()
    good.gate("yellow")
    good.approve("team-lead")
    good.mutate(key="refund:good")
    good.finish()
    return write(tmp_path, bad, good)


def _json(capsys: pytest.CaptureFixture[str], args: list[str]) -> tuple[int, object, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, orjson.loads(out) if out.strip() else None, err


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, rows, _ = _json(capsys, ["controls", "list", "--format", "json"])
    assert code == 0
    assert [r["id"] for r in rows] == list(load_library().ids)  # type: ignore[union-attr]


def test_run_prints_pass_rates_and_failures(lake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, rows, err = _json(capsys, ["controls", "run", "--lake", str(lake), "--format", "json",
                                     "--where", "control_id=separation_of_duties"])
    assert code == 0 and "2 runs evaluated" in err
    assert rows == [{"control_id": "separation_of_duties", "workflow": "refund", "workflow_version": "v1",
                     "control_pass_rate": 0.5, "applicable": 2, "passed": 1, "failed": 1, "not_applicable": 0}]
    code, rows, _ = _json(capsys, ["controls", "run", "--lake", str(lake), "--failures", "--no-refresh",
                                   "--format", "json"])
    assert code == 0
    assert [(r["run_id"], r["control_id"]) for r in rows] == [("self-approved", "separation_of_duties")]  # type: ignore[index]
    with pytest.raises(SystemExit) as stopped:  # sys.exit passes through main (tracelake.cli.errors.run)
        main(["controls", "run", "--lake", str(lake), "--fail-on-fail", "--format", "json"])
    assert stopped.value.code == 1
    capsys.readouterr()
    assert main(["controls", "run", "--lake", str(lake), "--fail-on-fail", "--format", "json",
                 "--where", "workflow=other"]) == 0


def test_explain(lake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, rows, _ = _json(capsys, ["controls", "explain", "self-approved", "--lake", str(lake), "--format", "json"])
    assert code == 0
    sod = next(r for r in rows if r["control_id"] == "separation_of_duties")  # type: ignore[union-attr]
    assert sod["verdict"] == "fail" and sod["practice"].startswith("Separation of duties")
    assert {e["event_type"] for e in sod["events"]} == {"policy_decision", "approval", "tool_call"}
    assert next(e for e in sod["events"] if e["event_type"] == "approval")["approver"] == "executor"


@pytest.mark.parametrize(("args", "message"), [
    (["controls", "explain", "nope"], "no run 'nope'"),
    (["controls", "explain", "clean", "--tenant", "globex"], "no run 'clean' for tenant 'globex'"),
    (["controls", "run", "--where", "colour=red"], "cannot filter on 'colour'"),
    (["controls", "run", "--since", "yesterday"], "--since:"),
])
def test_bad_input_is_one_line(lake: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                               message: str) -> None:
    assert main([*args, "--lake", str(lake)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_a_bad_controls_file_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "controls.toml"
    config.write_text("[approval_slo_ms]\nyellow = -5\n")
    monkeypatch.setenv("TRACELAKE_CONTROLS_CONFIG_FILE", str(config))
    assert main(["controls", "list"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "approval_slo_ms.yellow" in err[0] and str(config) in err[0]


def test_sql_sees_the_configured_controls(lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """`tracelake sql` runs in a worker process: it reads control_results with the configured thresholds."""
    config = tmp_path / "controls.toml"
    config.write_text("[approval_slo_ms]\nyellow = 1\n")  # every approval (1 s waits) is now too slow
    monkeypatch.setenv("TRACELAKE_CONTROLS_CONFIG_FILE", str(config))
    sql = "SELECT count(*) AS n FROM control_results WHERE control_id = 'approval_wait_slo' AND verdict = 'fail'"
    code, rows, _ = _json(capsys, ["sql", sql, "--lake", str(lake), "--format", "json"])
    assert code == 0 and rows == [{"n": 2}]


def test_budgets(lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 capsys: pytest.CaptureFixture[str]) -> None:
    extra = RunBuilder("spender", start=lake_start())
    extra.start()
    extra.add("llm_call", model="m", cost_usd=12.5)
    extra.finish()
    (tmp_path / "spend").mkdir()
    write(tmp_path / "spend", extra)
    config = tmp_path / "controls.toml"
    config.write_text("[budgets.daily_usd_by_workflow]\nrefund = 10\n")
    monkeypatch.setenv("TRACELAKE_CONTROLS_CONFIG_FILE", str(config))
    code, rows, _ = _json(capsys, ["controls", "budgets", "--lake", str(tmp_path / "spend" / "lake"),
                                   "--format", "json"])
    assert code == 0
    assert rows == [{"day": "2026-11-24", "scope": "workflow", "name": "refund", "spend_usd": 12.5,
                     "budget_usd": 10.0, "over_budget": True}]
    with pytest.raises(SystemExit) as stopped:
        main(["controls", "budgets", "--lake", str(tmp_path / "spend" / "lake"), "--fail-on-over"])
    assert stopped.value.code == 1


def lake_start() -> datetime:
    from tests.queries.controls.helpers import T0

    return T0
