"""Consumer-group faults with real `tracelake consume` processes on the real broker (issue 12, item 1).

- Members joining and leaving mid-stream: nobody exits non-zero, every
  produced event is in the lake exactly once *at file level* (the Parquet
  files read directly, not through the de-duplicating view).
- A member killed with SIGKILL: the broker removes it when its session
  expires (its own log says "on heartbeat expiration"), and the running member
  takes all its partitions over in the next generation. How long that takes
  is printed, not asserted: a speed figure belongs in ``bench/``.
"""

from __future__ import annotations

import collections
import re
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.chaos.processes import ConsumeProcess, make_topic
from tests.helpers import wait_until
from tracelake.localkafka import LocalKafka
from tracelake.sdk import Client
from tracelake.settings import Settings

pytestmark = [pytest.mark.kafka, pytest.mark.chaos]

PARTITIONS = 4


class Member(ConsumeProcess):
    """A consumer-group member that can tell which partitions it was assigned."""

    def assignments(self) -> list[list[str]]:
        """Every assignment this member logged, oldest first (``[]`` when it got none)."""
        return [re.findall(r"'([^']+)'", m)
                for m in re.findall(r"tracelake.ingest: assigned partitions: (\[.*\])$", self.text(), re.M)]

    def owns_some(self) -> bool:
        found = self.assignments()
        return bool(found and found[-1])

    def sigterm(self, timeout: float = 90.0) -> int:
        return self.stop(timeout)


def expired_members(broker: LocalKafka, group: str) -> list[str]:
    """Members the broker removed from ``group`` because their session expired (its group coordinator's log)."""
    pattern = re.compile(rf"Preparing to rebalance group {re.escape(group)} .*"
                         r"\(reason: removing member (\S+) on heartbeat expiration\.")
    return [m.group(1) for m in pattern.finditer(broker.log_file.read_text(errors="replace"))]


def file_counts(lake: Path) -> collections.Counter[str]:
    """event_id → number of rows across every Parquet file of the events table."""
    counts: collections.Counter[str] = collections.Counter()
    for path in sorted((lake / "events").rglob("*.parquet")):
        counts.update(pq.read_table(path, columns=["event_id"]).column("event_id").to_pylist())
    return counts


