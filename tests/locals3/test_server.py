"""The local S3 server (S3Proxy): cached install, start/stop/restart, put-if-absent, Delta Lake on it,
concurrent Delta writers, no orphans, clear errors. Always a real server process on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from tracelake import localjvm
from tracelake.locals3 import LocalS3, LocalS3Error, check_java, install

pytestmark = pytest.mark.s3

WRITER = Path(__file__).with_name("delta_writer.py")


def _gone(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    return not status.exists() or "zombie" in status.read_text().lower()


class _Forbidden:
    """Stands in for a module a cache hit must not use: any attribute read fails the test."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, attribute: str) -> object:
        raise AssertionError(f"a cache hit used {self.name}.{attribute}")


def test_second_install_reuses_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    jar = install()
    monkeypatch.setenv("PATH", "/nonexistent")  # no mvn now: a cache hit must not need it
    before = jar.parent.stat()
    # A hit is the marker jar alone: no lock, no temporary directory, no Maven, the cached directory untouched.
    for module in ("fcntl", "subprocess", "tempfile"):
        monkeypatch.setattr(localjvm, module, _Forbidden(module))
    assert install() == jar
    after = jar.parent.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert jar.name.endswith("-jar-with-dependencies.jar") and jar.stat().st_size > 10_000_000


def test_restart_keeps_buckets_and_leaves_no_jvm(tmp_path: Path) -> None:
    server = LocalS3(data_dir=tmp_path / "s3")
    try:
        server.start(timeout=60)
        assert server.started_in is not None  # up, by its first signed answer (how fast: not a test's business)
        server.create_bucket("keep")
        server.create_bucket("keep")  # idempotent
        assert server.put_object("keep", "dir/a b.json", b'{"x": 1}')
        pid = server.pid
        assert pid is not None
        server.stop()
        assert _gone(pid) and not server.running
        server.start(timeout=60)
        assert server.get_object("keep", "dir/a b.json") == b'{"x": 1}'
    finally:
        server.close()
    assert not server.running
    assert (tmp_path / "s3").exists()  # a given data directory is kept


def test_wrong_credentials_are_refused(s3_server: LocalS3) -> None:
    intruder = LocalS3(port=s3_server.port, secret_key="not-the-secret")
    try:
        assert intruder.request("GET", "/").status == 403
    finally:
        intruder.close()


def test_put_if_absent_refuses_an_existing_key(s3_server: LocalS3) -> None:
    s3_server.create_bucket("conditional")
    key = f"log/{uuid.uuid4().hex}.json"
    assert s3_server.put_object("conditional", key, b"first", if_none_match=True)
    answer = s3_server.request("PUT", f"/conditional/{key}", b"second", {"If-None-Match": "*"})
    assert (answer.status, answer.error_code) == (412, "PreconditionFailed")
    assert s3_server.get_object("conditional", key) == b"first"


def test_put_if_absent_has_one_winner_under_contention(s3_server: LocalS3) -> None:
    """16 simultaneous conditional creates of one new key, 10 times: exactly one succeeds each time."""
    s3_server.create_bucket("conditional")
    for _ in range(10):
        key = f"race/{uuid.uuid4().hex}.json"
        with ThreadPoolExecutor(16) as pool:
            won = list(pool.map(lambda i, k=key: s3_server.put_object("conditional", k, b"w%d" % i, True),
                                range(16)))
        assert won.count(True) == 1
        winner = won.index(True)
        assert s3_server.get_object("conditional", key) == b"w%d" % winner


def test_delta_table_round_trip(s3_server: LocalS3) -> None:
    s3_server.create_bucket("lake")
    uri = f"s3://lake/{uuid.uuid4().hex}/events"
    options = s3_server.storage_options()
    write_deltalake(uri, pa.table({"id": [1, 2], "name": ["a", "b"]}), storage_options=options)
    write_deltalake(uri, pa.table({"id": [3], "name": ["c"]}), mode="append", storage_options=options)
    table = DeltaTable(uri, storage_options=options)
    assert table.version() == 1
    assert sorted(table.to_pyarrow_table().column("id").to_pylist()) == [1, 2, 3]


