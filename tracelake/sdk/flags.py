"""Workflow flags for agents: ``GET /v1/flags`` read in the background, answered from memory (docs/flags.md).

:class:`FlagReader` never blocks an agent call: :meth:`FlagReader.flag` reads a dictionary. A daemon thread
(:meth:`FlagReader.start`) refreshes it every ``refresh_s`` seconds with one request for every workflow of the
key's tenant (bounded by ``timeout_s``); a test or a simulator calls :meth:`FlagReader.refresh` itself instead.
When the last good answer is older than ``ttl_s`` (or there never was one), the reader *fails open* (``allow``)
or *closed* (``pause``) as configured, and says so (``Flag.stale``).

:meth:`FlagReader.admit` turns a flag into a decision for one run: ``pause`` refuses it, ``throttle`` admits the
given share (deterministically: runs 1, 2, 3 … of the workflow are admitted when ``floor(k × rate)`` grows, so
a rate of 0.25 admits every fourth run), ``pin_version`` admits it with the pinned version.

Configuration: arguments win, then ``TRACELAKE_*`` variables, then defaults (:class:`~tracelake.sdk.config.
SdkConfig`): ``TRACELAKE_API_URL`` and ``TRACELAKE_API_KEY`` (where :class:`HttpFlagSource` asks, with which
key), ``TRACELAKE_FLAGS_REFRESH_S`` (5), ``TRACELAKE_FLAGS_TTL_S`` (60), ``TRACELAKE_FLAGS_FAIL`` (``open``),
``TRACELAKE_FLAGS_TIMEOUT_S`` (2). ``FlagReader(tenant="acme").start()`` is a reader configured from the
environment alone.

Failure modes: none raised to the agent once the reader exists. Building one raises ``ValueError`` (one line
naming the variable or argument) for a bad value, or when no API URL is given or set. A failed refresh is
logged (once per failure streak) and counted in ``failures``; the old answer stays until it goes stale.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import orjson

from tracelake.sdk.config import SdkConfig

log = logging.getLogger("tracelake.sdk.flags")

FailMode = Literal["open", "closed"]


@dataclass(frozen=True, slots=True)
class Flag:
    """What the agent must do for one workflow: ``allow``, ``throttle`` (``rate``), ``pin_version``
    (``version``) or ``pause``. ``stale``: the reader had no fresh answer and this is its fail-open/closed
    default."""

    workflow: str
    action: str = "allow"
    rate: float | None = None
    version: str | None = None
    reason: str | None = None
    stale: bool = False


@dataclass(frozen=True, slots=True)
class Admission:
    """One run's decision: ``admitted``; the ``version`` to run (the pinned one under ``pin_version``);
    the ``flag`` it came from."""

    admitted: bool
    version: str | None
    flag: Flag


class RunRefused(RuntimeError):
    """A guarded run the workflow's flag does not admit (``pause``, or a throttle's share used up)."""

    def __init__(self, flag: Flag) -> None:
        why = f" ({flag.reason})" if flag.reason else ""
        super().__init__(f"workflow {flag.workflow}: flag {flag.action}{why}")
        self.flag = flag


class FlagSource(Protocol):
    """Where a reader gets the tenant's flags: workflow → :class:`Flag`. Raises on any failure."""

    def fetch(self) -> Mapping[str, Flag]: ...


class HttpFlagSource:
    """``GET {api_url}/v1/flags`` with an API key (any role; agents hold ingest keys). ``api_url``, ``api_key``
    and ``timeout_s`` default to ``TRACELAKE_API_URL``, ``TRACELAKE_API_KEY`` and ``TRACELAKE_FLAGS_TIMEOUT_S``
    (2 s); ``ValueError`` when there is no URL or a value is bad."""

    def __init__(self, api_url: str | None = None, api_key: str | None = None, *, tenant: str | None = None,
                 timeout_s: float | None = None) -> None:
        config = SdkConfig.resolve(api_url=api_url, api_key=api_key, flags_timeout_s=timeout_s)
        if not config.api_url:
            raise ValueError("no tracelake API URL for the flags: pass api_url or set TRACELAKE_API_URL")
        query = f"?{urllib.parse.urlencode({'tenant': tenant})}" if tenant else ""
        self.url = f"{config.api_url.rstrip('/')}/v1/flags{query}"
        self.api_key = config.api_key
        self.timeout_s = config.flags_timeout_s

    def fetch(self) -> Mapping[str, Flag]:
        request = urllib.request.Request(self.url, headers={"Accept": "application/json"})
        if self.api_key:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
            body = orjson.loads(answer.read())
        return {f["workflow"]: _flag(f) for f in body["flags"]}


