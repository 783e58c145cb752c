"""What the fast path caches and how it rewrites the shared SQL for Spark (no JVM needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tracelake.queries.metrics import build_query, get_spec
from tracelake.queries.timewin import Window, parse_time
from tracelake.spark.caching import needed_columns, reads, views_to_cache
from tracelake.spark.transpile import to_spark

WINDOW = Window(parse_time("2026-11-24"), parse_time("2026-11-25"))


def query(name: str) -> str:
    return build_query(get_spec(name), WINDOW, None, [])[0]


def test_reads_count_views_as_spark_plans_them() -> None:
    assert reads(query("success_rate")) == {"runs": 1}
    assert reads(query("escalation_rate"))["runs"] == 2  # one CTE over runs, read twice
    assert reads("WITH a AS (SELECT * FROM runs), b AS (SELECT * FROM a) SELECT * FROM a, b") == {"runs": 2}
    assert reads("SELECT * FROM tool_calls, llm_calls") == {"tool_calls": 1, "llm_calls": 1, "events": 2}


def test_only_computed_views_read_twice_are_cached() -> None:
    twice = query("escalation_rate")
    assert views_to_cache(twice, runs_computed=False, runs_from_events=False) == []  # a scan of the rollup
    assert views_to_cache(twice, runs_computed=True, runs_from_events=False) == ["runs"]  # the tail
    assert views_to_cache(twice, runs_computed=True, runs_from_events=True) == ["events", "runs"]  # no rollup
    once = query("success_rate")
    assert views_to_cache(once, runs_computed=True, runs_from_events=False) == []
    assert views_to_cache(once, runs_computed=True, runs_from_events=True) == ["events"]  # run_facts reads it
    # An event metric never caches events on the fast path: a re-scan reads only the columns asked for.
    assert views_to_cache(query("tool_call_success"), runs_computed=True, runs_from_events=False) == []


def test_a_cached_runs_keeps_the_columns_the_query_names() -> None:
    columns = ["tenant", "run_id", "outcome", "finished_at", "first_ts", "workflow", "cost_usd", "events"]
    assert needed_columns(query("success_rate"), columns) == ["outcome", "finished_at", "first_ts", "workflow"]
    assert needed_columns("SELECT * FROM runs", columns) is None


def test_union_by_name_becomes_positional_only_for_aligned_sides() -> None:
    assert "BY NAME" not in to_spark("SELECT a, b FROM x UNION ALL BY NAME SELECT a, b FROM y")
    assert "BY NAME" not in to_spark("SELECT * FROM x UNION ALL BY NAME SELECT * EXCLUDE (c) FROM y")
    with pytest.raises(ValueError, match="Spark SQL unions by position"):
        to_spark("SELECT a, b FROM x UNION ALL BY NAME SELECT b, a FROM y")


@pytest.mark.parametrize(("flag", "rollup"), [((), True), (("--event-level",), False)])
def test_the_command_takes_the_fast_path_unless_told(flag: tuple[str, ...], rollup: bool, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """``tracelake spark metrics`` passes ``rollup`` through (no JVM: the session and the metric are stand-ins)."""
    import tracelake.spark.metrics
    import tracelake.spark.session
    from tracelake.cli.main import main

    seen: dict[str, Any] = {}

    class Session:
        def stop(self) -> None:
            seen["stopped"] = True

    def metric(session: Any, lake: Any, name: str, **kwargs: Any) -> list[dict[str, Any]]:
        seen.update(kwargs, name=name)
        return [{"success_rate": 1.0}]

    monkeypatch.setattr(tracelake.spark.session, "spark_session", lambda master, lake=None: Session())
    monkeypatch.setattr(tracelake.spark.metrics, "compute_metric", metric)
    assert main(["spark", "metrics", "success_rate", "--lake", str(tmp_path), "--format", "json", *flag]) == 0
    assert seen["rollup"] is rollup and seen["name"] == "success_rate" and seen["stopped"]
    assert '"success_rate":1.0' in capsys.readouterr().out
