"""The analytics subcommands as a user runs them: one JSON document on stdout, one-line errors, exit codes."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest

from tracelake.queries.metrics import compute_metric
from tracelake.queries.timewin import parse_time

from .conftest import ingest
from .test_alerts import drift_events
from .test_canary import canary_events


def tracelake(*args: str, lake: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, **({"TRACELAKE_LAKE": str(lake)} if lake else {})}
    env.pop("TRACELAKE_ALERTS_WEBHOOK_URL", None)
    return subprocess.run([sys.executable, "-m", "tracelake.cli.main", *args], capture_output=True, timeout=timeout,
                          env=env)


def one_line_error(result: subprocess.CompletedProcess[bytes], words: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stdout == b""
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in result.stderr.decode(), lines


@pytest.fixture(scope="module")
def drift_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("cli-drift")
    ingest(tmp / "lake", [orjson.dumps(e) for e in drift_events()], tmp)
    return tmp / "lake"


@pytest.fixture(scope="module")
def canary_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("cli-canary")
    ingest(tmp / "lake", [orjson.dumps(e) for e in canary_events()], tmp)
    return tmp / "lake"


def test_metrics_json_is_one_document_with_the_library_rows(golden_lake: Path) -> None:
    result = tracelake("metrics", "success_rate", "--since", "2026-11-24T00:00:00Z", "--until", "2026-11-25",
                       "--where", "workflow=refund", "--format", "json", lake=golden_lake)
    assert result.returncode == 0, result.stderr
    expected = compute_metric(golden_lake, "success_rate", since=parse_time("2026-11-24"),
                              until=parse_time("2026-11-25"), where=[("workflow", "refund")])
    assert orjson.loads(result.stdout) == expected and len(expected) == 2


def test_metrics_table_and_group_by(golden_lake: Path) -> None:
    result = tracelake("metrics", "cost_attribution", "--group-by", "team", "--format", "table", lake=golden_lake)
    assert result.returncode == 0 and result.stdout.decode().splitlines()[0].split() == ["team", "cost_usd"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["metrics", "nope"], "unknown metric 'nope'"),
        (["metrics", "success_rate", "--group-by", "model"], "cannot group by 'model'"),
        (["metrics", "success_rate", "--where", "workflow"], "must look like key=value"),
        (["metrics", "success_rate", "--since", "2026-11-24T10:00:00"], "has no UTC offset"),
        (["metrics", "success_rate", "--since", "yesterday"], "not an RFC 3339 time"),
        (["sql", "DROP VIEW events"], "refused: only read-only SELECT"),
        (["sql", "SELECT * FROM read_csv('/etc/passwd')"], "refused: table function read_csv()"),
        (["sql", "SELECT nope FROM events"], "nope"),
        (["sql", "SELECT count(*) FROM range(100000000000) t(x) WHERE x % 7 = 1", "--timeout", "0.3"],
         "exceeded its time limit of 0.3 s"),
        (["alerts", "run", "--rules", "/no/such/rules.toml"], "rules file does not exist"),
        (["alerts", "run", "--now", "noon"], "--now"),
        (["alerts", "schedule", "--cron", "every minute"], "not a cron expression"),
        (["alerts", "compare", "--workflow", "w", "--baseline", "a", "--candidate", "a"], "must differ"),
    ],
)
def test_user_errors_are_one_line_exit_2(golden_lake: Path, args: list[str], words: str) -> None:
    one_line_error(tracelake(*args, lake=golden_lake), words)


def test_sql_rows_and_truncation(golden_lake: Path) -> None:
    result = tracelake("sql", "SELECT run_id, outcome FROM runs ORDER BY run_id", "--limit", "3", "--format", "json",
                       lake=golden_lake)
    assert result.returncode == 0
    assert orjson.loads(result.stdout) == [{"run_id": "R1", "outcome": "success"},
                                           {"run_id": "R10", "outcome": "fallback"},
                                           {"run_id": "R2", "outcome": "escalated"}]
    assert b"truncated to 3 rows" in result.stderr
    scoped = tracelake("sql", "SELECT DISTINCT tenant FROM events", "--tenant", "globex", "--format", "json",
                       lake=golden_lake)
    assert orjson.loads(scoped.stdout) == [{"tenant": "globex"}]


def test_alerts_run_prints_stores_and_fails_on_alert(drift_lake: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(drift_lake, lake)
    first = tracelake("alerts", "run", "--now", "2026-11-24T00:00:00Z", "--fail-on-alert", "--format", "json",
                      lake=lake)
    assert first.returncode == 1, first.stderr
    assert sorted(a["rule"] for a in orjson.loads(first.stdout)) == ["new_error_type", "new_tool_name",
                                                                     "success_rate_drop"]
    again = tracelake("alerts", "run", "--now", "2026-11-24T00:00:00Z", "--format", "json", lake=lake)
    assert again.returncode == 0 and orjson.loads(again.stdout) == []
    assert b"3 already stored" in again.stderr
    listed = tracelake("sql", "SELECT rule FROM alerts ORDER BY rule", "--format", "json", lake=lake)
    assert [r["rule"] for r in orjson.loads(listed.stdout)] == ["new_error_type", "new_tool_name", "success_rate_drop"]


@pytest.mark.parametrize(("candidate", "code", "verdict"), [("v2", 1, "rollback"), ("v3", 0, "promote"),
                                                            ("v4", 3, "hold")])
def test_compare_exit_codes(canary_lake: Path, candidate: str, code: int, verdict: str) -> None:
    result = tracelake("alerts", "compare", "--workflow", "refund", "--baseline", "v1", "--candidate", candidate,
                       "--since", "2026-11-23T00:00:00Z", "--until", "2026-11-24T00:00:00Z", "--format", "json",
                       lake=canary_lake)
    assert result.returncode == code, result.stderr
    body = orjson.loads(result.stdout)
    assert body["verdict"] == verdict and body["candidate"] == candidate and body["tests"]


def test_schedule_runs_ticks_and_stops_on_sigterm(drift_lake: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(drift_lake, lake)
    proc = subprocess.Popen([sys.executable, "-m", "tracelake.cli.main", "alerts", "schedule", "--cron",
                             "* * * * * *", "--lake", str(lake)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line.decode()) for line in proc.stderr], daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while not any(": tick " in line for line in seen) and time.monotonic() < deadline:
            try:
                seen.append(lines.get(timeout=1))
            except queue.Empty:
                continue
        assert any(": tick " in line and "alert(s) fired" in line for line in seen), seen
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(120)  # a tick in flight finishes first; a loaded CI machine can make that slow
    reader.join(5)
    while not lines.empty():
        seen.append(lines.get())
    assert code == 0 and any("stopped after" in line for line in seen)
    assert proc.stdout is not None and proc.stdout.read() == b""
