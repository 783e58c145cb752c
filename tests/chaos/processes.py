"""Real processes the chaos tests start: a `tracelake consume` member and its topic (one definition each)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from kafka.admin import KafkaAdminClient, NewTopic


def make_topic(bootstrap: str, name: str, partitions: int = 3) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        admin.close()


class ConsumeProcess:
    """One `tracelake consume` process (small batches, so faults land mid-stream); its logs go to ``log``."""

    def __init__(self, bootstrap: str, topic: str, lake: Path, group: str, log: Path,
                 extra_env: dict[str, str] | None = None) -> None:
        self.log_path = log
        env = {**os.environ, "TRACELAKE_TOPIC": topic, "TRACELAKE_DLQ_TOPIC": f"{topic}.dlq",
               "TRACELAKE_BATCH_MAX_EVENTS": "100", "TRACELAKE_BATCH_MAX_AGE_S": "0.3", **(extra_env or {})}
        self._log = open(log, "ab")  # noqa: SIM115 - closed when the process ends
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tracelake.cli.main", "consume", "--bootstrap", bootstrap, "--lake", str(lake),
             "--group", group], env=env, stdout=self._log, stderr=self._log)

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def our_tracebacks(self) -> list[str]:
        """Tracebacks in the log that are not kafka-python's own logged close races.

        kafka-python 3 logs an ``ERROR kafka.net.transport`` line with a traceback
        when a socket it is closing is read once more during shutdown (seen under
        load: ``'NoneType' object has no attribute 'recv'``); that is the library
        talking, handled, and the exit code says whether the process was fine.
        """
        lines = self.text().splitlines()
        return [lines[i - 1] if i else line for i, line in enumerate(lines)
                if line.startswith("Traceback") and not (i and " ERROR kafka." in lines[i - 1])]

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, then the exit code (bounded wait)."""
        self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill9(self) -> None:
        self.proc.kill()
        self.wait(30)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def ensure_dead(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        self._log.close()
