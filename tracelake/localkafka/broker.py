"""A real Apache Kafka broker on this machine, without Docker.

The broker is ``org.apache.kafka:kafka_2.13`` from Maven Central, resolved with
its runtime dependencies by ``mvn dependency:copy-dependencies`` into a cache
directory once (``$TRACELAKE_CACHE_DIR`` or ``~/.cache/tracelake``), then run
by the machine's Java (17 or newer) as one combined KRaft broker+controller on
127.0.0.1.

Contract:

- :func:`install` is idempotent and safe to call from several processes (a
  file lock serialises the download); a second call costs a directory check.
- :meth:`LocalKafka.start` formats storage on first use, starts the JVM and
  returns once a metadata request succeeds; it raises :class:`LocalKafkaError`
  with the broker's log tail if the JVM exits or does not answer in time.
- :meth:`LocalKafka.stop` ends the JVM (SIGTERM, then SIGKILL after the
  timeout) and keeps the data, so ``start`` again is a broker restart on the
  same ports. :meth:`close` also removes a data directory it created.
- No orphan JVMs: the JVM gets SIGTERM when the thread that started it dies
  (``PR_SET_PDEATHSIG``), and every running broker is stopped at exit.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import ctypes
import fcntl
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
import weakref
from pathlib import Path

from tracelake.errors import Unavailable

log = logging.getLogger("tracelake.localkafka")

KAFKA_VERSION = "4.3.1"
LOG4J_VERSION = "2.25.4"  # the log4j2 that kafka_2.13 4.3.x depends on
MIN_JAVA = 17

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.tracelake</groupId>
  <artifactId>local-kafka</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version>
    </dependency>
    <!-- Kafka still logs through SLF4J 1.x: bind it to log4j2. -->
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
  </dependencies>
</project>
"""

_LOG4J2 = """status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.file.ref = file
"""

_RUNNING: weakref.WeakSet[LocalKafka] = weakref.WeakSet()


class LocalKafkaError(Unavailable, RuntimeError):
    """The local broker cannot be installed or started; the message says why and what to do."""


def cache_dir() -> Path:
    root = os.environ.get("TRACELAKE_CACHE_DIR") or os.path.join(Path.home(), ".cache", "tracelake")
    return Path(root)


def java_major(java: str = "java") -> int | None:
    """The major version of ``java``, or None when it is not installed."""
    exe = shutil.which(java)
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def check_java() -> str:
    major = java_major()
    if major is None or major < MIN_JAVA:
        found = "none" if major is None else f"Java {major}"
        raise LocalKafkaError(
            f"the local Kafka broker needs Java {MIN_JAVA} or newer on PATH (found: {found}); "
            "install one (e.g. apt-get install openjdk-17-jre-headless) or use --bootstrap HOST:PORT "
            "to point at a running broker"
        )
    return shutil.which("java") or "java"


