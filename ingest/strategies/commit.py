"""The last step: commit the offsets of a batch whose data is durable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tracelake.ingest.message import Message, Partition
from tracelake.ingest.metrics import OFFSETS_COMMITTED, Counters
from tracelake.ingest.strategies.base import ProcessingStep


class CommitOffsets(ProcessingStep[Any]):
    """Calls ``commit(offsets)`` once per batch that reaches it. Only the write
    step submits here, and only after its files are durable, so an offset is
    never committed ahead of the data it covers."""

    def __init__(self, commit: Callable[[dict[Partition, int]], None], counters: Counters | None = None) -> None:
        self.commit = commit
        self.counters = counters or Counters()

    def submit(self, message: Message[Any]) -> None:
        if message.committable:
            self.commit(dict(message.committable))
            self.counters.inc(OFFSETS_COMMITTED)

    def poll(self) -> None:
        pass

    def join(self, timeout: float | None = None) -> None:
        pass
