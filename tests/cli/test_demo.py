"""`tracelake demo` end to end: real Kafka, consumer and API processes, the fleet, alerts, the canary; on a local
lake and (``--s3``) on the loopback S3 server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tracelake.cli.demo import MARKER, S3_LAKE, prepare_lake
from tracelake.cli.output import CliError
from tracelake.lake.lake import AWS_VARIABLES


def _demo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "tracelake.cli.main", "demo", *args], capture_output=True,
                          timeout=600, check=False, env=env)


@pytest.mark.kafka
@pytest.mark.parametrize("on_s3", [False, pytest.param(True, marks=pytest.mark.s3)], ids=["local", "s3"])
def test_demo_stores_every_event_fires_alerts_and_rolls_back_the_bad_canary(kafka_broker, tmp_path: Path,
                                                                            on_s3: bool) -> None:
    lake = tmp_path / "lake"
    # The caller's own AWS_* never reach an --s3 demo (it uses its server's); a bogus one here proves it.
    env = {k: v for k, v in os.environ.items() if k not in AWS_VARIABLES} | {"AWS_ENDPOINT_URL": "http://192.0.2.1:1"}
    result = _demo("--duration", "30", "--rate", "20", "--bootstrap", kafka_broker.bootstrap, "--lake", str(lake),
                   "--no-serve", "--format", "json", *(["--s3"] if on_s3 else []), env=env)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    report = orjson.loads(result.stdout)  # exactly one JSON document on stdout
    assert report["runs"] >= 300
    assert report["events_stored"] == report["events_emitted"] > 2000
    assert report["canary"] == {"workflow": "refund_request", "baseline": "v3", "candidate": "v4",
                                "verdict": "rollback"}
    assert any(a["group"].get("workflow") == "refund_request" for a in report["alerts"])
    # The loop back: the verdict pinned v3 for every tenant; the second wave of agents ran no v4 (docs/flags.md).
    loop = report["loop"]
    assert loop["flags_refreshed"] and {(f["tenant"], f["action"], f["version"]) for f in loop["flags_set"]} == {
        ("acme", "pin_version", "v3"), ("globex", "pin_version", "v3")}
    assert loop["after"]["candidate_runs"] == 0 and loop["after"]["runs_by_version"].get("v3", 0) > 0
    assert report["api"].startswith("http://127.0.0.1:")
    assert (lake / MARKER).exists() and (lake / "logs" / "consumer.log").exists()
    if on_s3:
        assert report["lake"] == S3_LAKE and report["s3"]["data_dir"] == str(lake.resolve() / "s3")
        assert not (lake / "events").exists()  # nothing of the lake on local disk but the server's own store
        _assert_in_bucket(lake / "s3", report["events_stored"])
    else:
        # the lake is left behind for `tracelake metrics` / `sql`; the processes are not
        assert report["lake"] == str(lake.resolve()) and list((lake / "events").rglob("*.parquet"))
    for needle in (str(lake), report["topic"]):  # S3Proxy runs on a conf in the folder; children name the topic
        left = subprocess.run(["pgrep", "-f", needle], capture_output=True, text=True, check=False).stdout.split()
        assert not left, f"processes left running: {left}"
    assert "Traceback" not in result.stderr.decode()


def _assert_in_bucket(data_dir: Path, stored: int) -> None:
    """The server's data outlives the demo: served again, the bucket's events table holds each event once."""
    from deltalake import DeltaTable

    from tracelake.lake.lake import Lake
    from tracelake.locals3 import LocalS3

    with LocalS3(data_dir=data_dir) as server:
        lake = Lake.at(S3_LAKE, server.env())
        files = lake.data_files("events")
        assert files and all(f.uri.startswith(f"{S3_LAKE}/events/event_date=") for f in files)
        table = DeltaTable(lake.table_uri("events"), storage_options=lake.storage_options)
        keys = table.to_pyarrow_table(columns=["tenant", "event_id"]).to_pylist()
        # Every stored event, each once; the second wave of the loop (after the count) may have added more.
        assert len(keys) == len({(k["tenant"], k["event_id"]) for k in keys}) >= stored


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


@pytest.mark.parametrize("args, env", [
    (["--lake", "s3://bucket/lake"], {}),
    (["--s3", "--lake", "s3://bucket/lake"], {}),
    (["--s3"], {"TRACELAKE_LAKE": "s3://bucket/lake"}),
], ids=["url-lake", "url-lake-with-s3", "url-lake-from-env"])
def test_demo_refuses_to_replace_a_lake_on_object_storage(args: list[str], env: dict[str, str],
                                                          tmp_path: Path) -> None:
    result = _demo(*args, "--no-serve", env={**os.environ, **env})
    assert result.returncode == 2
    err = result.stderr.decode().strip()
    assert len(err.splitlines()) == 1 and "does not run on s3://bucket/lake" in err and "Traceback" not in err
