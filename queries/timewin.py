"""Time arguments of the analytics surfaces: RFC 3339 instants, half-open windows, day partitions.

Pure functions, no I/O. Every instant the product compares is an aware UTC
``datetime``; a naive one is refused (``ValueError``) because the lake stores
UTC and guessing a zone would silently shift every window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

# The widest window anyone can ask for; stands in for an open bound so every query binds real timestamps.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_time(text: str) -> datetime:
    """An RFC 3339 instant with an offset (``2026-11-24T10:00:00Z``, ``…+02:00``) or a bare date
    (``2026-11-24``, midnight UTC), as aware UTC.

    Raises ``ValueError`` with a message fit for a user when the text is not one
    of those or has no offset.
    """
    raw = text.strip()
    try:
        if len(raw) == 10:
            return datetime.combine(date.fromisoformat(raw), datetime.min.time(), tzinfo=UTC)
        parsed = datetime.fromisoformat(raw.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not an RFC 3339 time (e.g. 2026-11-24T10:00:00Z)") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset; add one, e.g. {raw}Z")
    return parsed.astimezone(UTC)


def parse_duration(text: str | int | float) -> timedelta:
    """``"24h"``, ``"7d"``, ``"90m"``, ``"2w"``, ``"30s"`` or a number of seconds, as a positive timedelta."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    else:
        match = _DURATION.match(str(text))
        if not match:
            raise ValueError(f"{text!r} is not a duration (e.g. 24h, 7d, 90m)")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"duration {text!r} must be positive")
    return timedelta(seconds=seconds)


def format_time(instant: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, microseconds only when present."""
    utc = instant.astimezone(UTC)
    spec = "microseconds" if utc.microsecond else "seconds"
    return utc.isoformat(timespec=spec).replace("+00:00", "Z")


@dataclass(frozen=True)
class Window:
    """The half-open interval ``[since, until)``; open ends are ``EARLIEST`` / ``LATEST``."""

    since: datetime = EARLIEST
    until: datetime = LATEST

    def __post_init__(self) -> None:
        for instant in (self.since, self.until):
            if instant.tzinfo is None:
                raise ValueError("window bounds must carry a UTC offset")
        if self.since >= self.until:
            raise ValueError(f"since ({format_time(self.since)}) must be before until ({format_time(self.until)})")

    @classmethod
    def of(cls, since: datetime | None, until: datetime | None) -> Window:
        return cls(since or EARLIEST, until or LATEST)

    def widened(self, before: timedelta) -> Window:
        """The same window starting ``before`` earlier (never before ``EARLIEST``)."""
        return Window(max(EARLIEST, self.since - before), self.until)


def partition_days(window: Window, available: list[date]) -> list[date]:
    """The day partitions (``event_date=YYYY-MM-DD``, UTC days of ``ts``) that can hold a row of ``window``.

    A day ``d`` covers ``[d 00:00, d+1 00:00)``; it is kept when that overlaps
    ``[since, until)``. ``available`` are the partitions present on disk.
    """
    first = window.since.astimezone(UTC).date()
    # until is exclusive: a window ending exactly at midnight does not need that day.
    last = (window.until.astimezone(UTC) - timedelta(microseconds=1)).date()
    return [day for day in sorted(available) if first <= day <= last]
