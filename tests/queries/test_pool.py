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


def test_a_closed_connections_database_is_reused_without_its_views(golden_lake: Path) -> None:
    with open_lake(golden_lake) as first:
        database = first._database
        assert first.execute("SELECT count(*) FROM events").rows[0][0] > 0
    with open_lake(golden_lake) as second:
        assert second._database is database
        assert second._database.uses == 2
    # Given back: no view of the last connection is left in the idle database.
    assert database.con.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchone() == (0,)


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
