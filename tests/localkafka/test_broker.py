"""The local broker: cached install, start/stop/restart, no orphans, clear errors."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer

from tracelake import localjvm
from tracelake.localkafka import LocalKafka, LocalKafkaError, install
from tracelake.localkafka.broker import check_java, java_major

pytestmark = pytest.mark.kafka


class _Forbidden:
    """Stands in for a module a cache hit must not use: any attribute read fails the test."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, attribute: str) -> object:
        raise AssertionError(f"a cache hit used {self.name}.{attribute}")


def test_second_install_reuses_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    libs = install()
    monkeypatch.setenv("PATH", "/nonexistent")  # no mvn now: a cache hit must not need it
    before = libs.stat()
    # A hit is the marker jar alone: no lock, no temporary directory, no Maven, the cached directory untouched.
    for module in ("fcntl", "subprocess", "tempfile"):
        monkeypatch.setattr(localjvm, module, _Forbidden(module))
    assert install() == libs
    after = libs.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert any(p.name.startswith("log4j-slf4j-impl") for p in libs.iterdir())


def test_restart_keeps_data_and_leaves_no_jvm(tmp_path: Path) -> None:
    broker = LocalKafka(data_dir=tmp_path / "k")
    try:
        broker.start()
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
        producer.send("persist", b"before-restart").get(timeout=30)
        producer.close()
        pid = broker._proc.pid
        broker.stop()
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
        broker.start()
        consumer = KafkaConsumer("persist", bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest",
                                 group_id=None)
        values: list[bytes] = []
        deadline = time.monotonic() + 30
        while not values and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                values.extend(m.value for m in batch)
        consumer.close()
        assert values == [b"before-restart"]
    finally:
        broker.close()
    assert not broker.running


def test_jvm_dies_with_its_parent(tmp_path: Path) -> None:
    """A parent killed with SIGKILL leaves no orphan broker (PR_SET_PDEATHSIG)."""
    script = (
        "import sys, time\n"
        "from tracelake.localkafka import LocalKafka\n"
        f"b = LocalKafka(data_dir={str(tmp_path / 'k')!r}).start()\n"
        "print(b._proc.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([os.sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        jvm_pid = int(parent.stdout.readline())
    finally:
        parent.kill()
        parent.wait(10)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and Path(f"/proc/{jvm_pid}").exists():
        time.sleep(0.1)
    assert not Path(f"/proc/{jvm_pid}").exists()


def test_missing_maven_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(LocalKafkaError, match="Apache Maven"):
        install(root=tmp_path)


def test_missing_java_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (java_major() or 0) >= 17
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(LocalKafkaError, match="Java 17 or newer"):
        check_java()
