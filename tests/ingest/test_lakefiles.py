"""Unreadable lake files: the footer check, its cache, quarantine, and the readers that use them (issue 12, 4)."""

from __future__ import annotations

import os
import shutil
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
from tracelake.lake.lake import stored_event_ids


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


def test_quarantine_moves_the_file_keeps_its_path_and_logs_it(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    part = lake / "events" / "event_date=2026-11-24"
    good_parquet(part / "ok.parquet")
    for _ in range(2):  # the same name twice: the second copy gets a suffix, nothing is overwritten
        (part / "bad.parquet").write_bytes(b"garbage!")
        moved = quarantine(lake, BadFile(part / "bad.parquet", 8, "not a Parquet file"))
    assert not (part / "bad.parquet").exists()
    target = lake / QUARANTINE_DIR / "events" / "event_date=2026-11-24"
    assert sorted(p.name for p in target.iterdir()) == ["bad.parquet", "bad.parquet.1"]
    assert moved == target / "bad.parquet.1"
    entries = [orjson.loads(line) for line in (lake / QUARANTINE_DIR / QUARANTINE_LOG).read_bytes().splitlines()]
    assert [e["moved_to"] for e in entries] == ["_quarantine/events/event_date=2026-11-24/bad.parquet",
                                                "_quarantine/events/event_date=2026-11-24/bad.parquet.1"]
    assert entries[0]["file"] == "events/event_date=2026-11-24/bad.parquet"
    assert entries[0]["size"] == 8 and entries[0]["error"] == "not a Parquet file" and entries[0]["at"].endswith("Z")
    # Quarantined files are never listed again, by a scan or by the views' file lists.
    assert scan_lake(lake) == []
    with pytest.raises(ValueError):
        quarantine(lake, BadFile(tmp_path / "elsewhere.parquet", 0, "x"))


def test_deep_scan_finds_corruption_behind_an_intact_footer(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    path = good_parquet(lake / "events" / "event_date=2026-11-24" / "a.parquet", rows=2000)
    data = bytearray(path.read_bytes())
    for i in range(8, 200):  # scribble over the first data page; the footer stays intact
        data[i] = 0xFF
    path.write_bytes(bytes(data))
    assert scan_lake(lake) == []
    (found,) = scan_lake(lake, deep=True)
    assert found.path == path and found.error


@pytest.fixture
def lake_with_bad_files(parts_factory, tmp_path: Path) -> Path:
    lake = tmp_path / "lake"
    lines = [orjson.dumps({"schema_version": "1", "event_id": f"e{i}", "event_type": "custom", "name": "s",
                           "ts": f"2026-11-2{3 + i % 2}T10:00:00Z", "run_id": "r", "workflow": "w",
                           "workflow_version": "1"}) for i in range(6)]
    for n in range(2):  # two files per partition, so compaction has work
        src = tmp_path / f"in{n}.jsonl"
        src.write_bytes(b"\n".join(lines[n * 3:(n + 1) * 3]) + b"\n")
        ingest_stream([str(src)], parts_factory(lake), lake)
    part = lake / "events" / "event_date=2026-11-24"
    some = sorted(part.glob("*.parquet"))[0]
    (part / "truncated.parquet").write_bytes(some.read_bytes()[:100])
    (part / "zero.parquet").write_bytes(b"")
    return lake


def test_compact_quarantines_bad_files_and_merges_the_rest(lake_with_bad_files: Path) -> None:
    lake = lake_with_bad_files
    seen: list[tuple[str, Path]] = []
    results = compact_lake(lake, older_than_days=0, on_quarantine=lambda bad, moved: seen.append((bad.error, moved)))
    assert sorted(error for error, _ in seen) == ["truncated Parquet file (no magic bytes at the end)",
                                                  "zero-byte file"]
    assert {r.partition: r.rows_out for r in results} == {"event_date=2026-11-23": 3, "event_date=2026-11-24": 3}
    assert len(list((lake / QUARANTINE_DIR).rglob("*.parquet"))) == 2
    assert len((lake / QUARANTINE_DIR / QUARANTINE_LOG).read_bytes().splitlines()) == 2


def test_compact_quarantines_a_file_that_fails_to_decode(lake_with_bad_files: Path) -> None:
    lake = lake_with_bad_files
    part = lake / "events" / "event_date=2026-11-23"
    victim = sorted(part.glob("*.parquet"))[0]
    data = bytearray(victim.read_bytes())
    for i in range(4, min(len(data) - 8, 400)):
        data[i] = 0xFF
    victim.write_bytes(bytes(data))
    compact_lake(lake, older_than_days=0)
    assert (lake / QUARANTINE_DIR / "events" / "event_date=2026-11-23" / victim.name).exists()


def test_ingest_file_and_duplicate_check_skip_bad_files(lake_with_bad_files: Path, parts_factory,
                                                        tmp_path: Path) -> None:
    lake = lake_with_bad_files
    assert stored_event_ids(lake, {("default", "e1"), ("default", "x")}, {"2026-11-24"}) == {("default", "e1")}
    again = tmp_path / "again.jsonl"
    again.write_bytes(orjson.dumps({"schema_version": "1", "event_id": "e1", "event_type": "custom", "name": "s",
                                    "ts": "2026-11-24T11:00:00Z", "run_id": "r", "workflow": "w",
                                    "workflow_version": "1"}) + b"\n")
    summary = ingest_stream([str(again)], parts_factory(lake), lake)
    assert (summary.accepted, summary.duplicates) == (0, 1)


def test_scan_lake_covers_every_table_but_not_the_quarantine(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    for table in ("events", "dead_letters", "alerts", "_quarantine/events"):
        (lake / table / "event_date=2026-11-24").mkdir(parents=True)
        (lake / table / "event_date=2026-11-24" / "x.parquet").write_bytes(b"")
    assert sorted(str(b.path.relative_to(lake).parts[0]) for b in scan_lake(lake)) == [
        "alerts", "dead_letters", "events"]
    shutil.rmtree(lake)
    assert scan_lake(lake) == []
