"""The SQL sandbox with DuckDB 1.5.5's delta and httpfs extensions loaded, on a local lake and on an S3 lake
(a real S3Proxy server on loopback).

User SQL reaches neither ``delta_scan`` nor ``read_parquet`` nor any ``s3://`` / ``http://`` URL, nor a secret
(``duckdb_secrets()``, ``which_secret``, ``CREATE SECRET``), nor ``load_aws_credentials``, nor any function the
extensions add; each is refused with a one-line ``refused: …`` before anything runs, and tenant scoping holds.
Measured before the refusals (DuckDB 1.5.5, external access off, configuration locked): ``write_blob`` wrote a
file outside ``allowed_directories``; ``get_delta_test_expression()`` crashed the process; ``delta_scan`` and
``read_parquet`` of the lake's own ``s3://`` files, ``duckdb_secrets()`` and ``CREATE SECRET`` all ran.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import orjson
import pytest

from tests.helpers import MarkingRedactor
from tests.queries.conftest import golden_events
from tracelake.errors import Unavailable
from tracelake.ingest.file_ingest import ingest_stream
from tracelake.ingest.metrics import Counters
from tracelake.ingest.pipeline import PipelineParts
from tracelake.ingest.sinks import MemoryDeadLetterSink
from tracelake.lake import duck
from tracelake.lake.lake import Lake
from tracelake.locals3 import LocalS3
from tracelake.queries.engine import QueryError, open_lake
from tracelake.queries.sandbox import SqlRefused, execute_sql, run_sql

BOTH = ("delta", "httpfs")

# {table}: the lake's events table (path or s3:// URL); {file}: one of its live data files; {other}: outside the lake.
HOSTILE = {
    "delta_scan": "SELECT count(*) FROM delta_scan('{table}')",
    "delta_scan-join": "SELECT count(*) FROM events JOIN delta_scan('{table}') d USING (event_id)",
    "delta_scan-in-subquery": "SELECT count(*) FROM events WHERE event_id IN "
                              "(SELECT event_id FROM delta_scan('{table}'))",
    "delta_scan-lateral": "SELECT count(*) FROM events, LATERAL (SELECT * FROM delta_scan('{table}') LIMIT 1) d",
    "delta_scan-in-cte": "WITH d AS (SELECT * FROM delta_scan('{table}')) SELECT count(*) FROM d",
    "delta_list_files": "SELECT * FROM delta_list_files('{table}')",
    "delta_domain_metadata": "SELECT * FROM delta_domain_metadata('{table}')",
    "delta_get_transaction_version": "SELECT * FROM delta_get_transaction_version('{table}', 'x')",
    "delta_set_transaction_version": "SELECT * FROM delta_set_transaction_version('{table}', 'x', 1, 1)",
    "delta_filter_pushdown_log": "SELECT * FROM delta_filter_pushdown_log()",
    "read_parquet": "SELECT count(*) FROM read_parquet('{file}')",
    "read_parquet-list": "SELECT count(*) FROM read_parquet(['{file}'], hive_partitioning = true)",
    "parquet_scan": "SELECT count(*) FROM parquet_scan('{file}')",
    "replacement-scan": "SELECT count(*) FROM '{file}'",
    "parquet_metadata": "SELECT * FROM parquet_metadata('{file}')",
    "read_blob": "SELECT * FROM read_blob('{file}')",
    "glob": "SELECT * FROM glob('{table}/*')",
    "other-url": "SELECT * FROM read_parquet('{other}')",
    "http-url": "SELECT * FROM read_csv('http://127.0.0.1:9/x.csv')",
    "http-replacement-scan": "SELECT * FROM 'http://127.0.0.1:9/x.parquet'",
    "s3-replacement-scan": "SELECT * FROM 's3://lake/x.parquet'",
    "read_text-s3": "SELECT * FROM read_text('s3://lake/x')",
    "query-string": "SELECT * FROM query('SELECT * FROM delta_scan(''{table}'')')",
    "duckdb_secrets": "SELECT * FROM duckdb_secrets()",
    "duckdb_secrets-scalar": "SELECT (SELECT count(*) FROM duckdb_secrets())",
    "duckdb_secret_types": "SELECT * FROM duckdb_secret_types()",
    "which_secret": "SELECT * FROM which_secret('{table}', 's3')",
    "create-secret": "CREATE SECRET s (TYPE s3, KEY_ID 'k', SECRET 's')",
    "create-persistent-secret": "CREATE PERSISTENT SECRET s (TYPE s3, KEY_ID 'k', SECRET 's')",
    "drop-secret": "DROP SECRET tracelake_lake",
    "load_aws_credentials": "SELECT * FROM load_aws_credentials()",
    "load_aws_credentials-call": "CALL load_aws_credentials()",
    "write_blob": "SELECT write_blob('{other_local}', 'x'::BLOB)",
    "copy_dir": "SELECT * FROM copy_dir('{table}', '{other_local}')",
    "get_delta_test_expression": "SELECT get_delta_test_expression()",
    "parse_delta_filter_logline": "SELECT parse_delta_filter_logline('x')",
    "s3-setting": "SELECT current_setting('s3_secret_access_key')",
    "settings": "SELECT * FROM duckdb_settings() WHERE name LIKE 's3%'",
    "extensions": "SELECT * FROM duckdb_extensions()",
    "load": "LOAD httpfs",
    "install": "INSTALL delta",
    "set-s3": "SET s3_endpoint = '127.0.0.1:9'",
    "attach-delta": "ATTACH '{table}' AS d (TYPE delta)",
    "copy-to-s3": "COPY (SELECT 1) TO 's3://lake/out.parquet'",
}


def _one_line_refusal(exc: BaseException) -> None:
    text = str(exc)
    assert text.startswith("refused: ") and "\n" not in text, text


@dataclass(frozen=True)
class Target:
    lake: Lake
    table: str
    file: str
    other: str


def _target(lake: Lake, other: str) -> Target:
    files = lake.data_files("events")
    assert files
    return Target(lake, lake.table_uri("events"), files[0].uri, other)


def _ingest(lake: Lake, tmp: Path) -> None:
    path = tmp / f"in-{uuid.uuid4().hex}.jsonl"
    lines = [orjson.dumps(e) for e in golden_events()]
    path.write_bytes(b"\n".join(lines) + b"\n")
    parts = PipelineParts(redactor=MarkingRedactor(), events=lake.writer("events"),
                          dead_letters=lake.writer("dead_letters"), prices={}, counters=Counters(),
                          dlq=MemoryDeadLetterSink())
    ingest_stream([str(path)], parts, lake)


def _statement(template: str, target: Target, tmp: Path) -> str:
    return template.format(table=target.table, file=target.file, other=target.other,
                           other_local=str(tmp / "written-by-sql"))


# -- the extension files -------------------------------------------------------------------------------------------
def test_the_extensions_load_from_the_installed_packages_with_autoload_off(golden_lake: Path) -> None:
    for name in BOTH:
        path = duck.extension_path(name)
        assert path.is_file() and f"v{duckdb.__version__}" in str(path) and "site-packages" in str(path)
    with open_lake(golden_lake, extensions=BOTH) as con:
        # (duckdb_extensions() lists the extension directory: refused by the lock-down, as it should be)
        loaded = {row[0] for row in con.execute("SELECT function_name FROM duckdb_functions() "
                                                "WHERE function_name IN ('delta_scan', 'which_secret')").rows}
        s3_setting = con.execute("SELECT count(*) FROM duckdb_settings() WHERE name = 's3_endpoint'").rows
        assert loaded == {"delta_scan", "which_secret"} and s3_setting == [(1,)]
        settings = dict(con.execute("SELECT name, value FROM duckdb_settings() WHERE name IN "
                                    "('autoinstall_known_extensions', 'autoload_known_extensions', "
                                    "'enable_external_access', 'lock_configuration')").rows)
        assert settings == {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false",
                            "enable_external_access": "false", "lock_configuration": "true"}
        assert con.execute("SELECT count(*) FROM events").rows[0][0] > 0  # the views read as before


def test_a_local_lake_loads_no_extension_by_default(golden_lake: Path) -> None:
    # delta costs ~0.45 s per connection and the views read Parquet with the built-in reader.
    with open_lake(golden_lake) as con:
        assert con.extensions == ()
        assert con.execute("SELECT count(*) FROM duckdb_functions() WHERE function_name = 'delta_scan'").rows == [(0,)]
        assert con.execute("SELECT count(*) FROM duckdb_settings() WHERE name = 's3_endpoint'").rows == [(0,)]


def test_a_missing_extension_package_is_one_line_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = duck.resources.files

    def files(package: str) -> object:
        if package == "duckdb_extension_delta":
            raise ModuleNotFoundError(package)
        return real(package)

    monkeypatch.setattr(duck.resources, "files", files)
    with pytest.raises(Unavailable) as missing:
        duck.extension_path("delta")
    assert "duckdb-extension-delta" in str(missing.value) and "\n" not in str(missing.value)
    monkeypatch.setattr(duck, "duckdb_version", lambda: "0.0.1")
    with pytest.raises(Unavailable) as wrong:
        duck.extension_path("httpfs")
    assert "duckdb-extension-httpfs==0.0.1" in str(wrong.value) and "\n" not in str(wrong.value)


@dataclass(frozen=True)
class StandIn:
    uri: str
    is_remote: bool
    storage_options: dict[str, str]


def test_the_s3_secret_follows_the_lake_options() -> None:
    lake = StandIn("s3://bucket/pre/fix", True, {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "se'cret",
        "AWS_REGION": "eu-west-1", "AWS_ALLOW_HTTP": "true", "AWS_CONDITIONAL_PUT": "etag"})
    sql = duck.s3_secret_sql(lake)
    for part in ("TYPE s3", "KEY_ID 'id'", "SECRET 'se''cret'", "REGION 'eu-west-1'", "ENDPOINT '127.0.0.1:9000'",
                 "USE_SSL false", "URL_STYLE 'path'", "SCOPE 's3://bucket/pre/fix/'"):
        assert part in sql
    aws = duck.s3_secret_sql(StandIn("s3://bucket/x", True, {"AWS_REGION": "us-east-1",
                                                              "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}))
    assert "ENDPOINT" not in aws and "URL_STYLE 'vhost'" in aws
    tls = duck.s3_secret_sql(StandIn("s3://b/x", True, {"AWS_ENDPOINT_URL": "https://store.example:8443"}))
    assert "ENDPOINT 'store.example:8443'" in tls and "USE_SSL true" in tls
    con = duckdb.connect()
    duck.load_lake_extensions(con, lake)  # the statement is one DuckDB accepts
    assert con.execute("SELECT name, scope FROM duckdb_secrets()").fetchall() == [
        ("tracelake_lake", ["s3://bucket/pre/fix/"])]


# -- a local lake, both extensions loaded ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def local_target(golden_lake: Path) -> Target:
    return _target(Lake.at(golden_lake), str(golden_lake.parent / "elsewhere.parquet"))


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_local_lake_refuses_extension_reach(local_target: Target, golden_lake: Path, tmp_path: Path,
                                            name: str) -> None:
    sql = _statement(HOSTILE[name], local_target, tmp_path)
    with open_lake(golden_lake, extensions=BOTH) as con, pytest.raises(SqlRefused) as refused:
        run_sql(con, sql, max_rows=10)
    _one_line_refusal(refused.value)
    assert not (tmp_path / "written-by-sql").exists()


def test_every_function_the_extensions_add_is_refused(golden_lake: Path) -> None:
    plain = duckdb.connect()
    listing = "SELECT DISTINCT function_name, function_type FROM duckdb_functions()"
    before = set(plain.execute(listing).fetchall())
    duck.load_lake_extensions(plain, StandIn("/nowhere", False, {}))
    added = set(plain.execute(listing).fetchall()) - before
    assert {"delta_scan", "write_blob"} <= {name for name, _ in added}
    with open_lake(golden_lake, extensions=BOTH) as con:
        for name, kind in sorted(added):
            sql = f"SELECT * FROM {name}('x')" if kind.startswith("table") else f"SELECT {name}('x')"
            with pytest.raises(SqlRefused) as refused:
                run_sql(con, sql, max_rows=1)
            _one_line_refusal(refused.value)


def test_the_views_still_answer_and_stay_scoped_with_the_extensions_loaded(golden_lake: Path) -> None:
    with open_lake(golden_lake, extensions=BOTH) as con:
        everyone = run_sql(con, "SELECT tenant, count(*) FROM events GROUP BY ALL ORDER BY 1", max_rows=10).rows
    with open_lake(golden_lake, tenant="globex", extensions=BOTH) as con:
        scoped = run_sql(con, "SELECT tenant, count(*) FROM events GROUP BY ALL ORDER BY 1", max_rows=10).rows
    assert [t for t, _ in everyone] == ["acme", "globex"]
    assert scoped == [row for row in everyone if row[0] == "globex"]


# -- an S3 lake on the loopback server ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def s3_target(s3_server: LocalS3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    s3_server.create_bucket("sandbox")
    lake = Lake.at(f"s3://sandbox/{uuid.uuid4().hex}", s3_server.storage_options())
    _ingest(lake, tmp_path_factory.mktemp("s3-ingest"))
    yield _target(lake, f"s3://sandbox/{uuid.uuid4().hex}/other.parquet")


@pytest.mark.s3
def test_s3_lake_views_answer_as_the_local_one_and_stay_scoped(s3_target: Target, golden_lake: Path) -> None:
    sql = "SELECT tenant, count(*), count(DISTINCT run_id) FROM events GROUP BY ALL ORDER BY 1"
    remote = execute_sql(s3_target.lake, sql).rows
    assert [t for t, *_ in remote] == ["acme", "globex"]
    for tenant in ("acme", "globex"):
        assert execute_sql(s3_target.lake, sql, tenant=tenant).rows == [r for r in remote if r[0] == tenant]
    with open_lake(s3_target.lake) as con:
        assert con.extensions == ("httpfs",)
        # The backstop under the sandbox: the lake's prefix is readable, another prefix is not.
        assert con.execute(f"SELECT count(*) FROM read_parquet('{s3_target.file}')").rows[0][0] > 0
        with pytest.raises(QueryError) as outside:
            con.execute(f"SELECT * FROM read_parquet('{s3_target.other}')")
        assert "Permission Error" in str(outside.value)


@pytest.mark.s3
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_s3_lake_refuses_extension_reach(s3_target: Target, tmp_path: Path, name: str) -> None:
    sql = _statement(HOSTILE[name], s3_target, tmp_path)
    with pytest.raises(SqlRefused) as refused:
        execute_sql(s3_target.lake, sql, tenant="acme", max_rows=10)
    _one_line_refusal(refused.value)
    assert not (tmp_path / "written-by-sql").exists()


@pytest.mark.s3
def test_s3_lake_with_both_extensions_refuses_in_process(s3_target: Target, tmp_path: Path) -> None:
    with open_lake(s3_target.lake, tenant="acme", extensions=BOTH) as con:
        for name, template in sorted(HOSTILE.items()):
            with pytest.raises(SqlRefused) as refused:
                run_sql(con, _statement(template, s3_target, tmp_path), max_rows=10)
            _one_line_refusal(refused.value)
            assert name
        assert run_sql(con, "SELECT DISTINCT tenant FROM events", max_rows=10).rows == [("acme",)]
