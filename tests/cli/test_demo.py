"""`tracelake demo` end to end: real Kafka, consumer and API processes, the fleet, alerts, the canary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tracelake.cli.demo import MARKER, prepare_lake
from tracelake.cli.output import CliError

pytestmark = pytest.mark.kafka


def test_demo_stores_every_event_fires_alerts_and_rolls_back_the_bad_canary(kafka_broker, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    result = subprocess.run(
        [sys.executable, "-m", "tracelake.cli.main", "demo", "--duration", "30", "--rate", "20",
         "--bootstrap", kafka_broker.bootstrap, "--lake", str(lake), "--no-serve", "--format", "json"],
        capture_output=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    report = orjson.loads(result.stdout)  # exactly one JSON document on stdout
    assert report["runs"] >= 300
    assert report["events_stored"] == report["events_emitted"] > 2000
    assert report["canary"] == {"workflow": "refund_request", "baseline": "v3", "candidate": "v4",
                                "verdict": "rollback"}
    assert any(a["group"].get("workflow") == "refund_request" for a in report["alerts"])
    assert report["api"].startswith("http://127.0.0.1:")
    # the lake is left behind for `tracelake metrics` / `sql`; the processes are not
    assert (lake / MARKER).exists() and list((lake / "events").rglob("*.parquet"))
    left = subprocess.run(["pgrep", "-f", str(lake)], capture_output=True, text=True, check=False).stdout.split()
    assert not left, f"processes left running: {left}"
    assert "Traceback" not in result.stderr.decode()


def test_demo_lake_is_replaced_only_when_it_is_a_demo_lake(tmp_path: Path) -> None:
    lake = prepare_lake(tmp_path / "demo")
    (lake / "events").mkdir()
    assert prepare_lake(lake) == lake and not (lake / "events").exists()
    precious = tmp_path / "data"
    precious.mkdir()
    (precious / "keep.parquet").write_bytes(b"x")
    with pytest.raises(CliError, match="not made by tracelake demo"):
        prepare_lake(precious)
    assert (precious / "keep.parquet").exists()
