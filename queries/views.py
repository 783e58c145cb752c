"""The lake's base DuckDB views (``metrics.md`` "SQL views"), over the Parquet files in place.

``events`` holds one row per ``event_id`` whatever the number of copies on
disk (re-delivery after a crash, a producer re-send, a compaction in
progress): the first ingested copy wins. Nothing is copied into a database file.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

EVENTS_VIEW = """
CREATE OR REPLACE VIEW events AS
SELECT * EXCLUDE (_copy)
FROM (
    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY ingested_at, kafka_partition, kafka_offset) AS _copy
    FROM read_parquet({files}, hive_partitioning = true, union_by_name = true)
)
WHERE _copy = 1
"""

DEAD_LETTERS_VIEW = """
CREATE OR REPLACE VIEW dead_letters AS
SELECT * EXCLUDE (_copy)
FROM (
    SELECT *, row_number() OVER (
        PARTITION BY source, kafka_topic, kafka_partition, kafka_offset ORDER BY received_at) AS _copy
    FROM read_parquet({files}, hive_partitioning = true, union_by_name = true)
)
WHERE _copy = 1
"""

_EMPTY_EVENTS = "CREATE OR REPLACE VIEW events AS SELECT NULL::VARCHAR AS event_id WHERE false"
_EMPTY_DEAD = "CREATE OR REPLACE VIEW dead_letters AS SELECT NULL::VARCHAR AS reason WHERE false"


def _glob(root: Path, table: str) -> str | None:
    directory = root / table
    if not any(directory.glob("event_date=*/*.parquet")):
        return None
    return "'" + str(directory / "event_date=*" / "*.parquet").replace("'", "''") + "'"


def create_views(con: duckdb.DuckDBPyConnection, lake_root: str | Path) -> None:
    root = Path(lake_root)
    events = _glob(root, "events")
    con.execute(EVENTS_VIEW.format(files=events) if events else _EMPTY_EVENTS)
    dead = _glob(root, "dead_letters")
    con.execute(DEAD_LETTERS_VIEW.format(files=dead) if dead else _EMPTY_DEAD)


def connect(lake_root: str | Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the lake's views."""
    con = duckdb.connect(":memory:")
    create_views(con, lake_root)
    return con
