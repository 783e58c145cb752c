"""Write a redacted batch to the lake (dead letters, then events) and the DLQ, durably, then pass its offsets on.

Each table gets the whole batch in one Delta transaction that records, per
source (Kafka topic-partition, or ingested file), the last offset the batch
covers (:mod:`tracelake.lake.delta`): rows at or below an offset the table
already records are dropped, so a re-delivered batch — cut at any offsets —
adds nothing twice. Dead letters are committed before events, and a
consumer resumes after the offset the ``events`` table records
(:mod:`tracelake.ingest.consumer`): when ``events`` has a batch, its dead
letters are in too. The commit is named after where its rows came from
(``<topic>.p<partition>.o<first>-<last>``, ``<file id>.l<first>-<last>``),
kept in the commit's metadata for readers of the table history.

An event's identity is ``(tenant, event_id)``: the same ``event_id`` sent by
two tenants is two events, so one tenant can never suppress another's.
Within a batch an identity is kept once (first wins); ``known_ids`` (used by
``ingest-file``) drops events the lake already holds. A producer that sends
one event twice (two offsets) still stores it twice: the ``events`` view
reads one row per identity and compaction removes the extra copy.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from tracelake.ingest import metrics
from tracelake.ingest.message import Message, Partition
from tracelake.ingest.sinks import DLQ_FORWARD_FAILURES, DeadLetterSink
from tracelake.ingest.strategies.base import ProcessingStep
from tracelake.lake.delta import source_id
from tracelake.lake.tables import DEAD_LETTERS, EVENTS
from tracelake.lake.writer import LakeWriter
from tracelake.transforms.pricing import PriceTable
from tracelake.transforms.processor import Accepted, Rejected, Row, dead_letter_row, to_row

EventKey = tuple[str, str]  # (tenant, event_id): one event's identity in the lake
KnownIds = Callable[[set[EventKey], set[str]], set[EventKey]]  # (keys, event_dates) -> the keys already stored


def event_key(event: dict[str, Any]) -> EventKey:
    """``(tenant, event_id)`` of a wire-form event (``tenant`` defaults to ``default``, as in the contract)."""
    tenant = event.get("tenant")
    return ("default" if tenant is None else str(tenant), str(event["event_id"]))


def batch_name(rows: list[Row]) -> str:
    """Where ``rows`` came from, for the commit's metadata: ``<topic>.p<partition>.o<first>-<last>`` for one
    Kafka partition, ``<file id>.l<first>-<last>`` for a file, the names joined with ``+`` for several."""
    names = []
    for group in _groups(rows).values():
        first = group[0]
        offsets = [r["kafka_offset"] for r in group]
        if first["source"] == "kafka":
            names.append(f"{first['kafka_topic']}.p{first['kafka_partition']}.o{min(offsets):012d}-"
                         f"{max(offsets):012d}")
        else:
            names.append(f"{first['kafka_topic'] or first['source']}.l{min(offsets):09d}-{max(offsets):09d}")
    return "+".join(names) or "empty"


def _groups(rows: list[Row]) -> dict[tuple[Any, Any, Any], list[Row]]:
    groups: dict[tuple[Any, Any, Any], list[Row]] = defaultdict(list)
    for row in rows:
        groups[(row["source"], row["kafka_topic"], row["kafka_partition"])].append(row)
    return groups


def positions(committable: dict[Partition, int]) -> dict[str, int]:
    """A batch's Kafka offsets as table positions: source id → the last offset covered (committable holds the
    next offset to read)."""
    return {source_id("kafka", p.topic, p.index): offset - 1 for p, offset in committable.items()}


class WriteLake(ProcessingStep[list[Accepted | Rejected]]):
    def __init__(
        self,
        events: LakeWriter,
        dead_letters: LakeWriter,
        dlq: DeadLetterSink | None,
        prices: PriceTable,
        next_step: ProcessingStep[Any],
        counters: metrics.Counters,
        known_ids: KnownIds | None = None,
    ) -> None:
        self.events = events
        self.dead_letters = dead_letters
        self.dlq = dlq
        self.prices = prices
        self.next_step = next_step
        self.counters = counters
        self.known_ids = known_ids

    def _rows(self, accepted: list[Accepted]) -> list[Row]:
        seen: set[EventKey] = set()
        rows = []
        for item in accepted:
            key = event_key(item.event)
            if key in seen:
                self.counters.inc(metrics.DUPLICATES_SKIPPED)
                continue
            seen.add(key)
            rows.append(to_row(item, self.prices))
        if self.known_ids is not None and rows:
            stored = self.known_ids(seen, {r["event_date"] for r in rows})
            if stored:
                fresh = [r for r in rows if event_key(r) not in stored]
                self.counters.inc(metrics.DUPLICATES_SKIPPED, len(rows) - len(fresh))
                rows = fresh
        return rows

    def submit(self, message: Message[list[Accepted | Rejected]]) -> None:
        accepted = [i for i in message.payload if isinstance(i, Accepted)]
        rejected = [i for i in message.payload if isinstance(i, Rejected)]
        rows = self._rows(accepted)
        covered = positions(message.committable)
        if rejected:
            # Dead letters first: a consumer resumes after what ``events`` records (module docstring).
            dead = [dead_letter_row(r) for r in rejected]
            files = self.dead_letters.write(DEAD_LETTERS.to_arrow(dead), batch_name(dead), covered)
            self.counters.inc(metrics.FILES_WRITTEN, files)
        if rows or covered:
            files = self.events.write(EVENTS.to_arrow(rows), batch_name(rows), covered)
            self.counters.inc(metrics.FILES_WRITTEN, files)
        if rejected and self.dlq is not None:
            for refused in rejected:
                self.dlq.send(refused)
            # Never raises: a copy the topic cannot take costs only itself (the rows above are
            # the durable record), so one poison message cannot crash-loop the consumer.
            lost = self.dlq.flush()
            self.counters.inc(metrics.DLQ_PRODUCED, len(rejected) - lost)
            if lost:
                self.counters.inc(DLQ_FORWARD_FAILURES, lost)
        self.counters.inc(metrics.EVENTS_STORED, len(rows))
        self.counters.inc(metrics.EVENTS_REJECTED, len(rejected))
        for item in accepted:
            for entity, count in (item.redactions or {}).items():
                self.counters.inc(metrics.REDACTIONS, count, label=entity)
        self.counters.inc(metrics.BATCHES_WRITTEN)
        self.next_step.submit(Message(None, message.committable))

    def poll(self) -> None:
        self.next_step.poll()

    def join(self, timeout: float | None = None) -> None:
        self.next_step.join(timeout)

    def close(self) -> None:
        if self.dlq is not None:
            self.dlq.close()
        self.next_step.close()
