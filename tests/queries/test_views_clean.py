"""The ``events`` view de-duplicates only partitions not marked clean: every metric answers the same before and
after compaction (local and S3); a late copy in a clean partition is still removed; a wrong marker is ignored."""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from deltalake import CommitProperties, Transaction, write_deltalake

from tests.queries.conftest import build_golden
from tracelake.ingest.compact import compact_lake
from tracelake.lake.delta import clean_app_id, files_digest
from tracelake.lake.lake import Lake, as_lake
from tracelake.lake.tables import EVENTS, EVENTS_SCHEMA
from tracelake.queries.engine import open_lake
from tracelake.queries.metrics import METRICS, PUBLIC_METRICS, compute_metric, run_metric
from tracelake.queries.timewin import Window, parse_time
from tracelake.queries.views import (
    EVENTS_CLEAN_VIEW,
    EVENTS_TAIL_VIEW,
    source_parts,
    split_sources,
    view_statements,
)

DAY = date(2026, 11, 24)
WINDOWS = [None, Window(parse_time("2026-11-24"), parse_time("2026-11-25"))]


def answers(lake: Path | Lake) -> dict[tuple[str, str, str | None], Any]:
    """Every metric (internal ones too), over everything and over one day, for every tenant and for one; and the
    row-level views' counts."""
    out: dict[tuple[str, str, str | None], Any] = {}
    for name in PUBLIC_METRICS:
        for window in WINDOWS:
            for tenant in (None, "acme"):
                since, until = (window.since, window.until) if window else (None, None)
                out[(name, str(window), tenant)] = compute_metric(lake, name, since=since, until=until, tenant=tenant)
    with open_lake(lake) as con:
        for name in set(METRICS) - set(PUBLIC_METRICS):
            out[(name, "internal", None)] = run_metric(con, name, internal=True)
        for view in ("events", "llm_calls", "tool_calls", "runs"):
            out[(view, "rows", None)] = con.execute(
                f"SELECT count(*), count(DISTINCT (tenant, {'event_id' if view != 'runs' else 'run_id'})) "
                f"FROM {view}").fetchone()
    return out


def resend_day(lake: Path, day: date, topic: str) -> None:
    """Every event of ``day`` stored again an hour later from a new source (a producer re-sending a batch)."""
    files = [f.uri for f in as_lake(lake).data_files("events") if f.day == day]
    table = pa.concat_tables(pq.read_table(f) for f in files)
    later = pc.add(table.column("ingested_at"), pa.scalar(timedelta(hours=1), pa.duration("us")))
    table = table.set_column(table.schema.get_field_index("ingested_at"), "ingested_at",
                             later.cast(EVENTS_SCHEMA.field("ingested_at").type))
    table = table.set_column(table.schema.get_field_index("kafka_topic"), "kafka_topic",
                             pa.array([topic] * table.num_rows, pa.string()))
    table = table.append_column("event_date", pa.array([day.isoformat()] * table.num_rows))
    assert as_lake(lake).writer("events").write(table.select(EVENTS_SCHEMA.names).cast(EVENTS_SCHEMA), topic) == 1


def events_statement(lake: Path | Lake, window: Window | None = None) -> str:
    return view_statements(lake, window=window)[0]


def compare_before_and_after_compaction(lake: Path | Lake) -> None:
    before = answers(lake)
    assert "row_number()" in events_statement(lake)  # nothing marked yet: every partition de-duplicated
    assert before[("events", "rows", None)][0] == before[("events", "rows", None)][1]  # one row per event
    report = compact_lake(lake, older_than_days=0)
    assert report.partitions and all(r.marked for r in report.partitions)
    statement = events_statement(lake)
    assert "row_number()" not in statement and "UNION ALL BY NAME" not in statement  # all clean: read as stored
    assert answers(lake) == before


