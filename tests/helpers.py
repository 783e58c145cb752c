"""Test helpers shared by several test packages (one definition each)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

# The repository's own copy of the product contract (docs/contract/): tests read only files inside the repo.
CONTRACT = Path(__file__).resolve().parents[1] / "docs" / "contract"


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes (no bare sleeps in tests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class MarkingRedactor:
    """A stand-in redactor for pipeline tests (the real one is tested in tests/transforms/redact):
    replaces the word 'Secretname' wherever it appears and counts it as a PERSON."""

    def redact_events(self, events: list[dict[str, Any]]) -> list[Any]:
        out = []
        for event in events:
            text = orjson.dumps(event).decode()
            count = text.count("Secretname")
            out.append((orjson.loads(text.replace("Secretname", "<PERSON>")), {"PERSON": count} if count else {}))
        return out

    def redact_text(self, text: str) -> tuple[str, dict[str, int]]:
        return text.replace("Secretname", "<PERSON>"), {}


def file_rows(lake: Any, table: str, column: str) -> list[Any]:
    """``column`` of every row in ``table``'s live data files (its Delta log's current version), one entry per
    stored copy: what is on disk or in the bucket, not what the de-duplicating views show."""
    import pyarrow.dataset as ds

    from tracelake.lake.lake import _filesystem, _fs_path, as_lake

    the_lake = as_lake(lake)
    files = [f.uri for f in the_lake.data_files(table)]
    if not files:
        return []
    filesystem = _filesystem(the_lake)
    paths = [_fs_path(uri) for uri in files] if filesystem is not None else files
    return ds.dataset(paths, format="parquet", filesystem=filesystem).to_table(columns=[column]).column(
        column).to_pylist()


def nothing_reaches_duckdb(monkeypatch: Any) -> None:
    """From now on, any statement a LakeConnection would run fails the test before DuckDB binds or plans it
    (the sandbox's own ``json_serialize_sql``, named ``parse``, is the parser, not the statement)."""
    from tracelake.queries.engine import LakeConnection

    real = LakeConnection.query

    def query(self: LakeConnection, sql: str, params: Any = None, **kwargs: Any) -> Any:
        if kwargs.get("name") != "parse":
            raise AssertionError(f"the statement reached DuckDB: {sql[:80]!r}")
        return real(self, sql, params, **kwargs)

    monkeypatch.setattr(LakeConnection, "query", query)
