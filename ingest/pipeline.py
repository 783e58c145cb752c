"""The processing chain, assembled in data-flow order.

    poll → decode + validate → buffer (micro-batch) → redact → write (lake + DLQ) → refresh rollup → seal chain → commit

Batching comes before redaction on purpose: the redactor runs spaCy over a
whole batch at once (``nlp.pipe``) and caches repeated strings across it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from tracelake.ingest.message import Partition, RawMessage
from tracelake.ingest.metrics import Counters
from tracelake.ingest.sinks import DeadLetterSink
from tracelake.ingest.strategies.base import ProcessingStep
from tracelake.ingest.strategies.batching import Batching
from tracelake.ingest.strategies.commit import CommitOffsets
from tracelake.ingest.strategies.rollup import RefreshRollup
from tracelake.ingest.strategies.run_task import RunTask
from tracelake.ingest.strategies.seal import SealChain
from tracelake.ingest.strategies.write import KnownIds, WriteLake
from tracelake.lake.writer import LakeWriter
from tracelake.transforms.pricing import PriceTable
from tracelake.transforms.processor import Accepted, Rejected, decode_validate
from tracelake.transforms.redact_batch import BatchRedactor, redact_batch


@dataclass
class PipelineParts:
    """Everything the chain needs, built once by the caller (CLI, tests, demo)."""

    redactor: BatchRedactor
    events: LakeWriter
    dead_letters: LakeWriter
    prices: PriceTable
    counters: Counters
    dlq: DeadLetterSink | None = None
    max_batch: int = 5000
    max_batch_age_s: float = 2.0
    max_event_bytes: int = 1024 * 1024
    known_ids: KnownIds | None = None
    # The upkeep (tracelake.ingest.derived: tidy, runs rollup, control results), run in the background by the
    # RefreshRollup step; None: not here.
    refresh_rollup: Callable[[], object] | None = None
    rollup_interval_s: float = 5.0
    # Seals the lake's new commits into the commit chain (tracelake.governance.seal.seal_lake); None: not here.
    seal_chain: Callable[[], object] | None = None
    seal_interval_s: float = 60.0


def build_pipeline(
    parts: PipelineParts, commit: Callable[[dict[Partition, int]], None]
) -> ProcessingStep[RawMessage]:
    committed: ProcessingStep[Any] = CommitOffsets(commit, parts.counters)
    if parts.refresh_rollup is not None:
        committed = RefreshRollup(parts.refresh_rollup, parts.rollup_interval_s, committed, parts.counters)
    if parts.seal_chain is not None:  # outermost: it runs after the write and the rollup's commit
        committed = SealChain(parts.seal_chain, parts.seal_interval_s, committed)
    written = WriteLake(parts.events, parts.dead_letters, parts.dlq, parts.prices, committed, parts.counters,
                        known_ids=parts.known_ids)
    redacted = RunTask(partial(redact_batch, parts.redactor), written)
    batched: Batching[Accepted | Rejected] = Batching(parts.max_batch, parts.max_batch_age_s, redacted)

    def validate(raw: RawMessage) -> Accepted | Rejected:
        return decode_validate(raw.value, raw.meta, parts.max_event_bytes)

    return RunTask(validate, batched)
