"""``tracelake lake convert``: a lake written by the pre-Delta code becomes Delta tables in place, every row kept,
every metric unchanged; idempotent; unreadable and hidden files quarantined, never converted; files lacking a
newer column normalised."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from tests.helpers import MarkingRedactor
from tests.queries.conftest import golden_events
from tracelake.errors import Unavailable, UserError
from tracelake.ingest.file_ingest import ingest_stream
from tracelake.ingest.metrics import Counters
from tracelake.ingest.pipeline import PipelineParts
from tracelake.ingest.sinks import MemoryDeadLetterSink
from tracelake.lake.convert import HIDDEN_FILE, convert_lake
from tracelake.lake.files import QUARANTINE_DIR, QUARANTINE_LOG
from tracelake.lake.lake import Lake
from tracelake.lake.legacy import ParquetLakeWriter
from tracelake.lake.tables import ALERTS, TABLES, Table
from tracelake.queries.metrics import PUBLIC_METRICS, compute_metric

SINCE = datetime(2026, 11, 1, tzinfo=UTC)
UNTIL = datetime(2026, 12, 1, tzinfo=UTC)


class LegacyWriter:
    """The pre-Delta writer behind the ingest pipeline's writer interface (batch names made file-safe)."""

    def __init__(self, root: Path, table: str) -> None:
        self.inner = ParquetLakeWriter(root, table)

    def write(self, table: pa.Table, name: str, positions: Mapping[str, int] | None = None) -> int:
        safe = re.sub(r"[^A-Za-z0-9._=-]", "_", name)[:80] + "-" + hashlib.sha256(name.encode()).hexdigest()[:8]
        return len(self.inner.write(table, safe))


def ingest(lines: list[bytes], tmp: Path, events: Any, dead_letters: Any) -> None:
    path = tmp / f"in-{len(list(tmp.glob('in-*.jsonl')))}.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    parts = PipelineParts(redactor=MarkingRedactor(), events=events, dead_letters=dead_letters, prices={},
                          counters=Counters(), dlq=MemoryDeadLetterSink())
    ingest_stream([str(path)], parts, tmp / "no-lake-for-the-duplicate-check")


def alert_rows() -> pa.Table:
    made = datetime(2026, 11, 24, 12, tzinfo=UTC)
    return ALERTS.to_arrow([{"alert_id": f"a{i}", "rule": "r", "metric": "success_rate", "group": "{}",
                             "window_start": made, "window_end": made, "current_value": 0.5, "severity": "high",
                             "created_at": made, "tenant": "acme", "event_date": f"2026-11-2{3 + i}"}
                            for i in range(2)])


def raw_rows(root: Path, table: Table) -> Counter[str]:
    """Every stored row of ``table`` (copies included), each as canonical JSON with its day."""
    out: Counter[str] = Counter()
    for path in sorted((root / table.name).glob("event_date=*/*.parquet")):
        if path.name.startswith("."):
            continue
        day = path.parent.name.split("=", 1)[1]
        for row in pq.read_table(path).to_pylist():
            row = {k: v for k, v in row.items() if v is not None and k != table.partition}
            out[orjson.dumps({**row, table.partition: day}, option=orjson.OPT_SORT_KEYS, default=str).decode()] += 1
    return out


def delta_rows(root: Path, table: Table) -> Counter[str]:
    out: Counter[str] = Counter()
    for row in DeltaTable(str(root / table.name)).to_pyarrow_table().to_pylist():
        row = {k: v for k, v in row.items() if v is not None}
        row[table.partition] = row[table.partition].isoformat()
        out[orjson.dumps(row, option=orjson.OPT_SORT_KEYS, default=str).decode()] += 1
    return out


def all_metrics(lake: Path) -> dict[str, Any]:
    return {name: sorted(compute_metric(lake, name, since=SINCE, until=UNTIL), key=repr) for name in PUBLIC_METRICS}


@pytest.fixture
def lakes(tmp_path: Path) -> tuple[Path, Path]:
    """The same input written by the pre-Delta code (``legacy``) and by today's (``delta``): golden events over
    several days, a rejected line, then a partition stored twice (a replayed batch), and two alerts."""
    lines = [orjson.dumps(e) for e in golden_events()]
    lines.append(b'{"schema_version": "1", "tenant": "acme"}')  # rejected: a dead letter
    legacy, delta = tmp_path / "legacy", tmp_path / "delta"
    (tmp_path / "in-legacy").mkdir()
    (tmp_path / "in-delta").mkdir()
    ingest(lines, tmp_path / "in-legacy", LegacyWriter(legacy, "events"), LegacyWriter(legacy, "dead_letters"))
    ingest(lines, tmp_path / "in-delta", Lake.at(delta).writer("events"), Lake.at(delta).writer("dead_letters"))
    for partition in (legacy / "events" / "event_date=2026-11-24").glob("*.parquet"):
        partition.with_name("replayed-" + partition.name).write_bytes(partition.read_bytes())
    ParquetLakeWriter(legacy, "alerts").write(alert_rows(), "alerts-1")
    Lake.at(delta).writer("alerts").write(alert_rows(), "alerts-1")
    return legacy, delta


