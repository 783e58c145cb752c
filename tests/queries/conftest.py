"""Fixture lakes for the analytics tests, built through the real ingest-file path.

``golden_lake``: a small hand-made data set whose every metric value is
worked out by hand in ``test_metrics.py``. It holds the awkward cases: a run
without ``run_started`` (R3), runs without ``run_finished`` (R6 in flight; R9
finishes after the window), a trigger pointing at a missing event (R3), a
trigger whose observed time is after the fallback (R10, clamps to 0), a run
crossing midnight (R7, its start sits in the previous day's partition),
offsets other than Z (R2 +02:00, R5 +05:30 / −08:00), duplicates (a line
repeated in the file, and a whole partition stored twice as a replayed batch
would), group values that differ between run_started and run_finished (R8).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tests.helpers import MarkingRedactor
from tracelake.ingest.file_ingest import IngestSummary, ingest_stream
from tracelake.ingest.metrics import Counters
from tracelake.ingest.pipeline import PipelineParts
from tracelake.ingest.sinks import MemoryDeadLetterSink
from tracelake.lake.lake import Lake, as_lake
from tracelake.lake.tables import EVENTS_SCHEMA


def ingest(lake: Path | Lake, lines: list[bytes], tmp: Path) -> IngestSummary:
    """JSON Lines through validate → redact → write, as ``tracelake ingest-file`` does (``lake``: a local
    directory or a :class:`Lake`, e.g. on the loopback S3 server)."""
    the_lake = as_lake(lake)
    path = tmp / f"in-{len(list(tmp.glob('in-*.jsonl')))}.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    parts = PipelineParts(redactor=MarkingRedactor(), events=the_lake.writer("events"),
                          dead_letters=the_lake.writer("dead_letters"), prices={}, counters=Counters(),
                          dlq=MemoryDeadLetterSink())
    return ingest_stream([str(path)], parts, the_lake)


_ids = itertools.count(1)


def ev(event_type: str, ts: str, run_id: str, workflow: str, version: str, **fields: Any) -> dict[str, Any]:
    event = {"schema_version": "1", "event_id": fields.pop("event_id", f"e{next(_ids):04d}"),
             "event_type": event_type, "ts": ts, "run_id": run_id, "workflow": workflow,
             "workflow_version": version}
    event.update(fields)
    return event


def golden_events() -> list[dict[str, Any]]:
    r1 = {"tenant": "acme", "team": "support", "release": "r1"}
    r2 = {"tenant": "acme", "team": "support", "release": "r2"}
    acc = {"tenant": "globex", "team": "it"}
    rf1, rf2, ac = ("refund", "v1"), ("refund", "v2"), ("access", "v1")
    llm = {"model": "m-small", "provider": "p"}
    return [
        # R1 refund v1: success; its llm_call is sent twice (same event_id).
        ev("run_started", "2026-11-24T10:00:00Z", "R1", *rf1, **r1),
        ev("llm_call", "2026-11-24T10:00:01Z", "R1", *rf1, **r1, **llm, duration_ms=1000, cost_usd=0.01,
           event_id="R1-llm"),
        ev("llm_call", "2026-11-24T10:00:01Z", "R1", *rf1, **r1, **llm, duration_ms=1000, cost_usd=0.01,
           event_id="R1-llm"),
        ev("tool_call", "2026-11-24T10:00:02.500Z", "R1", *rf1, **r1, tool_name="get_order", duration_ms=500,
           schema_valid=True, success=True, cost_usd=0.002),
        ev("postcondition_check", "2026-11-24T10:00:04Z", "R1", *rf1, **r1, check="amount_ok", passed=True),
        ev("run_finished", "2026-11-24T10:00:05Z", "R1", *rf1, **r1, outcome="success"),
        # R2 refund v1 (+02:00 offsets): escalation triggered by a failing tool call → TTSF 800 ms.
        ev("run_started", "2026-11-24T12:10:00+02:00", "R2", *rf1, **r1),
        ev("tool_call", "2026-11-24T12:10:01+02:00", "R2", *rf1, **r1, tool_name="get_order", duration_ms=200,
           schema_valid=False, success=False, status="error",
           error={"type": "SchemaError", "message": "bad"}, event_id="R2-tool"),
        ev("escalation", "2026-11-24T10:10:02Z", "R2", *rf1, **r1, reason="invalid_tool_args",
           trigger_event_id="R2-tool"),
        ev("run_finished", "2026-11-24T10:10:03Z", "R2", *rf1, **r1, outcome="escalated", event_id="R2-fin"),
        ev("run_finished", "2026-11-24T10:10:03Z", "R2", *rf1, **r1, outcome="escalated", event_id="R2-fin"),
        # R3 refund v1: no run_started; fallback's trigger is missing → earliest trouble (tool, observed
        # 10:20:01 + 1.5 s = 10:20:02.5) → TTSF 500 ms.
        ev("llm_call", "2026-11-24T10:20:00Z", "R3", *rf1, **r1, **llm, duration_ms=2000, cost_usd=0.02),
        ev("tool_call", "2026-11-24T10:20:01Z", "R3", *rf1, **r1, tool_name="refund", duration_ms=1500,
           schema_valid=True, success=False),
        ev("postcondition_check", "2026-11-24T10:20:02.800Z", "R3", *rf1, **r1, check="amount_ok", passed=False),
        ev("fallback", "2026-11-24T10:20:03Z", "R3", *rf1, **r1, reason="tool_failed",
           trigger_event_id="does-not-exist"),
        ev("run_finished", "2026-11-24T10:20:04Z", "R3", *rf1, **r1, outcome="fallback"),
        # R4 refund v2: escalation with no trigger and no earlier trouble → from run_started, 10 s.
        ev("run_started", "2026-11-24T10:30:00Z", "R4", *rf2, **r2),
        ev("escalation", "2026-11-24T10:30:10Z", "R4", *rf2, **r2, reason="low_confidence"),
        ev("escalation", "2026-11-24T10:30:15Z", "R4", *rf2, **r2, reason="low_confidence"),
        ev("policy_decision", "2026-11-24T10:30:20Z", "R4", *rf2, **r2, action="refund", risk_tier="red",
           decision="block"),
        ev("run_finished", "2026-11-24T10:30:30Z", "R4", *rf2, **r2, outcome="escalated"),
        # R5 refund v2 (+05:30 / −08:00 offsets): success.
        ev("run_started", "2026-11-24T16:10:00+05:30", "R5", *rf2, **r2),
        ev("llm_call", "2026-11-24T10:40:01Z", "R5", *rf2, **r2, **llm, duration_ms=3000, cost_usd=0.03),
        ev("run_finished", "2026-11-24T02:40:10-08:00", "R5", *rf2, **r2, outcome="success"),
        # R6 refund v2: in flight (no run_finished).
        ev("run_started", "2026-11-24T10:50:00Z", "R6", *rf2, **r2),
        ev("llm_call", "2026-11-24T10:50:01Z", "R6", *rf2, **r2, **llm, duration_ms=100, cost_usd=0.05),
        # R10 refund v2: fallback triggered by an llm_call still running (observed 11:00:05 > 11:00:02) → 0.
        ev("run_started", "2026-11-24T11:00:00Z", "R10", *rf2, **r2),
        ev("llm_call", "2026-11-24T11:00:00Z", "R10", *rf2, **r2, **llm, duration_ms=5000, cost_usd=0.001,
           event_id="R10-llm"),
        ev("fallback", "2026-11-24T11:00:02Z", "R10", *rf2, **r2, reason="slow", trigger_event_id="R10-llm"),
        ev("run_finished", "2026-11-24T11:00:06Z", "R10", *rf2, **r2, outcome="fallback"),
        # R7 access v1: crosses midnight; its start and tool call are in the 2026-11-23 partition.
        ev("run_started", "2026-11-23T23:59:00Z", "R7", *ac, **acc),
        ev("tool_call", "2026-11-23T23:59:30Z", "R7", *ac, **acc, tool_name="lookup_user", duration_ms=100,
           schema_valid=True, success=True),
        ev("run_finished", "2026-11-24T00:01:00Z", "R7", *ac, **acc, outcome="success"),
        # R8 access v1: team differs between start and finish; one tool call without schema_valid/success.
        ev("run_started", "2026-11-24T11:00:00Z", "R8", *ac, tenant="globex", team="it"),
        ev("tool_call", "2026-11-24T11:00:01Z", "R8", *ac, tenant="globex", team="it", tool_name="lookup_user",
           duration_ms=50),
        ev("tool_call", "2026-11-24T11:00:02Z", "R8", *ac, tenant="globex", team="it", tool_name="grant",
           duration_ms=150, schema_valid=False, success=True),
        ev("run_finished", "2026-11-24T11:00:05Z", "R8", *ac, tenant="globex", team="it-ops", outcome="failure"),
        # R9 refund v1: finishes after the window [2026-11-24, 2026-11-25).
        ev("run_started", "2026-11-24T23:59:50Z", "R9", *rf1, **r1),
        ev("run_finished", "2026-11-25T00:00:30+00:00", "R9", *rf1, **r1, outcome="success"),
    ]


def replay_partition(lake: Path | Lake, day: str) -> None:
    """Store a partition's rows again as another file, ingested an hour later (the same events sent again by
    their producer: another source, so the table takes them and the views must show each event once)."""
    from tracelake.lake.lake import _filesystem, _fs_path

    the_lake = as_lake(lake)
    files = [f.uri for f in the_lake.data_files("events") if f.day.isoformat() == day]
    filesystem = _filesystem(the_lake)
    table = pq.read_table(_fs_path(files[0]) if filesystem else files[0], filesystem=filesystem)
    column = table.schema.get_field_index("ingested_at")
    later = pc.add(table.column(column), pa.scalar(timedelta(hours=1), pa.duration("us")))
    table = table.set_column(column, "ingested_at", later.cast(EVENTS_SCHEMA.field("ingested_at").type))
    table = table.append_column("event_date", pa.array([day] * table.num_rows))
    table = table.set_column(table.schema.get_field_index("kafka_topic"), "kafka_topic",
                             pa.array(["replayed-batch"] * table.num_rows, pa.string()))
    the_lake.writer("events").write(table.select(EVENTS_SCHEMA.names).cast(EVENTS_SCHEMA), "replayed-batch")


@pytest.fixture(scope="session")
def golden_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("golden")
    lake = tmp / "lake"
    build_golden(lake, tmp)
    return lake


def build_golden(lake: Path | Lake, tmp: Path) -> None:
    """The golden events through the ingest path, one rejected line, and the 2026-11-24 partition re-sent."""
    lines = [orjson.dumps(e) for e in golden_events()]
    lines.append(b'{"schema_version": "1", "tenant": "acme"}')  # rejected → dead_letters
    summary = ingest(lake, lines, tmp)
    assert summary.rejected == 1 and summary.duplicates == 2
    replay_partition(lake, "2026-11-24")


@pytest.fixture(scope="session")
def golden_lake_s3(tmp_path_factory: pytest.TempPathFactory, s3_server: Any) -> Lake:
    """The golden lake on the loopback S3 server (a real S3Proxy process), built the same way."""
    import uuid

    bucket = f"golden-{uuid.uuid4().hex[:10]}"
    s3_server.create_bucket(bucket)
    lake = Lake.at(f"s3://{bucket}/lake", s3_server.env())
    build_golden(lake, tmp_path_factory.mktemp("golden-s3"))
    return lake


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def golden_anywhere(request: pytest.FixtureRequest, golden_lake: Path) -> Path | Lake:
    """The golden lake on local disk, then on S3: tests that only ask questions of it run on both."""
    return golden_lake if request.param == "local" else request.getfixturevalue("golden_lake_s3")


@pytest.fixture
def make_lake(tmp_path: Path) -> Callable[[list[dict[str, Any]]], Path]:
    """Build a lake from event dicts through the ingest path."""

    def build(events: list[dict[str, Any]]) -> Path:
        lake = tmp_path / "lake"
        ingest(lake, [orjson.dumps(e) for e in events], tmp_path)
        return lake

    return build


def runs_of(workflow: str, version: str, day: str, count: int, *, successes: int, start_hour: int = 0,
            tenant: str = "acme", prefix: str | None = None, **extra: Any) -> Iterator[dict[str, Any]]:
    """``count`` short runs of one workflow version on ``day``, ``successes`` of them successful."""
    tag = prefix or f"{workflow}-{version}-{day}"
    for i in range(count):
        minute = i % 600
        ts = f"{day}T{start_hour + minute // 60:02d}:{minute % 60:02d}:00Z"
        end = f"{day}T{start_hour + minute // 60:02d}:{minute % 60:02d}:30Z"
        common = {"tenant": tenant, **extra}
        run_id = f"{tag}-{i}"
        yield ev("run_started", ts, run_id, workflow, version, event_id=f"{run_id}-s", **common)
        yield ev("run_finished", end, run_id, workflow, version, event_id=f"{run_id}-f",
                 outcome="success" if i < successes else "failure", **common)
