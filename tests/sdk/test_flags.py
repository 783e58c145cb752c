"""The SDK's flag reader: answers from memory, fails open or closed when stale, throttles deterministically."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path

import pytest

from tracelake.sdk import Client, Flag, FlagReader, RunRefused
from tracelake.sdk.transport import MemoryTransport


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Source:
    """Flags handed out by the test; ``fail`` makes a fetch raise; ``fetched`` is set after each fetch."""

    def __init__(self, flags: Mapping[str, Flag] | None = None) -> None:
        self.flags = dict(flags or {})
        self.fail = False
        self.calls = 0
        self.fetched = threading.Event()

    def fetch(self) -> Mapping[str, Flag]:
        self.calls += 1
        try:
            if self.fail:
                raise OSError("connection refused")
            return dict(self.flags)
        finally:
            self.fetched.set()


def test_fresh_answers_then_stale_fails_open_or_closed() -> None:
    clock = FakeClock()
    source = Source({"refund": Flag("refund", "pin_version", version="v3")})
    for fail, stale_action in (("open", "allow"), ("closed", "pause")):
        reader = FlagReader(source, ttl_s=60, fail=fail, clock=clock)  # type: ignore[arg-type]
        assert reader.flag("refund").stale and reader.flag("refund").action == stale_action  # never fetched
        assert reader.refresh()
        assert reader.flag("refund").version == "v3" and not reader.flag("refund").stale
        assert reader.flag("other") == Flag("other")
        source.fail = True
        clock.now += 59
        assert not reader.refresh() and reader.flag("refund").version == "v3"  # the last answer holds
        clock.now += 2
        assert reader.flag("refund").stale and reader.flag("refund").action == stale_action
        source.fail = False
        assert reader.refresh() and reader.flag("refund").action == "pin_version"
    with pytest.raises(ValueError, match="open"):
        FlagReader(source, fail="sideways")  # type: ignore[arg-type]


def test_throttle_admits_its_share_evenly() -> None:
    reader = FlagReader(Source({"refund": Flag("refund", "throttle", rate=0.25)}))
    reader.refresh()
    admitted = [reader.admit("refund", "v4").admitted for _ in range(12)]
    assert admitted == [False, False, False, True] * 3
    assert all(reader.admit("other").admitted for _ in range(3))


def test_pause_and_pin_through_the_client(tmp_path: Path) -> None:
    source = Source({"refund": Flag("refund", "pause", reason="incident 42")})
    reader = FlagReader(source)
    reader.refresh()
    transport = MemoryTransport()
    client = Client(transport=transport, spool_dir=str(tmp_path / "spool"), tenant="acme", workflow="refund",
                    workflow_version="v4", flags=reader)
    try:
        assert client.flag().action == "pause"
        with pytest.raises(RunRefused, match="incident 42"), client.run(guard=True):
            pass
        assert client.guarded(lambda run: "ran", fallback=lambda flag: flag.reason) == "incident 42"
        with pytest.raises(RunRefused):
            client.guarded(lambda run: "ran")
        with client.run() as run:  # an unguarded run is not asked
            assert run.workflow_version == "v4"
        source.flags = {"refund": Flag("refund", "pin_version", version="v3")}
        reader.refresh()
        assert client.guarded(lambda run: run.workflow_version) == "v3"
        assert client.flush(5)
    finally:
        client.close(timeout=1)
    started = [e for e in transport.delivered if b'"run_started"' in e.value]
    assert len(started) == 2  # the refused runs emitted nothing
    assert b'"workflow_version":"v3"' in started[-1].value


def test_a_client_without_flags_allows_everything(tmp_path: Path) -> None:
    client = Client(transport=MemoryTransport(), spool_dir=str(tmp_path / "spool"), tenant="acme")
    try:
        assert client.flag("refund") == Flag("refund")
        assert client.guarded(lambda run: run.workflow_version, "refund", "v4") == "v4"
    finally:
        client.close(timeout=1)


def test_the_background_thread_refreshes_and_stops() -> None:
    source = Source({"refund": Flag("refund", "pause")})
    reader = FlagReader(source, refresh_s=3600).start()
    try:
        assert source.fetched.wait(10)  # the first refresh happens at start
    finally:
        reader.close()  # joins the thread: its refresh is complete
    assert reader.flag("refund").action == "pause" and reader.refreshes == 1
    assert source.calls == 1  # a long refresh interval: close ended the wait, no second fetch
