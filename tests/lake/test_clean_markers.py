"""Clean markers in the Delta log (tracelake.lake.delta): a partition is clean exactly while its live files are
the set a marker recorded; any change to the set makes it dirty; a wrong digest is ignored; offsets untouched."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

from tracelake.lake.delta import DataFile, clean_app_id, files_digest, mark_clean, open_table
from tracelake.lake.lake import Lake
from tracelake.lake.tables import EVENTS

DAY = date(2026, 11, 20)
OTHER = date(2026, 11, 21)


def rows(ids: list[str], day: date, offset: int, partition: int = 0) -> pa.Table:
    ts = datetime.combine(day, datetime.min.time(), tzinfo=UTC).replace(hour=10)
    return EVENTS.to_arrow(
        [{"event_id": i, "tenant": "acme", "event_type": "custom", "name": "x", "ts": ts,
          "event_date": day.isoformat(), "source": "kafka", "kafka_topic": "t", "kafka_partition": partition,
          "kafka_offset": offset + n, "ingested_at": ts} for n, i in enumerate(ids)])


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lake = Lake.at(tmp_path)
    writer = lake.writer("events")
    writer.write(rows(["a", "b"], DAY, 0), "t.p0.o0-1")
    writer.write(rows(["c"], OTHER, 2), "t.p0.o2-2")
    return lake


def day_files(lake: Lake, day: date) -> list[DataFile]:
    return lake.partitions(EVENTS).get(day, [])


def mark(lake: Lake, day: date) -> bool:
    delta = open_table(lake, EVENTS)
    assert delta is not None
    return mark_clean(lake, EVENTS, delta, day, day_files(lake, day))


def test_the_digest_is_stable_positive_and_order_free(lake: Lake) -> None:
    files = lake.data_files(EVENTS)
    digest = files_digest(lake, EVENTS, files)
    assert digest == files_digest(lake, EVENTS, list(reversed(files)))
    assert 0 < digest < 2**62
    assert digest != files_digest(lake, EVENTS, files[:1])
    assert clean_app_id(EVENTS, DAY) == "tracelake.clean/events/2026-11-20"


def test_a_marked_partition_is_clean_until_its_files_change(lake: Lake) -> None:
    assert lake.clean_days(EVENTS, lake.partitions(EVENTS)) == set()
    version = DeltaTable(lake.table_uri(EVENTS)).version()
    marked = day_files(lake, DAY)
    assert mark(lake, DAY)
    delta = DeltaTable(lake.table_uri(EVENTS))
    assert delta.version() == version + 1
    assert delta.history(1)[0]["operationMetrics"]["num_added_files"] == 0  # an empty commit: no data
    assert lake.clean_days(EVENTS, lake.partitions(EVENTS)) == {DAY}
    # The same set again: nothing committed.
    assert not mark(lake, DAY)
    assert DeltaTable(lake.table_uri(EVENTS)).version() == version + 1
    # A late event lands in the clean partition: another file, another set, dirty.
    lake.writer("events").write(rows(["d"], DAY, 3), "t.p0.o3-3")
    assert lake.clean_days(EVENTS, lake.partitions(EVENTS)) == set()
    files = day_files(lake, DAY)
    assert lake.clean_days(EVENTS, {DAY: files}) == set()
    assert lake.clean_days(EVENTS, {DAY: [f for f in files if f not in marked]}) == set()
    # The marked set itself (what a reader that listed before the append reads) is still clean.
    assert lake.clean_days(EVENTS, {DAY: marked}) == {DAY}


def test_markers_leave_the_consumers_offsets_alone(lake: Lake) -> None:
    before = lake.positions("events", ["kafka:t:0"])
    assert before == {"kafka:t:0": 2}
    assert mark(lake, DAY) and mark(lake, OTHER)
    assert lake.positions("events", ["kafka:t:0"]) == before
    assert lake.writer("events").write(rows(["a", "b"], DAY, 0), "t.p0.o0-1") == 0  # a replay still adds nothing
    assert lake.clean_days(EVENTS, lake.partitions(EVENTS)) == {DAY, OTHER}


def test_a_marker_with_a_wrong_digest_is_ignored(lake: Lake) -> None:
    digest = files_digest(lake, EVENTS, day_files(lake, DAY))
    write_deltalake(lake.table_uri(EVENTS), EVENTS.delta_schema.empty_table(), mode="append",
                    commit_properties=CommitProperties(app_transactions=[
                        Transaction(clean_app_id(EVENTS, DAY), digest ^ 1)]))
    assert lake.clean_days(EVENTS, lake.partitions(EVENTS)) == set()
    # A marker of another table or another day says nothing about this one.
    write_deltalake(lake.table_uri(EVENTS), EVENTS.delta_schema.empty_table(), mode="append",
                    commit_properties=CommitProperties(app_transactions=[
                        Transaction(clean_app_id(EVENTS, OTHER), digest),
                        Transaction(f"tracelake.clean/dead_letters/{DAY.isoformat()}", digest)]))
    assert lake.clean_days(EVENTS, lake.partitions(EVENTS)) == set()


def test_a_marker_written_by_another_process_is_seen_on_the_next_listing(lake: Lake) -> None:
    assert lake.clean_days(EVENTS, lake.partitions(EVENTS)) == set()  # cached: DAY has no marker
    other = DeltaTable(lake.table_uri(EVENTS))  # "another process": its own table object
    assert mark_clean(lake, EVENTS, other, DAY, day_files(lake, DAY))
    assert lake.clean_days(EVENTS, lake.partitions(EVENTS)) == {DAY}


def test_no_table_no_clean_days(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path)
    assert lake.clean_days(EVENTS, {DAY: [DataFile(f"{lake.table_uri(EVENTS)}/x.parquet", DAY, 1)]}) == set()
    assert lake.clean_days(EVENTS, {}) == set()
