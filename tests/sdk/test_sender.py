"""Sender logic against the in-memory transport (pure logic; Kafka itself is in test_kafka.py)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tracelake.sdk.sender import Sender, SenderOptions
from tracelake.sdk.transport import MemoryTransport, Record


def rec(i: int, run: str = "r1") -> Record:
    return Record(key=run.encode(), value=b'{"event_id":"e%d","run_id":"%s"}' % (i, run.encode()))


def options(tmp_path: Path, **kw: object) -> SenderOptions:
    return SenderOptions(spool_root=tmp_path / "spool", poll_interval_s=0.01, retry_min_s=0.01, retry_max_s=0.05, **kw)


def test_delivers_in_order(tmp_path: Path) -> None:
    transport = MemoryTransport()
    sender = Sender(transport, options(tmp_path))
    for i in range(100):
        sender.submit(rec(i))
    assert sender.flush(10)
    sender.close()
    assert [r.value for r in transport.delivered] == [rec(i).value for i in range(100)]
    stats = sender.stats()
    assert (stats.enqueued, stats.sent, stats.spooled, stats.dropped) == (100, 100, 0, 0)


def test_spools_while_down_then_replays_in_order_once(tmp_path: Path) -> None:
    transport = MemoryTransport()
    transport.up = False
    sender = Sender(transport, options(tmp_path))
    for i in range(50):
        sender.submit(rec(i))
    assert not sender.flush(0.3)
    assert sender.stats().spool_pending == 50
    transport.up = True
    for i in range(50, 60):
        sender.submit(rec(i))
    assert sender.flush(10)
    sender.close()
    assert [r.value for r in transport.delivered] == [rec(i).value for i in range(60)]
    assert sender.stats().replayed >= 50
    assert not list((tmp_path / "spool").glob("*/seg-*"))


def test_partial_send_keeps_the_rest(tmp_path: Path) -> None:
    transport = MemoryTransport()
    transport.fail_after = 3
    sender = Sender(transport, options(tmp_path, batch_size=10))
    for i in range(10):
        sender.submit(rec(i))
    assert not sender.flush(0.2) or len(transport.delivered) == 10
    transport.fail_after = None
    assert sender.flush(10)
    sender.close()
    assert [r.value for r in transport.delivered] == [rec(i).value for i in range(10)]


def test_close_while_down_spools_and_next_sender_replays(tmp_path: Path) -> None:
    down = MemoryTransport()
    down.up = False
    first = Sender(down, options(tmp_path))
    for i in range(20):
        first.submit(rec(i))
    first.close(timeout=2)
    assert down.delivered == []
    transport = MemoryTransport()
    second = Sender(transport, options(tmp_path))
    assert_eventually = second.flush(10)
    second.close()
    assert assert_eventually
    assert sorted(r.value for r in transport.delivered) == sorted(rec(i).value for i in range(20))


def test_full_queue_falls_back_to_spool_not_loss(tmp_path: Path) -> None:
    transport = MemoryTransport()
    transport.up = False
    sender = Sender(transport, options(tmp_path, queue_size=2))
    for i in range(200):
        sender.submit(rec(i))
    transport.up = True
    assert sender.flush(10)
    sender.close()
    assert sorted(r.value for r in transport.delivered) == sorted(rec(i).value for i in range(200))
    assert sender.stats().dropped == 0


def test_bounded_spool_counts_drops(tmp_path: Path) -> None:
    transport = MemoryTransport()
    transport.up = False
    size = len(rec(0).value) + 1
    sender = Sender(transport, options(tmp_path, spool_max_bytes=size * 10))
    for i in range(30):
        sender.submit(rec(i))
    sender.close(timeout=2)
    stats = sender.stats()
    assert stats.spooled == 10
    assert stats.dropped == 20


def test_many_agent_threads_lose_nothing(tmp_path: Path) -> None:
    import threading

    transport = MemoryTransport()
    sender = Sender(transport, options(tmp_path))

    def agent(n: int) -> None:
        for i in range(500):
            sender.submit(rec(n * 1000 + i, run=f"r{n}"))

    threads = [threading.Thread(target=agent, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sender.flush(10)
    sender.close()
    assert sender.stats().enqueued == 4000 == len(transport.delivered)
    per_run: dict[bytes, list[bytes]] = {}
    for r in transport.delivered:
        per_run.setdefault(r.key, []).append(r.value)
    for n in range(8):  # each agent's own order is kept
        assert per_run[f"r{n}".encode()] == [rec(n * 1000 + i, run=f"r{n}").value for i in range(500)]


class HangingTransport(MemoryTransport):
    """A broker that accepts the connection and never answers: ``send`` blocks until released."""

    def __init__(self) -> None:
        super().__init__()
        import threading

        self.release = threading.Event()

    def send(self, records: Sequence[Record]) -> int:
        self.release.wait(30)
        return super().send(records)


def test_accepted_events_reach_the_spool_while_the_transport_hangs(tmp_path: Path) -> None:
    """Write-ahead: a blocked connection attempt never holds accepted events in memory only."""
    from tests.helpers import wait_until

    transport = HangingTransport()
    sender = Sender(transport, options(tmp_path))
    try:
        for i in range(100):
            sender.submit(rec(i))

        def on_disk() -> int:
            return sum(len(p.read_bytes().splitlines()) for p in (tmp_path / "spool").glob("*/seg-*.jsonl"))

        assert wait_until(lambda: on_disk() == 100, 2.0), on_disk()
        assert sender.stats().queue_depth == 0
    finally:
        transport.release.set()
    assert sender.flush(10)
    sender.close()
    assert [r.value for r in transport.delivered] == [rec(i).value for i in range(100)]
