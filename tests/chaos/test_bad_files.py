"""One bad file does not blind the lake (issue 12, item 4): real `tracelake` processes and a real API server.

A lake is built by the ingest path, then two more live files of its
``events`` table (re-sent copies of a day's events, committed to the Delta
log) are overwritten: one with zero bytes, one truncated. Asserted:
``metrics`` and ``sql`` still answer (exit 0) from the readable files with
one ``tracelake: warning: skipped unreadable file …`` line per bad file on
stderr; ``compact`` and ``ingest-file`` do not crash;
``lake check`` quarantines both (exit 1, a JSON-lines log entry each) and a
second run finds nothing (exit 0); the API's metrics, runs and sql answers
carry a ``warnings`` field and ``/readyz`` says ``degraded``. No output
anywhere holds a traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.helpers import MarkingRedactor
from tracelake.api.app import create_app
from tracelake.api.server import BackgroundServer
from tracelake.ingest.file_ingest import ingest_stream
from tracelake.ingest.metrics import Counters
from tracelake.ingest.pipeline import PipelineParts
from tracelake.ingest.sinks import MemoryDeadLetterSink
from tracelake.lake.files import QUARANTINE_DIR, QUARANTINE_LOG
from tracelake.lake.lake import Lake
from tracelake.localkafka import free_port
from tracelake.settings import Settings

pytestmark = [pytest.mark.chaos]


def event(i: int, event_type: str = "custom", **fields: object) -> dict[str, object]:
    body: dict[str, object] = {"schema_version": "1", "event_id": f"e{i}", "event_type": event_type,
                               "ts": f"2026-11-2{3 + i % 2}T10:00:{i % 60:02d}Z", "run_id": f"r{i % 4}",
                               "workflow": "w", "workflow_version": "1", **fields}
    if event_type == "custom":
        body["name"] = "step"
    return body


DAY = "2026-11-24"
# The live files made unreadable, by name: {"zero": <file name>, "truncated": <file name>}.
BAD: dict[str, str] = {}


def live(root: Path, day: str = DAY) -> list[Path]:
    return sorted(Path(f.uri) for f in Lake.at(root).data_files("events") if f.day.isoformat() == day)


def resend(root: Path, source: str) -> Path:
    """Store the day's events again, as a producer re-sending them from another source would: a new live file."""
    before = set(live(root))
    rows = pq.read_table(next(path for path in live(root) if path.name not in BAD.values()))
    rows = rows.set_column(rows.schema.get_field_index("source"), "source", pa.array([source] * rows.num_rows))
    rows = rows.append_column("event_date", pa.array([DAY] * rows.num_rows))
    Lake.at(root).writer("events").write(rows, source.replace(":", "-"))
    (added,) = set(live(root)) - before
    return added


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    """A small lake through the ingest path, then two live files of it overwritten: zero bytes, truncated."""
    root = tmp_path / "lake"
    BAD.clear()
    events = [event(i) for i in range(8)]
    events += [event(100 + r, "run_finished", run_id=f"r{r}", outcome="success") for r in range(4)]
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n{not json\n")
    the_lake = Lake.at(root)
    parts = PipelineParts(redactor=MarkingRedactor(), events=the_lake.writer("events"),
                          dead_letters=the_lake.writer("dead_letters"), prices={}, counters=Counters(),
                          dlq=MemoryDeadLetterSink())
    summary = ingest_stream([str(source)], parts, root)
    assert (summary.accepted, summary.rejected) == (12, 1)
    truncated, zero = resend(root, "file:again-1"), resend(root, "file:again-2")
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    zero.write_bytes(b"")
    BAD.update(truncated=truncated.name, zero=zero.name)
    return root


def tracelake(*args: str, lake: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRACELAKE_LAKE": str(lake), "XDG_CACHE_HOME": str(lake.parent / "cache")}
    proc = subprocess.run([sys.executable, "-m", "tracelake.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=120, input=None if stdin is None else stdin.decode())
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
    return proc


def warned(stderr: str) -> list[str]:
    return sorted(Path(line.split("skipped unreadable file ", 1)[1].split(" (", 1)[0]).name
                  for line in stderr.splitlines() if line.startswith("tracelake: warning: skipped unreadable file"))


def test_cli_answers_around_bad_files_and_lake_check_quarantines_them(lake: Path, tmp_path: Path) -> None:
    metrics = tracelake("metrics", "success_rate", "--group-by", "", "--format", "json", lake=lake)
    assert metrics.returncode == 0, metrics.stderr
    assert orjson.loads(metrics.stdout)[0]["runs"] == 4
    assert warned(metrics.stderr) == sorted(BAD.values())

    sql = tracelake("sql", "SELECT count(*) AS n FROM events", "--format", "json", lake=lake)
    assert sql.returncode == 0, sql.stderr
    assert orjson.loads(sql.stdout) == [{"n": 12}]
    assert warned(sql.stderr) == sorted(BAD.values())
    dead = tracelake("sql", "SELECT count(*) AS n FROM dead_letters", "--format", "json", lake=lake)
    assert orjson.loads(dead.stdout) == [{"n": 1}]

    check = tracelake("lake", "check", "--dry-run", "--format", "json", lake=lake)
    assert check.returncode == 1 and len(orjson.loads(check.stdout)) == 2
    assert not (lake / QUARANTINE_DIR).exists()
    check = tracelake("lake", "check", "--format", "json", lake=lake)
    assert check.returncode == 1, check.stderr
    found = orjson.loads(check.stdout)
    assert sorted(Path(f["file"]).name for f in found) == sorted(BAD.values())
    assert all(f["moved_to"] and Path(f["moved_to"]).exists() for f in found)
    log = [orjson.loads(line) for line in (lake / QUARANTINE_DIR / QUARANTINE_LOG).read_bytes().splitlines()]
    assert sorted(entry["file"] for entry in log) == sorted(f"events/event_date={DAY}/{name}" for name in BAD.values())
    assert {entry["error"] for entry in log} == {"zero-byte file", "truncated Parquet file (no magic bytes at the end)"}
    assert tracelake("lake", "check", lake=lake).returncode == 0
    clean = tracelake("metrics", "success_rate", "--group-by", "", lake=lake)
    assert clean.returncode == 0 and "warning" not in clean.stderr


def test_ingest_file_reads_around_bad_files(lake: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.jsonl"
    again.write_bytes(orjson.dumps(event(3)) + b"\n" + orjson.dumps(event(50)) + b"\n")
    ingested = tracelake("ingest-file", str(again), "--format", "json", lake=lake)
    assert ingested.returncode == 0, ingested.stderr
    assert orjson.loads(ingested.stdout) == {"accepted": 1, "rejected": 0, "duplicates": 1}


def test_compact_with_bad_files_quarantines_and_compacts(lake: Path) -> None:
    resend(lake, "file:again-3")  # a readable copy of the day: something to de-duplicate
    compact = tracelake("compact", "--older-than", "0", "--format", "json", lake=lake)
    assert compact.returncode == 0, compact.stderr
    # the other partitions (one file, no copies) are only marked clean
    (merged,) = [row for row in orjson.loads(compact.stdout) if row["action"] != "mark"]
    assert (merged["partition"], merged["action"], merged["files_before"], merged["files_after"], merged["marked"]) == (
        f"event_date={DAY}", "rewrite", 2, 1, True)
    assert merged["rows_out"] == merged["rows_in"] // 2
    assert compact.stderr.count("tracelake: warning: quarantined unreadable file") == 2
    assert "tracelake: events: vacuum deleted" in compact.stderr
    assert len(list((lake / QUARANTINE_DIR).rglob("*.parquet"))) == 2
    sql = tracelake("sql", "SELECT count(*) AS n FROM events", "--format", "json", lake=lake)
    assert orjson.loads(sql.stdout) == [{"n": 12}] and "warning" not in sql.stderr
    assert tracelake("lake", "check", "--deep", lake=lake).returncode == 0


def test_api_answers_carry_warnings_and_readyz_is_degraded(lake: Path, tmp_path: Path) -> None:
    settings = Settings(lake=lake, api_spool_dir=tmp_path / "spool", query_temp_dir=tmp_path / "spill")
    port = free_port()
    server = BackgroundServer(create_app(settings), port).start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
            metric = c.get("/v1/metrics/success_rate", params={"group_by": ""})
            assert metric.status_code == 200, metric.text
            assert metric.json()["rows"][0]["runs"] == 4
            assert warned("\n".join(f"tracelake: warning: {w}" for w in metric.json()["warnings"])) == sorted(
                BAD.values())
            runs = c.get("/v1/runs")
            assert runs.status_code == 200 and len(runs.json()["rows"]) == 4 and len(runs.json()["warnings"]) == 2
            sql = c.post("/v1/sql", json={"sql": "SELECT count(*) AS n FROM events"})
            assert sql.status_code == 200, sql.text
            assert sql.json()["rows"] == [{"n": 12}] and len(sql.json()["warnings"]) == 2
            ready = c.get("/readyz")
            assert ready.status_code == 200 and ready.json()["status"] == "degraded"
            assert "2 unreadable Parquet files" in ready.json()["checks"]["files"]
            assert tracelake("lake", "check", lake=lake).returncode == 1
            assert c.get("/v1/metrics/success_rate", params={"group_by": ""}).json().get("warnings") is None
            ready = c.get("/readyz").json()
            assert ready["status"] == "ready" and ready["checks"]["files"] == "every Parquet file readable"
    finally:
        server.stop()
