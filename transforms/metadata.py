"""Where a message came from: the provenance every row and rejection carries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class MessageMeta:
    """``source`` is ``kafka``, ``file`` or ``http``; Kafka fields are None elsewhere
    (a file line's number goes in ``offset`` so a rejection still points at it)."""

    source: str
    received_at: datetime
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
