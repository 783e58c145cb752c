"""Issue 11, item 1: query budgets (queries/budget.py, the engine's slots, spill and byte caps).

Every hostile form below was measured to escape DuckDB's ``memory_limit``
(or its interrupt) before: see the module docstring of queries/budget.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import nothing_reaches_duckdb
from tracelake.queries import budget
from tracelake.queries.budget import MAX_LIST_ELEMENTS, check_budget
from tracelake.queries.engine import (
    Limits,
    QueryBusy,
    QueryTimeout,
    QueryTooLarge,
    format_size,
    open_lake,
    parse_size,
    query_slot,
    value_bytes,
)
from tracelake.queries.sandbox import SqlRefused, execute_sql, run_sql
from tracelake.settings import Settings

# (class of hostile function, statement, what the one-line refusal says)
REFUSED = [
    ("range as a list", "SELECT len(range(50000000)) AS n", "range() as a value would build a list of 50000000"),
    ("range, non-literal", "SELECT len(range(run_id::BIGINT)) FROM runs", "range() as a value needs integer literals"),
    ("generate_series", "SELECT len(generate_series(1, 20000000))", "generate_series() as a value would build"),
    ("unnest of a huge list", "SELECT count(*) FROM (SELECT unnest(range(20000000)))", "range() as a value"),
    ("repeat", "SELECT length(repeat('x', 1000000000)) AS n", "repeat() builds a value outside"),
    ("repeat of a column", "SELECT repeat(run_id, 100000) FROM runs", "repeat() builds a value outside"),
    ("lpad", "SELECT length(lpad('x', 1000000000, 'y'))", "lpad() needs an integer literal width"),
    ("rpad", "SELECT rpad(run_id, 2000000000, 'y') FROM runs", "rpad() needs an integer literal width"),
    ("list_resize", "SELECT len(list_resize([1], 100000000))", "list_resize() needs an integer literal size"),
    ("format width", "SELECT length(format('{:>1000000000}', 'x'))", "format() with a width of 1000000000"),
    ("printf width", "SELECT length(printf('%1000000000d', 1))", "printf() with a width of 1000000000"),
    ("comprehension", "SELECT len(flatten([range(10000) for x in range(10000)]))", "inside a lambda or list"),
    ("lambda", "SELECT list_transform(range(100), lambda x: repeat('x', 10000))", "inside a lambda or list"),
    ("string_split of a huge string", "SELECT len(string_split(repeat('a,', 50000000), ','))", "repeat() builds"),
]


@pytest.mark.parametrize(("kind", "sql", "message"), REFUSED, ids=[r[0] for r in REFUSED])
def test_value_builders_are_refused_in_one_line(golden_lake: Path, kind: str, sql: str, message: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # Refused before anything ran: in-process, with every statement run forbidden, the check alone refuses it.
    with open_lake(golden_lake) as con:
        nothing_reaches_duckdb(monkeypatch)
        with pytest.raises(SqlRefused) as refused:
            run_sql(con, sql, max_rows=10)
        assert message in str(refused.value), str(refused.value)
    monkeypatch.undo()
    # The same one line end to end, through the worker (tracelake sql, POST /v1/sql).
    with pytest.raises(SqlRefused) as refused:
        execute_sql(golden_lake, sql, max_rows=10)
    text = str(refused.value)
    assert text.startswith("refused: ") and message in text, text
    assert "\n" not in text and len(text) < 250


@pytest.mark.parametrize("sql", [
    "SELECT len(range(10)) AS n",
    f"SELECT len(range(0, {MAX_LIST_ELEMENTS}))",
    "SELECT repeat('ab', 3), lpad('7', 3, '0'), rpad(run_id, 40, '.') FROM runs",
    "SELECT repeat(run_id, 2) FROM runs",
    "SELECT format('{:>10}', 'x'), printf('%5d', 42)",
    "SELECT count(*) FROM range(1000000000) t(i) WHERE i < 0",  # range as a table streams: not limited
    "SELECT count(*) FROM generate_series(1, 100000)",
    "SELECT list_transform([1, 2, 3], lambda x: x + 1)",
    "SELECT unnest(range(5))",
])
def test_legitimate_uses_pass(golden_lake: Path, sql: str) -> None:
    assert execute_sql(golden_lake, sql, max_rows=10).rows


def test_check_budget_ignores_table_functions_but_checks_their_arguments() -> None:
    table = {"type": "TABLE_FUNCTION", "function": {"class": "FUNCTION", "type": "FUNCTION", "function_name": "range",
                                                    "arguments": [{"expression": {"type": "COLUMN_REF"}}]}}
    check_budget({"statements": [{"node": {"from_table": table}}]})
    inner = {"class": "FUNCTION", "type": "FUNCTION", "function_name": "repeat",
             "arguments": [{"expression": {"type": "VALUE_CONSTANT", "literal": {"kind": "STRING", "text": "x"}}},
                           {"expression": {"type": "VALUE_CONSTANT", "literal": {"kind": "INTEGER", "text": "9e9"}}}]}
    table["function"]["arguments"] = [{"expression": inner}]  # type: ignore[index]
    with pytest.raises(SqlRefused, match="repeat"):
        check_budget({"statements": [{"node": {"from_table": table}}]})


# -- the worker's memory cap and kill ---------------------------------------------------------------------------
def test_a_value_past_the_check_stops_at_the_workers_memory_cap(golden_lake: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # A 300 MB string built by an aggregate (within DuckDB's limit), then repeated 100 times (outside it).
    sql = "SELECT length(repeat(s, 100)) FROM (SELECT string_agg(repeat('x', 1000), '') s FROM range(300000))"
    workers = _spy_workers(monkeypatch)
    with pytest.raises(QueryTooLarge) as caught:
        execute_sql(golden_lake, sql, max_rows=1)
    assert "exceeded its memory budget" in str(caught.value) and "\n" not in str(caught.value)
    assert caught.value.status == 413
    # Stopped by its failed allocation, not by the kernel or the parent's kill: the worker answered, then exited.
    assert "the worker stopped" not in str(caught.value) and [w.exitcode for w in workers] == [0]


def test_a_scalar_call_the_interrupt_misses_is_killed_past_its_time_limit(golden_lake: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # Measured: regexp_replace over 100 MB ran 15 s against a 5 s interrupt (more than 60 s at load 8). The
    # 100 MB string is built by one repeat() call, so nothing interruptible runs before the regexp_replace
    # (built by string_agg over 60M rows instead, the interrupt stopped the aggregate and the kill never ran).
    sql = "SELECT length(regexp_replace(repeat(s, 100), 'x', 'yy', 'g')) FROM (SELECT repeat('x', 1000000) s)"
    workers = _spy_workers(monkeypatch)
    with pytest.raises(QueryTimeout) as caught:
        execute_sql(golden_lake, sql, max_rows=1, timeout_s=0.5)
    assert caught.value.timeout_s == 0.5 and caught.value.status == 504
    # Killed by the parent past 0.5 s + KILL_GRACE_S, not left to finish its call (it would exit 0, answering).
    assert [w.exitcode for w in workers] == [-signal.SIGKILL]


def _spy_workers(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The worker processes run_isolated starts from now on (joined by the time it returns or raises)."""
    workers: list[Any] = []
    real = budget._await

    def spy(process: Any, *args: Any) -> Any:
        workers.append(process)
        return real(process, *args)

    monkeypatch.setattr(budget, "_await", spy)
    return workers


