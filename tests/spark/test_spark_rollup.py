"""Spark's fast path over a lake with derived data: compacted (clean) days, a runs rollup, and a tail after it.

The lake (randomized events of tests/queries/rollup: runs around midnight UTC so many span two days, re-sent
copies, out-of-order batches): the first half of the batches, then ``compact_lake`` (every day marked clean, the
runs rollup built over that events version), then the second half appended (the tail: new runs, more events of
runs the rollup holds — runs spanning the cut — and copies of events already in the clean files). For the run
metrics and two event metrics: Spark's fast path == Spark's event-level path == DuckDB.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.queries.rollup.test_runs_rollup import MIDNIGHT, RUN_METRICS, _append, _batches, tail_runs
from tests.spark.test_spark_metrics import HORIZON, assert_same_rows
from tracelake.ingest.compact import compact_lake
from tracelake.lake.lake import Lake
from tracelake.lake.tables import EVENTS
from tracelake.queries.metrics import compute_metric

pytestmark = pytest.mark.spark

SINCE, UNTIL = MIDNIGHT - timedelta(hours=1), MIDNIGHT + timedelta(hours=1)
NAMES = (*RUN_METRICS, "tool_call_success", "cost_attribution")


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    lake = Lake.at(tmp_path_factory.mktemp("spark-rollup") / "lake")
    batches = _batches(700, runs=40)
    half = len(batches) // 2
    for i, batch in enumerate(batches[:half]):
        _append(lake, batch, f"before-{i}")
    compact_lake(lake, older_than_days=0, run_horizon=HORIZON)  # clean days + the rollup over this version
    covered = {(e["tenant"], e["run_id"]) for batch in batches[:half] for e in batch}
    for i, batch in enumerate(batches[half:]):
        _append(lake, batch, f"after-{i}")
    later = [e for batch in batches[half:] for e in batch]
    # What the test is about: a tail, runs spanning the cut, copies of clean events, clean days.
    assert tail_runs(lake) > 0
    assert any((e["tenant"], e["run_id"]) in covered for e in later)
    assert any((e["tenant"], e["run_id"]) not in covered for e in later)
    assert any(lake.clean_files(EVENTS, lake.partitions(EVENTS)).values())
    return lake


def test_fast_path_equals_event_level_and_duckdb(spark: Any, lake: Lake) -> None:
    from tracelake.spark.metrics import compute_metric as spark_metric

    # Every name on both paths; the tenant scope (a filter inside every part of the views) on the fast path of
    # two of them (Spark queries are slow: kept few).
    cases = [(name, None, None, rollup) for name in NAMES for rollup in (True, False)]
    cases += [(name, ("tenant",), "acme", True) for name in ("success_rate", "tool_call_success")]
    for name, group_by, tenant, rollup in cases:
        expected = compute_metric(lake, name, group_by=group_by, since=SINCE, until=UNTIL, tenant=tenant,
                                  run_horizon=HORIZON)
        assert expected, f"{name}: no rows; the comparison would prove nothing"
        got = spark_metric(spark, lake, name, group_by=group_by, since=SINCE, until=UNTIL, tenant=tenant,
                           run_horizon=HORIZON, rollup=rollup)
        assert_same_rows(got, expected)


def test_fast_path_reads_the_rollup_and_clean_files(spark: Any, lake: Lake) -> None:
    """The fast path's ``runs`` is the rollup plus its tail and ``events`` reads the clean files without
    de-duplication: the statements name the rollup's table and the clean split (no second copy of the SQL)."""
    from tracelake.spark.metrics import fast_view_sql
    from tracelake.spark.sources import FileViews

    files = FileViews(spark, lake)
    statements, shape = fast_view_sql(files, lake, run_horizon=HORIZON)
    assert shape.rollup and shape.runs_computed and not shape.runs_from_events  # the tail is computed
    events, runs = statements[0], next(s for s in statements if " VIEW runs " in s)
    assert "UNION ALL" in events and "row_number" in events.lower()  # clean part + de-duplicated rest
    tables = {str(key[0]).split("/")[-3] for key in files.views}
    assert {"events", "runs"} <= tables
    assert "touched" in runs and "__tracelake_files_" in runs
    files.drop()
