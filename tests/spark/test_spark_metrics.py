"""Spark's answer equals DuckDB's for every metric, on the golden lake (tests/queries/conftest.py).

One SparkSession (local[2]) for the module. The lake is built here, in a
temporary directory, through the real ingest path: the hand-made golden events,
a rejected line (dead_letters), and the 2026-11-24 partition stored twice (a
replayed batch) so the de-duplication is exercised on both engines.

Every metric of ``tracelake.queries.metrics.METRICS`` (the alert series too)
over the golden window, with its default group-by and with none; DuckDB's
``compute_metric`` (``run_metric`` for the alert series) is the reference.
Floats are compared with a tolerance (the engines add in another order).
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.queries.conftest import golden_events, ingest, replay_partition
from tests.spark.conftest import SPARK_CONF
from tracelake.cli.main import main
from tracelake.queries.engine import open_lake
from tracelake.queries.metrics import METRICS, compute_metric, connection_window, run_metric
from tracelake.queries.timewin import Window, parse_time

pytestmark = pytest.mark.spark

SINCE, UNTIL = parse_time("2026-11-24T00:00:00Z"), parse_time("2026-11-25T00:00:00Z")
HORIZON = timedelta(hours=24)
# Run metrics first, then event metrics: the views are created once per kind (their windows differ).
# control_pass_rate and its alert series control_failures are DuckDB's only (MetricSpec.spark; docs/controls.md
# "Spark"): left out explicitly.
SPARK_METRICS = {name for name, spec in METRICS.items() if spec.spark}
CASES = [(name, group) for kind in ("run", "event") for name, spec in METRICS.items()
         if spec.kind == kind and spec.spark
         for group in (None, ())]


def _id(case: tuple[str, tuple[str, ...] | None]) -> str:
    return f"{case[0]}-{'default' if case[1] is None else 'total'}"


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("spark-golden")
    where = tmp / "lake"
    lines = [orjson.dumps(e) for e in golden_events()]
    lines.append(b'{"schema_version": "1", "tenant": "acme"}')  # rejected → dead_letters
    summary = ingest(where, lines, tmp)
    assert summary.rejected == 1 and summary.duplicates == 2
    replay_partition(where, "2026-11-24")
    return where


@pytest.fixture(scope="module")
def views_for(_spark_stopped_at_end: None, lake: Path) -> Callable[[str], None]:
    """Make the session's views those a metric of ``kind`` reads (DuckDB's partition pruning), once per kind: the
    fast path's views (on this lake, which has no rollup and no clean day, the same SQL as the event level)."""
    from tracelake.spark.metrics import create_views
    from tracelake.spark.session import spark_session

    current: list[str] = []

    def ensure(kind: str) -> None:
        if current != [kind]:
            spec = next(s for s in METRICS.values() if s.kind == kind)
            create_views(spark_session("local[2]", conf=SPARK_CONF), lake,
                         window=connection_window(spec, Window(SINCE, UNTIL), HORIZON))
            current[:] = [kind]

    return ensure


def duckdb_answer(lake: Path, name: str, group_by: tuple[str, ...] | None) -> list[dict[str, Any]]:
    spec = METRICS[name]
    if spec.public:
        return compute_metric(lake, name, group_by=group_by, since=SINCE, until=UNTIL, run_horizon=HORIZON)
    with open_lake(lake, window=connection_window(spec, Window(SINCE, UNTIL), HORIZON)) as con:
        return run_metric(con, name, group_by=group_by, since=SINCE, until=UNTIL, internal=True)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def assert_same_rows(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert [list(r) for r in got] == [list(r) for r in expected], (got, expected)  # columns, in order
    assert len(got) == len(expected), (got, expected)
    for mine, theirs in zip(got, expected, strict=True):
        assert same(mine, theirs), (mine, theirs)


def test_every_metric_is_covered() -> None:
    assert {name for name, _ in CASES} == SPARK_METRICS
    assert set(METRICS) - SPARK_METRICS == {"control_pass_rate", "control_failures"}


@pytest.mark.parametrize(("name", "group_by"), CASES, ids=[_id(c) for c in CASES])
def test_spark_equals_duckdb(name: str, group_by: tuple[str, ...] | None, spark: Any, lake: Path,
                             views_for: Callable[[str], None]) -> None:
    from tracelake.spark.metrics import run_metric as spark_metric

    views_for(METRICS[name].kind)
    expected = duckdb_answer(lake, name, group_by)
    assert expected, f"{name}: the golden lake gives no rows; the comparison would prove nothing"
    got = spark_metric(spark, name, group_by=group_by, since=SINCE, until=UNTIL, internal=not METRICS[name].public)
    assert_same_rows(got, expected)


def test_every_statement_transpiles_without_spark() -> None:
    """The shared SQL goes through sqlglot with no construct left unsupported (no JVM needed)."""
    from tracelake.spark.metrics import metric_sql, view_sql

    views = view_sql(tenant="acme")
    assert all(v.startswith("CREATE OR REPLACE TEMPORARY VIEW") for v in views)
    assert "__tracelake_events" in views[0] and "'acme'" in views[0]
    for name in SPARK_METRICS:
        sql = metric_sql(name, Window(SINCE, UNTIL), None, [("workflow", "it's\\here")], internal=True)
        assert not re.search(r"\$[a-z]", sql) and "'it\\'s\\\\here'" in sql  # every value bound, escaped


def test_without_the_extra_one_line_names_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark → ImportError
    assert main(["spark", "metrics", "success_rate", "--lake", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith("tracelake: error: ") and "pip install 'tracelake[spark]'" in err


def test_the_command_answers_as_the_duckdb_command(lake: Path, spark: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """Last in the module: the command stops the (shared, local[2]) session when it is done."""
    args = ["--lake", str(lake), "--since", "2026-11-24", "--until", "2026-11-25", "--group-by", "tenant",
            "--where", "workflow=refund", "--format", "json"]
    assert main(["metrics", "escalation_rate", *args]) == 0
    expected = orjson.loads(capsys.readouterr().out)
    assert main(["spark", "metrics", "escalation_rate", *args, "--master", "local[2]"]) == 0
    out, _ = capsys.readouterr()
    got = orjson.loads(out)
    assert expected == [{"tenant": "acme", "escalation_rate": pytest.approx(1 / 3), "runs": 6, "escalated_runs": 2,
                         "reasons": {"invalid_tool_args": 1, "low_confidence": 2}}]
    assert_same_rows(got, expected)
