"""kafka-python consumer-group backend: manual commits, revocation handed to the caller."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaError

from tracelake.ingest.backends.base import CommitFailed, ConsumerBackend, RevokeCallback
from tracelake.ingest.message import Partition, RawMessage
from tracelake.transforms.metadata import MessageMeta

log = logging.getLogger("tracelake.ingest")


class _Listener(ConsumerRebalanceListener):
    def __init__(self, on_revoke: RevokeCallback) -> None:
        self.on_revoke = on_revoke

    def on_partitions_revoked(self, revoked: Any) -> None:
        if revoked:
            self.on_revoke([Partition(tp.topic, tp.partition) for tp in revoked])

    def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("assigned partitions: %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned))


class KafkaBackend(ConsumerBackend):
    def __init__(self, bootstrap: str, topic: str, group: str, client_id: str = "tracelake-consume") -> None:
        self.topic = topic
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap.split(","),
            group_id=group,
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # Redacting a large batch can take seconds; stay well inside the poll interval.
            max_poll_interval_ms=300_000,
        )

    def subscribe(self, on_revoke: RevokeCallback) -> None:
        self._consumer.subscribe([self.topic], listener=_Listener(on_revoke))

    def poll(self, timeout_s: float, max_records: int) -> list[RawMessage]:
        batches = self._consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=max_records)
        now = datetime.now(UTC)
        out = []
        for tp, records in batches.items():
            for record in records:
                out.append(RawMessage(record.value or b"", MessageMeta("kafka", now, tp.topic, tp.partition,
                                                                        record.offset)))
        return out

    def commit(self, offsets: dict[Partition, int]) -> None:
        try:
            self._consumer.commit({TopicPartition(p.topic, p.index): OffsetAndMetadata(o, "", -1)
                                   for p, o in offsets.items()})
        except KafkaError as exc:
            raise CommitFailed(f"{type(exc).__name__}: {exc}") from exc

    def pause(self) -> None:
        self._consumer.pause(*self._consumer.assignment())

    def resume(self) -> None:
        self._consumer.resume(*self._consumer.paused())

    def close(self) -> None:
        self._consumer.close(autocommit=False)
