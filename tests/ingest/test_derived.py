"""The consumer's upkeep (ingest/derived.py): tidy, runs rollup, control results; in a worker process too."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from tracelake.ingest.derived import refresh_derived, refresh_derived_isolated
from tracelake.lake.lake import Lake
from tracelake.lake.tables import EVENTS, RUNS
from tracelake.queries.engine import open_lake
from tracelake.queries.views import source_parts

DAY = date(2026, 11, 20)
START = datetime(2026, 11, 20, 10, tzinfo=UTC)


def rows(ids: list[str], offset: int) -> pa.Table:
    return EVENTS.to_arrow(
        [{"event_id": i, "tenant": "acme", "event_type": "tool_call", "run_id": f"run-{i[0]}", "ts": START,
          "workflow": "refund", "event_date": DAY.isoformat(), "source": "kafka", "kafka_topic": "t",
          "kafka_partition": 0, "kafka_offset": offset + n, "ingested_at": START + timedelta(seconds=offset)}
         for n, i in enumerate(ids)])


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lake = Lake.at(tmp_path / "lake")
    lake.writer("events").write(rows(["a1", "a2", "b1"], 0), "first")
    lake.writer("events").write(rows(["a1", "c1"], 10), "second")  # a re-sent a1
    return lake


def test_the_isolated_upkeep_tidies_and_brings_the_rollup_up_to_date(lake: Lake) -> None:
    report = refresh_derived_isolated(lake, timedelta(hours=24))
    assert [(t.day, t.copies, t.marked) for t in report.tidied] == [(DAY, 1, True)]
    assert report.runs.runs_recomputed == 3 and report.runs.changed
    assert source_parts(lake, EVENTS).dirty == []
    assert len(lake.data_files(RUNS)) >= 1
    with open_lake(lake) as con:
        assert con.execute("SELECT count(*) FROM events").rows == [(4,)]
        assert con.execute("SELECT sum(tool_calls) FROM runs").rows == [(4,)]
    again = refresh_derived(lake, timedelta(hours=24))  # nothing left to do
    assert again.tidied == [] and not again.runs.changed


def test_an_upkeep_past_its_time_limit_is_stopped(lake: Lake) -> None:
    with pytest.raises(TimeoutError, match="was stopped"):
        refresh_derived_isolated(lake, timedelta(hours=24), timeout_s=0.001)