def test_concurrent_delta_writers_lose_no_commit(s3_server: LocalS3) -> None:
    """Three writer processes append 10 commits each at once: 30 new versions, each commit exactly once."""
    s3_server.create_bucket("lake")
    uri = f"s3://lake/{uuid.uuid4().hex}/concurrent"
    options = s3_server.storage_options()
    write_deltalake(uri, pa.table({"writer": ["init"], "seq": [-1]}), storage_options=options)
    writers, commits = 3, 10
    procs = [
        subprocess.Popen([sys.executable, str(WRITER), uri, f"w{n}", str(commits), orjson.dumps(options).decode()],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for n in range(writers)
    ]
    try:
        # All three start together, after their imports: each says ready, then all get the go.
        assert [proc.stdout.readline() for proc in procs] == ["ready\n"] * writers  # type: ignore[union-attr]
        for proc in procs:
            proc.stdin.write("go\n")  # type: ignore[union-attr]
            proc.stdin.close()  # type: ignore[union-attr]
        codes = [proc.wait(180) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert codes == [0] * writers

    table = DeltaTable(uri, storage_options=options)
    assert table.version() == writers * commits
    history = [entry for entry in table.history() if "writer" in entry]
    assert Counter((e["writer"], e["seq"]) for e in history) == Counter(
        {(f"w{n}", str(s)): 1 for n in range(writers) for s in range(commits)}
    )
    rows = table.to_pyarrow_table().to_pylist()
    assert len(rows) == 1 + writers * commits
    assert len({(r["writer"], r["seq"]) for r in rows}) == len(rows)
    # The writers really raced: commits lost the race for a version (412 on the log entry) and were
    # retried by delta-rs on the next one (8-13 retries in 30 commits here).
    assert sum(int(e["operationMetrics"].get("num_retries", 0)) for e in history) > 0


def test_jvm_dies_with_its_parent(tmp_path: Path) -> None:
    """A parent killed with SIGKILL leaves no orphan server (PR_SET_PDEATHSIG)."""
    script = (
        "import time\n"
        "from tracelake.locals3 import LocalS3\n"
        f"s = LocalS3(data_dir={str(tmp_path / 's3')!r}).start()\n"
        "print(s.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        jvm_pid = int(parent.stdout.readline())  # type: ignore[union-attr]
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not _gone(jvm_pid):
        time.sleep(0.1)
    assert _gone(jvm_pid)


def test_cli_start_prints_the_environment_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    from tracelake.localjvm import free_port

    port = free_port()
    tracelake = Path(sys.executable).with_name("tracelake")
    proc = subprocess.Popen([str(tracelake), "s3", "start", "--port", str(port), "--data-dir", str(tmp_path / "d"),
                             "--bucket", "cli-bucket"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline().strip() for _ in range(6)]  # type: ignore[union-attr]
        env = dict(line.removeprefix("export ").split("=", 1) for line in lines)
        assert env["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{port}"
        assert env["AWS_CONDITIONAL_PUT"] == "etag"
        client = LocalS3(port=port, access_key=env["AWS_ACCESS_KEY_ID"], secret_key=env["AWS_SECRET_ACCESS_KEY"])
        assert b"<Name>cli-bucket</Name>" in client.request("GET", "/").body
        client.close()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_missing_maven_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(LocalS3Error, match="Apache Maven") as caught:
        install(root=tmp_path)
    assert "\n" not in str(caught.value)


def test_missing_java_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(LocalS3Error, match="Java 17 or newer") as caught:
        check_java()
    assert "\n" not in str(caught.value)
    with pytest.raises(LocalS3Error, match="Java 17 or newer"):
        LocalS3(data_dir=tmp_path).start()


def test_cli_without_java_is_one_line_exit_2(tmp_path: Path) -> None:
    tracelake = Path(sys.executable).with_name("tracelake")
    env = {**os.environ, "PATH": "/nonexistent", "TRACELAKE_CACHE_DIR": str(tmp_path)}
    proc = subprocess.run([str(tracelake), "s3", "install"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Java 17 or newer" in proc.stderr
