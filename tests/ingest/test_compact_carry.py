"""A compaction's rewrite changes no fact: the derived tables that were current stay current (carried over to
its version), so neither readers' tails nor the next upkeep recompute the rewritten days' runs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from tracelake.ingest.compact import compact_lake
from tracelake.ingest.derived import refresh_derived
from tracelake.lake.lake import Lake
from tracelake.lake.tables import EVENTS
from tracelake.queries.controls.results import compute_results, read_results
from tracelake.queries.rollup import compute_runs, pending_files, read_runs, refresh_runs

TODAY = date(2026, 11, 25)
OLD = date(2026, 11, 20)


def rows(run: str, day: date, offset: int, partition: int = 0, *, ids: tuple[str, ...] = ("s", "f")) -> pa.Table:
    ts = datetime.combine(day, datetime.min.time(), tzinfo=UTC).replace(hour=10)
    kinds = {"s": "run_started", "f": "run_finished"}
    return EVENTS.to_arrow(
        [{"event_id": f"{run}-{i}", "tenant": "acme", "event_type": kinds[i], "run_id": run, "workflow": "refund",
          "workflow_version": "v1", "status": "ok" if i == "f" else None, "ts": ts + timedelta(minutes=n),
          "event_date": day.isoformat(), "source": "kafka", "kafka_topic": "t", "kafka_partition": partition,
          "kafka_offset": offset + n, "ingested_at": ts} for n, i in enumerate(ids)])


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lake = Lake.at(tmp_path)
    writer = lake.writer(EVENTS)
    writer.write(rows("r1", OLD, 0), "p0")
    writer.write(rows("r1", OLD, 0, partition=1), "p1")  # the same events re-sent: copies to rewrite away
    writer.write(rows("r2", OLD, 2), "p0b")
    writer.write(rows("r3", TODAY, 4), "p0c")
    return lake


def _same_as_scratch(lake: Lake) -> None:
    assert read_runs(lake).to_pylist() == compute_runs(lake).to_pylist()
    assert sorted(map(str, read_results(lake).to_pylist())) == sorted(map(str, compute_results(lake).to_pylist()))


def test_current_derived_tables_are_carried_over_the_rewrite(lake: Lake) -> None:
    refresh_derived(lake, timedelta(hours=24))
    assert pending_files(lake) == 0
    report = compact_lake(lake, older_than_days=1, today=TODAY)
    # The consumers' tidy left the day clean but in several files: compaction still rewrites it.
    assert [p.action for p in report.partitions] == ["rewrite"]
    # Nothing was new to the rollup or the control results after the rewrite: nothing recomputed.
    assert report.rollup is not None and report.rollup.runs_recomputed == 0
    assert pending_files(lake) == 0
    _same_as_scratch(lake)


def test_a_rollup_behind_is_left_to_its_refresh(lake: Lake) -> None:
    refresh_runs(lake)
    lake.writer(EVENTS).write(rows("r4", OLD, 6), "p0d")  # not covered when the compaction commits
    report = compact_lake(lake, older_than_days=1, today=TODAY)
    assert report.rollup is not None and report.rollup.runs_recomputed > 0  # the rewritten day read as new
    assert pending_files(lake) == 0
    _same_as_scratch(lake)
