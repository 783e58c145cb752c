"""The tidy step (ingest/tidy.py) and the clean prefixes readers take as they are (tracelake.lake.delta.clean_files,
queries/views.py EVENTS_TAIL_VIEW): the events view always equals de-duplicating every file."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from tracelake.ingest.tidy import tidy_lake
from tracelake.lake.delta import mark_clean, open_table
from tracelake.lake.lake import Lake
from tracelake.lake.tables import EVENTS
from tracelake.queries.engine import open_lake
from tracelake.queries.views import EVENTS_VIEW, source_parts

DAY = date(2026, 11, 20)
START = datetime(2026, 11, 20, 10, tzinfo=UTC)


def rows(events: list[tuple[str, str]], offset: int, partition: int = 0, minute: int = 0) -> pa.Table:
    """(event_id, event_type) pairs as stored rows from one Kafka partition, ingested at ``minute``."""
    ingested = START + timedelta(minutes=minute)
    return EVENTS.to_arrow(
        [{"event_id": i, "tenant": "acme", "event_type": kind, "name": f"n-{i}", "ts": START,
          "event_date": DAY.isoformat(), "source": "kafka", "kafka_topic": "t", "kafka_partition": partition,
          "kafka_offset": offset + n, "ingested_at": ingested} for n, (i, kind) in enumerate(events)])


def write(lake: Lake, table: pa.Table, name: str) -> None:
    lake.writer("events").write(table, name)


def view_rows(lake: Lake) -> list[tuple[Any, ...]]:
    with open_lake(lake) as con:
        return sorted(con.execute("SELECT tenant, event_id, event_type, name, kafka_offset FROM events").rows)


def deduplicated_rows(lake: Lake) -> list[tuple[Any, ...]]:
    """Every live file de-duplicated by the views' rule: the reference answer."""
    files = ", ".join(f"'{f.uri}'" for f in lake.data_files(EVENTS))
    con = duckdb.connect()
    try:
        con.execute(EVENTS_VIEW.format(source=f"read_parquet([{files}], hive_partitioning = true, "
                                              "union_by_name = true)", scope=""))
        return sorted(con.execute("SELECT tenant, event_id, event_type, name, kafka_offset FROM events").fetchall())
    finally:
        con.close()


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lake = Lake.at(tmp_path / "lake")
    write(lake, rows([("a", "custom"), ("b", "custom"), ("c", "tool_call")], 0), "t.p0.o0-2")
    return lake


def test_a_day_without_copies_is_marked_clean_and_read_as_it_is(lake: Lake) -> None:
    (result,) = tidy_lake(lake)
    assert (result.day, result.copies, result.marked, result.skipped) == (DAY, 0, True, None)
    parts = source_parts(lake, EVENTS)
    assert parts.dirty == [] and parts.prefix == [] and len(parts.clean) == 1
    assert tidy_lake(lake) == []  # nothing left to tidy: nothing read, nothing committed
    assert view_rows(lake) == deduplicated_rows(lake)


def test_files_added_after_the_marker_are_a_tail_checked_against_the_prefix(lake: Lake) -> None:
    tidy_lake(lake)
    # A re-sent "a" (a copy of a prefix row), a new "d" and "d" again in the same append (a copy within the tail).
    write(lake, rows([("a", "custom"), ("d", "custom"), ("d", "custom")], 10, minute=5), "t.p0.o10-12")
    parts = source_parts(lake, EVENTS)
    assert len(parts.clean) == 1 and len(parts.dirty) == 1 and parts.prefix == parts.clean
    expected = deduplicated_rows(lake)
    assert view_rows(lake) == expected
    assert [r[1] for r in expected] == ["a", "b", "c", "d"]

    (result,) = tidy_lake(lake)
    assert (result.copies, result.marked) == (2, True)
    parts = source_parts(lake, EVENTS)
    assert parts.dirty == [] and parts.prefix == []
    assert view_rows(lake) == expected == deduplicated_rows(lake)
    assert sum(f.size > 0 for f in lake.data_files(EVENTS)) == len(lake.data_files(EVENTS))


def test_a_marker_whose_prefix_is_not_the_marked_set_makes_the_whole_day_dirty(lake: Lake) -> None:
    write(lake, rows([("e", "custom")], 20, minute=9), "t.p0.o20-20")
    files = sorted(lake.data_files(EVENTS), key=lambda f: f.modified)
    delta = open_table(lake, EVENTS)
    assert delta is not None
    # Marks only the newer file: the older one was written before the marker's time but is not in its set
    # (an append that raced the verification): nothing may be read as clean.
    assert mark_clean(lake, EVENTS, delta, DAY, files[1:])
    parts = source_parts(lake, EVENTS)
    assert parts.clean == [] and len(parts.dirty) == 2
    assert view_rows(lake) == deduplicated_rows(lake)


def test_a_copy_that_is_the_very_same_stored_row_is_left_for_compaction(lake: Lake) -> None:
    tidy_lake(lake)
    # The prefix's own row stored again, same source position and ingest time (bypassing the writer, which refuses
    # a position twice): a delete naming the copy would remove the prefix's row too.
    write_deltalake(lake.table_uri(EVENTS), rows([("a", "custom")], 0), mode="append", partition_by=["event_date"])
    (result,) = tidy_lake(lake)
    assert not result.marked and result.copies == 0
    assert result.skipped is not None and "more than one row" in result.skipped
    assert view_rows(lake) == deduplicated_rows(lake)
    assert [r[1] for r in view_rows(lake)] == ["a", "b", "c"]


@pytest.mark.parametrize("seed", range(6))
def test_randomised_appends_and_tidies_keep_the_view_equal_to_full_deduplication(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    lake = Lake.at(tmp_path / "lake")
    offsets = {p: 0 for p in range(3)}
    sent: list[tuple[str, str]] = []
    for step in range(8):
        batch: list[tuple[str, str]] = []
        for _ in range(rng.randint(1, 12)):
            if sent and rng.random() < 0.3:
                batch.append(rng.choice(sent))  # a re-send
            else:
                event = (f"e{len(sent)}", rng.choice(["custom", "tool_call", "llm_call"]))
                sent.append(event)
                batch.append(event)
        partition = rng.randrange(3)
        write(lake, rows(batch, offsets[partition], partition, minute=step), f"t.p{partition}.o{offsets[partition]}")
        offsets[partition] += len(batch)
        assert view_rows(lake) == deduplicated_rows(lake), f"after append {step}"
        if rng.random() < 0.5:
            tidy_lake(lake)
            assert view_rows(lake) == deduplicated_rows(lake), f"after tidy {step}"
    tidy_lake(lake)
    parts = source_parts(lake, EVENTS)
    assert parts.dirty == []
    assert sorted({e for e in sent}) == sorted((r[1], r[2]) for r in view_rows(lake))
