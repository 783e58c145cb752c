"""Spark's answer equals DuckDB's for the confirmed-outcome metrics on a lake that has confirmations (the golden
lake of test_spark_metrics has none): the join through idempotency keys, latest-wins and tenant scope."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.queries.conftest import ingest
from tests.queries.test_confirmed import SINCE, UNTIL, events
from tests.spark.test_spark_metrics import HORIZON, assert_same_rows
from tracelake.queries.metrics import METRICS, compute_metric, connection_window
from tracelake.queries.timewin import Window

pytestmark = pytest.mark.spark

NAMES = ("confirmed_success_rate", "cost_per_confirmed_success", "success_claim_gap")


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("spark-confirmed")
    ingest(tmp / "lake", [orjson.dumps(e) for e in events()], tmp)
    return tmp / "lake"


@pytest.mark.parametrize("tenant", [None, "acme"])
def test_spark_equals_duckdb(spark: Any, lake: Path, tenant: str | None) -> None:
    from tracelake.spark.metrics import create_views
    from tracelake.spark.metrics import run_metric as spark_metric

    create_views(spark, lake, tenant=tenant,
                 window=connection_window(METRICS[NAMES[0]], Window(SINCE, UNTIL), HORIZON))
    for name in NAMES:
        for group_by in (None, (), ("tenant", "workflow")):
            expected = compute_metric(lake, name, group_by=group_by, since=SINCE, until=UNTIL, tenant=tenant,
                                      run_horizon=HORIZON)
            assert expected and expected[0]["runs" if "runs" in expected[0] else "claimed_successes"] > 0
            got = spark_metric(spark, name, group_by=group_by, since=SINCE, until=UNTIL)
            assert_same_rows(got, expected)
