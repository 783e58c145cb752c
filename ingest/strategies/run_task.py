"""Apply a function to each message's payload and pass the result on (decode/validate, redact)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from tracelake.ingest.message import Message
from tracelake.ingest.strategies.base import ProcessingStep

TIn = TypeVar("TIn")
TOut = TypeVar("TOut")


class RunTask(ProcessingStep[TIn], Generic[TIn, TOut]):
    """``fn`` must not raise for bad input (it returns a rejection instead); an
    exception from it is a bug and propagates (nothing is committed)."""

    def __init__(self, fn: Callable[[TIn], TOut], next_step: ProcessingStep[Any]) -> None:
        self.fn = fn
        self.next_step = next_step

    def submit(self, message: Message[TIn]) -> None:
        self.next_step.submit(Message(self.fn(message.payload), message.committable))

    def poll(self) -> None:
        self.next_step.poll()

    def join(self, timeout: float | None = None) -> None:
        self.next_step.join(timeout)

    def close(self) -> None:
        self.next_step.close()
