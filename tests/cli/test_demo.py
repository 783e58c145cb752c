"""`tracelake demo` end to end on the real local Kafka (the stage-one demo)."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

pytestmark = pytest.mark.kafka


def test_demo_emits_and_every_event_reaches_kafka(kafka_broker) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tracelake.cli.main", "demo", "--duration", "3", "--rate", "20",
         "--bootstrap", kafka_broker.bootstrap, "--no-serve", "--format", "json"],
        capture_output=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr.decode()
    report = orjson.loads(result.stdout)
    assert report["events_emitted"] > 0
    assert report["events_in_kafka"] == report["events_emitted"]
    assert {"events_stored", "alerts", "canary"} <= set(report)
    assert report["canary"]["workflow"] == "refund_request"
