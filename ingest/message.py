"""What flows between processing steps: a payload plus the offsets it makes committable."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from tracelake.transforms.metadata import MessageMeta

T = TypeVar("T")


@dataclass(frozen=True, slots=True, order=True)
class Partition:
    topic: str
    index: int


@dataclass(frozen=True, slots=True)
class Message(Generic[T]):
    """``committable`` maps each partition to the *next* offset to consume once
    this message (and everything before it) is durable."""

    payload: T
    committable: dict[Partition, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One Kafka record (or file line) before decoding."""

    value: bytes
    meta: MessageMeta