def install(version: str = KAFKA_VERSION, root: Path | None = None) -> Path:
    """Resolve the broker jars into the cache (once); return the ``libs`` directory."""
    base = (root or cache_dir()) / f"kafka-{version}"
    libs = base / "libs"
    if (libs / f"kafka_2.13-{version}.jar").exists():
        return libs
    base.mkdir(parents=True, exist_ok=True)
    with open(base / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (libs / f"kafka_2.13-{version}.jar").exists():
            return libs  # another process finished it while we waited
        mvn = shutil.which("mvn")
        if mvn is None:
            raise LocalKafkaError(
                "Apache Maven (mvn) is needed once to fetch the Kafka broker from Maven Central; "
                "install it (e.g. apt-get install maven) or use --bootstrap HOST:PORT"
            )
        work = Path(tempfile.mkdtemp(prefix="resolve-", dir=base))
        try:
            (work / "pom.xml").write_text(_POM.format(kafka=version, log4j=LOG4J_VERSION))
            log.info("fetching Apache Kafka %s from Maven Central into %s", version, libs)
            proc = subprocess.run(
                [mvn, "-q", "-B", "dependency:copy-dependencies",
                 f"-DoutputDirectory={work / 'libs'}", "-DincludeScope=runtime"],
                cwd=work, capture_output=True, text=True, timeout=900,
            )
            if proc.returncode != 0 or not (work / "libs" / f"kafka_2.13-{version}.jar").exists():
                tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
                raise LocalKafkaError(
                    f"could not fetch Kafka {version} with Maven (exit {proc.returncode}):\n" + "\n".join(tail)
                )
            shutil.rmtree(libs, ignore_errors=True)
            os.replace(work / "libs", libs)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return libs


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class LocalKafka:
    """One single-node KRaft broker on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        port: int | None = None,
        controller_port: int | None = None,
        version: str = KAFKA_VERSION,
        partitions: int = 3,
        heap: str = "768m",
        log_level: str = "INFO",
        extra_config: dict[str, str] | None = None,
    ) -> None:
        self._own_data = data_dir is None
        self.data_dir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="tracelake-kafka-"))
        self.port = port or free_port()
        self.controller_port = controller_port or free_port()
        self.version = version
        self.partitions = partitions
        self.heap = heap
        self.log_level = log_level
        self.extra_config = extra_config or {}
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"

    def _config(self) -> dict[str, str]:
        config = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir / "logs"),
            "num.partitions": str(self.partitions),
            "auto.create.topics.enable": "true",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # A single-member test group should not wait 3 s before its first assignment.
            "group.initial.rebalance.delay.ms": "0",
        }
        config.update(self.extra_config)
        return config

    def _write_files(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        props = self.data_dir / "server.properties"
        props.write_text("".join(f"{k}={v}\n" for k, v in self._config().items()))
        (self.data_dir / "log4j2.properties").write_text(
            _LOG4J2.format(log_file=self.log_file, level=self.log_level)
        )
        return props

    def _java_cmd(self, java: str, libs: Path, main: list[str]) -> list[str]:
        return [
            java,
            f"-Xmx{self.heap}",
            "-Xms128m",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            "-cp",
            f"{libs}/*",
            *main,
        ]

    def _format(self, java: str, libs: Path, props: Path) -> None:
        if (self.data_dir / "logs" / "meta.properties").exists():
            return
        cluster_id = "-"
        while cluster_id.startswith("-"):  # argparse would read a leading '-' as an option
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        cmd = self._java_cmd(
            java, libs,
            ["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props), "--standalone"],
        )
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise LocalKafkaError(f"formatting KRaft storage failed: {(proc.stdout + proc.stderr)[-2000:]}")

    def start(self, timeout: float = 90.0) -> LocalKafka:
        if self.running:
            return self
        java = check_java()
        libs = install(self.version)
        props = self._write_files()
        self._format(java, libs, props)
        stdout = open(self.data_dir / "stdout.log", "ab")  # noqa: SIM115 - owned by the child
        self._proc = subprocess.Popen(
            self._java_cmd(java, libs, ["kafka.Kafka", str(props)]),
            stdout=stdout,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        stdout.close()
        _RUNNING.add(self)
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        from kafka import KafkaAdminClient

        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                raise LocalKafkaError(f"the Kafka JVM exited during start-up:\n{self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    pass
                admin = KafkaAdminClient(
                    bootstrap_servers=self.bootstrap, request_timeout_ms=5000, bootstrap_timeout_ms=5000
                )
                try:
                    admin.describe_cluster()
                    return
                finally:
                    admin.close()
            except Exception as exc:  # noqa: BLE001 - not up yet; retried until the deadline
                last_error = exc
                time.sleep(0.25)
        self.stop()
        raise LocalKafkaError(
            f"Kafka did not answer on {self.bootstrap} within {timeout:.0f}s ({last_error}):\n{self.log_tail()}"
        )

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 25) -> str:
        text = ""
        for path in (self.data_dir / "stdout.log", self.log_file):
            if path.exists():
                text += "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) + "\n"
        return text

    def stop(self, timeout: float = 30.0) -> None:
        """End the JVM; the data stays (``start`` again restarts the same broker)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        _RUNNING.discard(self)

    def kill(self) -> None:
        """SIGKILL the JVM (a crash, for tests)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(10)
        self._proc = None
        _RUNNING.discard(self)

    def close(self) -> None:
        """Stop and remove the data directory if this object created it."""
        self.stop()
        if self._own_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> LocalKafka:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


@atexit.register
def _stop_all() -> None:
    for broker in list(_RUNNING):
        with contextlib.suppress(Exception):
            broker.stop(timeout=10)