# -- answers capped by bytes ---------------------------------------------------------------------------------------
def test_byte_cap_truncates_ad_hoc_sql(golden_lake: Path) -> None:
    result = execute_sql(golden_lake, "SELECT repeat('x', 1000) AS s FROM range(100)", max_rows=1000,
                         max_bytes=10_000)
    assert result.truncated and 5 <= len(result.rows) <= 10
    assert sum(value_bytes(row) for row in result.rows) <= 10_000
    whole = execute_sql(golden_lake, "SELECT repeat('x', 10) AS s FROM range(100)", max_rows=1000, max_bytes=10_000)
    assert not whole.truncated and len(whole.rows) == 100


def test_byte_ceiling_fails_a_server_built_query_instead_of_truncating_it(golden_lake: Path) -> None:
    with open_lake(golden_lake, limits=Limits(max_result_bytes=10_000)) as con, pytest.raises(QueryTooLarge):
        con.query("SELECT repeat('x', 1000) FROM range(100)", name="metric")


def test_cli_notes_byte_truncation_on_stderr(golden_lake: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "tracelake.cli.main", "sql",
                             "SELECT repeat('x', 1000) AS s FROM range(100)", "--lake", str(golden_lake),
                             "--format", "json"], capture_output=True, timeout=120,
                            env={**__import__("os").environ, "TRACELAKE_SQL_MAX_BYTES": "5000"})
    assert result.returncode == 0, result.stderr
    assert b"result truncated to 4 rows, about 5000 bytes (TRACELAKE_SQL_MAX_BYTES" in result.stderr