def _flag(item: Mapping[str, Any]) -> Flag:
    return Flag(workflow=str(item["workflow"]), action=str(item.get("action") or "allow"), rate=item.get("rate"),
                version=item.get("version"), reason=item.get("reason"))


class FlagReader:
    """The tenant's flags in memory, refreshed in the background (module docstring).

    ``source``: where the flags come from (default: :class:`HttpFlagSource` for ``tenant`` from the
    environment); ``refresh_s``: seconds between refreshes; ``ttl_s``: how old the last good answer may be
    before ``fail`` applies (``open``: allow, ``closed``: pause); each None: its ``TRACELAKE_FLAGS_*`` variable,
    else the default. ``clock``: monotonic seconds (tests pass a fake). ``ValueError`` (one line) for a bad
    value.
    """

    def __init__(self, source: FlagSource | None = None, *, refresh_s: float | None = None,
                 ttl_s: float | None = None, fail: FailMode | None = None, tenant: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        config = SdkConfig.resolve(flags_refresh_s=refresh_s, flags_ttl_s=ttl_s, flags_fail=fail)
        self.source = source if source is not None else HttpFlagSource(tenant=tenant)
        self.refresh_s = config.flags_refresh_s
        self.ttl_s = config.flags_ttl_s
        self.fail: FailMode = "closed" if config.flags_fail == "closed" else "open"
        self._clock = clock
        self._flags: Mapping[str, Flag] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()
        self._admitted: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.refreshes = 0
        self.failures = 0
        self._failing = False

    # -- the agent's side: never blocks ---------------------------------------------------------------------------
    def flag(self, workflow: str) -> Flag:
        """``workflow``'s flag from memory: the last answer, or the fail-open/closed default when it is stale."""
        fetched, flags = self._fetched_at, self._flags
        if fetched is None or self._clock() - fetched > self.ttl_s:
            return Flag(workflow, "allow" if self.fail == "open" else "pause",
                        reason="flags unavailable: failing " + self.fail, stale=True)
        return flags.get(workflow) or Flag(workflow)

    def admit(self, workflow: str, version: str | None = None) -> Admission:
        """Whether to run ``workflow`` now, and with which version (module docstring)."""
        flag = self.flag(workflow)
        if flag.action == "pause":
            return Admission(False, version, flag)
        if flag.action == "pin_version":
            return Admission(True, flag.version or version, flag)
        if flag.action == "throttle":
            rate = min(1.0, max(0.0, flag.rate or 0.0))
            with self._lock:
                k = self._admitted.get(workflow, 0) + 1
                self._admitted[workflow] = k
            return Admission(math.floor(k * rate) > math.floor((k - 1) * rate), version, flag)
        return Admission(True, version, flag)

    # -- refreshing -----------------------------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Fetch the flags once (bounded by the source's timeout); True when it worked."""
        try:
            flags = dict(self.source.fetch())
        except Exception as exc:  # noqa: BLE001 (any failure of the source means: keep the last answer)
            self.failures += 1
            if not self._failing:  # once per streak of failures, not every few seconds
                log.warning("tracelake flags: refresh failed (%s); keeping the last answer", exc)
            self._failing = True
            return False
        self._flags = flags  # one reference swap: readers never see half an update
        self._fetched_at = self._clock()
        self._failing = False
        self.refreshes += 1
        return True

    def start(self) -> FlagReader:
        """Refresh now and then every ``refresh_s`` s in a daemon thread until :meth:`close`."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="tracelake-flags", daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(self.refresh_s)  # the stop event ends the wait at once

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> FlagReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
