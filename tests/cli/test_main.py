"""The console command: every contract subcommand exists; user errors are one line, exit 2, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.helpers import CONTRACT

SUBCOMMANDS = [
    ["ingest-file"], ["consume"], ["redact"], ["metrics"], ["sql"], ["compact"],
    ["alerts", "run"], ["alerts", "schedule"], ["alerts", "compare"], ["api"],
    ["keys", "create"], ["keys", "list"], ["demo"], ["kafka", "start"], ["schema"], ["validate"],
]


def tracelake(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "tracelake.cli.main", *args], input=stdin, capture_output=True,
                          timeout=60)


@pytest.mark.parametrize("command", SUBCOMMANDS, ids=[" ".join(c) for c in SUBCOMMANDS])
def test_contract_subcommand_has_help(command: list[str]) -> None:
    result = tracelake(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert b"Usage:" in result.stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["metrics", "success_rate", "--bogus"], b"No such option"),
        (["no-such-command"], b"No such command"),
        (["alerts", "compare", "--workflow", "w"], b"Missing option"),
        (["demo", "--duration", "-5"], b"--duration"),
    ],
)
def test_usage_errors_are_one_line_exit_2(args: list[str], words: bytes) -> None:
    result = tracelake(*args)
    assert result.returncode == 2
    assert result.stdout == b""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and b"Traceback" not in result.stderr


def test_validate_accepts_the_contract_examples() -> None:
    result = tracelake("validate", str(CONTRACT / "examples.jsonl"), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert orjson.loads(result.stdout) == []


def test_validate_reports_each_bad_line(tmp_path: Path) -> None:
    good = (CONTRACT / "examples.jsonl").read_bytes().splitlines()[0]
    bad = orjson.loads(good)
    bad["ts"] = "2026-11-24T10:00:00"
    result = tracelake("validate", "-", "--format", "json", stdin=b"\n".join([good, orjson.dumps(bad), b"{oops"]))
    assert result.returncode == 1
    rows = orjson.loads(result.stdout)
    assert rows[0] == {"line": 2, "reason": "ts: timestamp has no UTC offset"}
    assert rows[1]["line"] == 3 and "not valid JSON" in rows[1]["reason"]


def test_unreadable_file_is_exit_2(tmp_path: Path) -> None:
    result = tracelake("validate", str(tmp_path / "missing.jsonl"))
    assert result.returncode == 2
    assert b"Traceback" not in result.stderr


def test_consume_without_kafka_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "tracelake.cli.main", "consume", "--lake", str(tmp_path)],
                            capture_output=True, timeout=60, env={**os.environ, "TRACELAKE_KAFKA_BOOTSTRAP": ""})
    assert result.returncode == 2
    assert b"no Kafka configured" in result.stderr and b"Traceback" not in result.stderr


def test_ingest_file_unreadable_is_exit_2(tmp_path: Path) -> None:
    result = tracelake("ingest-file", str(tmp_path / "nope.jsonl"), "--lake", str(tmp_path))
    assert result.returncode == 2
    assert b"cannot read" in result.stderr and len(result.stderr.strip().splitlines()) == 1
