"""`tracelake keys create|list` and `tracelake api` as a user runs them (subprocesses)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson

from tracelake.api.keys import hash_key
from tracelake.localkafka import free_port


def tracelake(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "tracelake.cli.main", *args], capture_output=True, timeout=60,
                          env={**os.environ, **(env or {})})


def test_keys_create_prints_the_key_once_and_list_never_does(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    made = tracelake("keys", "create", "--tenant", "acme", "--role", "read", "--keys", str(path))
    assert made.returncode == 0, made.stderr
    key = made.stdout.decode().strip()
    assert key.startswith("tlk_") and len(made.stdout.splitlines()) == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and hash_key(key) in path.read_text()
    again = tracelake("keys", "create", "--tenant", "*", "--role", "admin", "--id", "ops",
                      env={"TRACELAKE_API_KEYS_FILE": str(path)})
    assert again.returncode == 0, again.stderr
    listed = tracelake("keys", "list", "--keys", str(path), "--format", "json")
    assert listed.returncode == 0
    assert orjson.loads(listed.stdout) == [{"id": "acme-read", "tenant": "acme", "role": "read"},
                                           {"id": "ops", "tenant": "*", "role": "admin"}]
    assert b"tlk_" not in listed.stdout and key.encode() not in listed.stdout


def test_keys_errors_are_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[keys]\n")
    for args in (["keys", "list", "--keys", str(bad)], ["keys", "list"],
                 ["keys", "create", "--tenant", "a b", "--role", "read", "--keys", str(tmp_path / "k.toml")],
                 ["api", "--keys", str(bad)]):
        result = tracelake(*args, env={"TRACELAKE_API_KEYS_FILE": ""})
        assert result.returncode == 2, args
        assert len(result.stderr.strip().splitlines()) == 1 and b"Traceback" not in result.stderr, result.stderr


def test_api_without_keys_binds_loopback_and_says_so_first(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "api.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "tracelake.cli.main", "api", "--host", "0.0.0.0",
                                 "--port", str(port), "--lake", str(tmp_path / "lake")],
                                stdout=out, stderr=out,
                                env={**os.environ, "TRACELAKE_API_KEYS_FILE": "",
                                     "TRACELAKE_API_SPOOL_DIR": str(tmp_path / "spool")})
    try:
        deadline = time.monotonic() + 60
        ready = False
        while time.monotonic() < deadline and not ready and proc.poll() is None:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                time.sleep(0.05)
        assert ready, log.read_text()
        first = log.read_text().splitlines()[0]
        assert "LOCAL MODE" in first and "127.0.0.1 only" in first
        r = httpx.post(f"http://127.0.0.1:{port}/v1/events", content=b"[]", timeout=5,
                       headers={"Content-Type": "application/json"})  # no key needed
        assert r.status_code == 400 and r.json()["error"]["message"].startswith("the body is an empty array")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