def test_cli_refuses_a_value_builder_with_exit_2(golden_lake: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "tracelake.cli.main", "sql", "SELECT len(range(50000000))",
                             "--lake", str(golden_lake)], capture_output=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.decode().strip().startswith("tracelake: error: refused: range() as a value")
    assert len(result.stderr.strip().splitlines()) == 1


# -- spill -------------------------------------------------------------------------------------------------------
def test_spill_goes_to_a_private_dir_inside_the_configured_one_and_is_capped(golden_lake: Path,
                                                                              tmp_path: Path) -> None:
    spill = tmp_path / "spill"
    limits = Limits(memory_limit="64MiB", temp_dir=spill, temp_max_size="16MiB", threads=1)
    with open_lake(golden_lake, limits=limits) as con:
        (temp_dir,) = con.execute("SELECT current_setting('temp_directory')").fetchone() or ("",)
        assert Path(temp_dir).parent == spill and Path(temp_dir).name.startswith("q-")
        with pytest.raises(QueryTooLarge) as caught:
            con.query("SELECT count(*) FROM (SELECT i::VARCHAR AS s FROM range(20000000) t(i) ORDER BY s DESC)",
                      name="sort")
        assert "16MiB of spill" in str(caught.value)
    assert list(spill.iterdir()) == []  # removed on close


def test_default_spill_dir_is_the_cache_never_the_working_directory(golden_lake: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    with open_lake(golden_lake) as con:
        (temp_dir,) = con.execute("SELECT current_setting('temp_directory')").fetchone() or ("",)
    assert Path(temp_dir).parent == tmp_path / "cache" / "tracelake" / "query-spill"


def test_spill_left_by_dead_processes_is_swept_once(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tracelake.queries.engine import sweep_spill

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    dead = int(gone.stdout)  # that process has exited
    base = tmp_path / "spill"
    (base / f"q-{dead}-abc").mkdir(parents=True)
    (base / f"q-{dead}-abc" / "spill.tmp").write_bytes(b"x")
    mine = base / f"q-{os.getpid()}-def"
    mine.mkdir()
    other = base / "not-ours"
    other.mkdir()
    assert sweep_spill(base) == 1
    assert sorted(p.name for p in base.iterdir()) == sorted([mine.name, other.name])
    (base / f"q-{dead}-again").mkdir()
    assert sweep_spill(base) == 0  # once per process and directory


# -- slots and settings ---------------------------------------------------------------------------------------------
def test_a_full_process_answers_busy(golden_lake: Path) -> None:
    limits = Limits(max_concurrent=1, queue_wait_s=0.1)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with query_slot(limits):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        with open_lake(golden_lake, limits=limits) as con, pytest.raises(QueryBusy) as busy:
            con.query("SELECT 1", name="one")
        assert busy.value.status == 429 and busy.value.headers == {"Retry-After": "1"}
        with pytest.raises(QueryBusy):
            execute_sql(golden_lake, "SELECT 1", limits=limits)
    finally:
        release.set()
        holder.join(10)
    assert execute_sql(golden_lake, "SELECT 1 AS one", limits=limits).rows == [(1,)]


def test_limits_divide_the_totals_among_the_slots(tmp_path: Path) -> None:
    settings = Settings(lake=tmp_path, duckdb_memory_limit="2GiB", query_temp_max_size="8GiB",
                        query_max_concurrent=4, query_temp_dir=tmp_path / "t")
    limits = Limits.from_settings(settings)
    assert (limits.memory_limit, limits.temp_max_size, limits.max_concurrent) == ("512MiB", "2048MiB", 4)
    assert limits.temp_dir == tmp_path / "t"
    assert parse_size("1.5 GB") == 1_500_000_000 and format_size(10) == "1MiB"
    with pytest.raises(ValueError, match="not a size"):
        parse_size("lots")
