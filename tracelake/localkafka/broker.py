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

The Java check, the Maven fetch, free ports and the child-process handling
are shared with the local S3 server (:mod:`tracelake.localjvm`).
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from tracelake.errors import Unavailable
from tracelake.localjvm import MIN_JAVA, ChildJvm, cache_dir, free_port, java_major, maven_fetch, require_java
from tracelake.localjvm import die_with_parent as _die_with_parent

__all__ = [
    "KAFKA_VERSION", "LOG4J_VERSION", "MIN_JAVA", "LocalKafka", "LocalKafkaError", "_die_with_parent", "cache_dir",
    "check_java", "free_port", "install", "java_major",
]

log = logging.getLogger("tracelake.localkafka")

KAFKA_VERSION = "4.3.1"
LOG4J_VERSION = "2.25.4"  # the log4j2 that kafka_2.13 4.3.x depends on

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

class LocalKafkaError(Unavailable, RuntimeError):
    """The local broker cannot be installed or started; the message says why and what to do."""


_NO_BROKER = "use --bootstrap HOST:PORT to point at a running broker"


def check_java() -> str:
    """The ``java`` executable, or :class:`LocalKafkaError` saying to install Java 17+ (one line)."""
    return require_java("the local Kafka broker", _NO_BROKER, LocalKafkaError)


def install(version: str = KAFKA_VERSION, root: Path | None = None) -> Path:
    """Resolve the broker jars into the cache (once); return the ``libs`` directory."""
    return maven_fetch(
        _POM.format(kafka=version, log4j=LOG4J_VERSION),
        (root or cache_dir()) / f"kafka-{version}" / "libs",
        marker=f"kafka_2.13-{version}.jar",
        what=f"the Kafka broker ({version})",
        alternative="use --bootstrap HOST:PORT",
        error=LocalKafkaError,
    )


class LocalKafka(ChildJvm):
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
        self._spawn(self._java_cmd(java, libs, ["kafka.Kafka", str(props)]), self.data_dir / "stdout.log")
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

    def log_tail(self, lines: int = 25) -> str:
        text = ""
        for path in (self.data_dir / "stdout.log", self.log_file):
            if path.exists():
                text += "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) + "\n"
        return text

    def close(self) -> None:
        """Stop and remove the data directory if this object created it."""
        self.stop()
        if self._own_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> LocalKafka:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