def test_convert_keeps_every_row_and_every_metric(lakes: tuple[Path, Path]) -> None:
    legacy, delta = lakes
    before = {table.name: raw_rows(legacy, table) for table in TABLES}
    assert sum(before["events"].values()) > len(before["events"])  # the replayed copies are there
    assert len({row.split('"event_date":"', 1)[1][:10] for row in before["events"]}) >= 3  # several days
    with pytest.raises(Unavailable, match="lake convert"):
        compute_metric(legacy, "success_rate", since=SINCE, until=UNTIL)

    done = convert_lake(Lake.at(legacy))
    assert [(c.table, c.status, c.quarantined) for c in done] == [
        ("events", "converted", 0), ("dead_letters", "converted", 0), ("alerts", "converted", 0)]
    for table in TABLES:
        assert delta_rows(legacy, table) == before[table.name], table.name
        converted = pa.schema(DeltaTable(str(legacy / table.name)).schema().to_arrow())
        assert converted.names == table.delta_schema.names
    assert {c.table: c.rows for c in done} == {name: sum(rows.values()) for name, rows in before.items()}
    metrics = all_metrics(legacy)
    assert sum(1 for rows in metrics.values() if rows) >= 6  # most metrics have rows to compare
    assert metrics == all_metrics(delta)

    again = convert_lake(Lake.at(legacy))  # idempotent: nothing touched
    assert [(c.table, c.status, c.rows) for c in again] == [(c.table, "already delta", c.rows) for c in done]
    assert DeltaTable(str(legacy / "events")).version() == 0
    # today's writer appends to a converted table
    Lake.at(legacy).writer("alerts").write(alert_rows().slice(0, 1).set_column(
        0, "alert_id", pa.array(["late"])), "late-alert")
    assert len(Lake.at(legacy).data_files("alerts")) == 3


def test_convert_quarantines_bad_and_hidden_files_and_normalises_old_files(lakes: tuple[Path, Path]) -> None:
    legacy, _ = lakes
    day = legacy / "events" / "event_date=2026-11-23"
    original = sorted(day.glob("*.parquet"))[0]
    old = pq.read_table(original)
    expected = old.num_rows
    # a file from before two columns existed, and one that still carried its day column
    pq.write_table(old.drop_columns(["cost_source", "name"]), original)
    with_day = old.append_column("event_date", pa.array(["2026-11-23"] * old.num_rows))
    pq.write_table(with_day.slice(0, 1), day / "with-day.parquet")
    (day / "zero.parquet").write_bytes(b"")
    (day / "truncated.parquet").write_bytes(original.read_bytes()[:50])
    (day / ".hidden.parquet").write_bytes(original.read_bytes())
    (day / ".half-written.1234.tmp").write_bytes(b"half")
    (legacy / "dead_letters" / "event_date=2026-11-30").mkdir()  # an empty day directory
    seen: list[str] = []

    done = {c.table: c for c in convert_lake(Lake.at(legacy), on_quarantine=lambda bad, moved: seen.append(
        f"{bad.path.name}: {bad.error} -> {moved.relative_to(legacy)}"))}
    assert done["events"].quarantined == 3 and done["events"].normalised == 2
    assert sorted(seen) == [
        f".hidden.parquet: {HIDDEN_FILE} -> _quarantine/events/event_date=2026-11-23/.hidden.parquet",
        "truncated.parquet: truncated Parquet file (no magic bytes at the end) -> "
        "_quarantine/events/event_date=2026-11-23/truncated.parquet",
        "zero.parquet: zero-byte file -> _quarantine/events/event_date=2026-11-23/zero.parquet"]
    assert len((legacy / QUARANTINE_DIR / QUARANTINE_LOG).read_bytes().splitlines()) == 3
    files = {Path(f.uri).name for f in Lake.at(legacy).data_files("events")}
    assert {"zero.parquet", "truncated.parquet", ".hidden.parquet"}.isdisjoint(files)
    rows = [r for r in DeltaTable(str(legacy / "events")).to_pyarrow_table().to_pylist()
            if r["event_date"].isoformat() == "2026-11-23"]
    normalised = pq.read_table(original)
    assert normalised.num_rows == expected and normalised.column("name").null_count == expected
    assert len(rows) == expected + 1
    assert sum(1 for r in Lake.at(legacy).partitions("events")) >= 3


def test_convert_refuses_an_undeclared_column_and_a_remote_lake(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    day = root / "alerts" / "event_date=2026-11-24"
    day.mkdir(parents=True)
    pq.write_table(alert_rows().drop_columns(["event_date"]).append_column("surprise", pa.array([1, 2])),
                   day / "a.parquet")
    with pytest.raises(UserError, match="surprise"):
        convert_lake(Lake.at(root))
    assert not (root / "alerts" / "_delta_log").exists()
    with pytest.raises(UserError, match="local lake"):
        convert_lake(Lake.at("s3://bucket/lake", {}))


def test_cli_lake_convert(lakes: tuple[Path, Path], tmp_path: Path) -> None:
    legacy, _ = lakes
    env = {**os.environ, "TRACELAKE_LAKE": str(legacy), "XDG_CACHE_HOME": str(tmp_path / "cache")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "tracelake.cli.main", *args], env=env, capture_output=True,
                              text=True, timeout=120)
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    refused = run("sql", "SELECT count(*) FROM events")
    assert refused.returncode == 2 and "lake convert" in refused.stderr
    first = run("lake", "convert", "--format", "json")
    assert first.returncode == 0, first.stderr
    assert [row["status"] for row in orjson.loads(first.stdout)] == ["converted"] * 3
    second = run("lake", "convert", "--format", "json")
    assert [row["status"] for row in orjson.loads(second.stdout)] == ["already delta"] * 3
    counted = run("sql", "SELECT count(*) AS n FROM dead_letters", "--format", "json")
    assert orjson.loads(counted.stdout) == [{"n": 1}]