class Producer(threading.Thread):
    """Emits events with the SDK at a steady pace until stopped; remembers every event id."""

    def __init__(self, bootstrap: str, topic: str, spool: Path, per_tick: int = 20, tick_s: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.client = Client(bootstrap=bootstrap, topic=topic, spool_dir=str(spool), workflow="chaos",
                             workflow_version="1")
        self.ids: set[str] = set()
        self.per_tick, self.tick_s = per_tick, tick_s
        self.halt = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.halt.wait(self.tick_s):
            for _ in range(self.per_tick):
                n += 1
                self.ids.add(self.client.emit({"event_type": "custom", "name": "step", "run_id": f"run-{n % 97}",
                                               "attributes": {"n": n}}))

    def finish(self) -> set[str]:
        self.halt.set()
        self.join(30)
        assert self.client.flush(60), self.client.stats()
        self.client.close()
        return set(self.ids)


def test_members_join_and_leave_mid_stream_without_exit_loss_or_file_duplicates(
        kafka_broker: LocalKafka, tmp_path: Path, topic: str) -> None:
    make_topic(kafka_broker.bootstrap, topic, PARTITIONS)
    lake, group = tmp_path / "lake", f"g-{topic}"
    members: list[Member] = []
    producer = Producer(kafka_broker.bootstrap, topic, tmp_path / "spool")
    try:
        a = Member(kafka_broker.bootstrap, topic, lake, group, tmp_path / "a.log")
        members.append(a)
        producer.start()
        assert wait_until(lambda: len(file_counts(lake)) >= 300, 180), "A never stored anything"

        # B joins mid-stream: A gives up half of its partitions (flush + commit in the revoke callback).
        b = Member(kafka_broker.bootstrap, topic, lake, group, tmp_path / "b.log")
        members.append(b)
        assert wait_until(b.owns_some, 180), f"B never got partitions:\n{b.text()[-3000:]}"
        assert a.proc.poll() is None, f"A exited during the rebalance:\n{a.text()[-3000:]}"
        seen = len(file_counts(lake))
        assert wait_until(lambda: len(file_counts(lake)) >= seen + 300, 120), "no progress after B joined"

        # A leaves (SIGTERM: flush, commit, leave the group); C joins mid-stream.
        assert a.sigterm() == 0, a.text()[-3000:]
        c = Member(kafka_broker.bootstrap, topic, lake, group, tmp_path / "c.log")
        members.append(c)
        assert wait_until(c.owns_some, 180), f"C never got partitions:\n{c.text()[-3000:]}"
        seen = len(file_counts(lake))
        assert wait_until(lambda: len(file_counts(lake)) >= seen + 300, 120), "no progress after C joined"

        produced = producer.finish()
        assert wait_until(lambda: set(file_counts(lake)) >= produced, 180), \
            f"missing {len(produced - set(file_counts(lake)))} events"
        for member in (b, c):
            assert member.proc.poll() is None, member.text()[-3000:]
            assert member.sigterm() == 0, member.text()[-3000:]
        for member in members:
            assert not member.our_tracebacks(), member.text()[-3000:]
            assert "rebalance callback throws" not in member.text()
        assert "partitions revoked" in b.text()  # B did give partitions up to C (a real handover)

        counts = file_counts(lake)
        assert set(counts) == produced  # no loss, nothing foreign
        duplicated = {k: v for k, v in counts.items() if v > 1}
        assert not duplicated, f"{len(duplicated)} event ids on disk more than once"
    finally:
        producer.halt.set()
        for member in members:
            member.ensure_dead()


def test_kill_9_member_partitions_taken_over_when_its_session_expires(
        kafka_broker: LocalKafka, tmp_path: Path, topic: str) -> None:
    session_s = Settings().kafka_session_timeout_ms / 1000
    make_topic(kafka_broker.bootstrap, topic, PARTITIONS)
    lake, group = tmp_path / "lake", f"g-{topic}"
    a = Member(kafka_broker.bootstrap, topic, lake, group, tmp_path / "a.log")
    b = Member(kafka_broker.bootstrap, topic, lake, group, tmp_path / "b.log")
    try:
        assert wait_until(lambda: a.owns_some() and b.owns_some(), 180), (a.text()[-2000:], b.text()[-2000:])
        before, expired = len(b.assignments()), expired_members(kafka_broker, group)
        a.kill9()
        killed_at = time.monotonic()
        # Takeover = B's next assignment holding every partition (A's included). The wait is only a bound on a
        # hung test: what moved the partitions is read from the broker, not from a clock.
        took_over = wait_until(lambda: len(b.assignments()) > before and len(b.assignments()[-1]) == PARTITIONS,
                               session_s + 120)
        print(f"takeover after kill -9: {time.monotonic() - killed_at:.1f}s (session timeout {session_s:.0f}s)")
        assert took_over, b.text()[-3000:]
        # A's session expired (not a leave, not the max poll interval): the one member the broker expired since.
        assert len(expired_members(kafka_broker, group)) == len(expired) + 1, kafka_broker.log_tail()
        # And the survivor really consumes A's partitions.
        with Client(bootstrap=kafka_broker.bootstrap, topic=topic, spool_dir=str(tmp_path / "spool"),
                    workflow="chaos", workflow_version="1") as client:
            ids = {client.emit({"event_type": "custom", "name": "x", "run_id": f"run-{i}"}) for i in range(200)}
            assert client.flush(60)
        assert wait_until(lambda: set(file_counts(lake)) >= ids, 120)
        assert b.sigterm() == 0, b.text()[-3000:]
    finally:
        a.ensure_dead()
        b.ensure_dead()
