"""Gather messages into micro-batches bounded by size and by age.

A batch goes downstream when it holds ``max_size`` items, or on :meth:`poll`
once its first item is ``max_age_s`` old (so a quiet topic still flushes), or
on :meth:`join`. Its ``committable`` is the highest next-offset per partition
of the messages it holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from tracelake.ingest.message import Message, Partition
from tracelake.ingest.strategies.base import ProcessingStep

T = TypeVar("T")


class Batching(ProcessingStep[T], Generic[T]):
    def __init__(
        self,
        max_size: int,
        max_age_s: float,
        next_step: ProcessingStep[list[Any]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_size = max_size
        self.max_age_s = max_age_s
        self.next_step = next_step
        self._clock = clock
        self._items: list[T] = []
        self._committable: dict[Partition, int] = {}
        self._started: float | None = None

    def submit(self, message: Message[T]) -> None:
        if self._started is None:
            self._started = self._clock()
        self._items.append(message.payload)
        for partition, offset in message.committable.items():
            self._committable[partition] = max(offset, self._committable.get(partition, 0))
        if len(self._items) >= self.max_size:
            self._flush()

    def _flush(self) -> None:
        if not self._items and not self._committable:
            return
        batch = Message(self._items, self._committable)
        self._items, self._committable, self._started = [], {}, None
        self.next_step.submit(batch)

    def poll(self) -> None:
        if self._started is not None and self._clock() - self._started >= self.max_age_s:
            self._flush()
        self.next_step.poll()

    def join(self, timeout: float | None = None) -> None:
        self._flush()
        self.next_step.join(timeout)

    def close(self) -> None:
        self.next_step.close()
