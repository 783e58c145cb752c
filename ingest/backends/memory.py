"""An in-memory backend for tests of the consumer loop and for ``ingest-file``."""

from __future__ import annotations

from datetime import UTC, datetime

from tracelake.ingest.backends.base import AssignCallback, ConsumerBackend, RevokeCallback
from tracelake.ingest.message import Partition, RawMessage
from tracelake.transforms.metadata import MessageMeta


class MemoryBackend(ConsumerBackend):
    """Serves ``values`` per partition from the committed offsets on; records commits."""

    def __init__(self, topic: str, partitions: dict[int, list[bytes]]) -> None:
        self.topic = topic
        self.partitions = partitions
        self.committed: dict[Partition, int] = {}
        self.position = {Partition(topic, p): 0 for p in partitions}
        self.paused = False
        self.closed = False
        self.on_revoke: RevokeCallback | None = None

    def subscribe(self, on_revoke: RevokeCallback, on_assign: AssignCallback | None = None) -> None:
        self.on_revoke = on_revoke
        self.position = {p: self.committed.get(p, 0) for p in self.position}
        if on_assign is not None:
            self.position.update(on_assign(sorted(self.position)))

    def poll(self, timeout_s: float, max_records: int) -> list[RawMessage]:
        if self.paused:
            return []
        out: list[RawMessage] = []
        now = datetime.now(UTC)
        for partition, position in sorted(self.position.items()):
            values = self.partitions[partition.index]
            while position < len(values) and len(out) < max_records:
                meta = MessageMeta("kafka", now, partition.topic, partition.index, position)
                out.append(RawMessage(values[position], meta))
                position += 1
            self.position[partition] = position
        return out

    def revoke_all(self) -> None:
        """Simulate the group taking every partition away (the callback runs first)."""
        assert self.on_revoke is not None
        self.on_revoke(sorted(self.position))

    def commit(self, offsets: dict[Partition, int]) -> None:
        self.committed.update(offsets)

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False

    def close(self) -> None:
        self.closed = True
