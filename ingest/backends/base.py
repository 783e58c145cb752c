"""The consumer backend interface.

Contract: :meth:`poll` returns at most ``max_records`` messages in partition
order and may call the ``on_revoke`` callback given to :meth:`subscribe`
*before* it returns, when the group takes partitions away; the callback must
flush and commit what it holds for them, and the partitions are handed over
only after it returns (so the next owner starts after the last commit). The
callback may run on another thread than the one that called :meth:`poll`, but
never concurrently with it: that thread stays blocked in :meth:`poll` until
the callback has returned. An exception from the callback propagates out of
:meth:`poll` (nothing more is committed). :meth:`commit` stores, per
partition, the next offset to read; it may be called from inside the callback;
it raises :class:`CommitFailed` when the group has moved on (the messages will
be re-delivered to the new owner). :meth:`close` leaves the group without
calling ``on_revoke`` (the caller has already flushed, or must not commit).

``on_assign`` (optional) is called with the partitions the group gives this
member, before anything is fetched from them; it returns, for some of them,
the offset to start from instead of the group's committed one (the lake's
own record of what it holds, so a batch written but not committed to Kafka
is not read again). Like ``on_revoke`` it never runs concurrently with
:meth:`poll`'s caller; an exception from it propagates out of :meth:`poll`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from tracelake.ingest.message import Partition, RawMessage

RevokeCallback = Callable[[list[Partition]], None]
AssignCallback = Callable[[list[Partition]], dict[Partition, int]]


class CommitFailed(Exception):
    """The offsets were not stored (rebalance or broker trouble)."""


class ConsumerBackend(ABC):
    @abstractmethod
    def subscribe(self, on_revoke: RevokeCallback, on_assign: AssignCallback | None = None) -> None: ...

    @abstractmethod
    def poll(self, timeout_s: float, max_records: int) -> list[RawMessage]: ...

    @abstractmethod
    def commit(self, offsets: dict[Partition, int]) -> None: ...

    @abstractmethod
    def pause(self) -> None: ...

    @abstractmethod
    def resume(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...
