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


@pytest.fixture
def no_tracelake_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for name in list(os.environ):
        if name.upper().startswith("TRACELAKE_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_the_reader_takes_its_settings_from_the_environment(no_tracelake_env: pytest.MonkeyPatch) -> None:
    """TRACELAKE_API_URL / _API_KEY / _FLAGS_*: a reader built from the environment alone; arguments win."""
    from tracelake.sdk import HttpFlagSource

    env = no_tracelake_env
    defaults = FlagReader(Source())
    assert (defaults.refresh_s, defaults.ttl_s, defaults.fail) == (5.0, 60.0, "open")
    env.setenv("TRACELAKE_API_URL", "http://127.0.0.1:8123/")
    env.setenv("TRACELAKE_API_KEY", "tl_ingest_key")
    env.setenv("TRACELAKE_FLAGS_REFRESH_S", "2.5")
    env.setenv("TRACELAKE_FLAGS_TTL_S", "30")
    env.setenv("TRACELAKE_FLAGS_FAIL", "closed")
    env.setenv("TRACELAKE_FLAGS_TIMEOUT_S", "0.5")
    reader = FlagReader(tenant="acme")
    assert (reader.refresh_s, reader.ttl_s, reader.fail) == (2.5, 30.0, "closed")
    assert isinstance(reader.source, HttpFlagSource)
    assert reader.source.url == "http://127.0.0.1:8123/v1/flags?tenant=acme"
    assert (reader.source.api_key, reader.source.timeout_s) == ("tl_ingest_key", 0.5)
    assert reader.flag("refund").action == "pause"  # never fetched, failing closed as configured
    explicit = FlagReader(Source(), refresh_s=9, ttl_s=90, fail="open")
    assert (explicit.refresh_s, explicit.ttl_s, explicit.fail) == (9, 90, "open")
    assert HttpFlagSource("http://other:1", "k2", timeout_s=3).url == "http://other:1/v1/flags"


@pytest.mark.parametrize(("variable", "value", "why"), [
    ("TRACELAKE_FLAGS_REFRESH_S", "often", "not a valid flags_refresh_s"),
    ("TRACELAKE_FLAGS_REFRESH_S", "0", "must be a positive number of seconds"),
    ("TRACELAKE_FLAGS_TTL_S", "-5", "must be a positive number of seconds"),
    ("TRACELAKE_FLAGS_TIMEOUT_S", "inf", "must be a positive number of seconds"),
    ("TRACELAKE_FLAGS_FAIL", "sideways", "must be one of open, closed"),
])
def test_a_bad_variable_is_one_line_naming_it(variable: str, value: str, why: str,
                                              no_tracelake_env: pytest.MonkeyPatch) -> None:
    no_tracelake_env.setenv("TRACELAKE_API_URL", "http://127.0.0.1:8123")
    no_tracelake_env.setenv(variable, value)
    with pytest.raises(ValueError) as caught:
        FlagReader(tenant="acme")
    message = str(caught.value)
    assert message.startswith(f"{variable}={value!r}") and why in message and len(message.splitlines()) == 1


def test_no_api_url_is_one_line(no_tracelake_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=r"^no tracelake API URL for the flags: pass api_url or set TRACELAKE_API_URL"):
        FlagReader(tenant="acme")
    with pytest.raises(ValueError, match=r"^flags_ttl_s=0: must be a positive number of seconds$"):
        FlagReader(Source(), ttl_s=0)
