"""The processing-step interface (after Sentry's arroyo).

A consumer hands each polled message to the first step's :meth:`submit`; each
step does its job and submits its output to the next step. Contract:

- :meth:`submit` may raise :class:`MessageRejected` to say "not now" (back
  pressure): the consumer must keep the message, pause its partitions and
  offer it again after :meth:`poll`. The message is *not* lost and must not
  be skipped. (The steps in this package are synchronous and never raise it
  today; the consumer still honours it.)
- :meth:`poll` is called on every loop turn, with or without new messages:
  time-based work (flushing a batch that has waited long enough) happens here.
- :meth:`join` flushes everything buffered downstream within ``timeout`` and
  returns only after it is durable and committed: called at shutdown and before
  partitions are revoked.
- :meth:`close` releases resources; no further calls follow.
- Offsets are committed by the last step only, and only after the data they
  cover is durable in the lake. Any other exception is a bug or an I/O failure:
  it propagates, the consumer exits non-zero without committing, and the
  uncommitted messages are re-delivered to the next consumer.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Generic, TypeVar

from tracelake.ingest.message import Message

TIn = TypeVar("TIn")


class MessageRejected(Exception):
    """Raised by ``submit`` when a step cannot take the message now."""


class ProcessingStep(ABC, Generic[TIn]):
    @abstractmethod
    def submit(self, message: Message[TIn]) -> None: ...

    @abstractmethod
    def poll(self) -> None: ...

    @abstractmethod
    def join(self, timeout: float | None = None) -> None: ...

    def close(self) -> None:
        """Release resources; most steps hold none."""
