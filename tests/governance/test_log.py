"""The governance log: appended through the Delta writer, read back in order, never rewritten; concurrent
appends all land."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from tracelake.governance.log import append_entry, read_entries
from tracelake.lake.delta import open_table
from tracelake.lake.lake import Lake
from tracelake.lake.tables import GOVERNANCE_LOG


def test_entries_are_appended_and_read_back(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path / "lake")
    assert read_entries(lake) == []
    first = append_entry(lake, "retention", {"rows": 3}, actor="cli:me", policy_digest="ab" * 32,
                         at=datetime(2026, 11, 26, 9, tzinfo=UTC))
    second = append_entry(lake, "erase", {"rows": 1}, subject="sha256:pseudonyms:s:d")
    entries = read_entries(lake)
    assert [e.entry_id for e in entries] == [first.entry_id, second.entry_id]
    assert entries[0].detail == {"rows": 3} and entries[0].policy_digest == "ab" * 32
    assert entries[1].actor.startswith("cli:")
    delta = open_table(lake, GOVERNANCE_LOG)
    assert delta is not None
    operations = [h.get("operation") for h in delta.history()]
    assert set(operations) <= {"WRITE", "CREATE TABLE"}  # appends only: nothing deleted, merged or rewritten
    assert sorted(str(d) for d in delta.to_pyarrow_table().column("event_date").to_pylist()) == \
        ["2026-11-26", datetime.now(UTC).date().isoformat()]


def test_concurrent_appends_all_land(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path / "lake")
    append_entry(lake, "retention", {})  # the table exists before the race
    threads = [threading.Thread(target=append_entry, args=(lake, "erase", {"n": n})) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(e.detail.get("n", -1) for e in read_entries(lake)) == [-1, 0, 1, 2, 3, 4, 5]
