"""Unreadable lake files: the footer check, its cache, quarantine, and the readers that use them (issue 12, 4).

On the Delta layout a bad file is a *live* file (listed in the table's log) that is truncated, zero bytes or not
Parquet: the tests make one by overwriting a live file. A file the log does not list is never read at all."""

from __future__ import annotations

import os
import time
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tracelake.ingest.compact import compact_lake
from tracelake.ingest.file_ingest import ingest_stream
from tracelake.lake.files import (
    QUARANTINE_DIR,
    QUARANTINE_LOG,
    BadFile,
    footer_problem,
    partition_files,
    quarantine,
    scan_lake,
)
from tracelake.lake.lake import Lake, stored_event_ids
from tracelake.lake.tables import ALERTS, DEAD_LETTERS, EVENTS


def good_parquet(path: Path, rows: int = 10) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"x": list(range(rows))}), path)
    return path


def test_footer_check_names_each_kind_of_bad_file(tmp_path: Path) -> None:
    good = good_parquet(tmp_path / "good.parquet")
    data = good.read_bytes()
    cases = {
        "empty": b"",
        "tiny": b"PAR1",
        "truncated": data[: len(data) // 2],
        "text": b"this is not a parquet file at all, just text",
        "footer": b"PAR1" + b"x" * 20 + (10_000).to_bytes(4, "little") + b"PAR1",
    }
    verdicts = {}
    for name, body in cases.items():
        path = tmp_path / f"{name}.parquet"
        path.write_bytes(body)
        verdicts[name] = footer_problem(path, len(body))
    assert footer_problem(good, len(data)) is None
    assert verdicts["empty"] == "zero-byte file"
    assert "too small" in (verdicts["tiny"] or "")
    assert "truncated" in (verdicts["truncated"] or "")
    assert "not a Parquet file" in (verdicts["text"] or "")
    assert "corrupt Parquet footer" in (verdicts["footer"] or "")


def test_partition_files_splits_readable_from_bad_and_ignores_temp_files(tmp_path: Path) -> None:
    part = tmp_path / "events" / "event_date=2026-11-24"
    good_parquet(part / "a.parquet")
    good_parquet(part / "c.parquet")
    (part / "b.parquet").write_bytes(b"")
    (part / ".a.1234.tmp").write_bytes(b"half")
    (part / ".hidden.parquet").write_bytes(b"")
    good, bad = partition_files(part)
    assert [p.name for p in good] == ["a.parquet", "c.parquet"]
    assert [(b.path.name, b.size, b.error) for b in bad] == [("b.parquet", 0, "zero-byte file")]
    assert partition_files(tmp_path / "missing") == ([], [])


def test_the_verdict_is_cached_until_the_file_changes(tmp_path: Path) -> None:
    part = tmp_path / "p"
    path = part / "a.parquet"
    path.parent.mkdir()
    path.write_bytes(b"")
    assert len(partition_files(part)[1]) == 1
    good_parquet(path)  # rewritten in place: new size and mtime, checked again
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    assert partition_files(part) == ([path], [])


def live(lake: Path, table: str = "events", day: str | None = None) -> list[Path]:
    """The live data files of ``table`` (of ``day``), by name."""
    return sorted(Path(f.uri) for f in Lake.at(lake).data_files(table) if day is None or f.day.isoformat() == day)


def test_quarantine_moves_the_file_keeps_its_path_logs_it_and_commits_its_removal(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    writer = Lake.at(lake).writer("events")
    for n in range(3):
        writer.write(EVENTS.to_arrow([{"event_id": f"e{n}", "event_date": "2026-11-24", "source": "file:x",
                                       "kafka_offset": n}]), f"b{n}")
    first, second, _ = live(lake)
    first.write_bytes(b"garbage!")
    moved = quarantine(Lake.at(lake), BadFile(first, 8, "not a Parquet file"))
    assert not first.exists() and first not in live(lake)  # its removal is committed to the table
    target = lake / QUARANTINE_DIR / "events" / "event_date=2026-11-24"
    assert moved == target / first.name and moved.read_bytes() == b"garbage!"
    second.write_bytes(b"")
    quarantine(Lake.at(lake), BadFile(second, 0, "zero-byte file"))
    entries = [orjson.loads(line) for line in (lake / QUARANTINE_DIR / QUARANTINE_LOG).read_bytes().splitlines()]
    assert [e["moved_to"] for e in entries] == [f"_quarantine/events/event_date=2026-11-24/{first.name}",
                                                f"_quarantine/events/event_date=2026-11-24/{second.name}"]
    assert entries[0]["file"] == f"events/event_date=2026-11-24/{first.name}"
    assert entries[0]["size"] == 8 and entries[0]["error"] == "not a Parquet file" and entries[0]["at"].endswith("Z")
    # Quarantined files are never listed again, by a scan or by the views' file lists.
    assert scan_lake(Lake.at(lake)) == [] and len(live(lake)) == 1
    with pytest.raises(ValueError):
        quarantine(Lake.at(lake), BadFile(tmp_path / "elsewhere.parquet", 0, "x"))


def test_deep_scan_finds_corruption_behind_an_intact_footer(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    Lake.at(lake).writer("events").write(EVENTS.to_arrow(
        [{"event_id": f"e{i}", "event_date": "2026-11-24", "name": "x" * 50} for i in range(2000)]), "b")
    (path,) = live(lake)
    data = bytearray(path.read_bytes())
    for i in range(8, 200):  # scribble over the first data page; the footer stays intact
        data[i] = 0xFF
    path.write_bytes(bytes(data))
    assert scan_lake(Lake.at(lake)) == []
    (found,) = scan_lake(Lake.at(lake), deep=True)
    assert found.path == path and found.error


def event_line(i: int) -> bytes:
    return orjson.dumps({"schema_version": "1", "event_id": f"e{i}", "event_type": "custom", "name": "s",
                         "ts": f"2026-11-2{3 + i % 2}T10:00:00Z", "run_id": "r", "workflow": "w",
                         "workflow_version": "1"})


@pytest.fixture
def lake_with_bad_files(parts_factory, tmp_path: Path) -> Path:
    """Three ingests (three live files per day); two live files of 2026-11-24 then overwritten: one truncated,
    one zero bytes."""
    lake = tmp_path / "lake"
    lines = [event_line(i) for i in range(12)]
    for n in range(3):
        src = tmp_path / f"in{n}.jsonl"
        src.write_bytes(b"\n".join(lines[n * 4:(n + 1) * 4]) + b"\n")
        ingest_stream([str(src)], parts_factory(lake), lake)
    # The two files spoiled are those without e9 (the duplicate-check test looks e9 up); the log's order of
    # files is not the ingest order.
    import pyarrow.parquet as pq

    files = live(lake, day="2026-11-24")
    first, second = [f for f in files if "e9" not in pq.read_table(f, columns=["event_id"]).column(0).to_pylist()]
    first.write_bytes(first.read_bytes()[:100])
    second.write_bytes(b"")
    return lake


def test_compact_quarantines_bad_files_and_compacts_the_rest(lake_with_bad_files: Path) -> None:
    lake = lake_with_bad_files
    seen: list[tuple[str, Path]] = []
    report = compact_lake(lake, older_than_days=0,
                          on_quarantine=lambda bad, moved: seen.append((bad.error, moved)))
    assert sorted(error for error, _ in seen) == ["truncated Parquet file (no magic bytes at the end)",
                                                  "zero-byte file"]
    # 11-23: three readable files rewritten into one; 11-24: one readable file left, only marked clean
    assert [(r.partition, r.action, r.files_before, r.files_after, r.rows_out) for r in report.partitions] == [
        ("event_date=2026-11-23", "rewrite", 3, 1, 6), ("event_date=2026-11-24", "mark", 1, 1, 2)]
    assert len(live(lake, day="2026-11-24")) == 1
    assert len(list((lake / QUARANTINE_DIR).rglob("*.parquet"))) == 2
    assert len((lake / QUARANTINE_DIR / QUARANTINE_LOG).read_bytes().splitlines()) == 2


def test_compact_quarantines_a_file_that_fails_to_decode(lake_with_bad_files: Path) -> None:
    lake = lake_with_bad_files
    victim = live(lake, day="2026-11-23")[0]
    data = bytearray(victim.read_bytes())
    for i in range(4, min(len(data) - 8, 400)):
        data[i] = 0xFF
    victim.write_bytes(bytes(data))
    report = compact_lake(lake, older_than_days=0)
    assert (lake / QUARANTINE_DIR / "events" / "event_date=2026-11-23" / victim.name).exists()
    (result,) = [r for r in report.partitions if r.action != "mark"]
    assert (result.partition, result.files_before, result.files_after, result.rows_out) == (
        "event_date=2026-11-23", 2, 1, 4)


def test_ingest_file_and_duplicate_check_skip_bad_files(lake_with_bad_files: Path, parts_factory,
                                                        tmp_path: Path) -> None:
    lake = lake_with_bad_files
    assert stored_event_ids(lake, {("default", "e9"), ("default", "x")}, {"2026-11-24"}) == {("default", "e9")}
    again = tmp_path / "again.jsonl"
    again.write_bytes(event_line(9) + b"\n")
    summary = ingest_stream([str(again)], parts_factory(lake), lake)
    assert (summary.accepted, summary.duplicates) == (0, 1)


def test_scan_lake_covers_every_table_but_not_the_quarantine_nor_stray_files(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    for table in (EVENTS, DEAD_LETTERS, ALERTS):
        Lake.at(lake).writer(table).write(table.to_arrow([{table.partition: "2026-11-24"}]), "one")
        (path,) = live(lake, table.name)
        path.write_bytes(b"")
    (lake / "_quarantine" / "events").mkdir(parents=True)
    (lake / "_quarantine" / "events" / "x.parquet").write_bytes(b"")
    (lake / "events" / "event_date=2026-11-24" / "stray.parquet").write_bytes(b"")  # not in the log: not data
    assert sorted(str(b.path.relative_to(lake).parts[0]) for b in scan_lake(Lake.at(lake))) == [
        "alerts", "dead_letters", "events"]
    assert scan_lake(Lake.at(tmp_path / "nothing")) == []
