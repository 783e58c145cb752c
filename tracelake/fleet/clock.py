"""A simulated clock: the fleet moves time itself, so eight days of traffic fit in a minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class SimClock:
    """``clock()`` is the current simulated time as the contract's RFC 3339 string (UTC, ms)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.t = (start or datetime.now(UTC)).astimezone(UTC)

    def __call__(self) -> str:
        return self.t.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def set(self, t: datetime) -> None:
        self.t = t.astimezone(UTC)

    def advance(self, ms: float) -> None:
        self.t += timedelta(milliseconds=ms)
