"""The views: partition pruning really skips files, duplicates collapse, runs take run_finished's values."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tracelake.lake.lake import Lake
from tracelake.queries.engine import QueryError, open_lake
from tracelake.queries.metrics import compute_metric
from tracelake.queries.timewin import Window, parse_time
from tracelake.queries.views import source_sql

DAY = Window(parse_time("2026-11-24"), parse_time("2026-11-25"))


def test_source_lists_only_the_window_partitions(golden_lake: Path) -> None:
    source = source_sql(golden_lake, "events", DAY)
    assert source is not None and "event_date=2026-11-24" in source
    assert "event_date=2026-11-23" not in source and "event_date=2026-11-25" not in source
    assert source_sql(golden_lake, "events", Window(parse_time("2030-01-01"), parse_time("2030-01-02"))) is None


def _live(lake: Path, table: str, day: str) -> list[Path]:
    return [Path(f.uri) for f in Lake.at(lake).data_files(table) if f.day.isoformat() == day]


def test_pruned_partitions_are_never_opened(golden_lake: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(golden_lake, lake)
    # A live file corrupt inside (its first and last bytes look like Parquet, so the footer check passes it) in
    # a partition outside the window: reading it would fail the query.
    (victim,) = _live(lake, "events", "2026-11-25")
    victim.write_bytes(b"PAR1" + b"x" * 100 + (50).to_bytes(4, "little") + b"PAR1")
    rows = compute_metric(lake, "tool_call_validity", since=DAY.since, until=DAY.until)
    assert [r["tool_calls"] for r in rows] == [1, 3]
    # success_rate (a run metric) reads the day before too, never the day after.
    assert compute_metric(lake, "success_rate", since=DAY.since, until=DAY.until)
    with pytest.raises(QueryError) as error:  # the unpruned views do open it, and say so in one line
        open_lake(lake)
    assert victim.name in str(error.value) and "\n" not in str(error.value)


def test_events_collapse_duplicates_first_ingested_wins(golden_lake: Path) -> None:
    with open_lake(golden_lake) as con:
        # 37 distinct events; the 2026-11-24 partition is stored twice.
        assert con.execute("SELECT count(*), count(DISTINCT event_id) FROM events").fetchone() == (37, 37)
        assert con.execute("SELECT count(DISTINCT source) FROM events").fetchone() == (1,)
        first = con.execute("SELECT min(ingested_at) = max(ingested_at) FROM events").fetchone()
        assert first == (True,)  # every kept copy is the original ingest, not the replay an hour later


def test_runs_view_columns_and_values(golden_lake: Path) -> None:
    with open_lake(golden_lake) as con:
        result = con.execute("SELECT * FROM runs WHERE run_id IN ('R3', 'R6', 'R8') ORDER BY run_id")
        assert result.columns[:19] == [
            "run_id", "tenant", "workflow", "workflow_version", "team", "release", "environment", "started_at",
            "finished_at", "outcome", "total_cost_usd", "llm_calls", "tool_calls", "model_ms", "tool_ms", "run_ms",
            "escalated", "fell_back", "first_ts"]
        r3, r6, r8 = result.dicts()
    assert r3["started_at"] is None and r3["run_ms"] is None and r3["fell_back"] and not r3["escalated"]
    assert r6["finished_at"] is None and r6["outcome"] is None and r6["total_cost_usd"] == 0.05
    assert r8["team"] == "it-ops" and r8["outcome"] == "failure" and r8["tool_calls"] == 2


def _extra_copy(lake: Path, table: str, day: str, topic: str) -> Path:
    """One more live file in ``table``'s ``day``: a copy of an existing file's rows under another source (so
    the table takes them), which the views show once or, for dead letters, as other rows."""
    before = set(_live(lake, table, day))
    rows = pq.read_table(sorted(before)[0])
    rows = rows.set_column(rows.schema.get_field_index("kafka_topic"), "kafka_topic",
                           pa.array([topic] * rows.num_rows, pa.string()))
    rows = rows.append_column("event_date", pa.array([day] * rows.num_rows, pa.string()))
    Lake.at(lake).writer(table).write(rows, f"copy-{topic}")
    (added,) = set(_live(lake, table, day)) - before
    return added


def _corrupt_some(lake: Path) -> tuple[Path, Path, Path]:
    """Live files made unreadable: a zero-byte and a truncated extra copy of the events' 2026-11-24 rows, and a
    zero-byte extra copy of some dead letters."""
    zero = _extra_copy(lake, "events", "2026-11-24", "extra-1")
    truncated = _extra_copy(lake, "events", "2026-11-24", "extra-2")
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    zero.write_bytes(b"")
    day = next(iter(Lake.at(lake).partitions("dead_letters"))).isoformat()
    dead = _extra_copy(lake, "dead_letters", day, "extra-3")
    dead.write_bytes(b"")
    return zero, truncated, dead


def test_unreadable_files_are_left_out_and_named(golden_lake: Path, tmp_path: Path) -> None:
    from tracelake.queries.views import collect_skipped, skipped_files

    lake = tmp_path / "lake"
    shutil.copytree(golden_lake, lake)
    with open_lake(lake) as con:
        expected = con.execute("SELECT count(*) FROM events").fetchone()
        dead = con.execute("SELECT count(*) FROM dead_letters").fetchone()
        assert con.skipped == []
    zero, truncated, dead_zero = _corrupt_some(lake)
    with collect_skipped() as skipped, open_lake(lake) as con:
        # Every view still answers, from the readable files, with the same rows.
        assert con.execute("SELECT count(*) FROM events").fetchone() == expected
        assert con.execute("SELECT count(*) FROM dead_letters").fetchone() == dead
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] > 0
        assert sorted(b.path for b in con.skipped) == sorted([zero, truncated, dead_zero])
    assert {b.path for b in skipped} == {zero, truncated, dead_zero}
    assert {b.path for b in skipped_files(lake)} == {zero, truncated, dead_zero}
    # Pruned to another day, the events' bad files are not read and not reported; dead letters always are.
    other = Window(parse_time("2026-11-23"), parse_time("2026-11-24"))
    assert [b.path for b in skipped_files(lake, other)] == [dead_zero]
    assert "skipped unreadable file" in skipped[0].warning() and str(skipped[0].path) in skipped[0].warning()
    assert compute_metric(lake, "success_rate")  # a metric answers too


def test_a_compaction_after_the_views_were_built_changes_no_answer(golden_lake: Path, tmp_path: Path) -> None:
    from tracelake.ingest.compact import compact_lake

    lake = tmp_path / "lake"
    shutil.copytree(golden_lake, lake)
    files_before = len(Lake.at(lake).data_files("events"))
    with open_lake(lake) as con:
        before = con.execute("SELECT count(*), count(DISTINCT event_id) FROM events").fetchone()
        # The compaction replaces the files the views were built over: they stay readable until vacuum.
        assert compact_lake(lake, older_than_days=0).partitions
        assert con.execute("SELECT count(*), count(DISTINCT event_id) FROM events").fetchone() == before
    assert len(Lake.at(lake).data_files("events")) < files_before
    with open_lake(lake) as con:  # a new connection reads the compacted files
        assert con.execute("SELECT count(*), count(DISTINCT event_id) FROM events").fetchone() == before
