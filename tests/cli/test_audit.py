"""``tracelake verify``, ``chain keygen|seal|head``, ``audit export|verify``: outputs and exit codes (0 clean,
1 tampered, 3 unverifiable, 2 bad input), as a user runs them (a subprocess, the real environment)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pyarrow as pa

from tracelake.lake.lake import Lake
from tracelake.lake.tables import EVENTS_SCHEMA


def tracelake(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TRACELAKE_")} | (env or {})
    return subprocess.run([sys.executable, "-m", "tracelake.cli.main", *args], capture_output=True, timeout=120,
                          env=environ)


def write_run(lake: Path, run: str, first: int) -> None:
    ts = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    rows = [{"event_id": f"{run}-{n}", "schema_version": "1", "tenant": "acme", "run_id": run, "workflow": "w",
             "event_type": t, "ts": ts, "event_date": "2026-11-24", "source": "kafka", "kafka_topic": "t",
             "kafka_partition": 0, "kafka_offset": first + n, **extra}
            for n, (t, extra) in enumerate([("run_started", {}), ("escalation", {"reason": "low confidence"}),
                                            ("run_finished", {"outcome": "escalated"})])]
    Lake.at(lake).writer("events").write(pa.Table.from_pylist(rows, schema=EVENTS_SCHEMA), f"b{first}")


def test_keygen_seal_verify_export_and_verify_a_bundle(tmp_path: Path) -> None:
    lake, key = tmp_path / "lake", tmp_path / "keys" / "chain.pem"
    write_run(lake, "r1", 0)
    made = tracelake("chain", "keygen", "--lake", str(lake), "--key", str(key), "--format", "json")
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and Path(f"{key}.pub").exists()
    env = {"TRACELAKE_LAKE": str(lake), "TRACELAKE_CHAIN_KEY_FILE": str(key)}

    unsealed = tracelake("verify", "--format", "json", env=env)
    assert unsealed.returncode == 3, unsealed.stderr
    assert orjson.loads(unsealed.stdout)["status"] == "unverifiable"

    sealed = tracelake("chain", "seal", "--format", "json", env=env)
    assert sealed.returncode == 0, sealed.stderr
    head = orjson.loads(sealed.stdout)["head"]
    assert orjson.loads(tracelake("chain", "head", "--format", "json", env=env).stdout)["head"] == head
    assert tracelake("verify", "--head", env=env).stdout.decode().strip() == head

    clean = tracelake("verify", "--public-key", f"{key}.pub", "--expect-head", head, "--format", "json", env=env)
    assert clean.returncode == 0, clean.stdout
    assert orjson.loads(clean.stdout)["status"] == "clean"

    bundle = tmp_path / "r1.json"
    exported = tracelake("audit", "export", "r1", "--tenant", "acme", "--out", str(bundle), env=env)
    assert exported.returncode == 0, exported.stderr
    body = orjson.loads(bundle.read_bytes())["body"]
    assert [e["event_id"] for e in body["decisions"]["escalations"]] == ["r1-1"]
    checked = tracelake("audit", "verify", str(bundle), "--public-key", f"{key}.pub", "--format", "json")
    assert checked.returncode == 0 and orjson.loads(checked.stdout)["status"] == "valid"

    altered = orjson.loads(bundle.read_bytes())
    altered["body"]["events"][1]["reason"] = "policy"
    bundle.write_bytes(orjson.dumps(altered))
    tampered_bundle = tracelake("audit", "verify", str(bundle), "--public-key", f"{key}.pub")
    assert tampered_bundle.returncode == 1

    commit = lake / "events" / "_delta_log" / "00000000000000000001.json"
    commit.write_bytes(commit.read_bytes() + b"\n")
    tampered = tracelake("verify", "--format", "table", env=env)
    assert tampered.returncode == 1
    assert b"tampered: rewritten: events v1" in tampered.stdout


def test_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    write_run(lake, "r1", 0)
    key = tmp_path / "k.pem"
    assert tracelake("chain", "keygen", "--lake", str(lake), "--key", str(key)).returncode == 0
    cases = [
        (["chain", "keygen", "--lake", str(lake), "--key", str(key)], b"exists"),
        (["chain", "keygen", "--lake", str(lake), "--key", str(lake / "k.pem")], b"inside the lake"),
        (["chain", "seal", "--lake", str(lake)], b"no chain key"),
        (["verify", "--lake", str(lake), "--public-key", str(tmp_path / "none.pub")], b"cannot read"),
        (["audit", "export", "nope", "--lake", str(lake)], b"no run 'nope'"),
        (["verify", "--lake", str(tmp_path / "elsewhere")], b"no lake at"),
        (["audit", "verify", str(key), "--public-key", f"{key}.pub"], b"not JSON"),
    ]
    for args, words in cases:
        result = tracelake(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert words in result.stderr and b"Traceback" not in result.stderr, (args, result.stderr)
        assert len(result.stderr.decode().strip().splitlines()) == 1, result.stderr


def test_compact_seals_its_rewrites_so_verify_stays_clean(tmp_path: Path) -> None:
    lake, key = tmp_path / "lake", tmp_path / "k.pem"
    write_run(lake, "r1", 0)
    write_run(lake, "r1", 10)  # the same events again under other offsets: copies the compaction removes
    assert tracelake("chain", "keygen", "--lake", str(lake), "--key", str(key)).returncode == 0
    env = {"TRACELAKE_LAKE": str(lake), "TRACELAKE_CHAIN_KEY_FILE": str(key)}
    assert tracelake("chain", "seal", env=env).returncode == 0
    compacted = tracelake("compact", "--retention-hours", "0", "--format", "json", env=env)
    assert compacted.returncode == 0, compacted.stderr
    assert b"commits sealed" in compacted.stderr
    assert any(row["action"] == "rewrite" for row in orjson.loads(compacted.stdout))
    verified = tracelake("verify", "--format", "json", env=env)
    assert verified.returncode == 0, verified.stdout


def test_the_alert_scheduler_seals_after_each_tick(tmp_path: Path) -> None:
    import queue
    import signal
    import threading
    import time

    lake, key = tmp_path / "lake", tmp_path / "k.pem"
    write_run(lake, "r1", 0)
    assert tracelake("chain", "keygen", "--lake", str(lake), "--key", str(key)).returncode == 0
    env = {"TRACELAKE_LAKE": str(lake), "TRACELAKE_CHAIN_KEY_FILE": str(key)}
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TRACELAKE_")} | env
    proc = subprocess.Popen([sys.executable, "-m", "tracelake.cli.main", "alerts", "schedule", "--cron",
                             "* * * * * *"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environ)
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stderr is not None
    stderr = proc.stderr
    def read() -> None:
        for line in stderr:
            lines.put(line.decode())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while not any(": tick " in line for line in seen) and time.monotonic() < deadline:
            try:
                seen.append(lines.get(timeout=1))
            except queue.Empty:
                continue
        assert any(": tick " in line for line in seen), seen
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(120)  # the tick in flight (its seal included) finishes first
    assert code == 0, seen
    verified = tracelake("verify", "--format", "json", env=env)
    assert verified.returncode == 0, verified.stdout
    assert orjson.loads(verified.stdout)["entries"] >= 2
