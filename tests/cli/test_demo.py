"""`tracelake demo` end to end on the real local Kafka (the stage-one demo)."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

pytestmark = pytest.mark.kafka


def test_demo_every_emitted_event_is_stored(kafka_broker, tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tracelake.cli.main", "demo", "--duration", "3", "--rate", "20",
         "--bootstrap", kafka_broker.bootstrap, "--lake", str(tmp_path / "lake"), "--no-serve", "--format", "json"],
        capture_output=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr.decode()
    report = orjson.loads(result.stdout)
    assert report["events_emitted"] > 0
    assert report["events_stored"] == report["events_emitted"]
    assert {"alerts", "canary"} <= set(report)
    assert report["canary"]["workflow"] == "refund_request"
