"""The durable spool: FIFO across segments and restarts, the size bound, locking, orphans."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracelake.sdk.spool import Spool, SpoolLocked, orphaned_spools


def recs(n: int, start: int = 0) -> list[bytes]:
    return [b'{"event_id":"e%05d"}' % i for i in range(start, start + n)]


def test_fifo_across_segments_and_ack(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s", segment_bytes=200)
    assert spool.append(recs(30)) == 30
    assert len(list((tmp_path / "s").glob("seg-*"))) > 1
    assert spool.peek(5) == recs(5)
    spool.ack(5)
    assert spool.pending == 25
    assert spool.peek(100) == recs(25, 5)
    spool.ack(25)
    assert spool.pending == 0 and spool.peek(10) == []


def test_pending_survives_reopen(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s", segment_bytes=150)
    spool.append(recs(20))
    spool.ack(7)
    spool.close()
    again = Spool(tmp_path / "s", segment_bytes=150)
    assert again.pending == 13
    assert again.peek(100) == recs(13, 7)
    again.append(recs(2, 20))
    assert again.peek(100) == recs(15, 7)


def test_bound_drops_newest_and_counts(tmp_path: Path) -> None:
    one = len(recs(1)[0]) + 1
    spool = Spool(tmp_path / "s", max_bytes=one * 10)
    assert spool.append(recs(15)) == 10
    assert spool.dropped == 5
    assert spool.peek(100) == recs(10)  # the oldest are kept
    spool.ack(4)
    assert spool.append(recs(6, 100)) == 4  # room frees as events are delivered
    assert spool.dropped == 7


def test_second_owner_refused(tmp_path: Path) -> None:
    Spool(tmp_path / "s")
    with pytest.raises(SpoolLocked):
        Spool(tmp_path / "s")


def test_torn_last_line_is_skipped(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s")
    spool.append(recs(3))
    spool.close()
    segment = next((tmp_path / "s").glob("seg-*"))
    with open(segment, "ab") as fh:
        fh.write(b'{"event_id":"torn')
    again = Spool(tmp_path / "s")
    assert again.peek(10) == recs(3)


def test_orphans_are_adopted_only_when_unlocked(tmp_path: Path) -> None:
    live = Spool(tmp_path / "live")
    live.append(recs(2))
    dead = Spool(tmp_path / "dead")
    dead.append(recs(3))
    dead.close()
    adopted = list(orphaned_spools(tmp_path, max_bytes=10**6))
    assert [s.directory.name for s in adopted] == ["dead"]
    assert adopted[0].pending == 3
    adopted[0].ack(3)
    adopted[0].close(remove_if_empty=True)
    assert not (tmp_path / "dead").exists()


# --- at rest (issue 11, item 7): raw, unredacted events are private to their owner -----------------------------

@pytest.fixture(params=[0o022, 0o002, 0o000])
def umask(request: pytest.FixtureRequest):
    import os

    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    import stat

    return stat.S_IMODE(path.stat().st_mode)


def test_spool_directories_are_0700_and_files_0600_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    from tracelake.sdk.spool import new_spool_dir

    root = tmp_path / "home" / "spool"
    spool = Spool(new_spool_dir(root), segment_bytes=200)
    spool.append(recs(30))
    spool.append(recs(3, 30), sync=False)
    spool.ack(4)  # writes the cursor (temp file + rename)
    directory = spool.directory
    files = sorted(directory.iterdir())
    assert {p.name for p in files} >= {"lock", "cursor", "seg-000000000001.jsonl", "seg-000000000002.jsonl"}
    assert {(p.name, oct(_mode(p))) for p in files} == {(p.name, "0o600") for p in files}
    assert [oct(_mode(d)) for d in (directory, root, root.parent)] == ["0o700"] * 3
    spool.close()


def test_an_adopted_spool_is_made_private(tmp_path: Path, umask: int) -> None:
    directory = tmp_path / "old"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    (directory / "seg-000000000001.jsonl").write_bytes(b'{"event_id":"e1"}\n')
    (directory / "seg-000000000001.jsonl").chmod(0o644)
    spool = Spool(directory)
    assert spool.peek(5) == [b'{"event_id":"e1"}']
    assert _mode(directory) == 0o700
    assert {oct(_mode(p)) for p in directory.iterdir()} == {"0o600"}
    spool.close()
