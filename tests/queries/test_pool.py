"""The per-process pool of locked-down DuckDB databases behind LakeConnection (queries/pool.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tracelake.queries import pool
from tracelake.queries.engine import QueryError, open_lake


@pytest.fixture(autouse=True)
def empty_pool() -> Iterator[None]:
    pool.close_idle()
    yield
    pool.close_idle()


def test_a_closed_connections_database_is_reused_with_its_views_when_they_are_the_same(golden_lake: Path) -> None:
    with open_lake(golden_lake) as first:
        database = first._database
        count = first.execute("SELECT count(*) FROM events").rows[0][0]
        views = database.catalog
    with open_lake(golden_lake) as second:
        assert second._database is database
        assert second._database.uses == 2
        # The same statements: the views were kept as they were (same catalog entries), not created again.
        assert database.catalog == views
        assert second.execute("SELECT count(*) FROM events").rows[0][0] == count


def test_other_views_replace_the_kept_ones(golden_lake: Path) -> None:
    with open_lake(golden_lake) as everyone:
        database = everyone._database
        views = database.catalog
        total = everyone.execute("SELECT count(*) FROM events").rows[0][0]
    with open_lake(golden_lake, tenant="acme") as acme:
        assert acme._database is database
        assert database.catalog != views
        assert acme.execute("SELECT count(*) FROM events").rows[0][0] < total
    names = {row[0] for row in database.con.execute(
        "SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    assert database.catalog is not None
    assert names == {name for name, _ in database.catalog.views}


def test_a_database_whose_views_were_altered_is_closed_not_reused(golden_lake: Path) -> None:
    with open_lake(golden_lake) as first:
        database = first._database
        # Nothing the product runs does this; the pool must not trust a catalog it did not make.
        database.con.execute("CREATE OR REPLACE VIEW runs AS SELECT 1 AS run_id")
    assert not database.spill.exists()
    with open_lake(golden_lake) as second:
        assert second._database is not database
        assert second.execute("SELECT count(*) FROM runs").rows[0][0] > 1


def test_a_new_file_gives_new_views(golden_lake: Path, tmp_path: Path) -> None:
    import shutil

    from tracelake.lake.lake import Lake
    from tracelake.lake.tables import EVENTS
    from tracelake.queries.views import view_statements

    lake = tmp_path / "lake"
    shutil.copytree(golden_lake, lake)
    with open_lake(lake) as first:
        database = first._database
        before = first.execute("SELECT count(*) FROM events").rows[0][0]
    with open_lake(lake) as reader:
        first_rows = reader.execute("SELECT * FROM events ORDER BY event_id LIMIT 1").dicts()
    row = dict(first_rows[0], event_id="pool-new-event", event_date=str(first_rows[0]["event_date"]),
               source="file:pool-test:-", kafka_partition=0, kafka_offset=0)
    assert Lake.at(lake).writer(EVENTS).write(EVENTS.to_arrow([row]), "pool-test") == 1
    assert tuple(view_statements(lake)) != database.statements
    with open_lake(lake) as second:
        assert second._database is database
        assert second.execute("SELECT count(*) FROM events").rows[0][0] == before + 1


def test_a_reused_database_serves_the_next_tenant_only_its_own_rows(golden_lake: Path) -> None:
    with open_lake(golden_lake, tenant="acme") as acme:
        database = acme._database
        acme_tenants = {row[0] for row in acme.execute("SELECT DISTINCT tenant FROM events").fetchall()}
    with open_lake(golden_lake, tenant="globex") as globex:
        assert globex._database is database
        globex_tenants = {row[0] for row in globex.execute("SELECT DISTINCT tenant FROM events").fetchall()}
    assert acme_tenants == {"acme"}
    assert globex_tenants == {"globex"}


def test_two_open_connections_never_share_a_database(golden_lake: Path) -> None:
    with open_lake(golden_lake) as one, open_lake(golden_lake) as two:
        assert one._database is not two._database


def test_a_database_a_query_failed_on_is_closed_not_reused(golden_lake: Path) -> None:
    with open_lake(golden_lake) as first:
        database = first._database
        with pytest.raises(QueryError):
            first.execute("SELECT no_such_column FROM events")
    assert not database.spill.exists()
    with open_lake(golden_lake) as second:
        assert second._database is not database


def test_still_locked_down_when_reused(golden_lake: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.csv"
    outside.write_text("a\n1\n")
    for _ in range(2):
        with open_lake(golden_lake) as con:
            with pytest.raises(QueryError):
                con.execute(f"SELECT * FROM read_csv('{outside}')")
            with pytest.raises(QueryError):
                con.execute("SET enable_external_access = true")


def test_different_limits_get_different_databases(golden_lake: Path) -> None:
    from tracelake.queries.engine import Limits

    with open_lake(golden_lake) as default:
        database = default._database
    with open_lake(golden_lake, limits=Limits(memory_limit="64MiB")) as small:
        assert small._database is not database
        assert small.execute("SELECT current_setting('memory_limit')").rows[0][0] in ("64.0 MiB", "67.1 MB")


def test_expired_databases_are_closed_and_the_idle_list_is_bounded(golden_lake: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool, "MAX_USES", 2)
    with open_lake(golden_lake) as first:
        database = first._database
    with open_lake(golden_lake) as second:
        assert second._database is database  # second use: expired once given back
    assert not database.spill.exists()
    monkeypatch.setattr(pool, "MAX_IDLE", 1)
    connections = [open_lake(golden_lake) for _ in range(3)]
    for con in connections:
        con.close()
    assert pool.close_idle() == 1


def test_a_forked_child_starts_with_an_empty_pool(golden_lake: Path) -> None:
    with open_lake(golden_lake):
        pass
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report how many idle databases it sees, never touch the parent's
        os.close(read)
        os.write(write, str(pool.close_idle()).encode())
        os._exit(0)
    os.close(write)
    try:
        assert os.read(read, 16) == b"0"
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    assert pool.close_idle() == 1


@pytest.fixture
def lake_with_tails(golden_lake: Path, tmp_path: Path) -> Path:
    """The golden lake after an upkeep (tidied, runs rollup, control results), then one more file: a new event of
    a known run and a copy of a stored event, on a day the tidy marked clean (every kind of tail)."""
    import shutil
    from datetime import timedelta

    from tracelake.ingest.derived import refresh_derived
    from tracelake.lake.lake import Lake
    from tracelake.lake.tables import EVENTS

    lake = tmp_path / "lake"
    shutil.copytree(golden_lake, lake)
    refresh_derived(Lake.at(lake), timedelta(hours=24))
    with open_lake(lake) as reader:
        stored = reader.execute("SELECT * FROM events WHERE event_type = 'tool_call' ORDER BY ts DESC LIMIT 1"
                                ).dicts()[0]
    base = dict(stored, event_date=str(stored["event_date"]), source="file:pool-tail:-", kafka_partition=0)
    rows = [dict(base, kafka_offset=0), dict(base, event_id="pool-tail-new", kafka_offset=1)]
    assert Lake.at(lake).writer(EVENTS).write(EVENTS.to_arrow(rows), "pool-tail") == 1
    return lake


def test_a_tail_is_materialized_on_first_use_and_answers_the_same(lake_with_tails: Path) -> None:
    from tracelake.queries.controls.results import read_results
    from tracelake.queries.views import (
        CONTROLS_KEYS,
        CONTROLS_TAIL,
        CONTROLS_TOUCHED,
        EVENTS_TAIL,
        RUNS_TAIL,
        RUNS_TOUCHED,
    )

    controls = {CONTROLS_KEYS, CONTROLS_TOUCHED, CONTROLS_TAIL}
    with open_lake(lake_with_tails, rollup=False) as plain:
        runs = plain.execute("SELECT * FROM runs ORDER BY tenant, run_id").rows
        events = plain.execute("SELECT * FROM events ORDER BY tenant, event_id").rows
    verdicts = {(r["tenant"], r["run_id"], r["control_id"]): r  # the tail computed inline
                for r in read_results(lake_with_tails).to_pylist()}
    with open_lake(lake_with_tails) as con:
        database = con._database
        assert database.tails == {EVENTS_TAIL, RUNS_TOUCHED, RUNS_TAIL, *controls}
        assert con.execute("SELECT count(*) FROM dead_letters").rows  # reads no tail: nothing materialized
        assert database.tails == {EVENTS_TAIL, RUNS_TOUCHED, RUNS_TAIL, *controls}
        assert con.execute("SELECT * FROM runs ORDER BY tenant, run_id").rows == runs
        assert database.tails == {EVENTS_TAIL, *controls}
        tables = {row[0] for row in database.con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE NOT internal").fetchall()}
        assert tables == {RUNS_TOUCHED, RUNS_TAIL}
        assert con.execute("SELECT * FROM tool_calls LIMIT 0").columns  # through events: its tail too
        assert database.tails == controls
        assert con.execute("SELECT * FROM events ORDER BY tenant, event_id").rows == events
        found = con.execute("SELECT * FROM control_results").dicts()
        assert database.tails == frozenset()
        assert {(r["tenant"], r["run_id"], r["control_id"]): r for r in found} == verdicts
    # Kept for the next connection over the same files, already computed.
    with open_lake(lake_with_tails) as again:
        assert again._database is database and database.tails == frozenset()
        assert again.execute("SELECT * FROM runs ORDER BY tenant, run_id").rows == runs


def test_forgotten_views_are_made_again_with_the_same_answers(lake_with_tails: Path) -> None:
    with open_lake(lake_with_tails) as first:
        database = first._database
        runs = first.execute("SELECT * FROM runs ORDER BY tenant, run_id").rows
        before = database.catalog
    assert pool.forget_views() == 1
    with open_lake(lake_with_tails) as second:
        assert second._database is database and database.catalog != before  # views and tails made again
        assert len(database.tails) > 0
        assert second.execute("SELECT * FROM runs ORDER BY tenant, run_id").rows == runs


@pytest.mark.parametrize("metric", ["control_pass_rate", "confirmed_success_rate", "success_rate"])
def test_a_metric_with_parameters_materializes_the_tails_it_reads(lake_with_tails: Path, metric: str) -> None:
    # DuckDB cannot list the tables of some statements that hold prepared parameters: they are read as NULL.
    from tracelake.queries.metrics import build_query, get_spec
    from tracelake.queries.timewin import Window

    sql, params = build_query(get_spec(metric), Window.of(None, None), None, [])
    with open_lake(lake_with_tails) as con:
        before = set(con._database.tails)
        con.query(sql, params, name=metric)
        assert con._database.tails < before
