"""``tracelake compact`` keeps the ``flags`` table tidy like the others (docs/flags.md): a closed day's many
one-change files become one, every change kept (the table is the flags' audit trail), and the table is vacuumed
and checkpointed; the current flags and their history read the same before and after."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from tracelake.ingest.compact import compact_lake
from tracelake.lake.delta import live_files
from tracelake.lake.lake import Lake
from tracelake.lake.tables import FLAGS
from tracelake.queries.flags import FlagTable

TODAY = date(2026, 11, 25)


def _files(lake: Lake, day: str) -> int:
    return sum(1 for f in live_files(lake, FLAGS) if f.day.isoformat() == day)


def test_compact_bin_packs_closed_days_of_flags_and_keeps_every_change(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path)
    flags = FlagTable(lake, max_age_s=0)
    start = datetime(2026, 11, 23, 9, tzinfo=UTC)
    for i in range(6):  # three changes on each of two closed days, two today
        flags.set(tenant="acme", workflow="refund", action="throttle", rate=0.1 * (i + 1), reason=f"r{i}",
                  who="ops", now=start + timedelta(days=i // 3, hours=i % 3))
    for i in range(2):
        flags.set(tenant="globex", workflow="access", action="pause" if i else "allow", reason=f"t{i}", who="ops",
                  now=datetime(2026, 11, 25, 8 + i, tzinfo=UTC))
    before = (flags.current("acme"), flags.current("globex"), flags.history("acme"), flags.history("globex"))
    assert (_files(lake, "2026-11-23"), _files(lake, "2026-11-24"), _files(lake, "2026-11-25")) == (3, 3, 2)

    report = compact_lake(lake, older_than_days=1, today=TODAY)

    packed = sorted((r.partition, r.action) for r in report.partitions if r.table == "flags")
    assert [action for _, action in packed] == ["optimize", "optimize"] and "2026-11-24" in packed[1][0]
    assert (_files(lake, "2026-11-23"), _files(lake, "2026-11-24"), _files(lake, "2026-11-25")) == (1, 1, 2)
    assert "flags" in [m.table for m in report.maintenance]
    assert (tmp_path / "flags" / "_delta_log" / "_last_checkpoint").exists()
    again = FlagTable(lake, max_age_s=0)
    assert (again.current("acme"), again.current("globex"), again.history("acme"), again.history("globex")) == before
    assert len(again.rows()) == 8
    # A second run has nothing left to pack.
    assert [r for r in compact_lake(lake, older_than_days=1, today=TODAY).partitions
            if r.table == "flags" and r.action in ("rewrite", "optimize")] == []
