"""Time arguments: RFC 3339 with an offset, windows, the day partitions a window needs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tracelake.queries.timewin import EARLIEST, Window, format_time, parse_duration, parse_time, partition_days


def test_parse_time_offsets_and_dates() -> None:
    assert parse_time("2026-11-24T12:00:00+02:00") == datetime(2026, 11, 24, 10, tzinfo=UTC)
    assert parse_time("2026-11-24T10:00:00.5z") == datetime(2026, 11, 24, 10, 0, 0, 500000, tzinfo=UTC)
    assert parse_time("2026-11-24") == datetime(2026, 11, 24, tzinfo=UTC)
    with pytest.raises(ValueError, match="no UTC offset"):
        parse_time("2026-11-24T10:00:00")
    with pytest.raises(ValueError, match="not an RFC 3339 time"):
        parse_time("tomorrow")


def test_durations() -> None:
    assert parse_duration("24h") == timedelta(hours=24) and parse_duration("7d") == timedelta(days=7)
    assert parse_duration("90m") == timedelta(minutes=90) and parse_duration(30) == timedelta(seconds=30)
    for bad in ("0h", "soon", "-1d"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_window_rules() -> None:
    assert Window.of(None, None).since == EARLIEST
    with pytest.raises(ValueError, match="must be before"):
        Window(parse_time("2026-11-25"), parse_time("2026-11-24"))
    assert Window(parse_time("2026-11-24"), parse_time("2026-11-25")).widened(timedelta(days=1)).since == \
        parse_time("2026-11-23")
    assert format_time(parse_time("2026-11-24T10:00:00+02:00")) == "2026-11-24T08:00:00Z"


def test_partition_days_until_is_exclusive() -> None:
    days = [date(2026, 11, d) for d in range(20, 27)]
    day = Window(parse_time("2026-11-24"), parse_time("2026-11-25"))
    assert partition_days(day, days) == [date(2026, 11, 24)]
    span = Window(parse_time("2026-11-23T23:00:00Z"), parse_time("2026-11-25T00:00:01Z"))
    assert partition_days(span, days) == [date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25)]
    assert partition_days(Window(), days) == days