def test_every_metric_answers_the_same_before_and_after_compaction(golden_lake: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(golden_lake, lake)
    compare_before_and_after_compaction(lake)


@pytest.mark.s3
def test_every_metric_answers_the_same_before_and_after_compaction_on_s3(s3_server: Any, tmp_path: Path) -> None:
    bucket = f"clean-{uuid.uuid4().hex[:10]}"
    s3_server.create_bucket(bucket)
    lake = Lake.at(f"s3://{bucket}/lake", s3_server.env())
    build_golden(lake, tmp_path)
    compare_before_and_after_compaction(lake)


@pytest.fixture
def compacted(golden_lake: Path, tmp_path: Path) -> Path:
    lake = tmp_path / "lake"
    shutil.copytree(golden_lake, lake)
    compact_lake(lake, older_than_days=0)
    return lake


def count_events(lake: Path, where: str = "true") -> tuple[int, int]:
    with open_lake(lake) as con:
        found = con.execute(f"SELECT count(*), count(DISTINCT (tenant, event_id)) FROM events WHERE {where}").fetchone()
    assert found is not None
    return found


def test_a_late_copy_in_a_clean_partition_is_still_removed(compacted: Path) -> None:
    before = count_events(compacted)
    rows_before = compute_metric(compacted, "cost_attribution")
    marked = [f.uri for f in as_lake(compacted).partitions(EVENTS)[DAY]]
    resend_day(compacted, DAY, "late-resend")  # every event of the day sent again: a second live file
    parts = source_parts(compacted, EVENTS)
    # The marked file stays a clean prefix; only the late file is de-duplicated, also against that prefix.
    assert len(parts.dirty) == 1 and f"event_date={DAY.isoformat()}" in parts.dirty[0]
    assert parts.prefix == marked and set(marked) < set(parts.clean)
    statement = events_statement(compacted)
    assert "UNION ALL BY NAME" in statement and "row_number()" in statement and "NOT EXISTS" in statement
    assert count_events(compacted) == before
    assert compute_metric(compacted, "cost_attribution") == rows_before
    # Only that day in the window: its prefix as it is, its tail de-duplicated; a clean day alone: no de-duplication.
    day = Window(parse_time("2026-11-24T12:00:00Z"), parse_time("2026-11-24T13:00:00Z"))
    assert events_statement(compacted, day) == EVENTS_TAIL_VIEW.format(
        clean=split_sources_sql(marked), source=split_sources_sql(parts.dirty), prefix=split_sources_sql(marked),
        scope="")
    other = Window(parse_time("2026-11-23T12:00:00Z"), parse_time("2026-11-23T13:00:00Z"))
    assert events_statement(compacted, other).strip() == EVENTS_CLEAN_VIEW.format(
        clean=split_sources_sql(split_sources(compacted, EVENTS, other)[0]), scope="").strip()
    # The next compaction de-duplicates it on disk and marks it again.
    (result,) = compact_lake(compacted, older_than_days=0).partitions
    assert (result.partition, result.action, result.marked) == (f"event_date={DAY.isoformat()}", "rewrite", True)
    assert "row_number()" not in events_statement(compacted)
    assert count_events(compacted) == before


def split_sources_sql(files: list[str]) -> str:
    listed = ", ".join(f"'{f}'" for f in files)
    return f"read_parquet([{listed}], hive_partitioning = true, union_by_name = true)"


def test_tenant_scope_stays_inside_the_view(compacted: Path) -> None:
    resend_day(compacted, DAY, "late-resend")
    statement = view_statements(compacted, tenant="acme")[0]
    assert statement.count("WHERE tenant = 'acme'") == 2  # the clean rows and the de-duplicated ones
    with open_lake(compacted, tenant="acme") as con:
        assert con.execute("SELECT DISTINCT tenant FROM events").fetchall() == [("acme",)]


def test_a_marker_with_a_wrong_digest_is_ignored(golden_lake: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(golden_lake, lake)
    before = count_events(lake)
    files = as_lake(lake).partitions(EVENTS)[DAY]
    assert len(files) == 2  # the day and its replayed copy: every event twice
    wrong = files_digest(as_lake(lake), EVENTS, files[:1])
    marker = Transaction(clean_app_id(EVENTS, DAY), wrong)
    write_deltalake(str(lake / "events"), EVENTS.delta_schema.empty_table(), mode="append",
                    commit_properties=CommitProperties(app_transactions=[marker]))
    assert split_sources(lake, EVENTS)[0] == []
    assert count_events(lake) == before


def test_a_partition_the_view_reads_as_is_is_exactly_the_marked_set(compacted: Path) -> None:
    """A reader whose listing predates a late append reads the old set as clean; one that lists after it sees the
    new set as dirty: clean-ness is decided on the very files read."""
    lake = as_lake(compacted)
    old = lake.partitions(EVENTS)
    assert lake.clean_days(EVENTS, old) == set(old)
    late = ev_rows(["late-1"], DAY)
    lake.writer("events").write(late, "late-batch")
    assert lake.clean_days(EVENTS, old) == set(old)  # the files listed before: still exactly the marked sets
    assert lake.clean_days(EVENTS, lake.partitions(EVENTS)) == set(old) - {DAY}


def ev_rows(ids: list[str], day: date) -> pa.Table:
    ts = datetime.combine(day, datetime.min.time(), tzinfo=UTC).replace(hour=15)
    return EVENTS.to_arrow([{"event_id": i, "tenant": "acme", "event_type": "custom", "name": "x", "ts": ts,
                             "event_date": day.isoformat(), "source": "late", "kafka_topic": "late",
                             "kafka_partition": 0, "kafka_offset": n, "ingested_at": ts} for n, i in enumerate(ids)])

