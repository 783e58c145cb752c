"""Compaction marks what it verified clean: every closed partition after a rewrite, an optimize, or nothing to do;
never a set of files holding a copy; a second run reads and commits nothing; the consumers' offsets untouched."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from tracelake.ingest import compact
from tracelake.ingest.compact import compact_lake, has_copies
from tracelake.lake.lake import Lake
from tracelake.lake.tables import DEAD_LETTERS, EVENTS
from tracelake.queries.views import connect

TODAY = date(2026, 11, 25)
REWRITE, OPTIMIZE, AS_IS = date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22)


def rows(ids: list[str], day: date, offset: int, partition: int = 0, *, hour: int = 10,
         tenant: str | None = "acme") -> pa.Table:
    ts = datetime.combine(day, datetime.min.time(), tzinfo=UTC).replace(hour=hour)
    return EVENTS.to_arrow(
        [{"event_id": i, "tenant": tenant, "event_type": "custom", "name": "x", "ts": ts,
          "event_date": day.isoformat(), "source": "kafka", "kafka_topic": "t", "kafka_partition": partition,
          "kafka_offset": offset + n, "ingested_at": ts} for n, i in enumerate(ids)])


def dead(offsets: list[int], day: date) -> pa.Table:
    at = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    return DEAD_LETTERS.to_arrow([{"received_at": at, "source": "kafka", "reason": "bad", "payload": f"p{o}",
                                   "kafka_topic": "t", "kafka_partition": 0, "kafka_offset": o,
                                   "event_date": day.isoformat()} for o in offsets])


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lake = Lake.at(tmp_path)
    writer = lake.writer("events")
    writer.write(rows(["a", "b"], REWRITE, 0), "t.p0.o0-1")
    writer.write(rows(["b", "c"], REWRITE, 0, partition=1, hour=11), "t.p1.o0-1")  # b re-sent
    for n in range(3):
        writer.write(rows([f"o{n}"], OPTIMIZE, 10 + n), f"t.p0.o{10 + n}")
    writer.write(rows(["s1", "s2"], AS_IS, 20), "t.p0.o20-21")
    writer.write(rows(["today"], TODAY, 30), "t.p0.o30")
    lake.writer("dead_letters").write(dead([1, 2], REWRITE), "d1")
    return lake


def version(lake: Lake, table: str = "events") -> int:
    return DeltaTable(lake.table_uri(table)).version()


def test_every_closed_partition_is_marked_and_a_second_run_reads_and_commits_nothing(
        lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    sources = ["kafka:t:0", "kafka:t:1"]
    offsets = lake.positions("events", sources)
    report = compact_lake(lake, older_than_days=1, today=TODAY)
    assert [(r.table, r.partition, r.action, r.files_after, r.rows_out, r.marked) for r in report.partitions] == [
        ("events", "event_date=2026-11-20", "rewrite", 1, 3, True),
        ("events", "event_date=2026-11-21", "rewrite", 1, 3, True),
        ("events", "event_date=2026-11-22", "mark", 1, 2, True),
        ("dead_letters", "event_date=2026-11-20", "mark", 1, 2, True),
    ]
    assert lake.clean_days(EVENTS, lake.partitions(EVENTS)) == {REWRITE, OPTIMIZE, AS_IS}  # today: open
    assert lake.clean_days(DEAD_LETTERS, lake.partitions(DEAD_LETTERS)) == {REWRITE}
    assert lake.positions("events", sources) == offsets

    before = (version(lake), version(lake, "dead_letters"))

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a clean partition was read again")

    monkeypatch.setattr(compact, "read_partition", never)
    assert compact_lake(lake, older_than_days=1, today=TODAY).partitions == []
    assert (version(lake), version(lake, "dead_letters")) == before
    assert lake.writer("events").write(rows(["a", "b"], REWRITE, 0), "t.p0.o0-1") == 0  # replays still add nothing


def test_a_copy_appended_while_compacting_leaves_the_partition_unmarked(
        lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    real = compact._after_commit

    def racing(the_lake: Lake, table: Any, day: date) -> tuple[int, float, bool]:
        if table is EVENTS and day == REWRITE:  # a consumer appends a re-sent copy of c right after the commit
            the_lake.writer("events").write(rows(["c"], REWRITE, 5, partition=2, hour=12), "t.p2.o5")
        return real(the_lake, table, day)

    monkeypatch.setattr(compact, "_after_commit", racing)
    (rewritten, *_) = compact_lake(lake, older_than_days=1, today=TODAY).partitions
    assert (rewritten.partition, rewritten.action, rewritten.files_after, rewritten.marked) == (
        "event_date=2026-11-20", "rewrite", 2, False)
    assert REWRITE not in lake.clean_days(EVENTS, lake.partitions(EVENTS))
    con = connect(lake)
    assert con.execute("SELECT count(*), count(DISTINCT event_id) FROM events WHERE event_date = ?",
                       [REWRITE]).fetchone() == (3, 3)
    assert con.execute("SELECT kafka_partition FROM events WHERE event_id = 'c'").fetchone() == (1,)
    con.close()
    monkeypatch.undo()
    (again,) = compact_lake(lake, older_than_days=1, today=TODAY).partitions
    assert (again.partition, again.action, again.rows_in, again.rows_out, again.marked) == (
        "event_date=2026-11-20", "rewrite", 4, 3, True)


def test_a_single_file_holding_a_copy_is_rewritten_before_it_is_marked(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path)
    # One file with two copies of e (a writer that records no offsets, e.g. an older tool).
    write_deltalake(lake.table_uri(EVENTS), EVENTS.for_delta(
        pa.concat_tables([rows(["e", "f"], REWRITE, 0), rows(["e"], REWRITE, 0, partition=1, hour=11)])),
        mode="append", partition_by=[EVENTS.partition])
    (result,) = compact_lake(lake, older_than_days=1, today=TODAY).partitions
    assert (result.action, result.files_before, result.rows_in, result.rows_out, result.marked) == (
        "rewrite", 1, 3, 2, True)


def test_copies_are_found_by_identity_nulls_included(lake: Lake) -> None:
    files = lake.partitions(EVENTS)
    assert has_copies(lake, EVENTS, files[REWRITE]) is True
    assert has_copies(lake, EVENTS, files[AS_IS]) is False
    assert has_copies(lake, EVENTS, []) is False
    lake.writer("events").write(rows(["n"], AS_IS, 40, tenant=None), "t.p0.o40")
    lake.writer("events").write(rows(["n"], AS_IS, 0, partition=3, tenant=None), "t.p3.o0")
    assert has_copies(lake, EVENTS, lake.partitions(EVENTS)[AS_IS]) is True
    # Another tenant's event with the same id is another event.
    lake.writer("events").write(rows(["o0"], OPTIMIZE, 1, partition=3, tenant="globex"), "t.p3.o1")
    assert has_copies(lake, EVENTS, lake.partitions(EVENTS)[OPTIMIZE]) is False


def test_an_unreadable_file_is_never_marked(lake: Lake) -> None:
    files = lake.partitions(EVENTS)[AS_IS]
    Path(files[0].uri).write_bytes(b"")
    assert has_copies(lake, EVENTS, files) is None
