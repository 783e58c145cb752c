"""Disk faults are waited out, not crashed on: retried lake writes and the consumer's health state.

A lake write that fails with any ``OSError`` (permission denied, no space
left, an I/O error, a path component that is not a directory …) is retried
by :class:`WriteRetry` with exponential backoff — 0.5 s, 1 s, 2 s … capped
at 30 s — until it succeeds or the process is told to stop. Contract:

- **The batch is held, nothing is committed.** The retry runs inside the
  write step's ``submit`` (:class:`RetryingWriter` wraps the lake writers),
  so the consumer's loop is blocked on the batch in hand: no offset is
  committed (the commit step runs only after the write returns) and nothing
  is polled beyond the messages already fetched. Writes are idempotent by
  batch name, so a retry that half-succeeded before (one date of two) only
  replaces its own file.
- **A stop is honoured while waiting.** ``stop`` (the SIGTERM/SIGINT event)
  ends the wait at once with :class:`~tracelake.transforms.processor.Interrupted`:
  the consumer exits 0 without committing the held batch, which the next
  consumer re-reads (no loss, no file written for it, so no duplicate).
- **It reports itself** on state changes only, never per retry: one WARNING
  log line when writes start failing (with the error) and one INFO line when
  they succeed again (with the time waited and the retries); the counters
  :data:`~tracelake.ingest.metrics.WRITE_FAILURES` (label: the errno name,
  e.g. ``EACCES``, ``ENOSPC``) and :data:`~tracelake.ingest.metrics.WRITE_FAULTS`
  (one per fault episode); and a :class:`HealthFile`, which ``/readyz``
  reads to answer ``degraded``.
- **Limit:** the consumer does not poll while it waits, so a fault longer
  than the group's ``max.poll.interval.ms`` (300 s by default) makes
  kafka-python leave the group; when the disk comes back the held batch is
  written, its commit is refused (logged, counted) and the member rejoins
  and re-reads from the last commit. The rows re-read that way are hidden
  by the ``events`` view and removed by ``compact``.

The health file
---------------
``<lake>/_ingest/<host>-<pid>.json``: ``{"state": "ok"|"waiting", "since",
"updated_at", "error", "retries", "host", "pid", "group"}``. It is created
(and its blocks allocated) when the consumer starts, while the disk is
healthy, and later rewritten *in place* through the descriptor held open, so
it can still be updated while the lake refuses new files (a full disk, a
directory made read-only). While waiting it is refreshed at every retry
(at least every 30 s); ``/readyz`` ignores a ``waiting`` file not refreshed
for :data:`STALE_AFTER_S` (left by a consumer killed with SIGKILL). A clean
exit removes it. Writing it is best effort: a failure is logged at DEBUG
and never stops ingest. The views never read it (they read only
``<lake>/<table>/event_date=…/``).
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pyarrow as pa

from tracelake.ingest import metrics
from tracelake.lake.writer import LakeWriter
from tracelake.transforms.processor import Interrupted

log = logging.getLogger("tracelake.ingest")

T = TypeVar("T")

HEALTH_DIR = "_ingest"
"""The lake subfolder holding one health file per running consumer."""
STALE_AFTER_S = 120.0
"""A ``waiting`` health file older than this is left over from a dead consumer (4 × the longest backoff)."""
_HEALTH_BYTES = 2048  # fixed size: rewritten in place, never grows (see the module docstring)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def error_name(exc: OSError) -> str:
    """The errno's symbolic name (``EACCES``, ``ENOSPC``, ``EIO``…), or ``OSError`` when it has none."""
    return errno.errorcode.get(exc.errno or 0, "OSError")


def describe(exc: OSError) -> str:
    """One line: ``EACCES: Permission denied: '/lake/events/…'``."""
    detail = exc.strerror or str(exc) or type(exc).__name__
    where = f": {exc.filename!r}" if exc.filename else ""
    return f"{error_name(exc)}: {detail}{where}"[:400]


class HealthFile:
    """The consumer's health state in ``<lake>/_ingest/<host>-<pid>.json``; see the module docstring.

    Every method is best effort: an ``OSError`` is logged at DEBUG and swallowed.
    """

    def __init__(self, lake: str | os.PathLike[str], group: str | None = None) -> None:
        self.path = Path(lake) / HEALTH_DIR / f"{socket.gethostname()}-{os.getpid()}.json"
        self._base: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid(), "group": group}
        self._fd: int | None = None
        try:
            self.path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o640)
        except OSError as exc:
            log.debug("cannot create the health file %s: %s", self.path, exc)
        self.update(state="ok", since=_now(), error=None, retries=0)  # allocates its blocks while the disk is fine

    def update(self, **state: Any) -> None:
        """Rewrite the file in place with ``state`` (plus host, pid, group, ``updated_at``)."""
        if self._fd is None:
            return
        body = orjson.dumps({**self._base, **state, "updated_at": _now()})[: _HEALTH_BYTES - 1]
        try:
            # Pad with spaces (valid trailing JSON whitespace) so an older, longer text never shows through.
            os.pwrite(self._fd, body.ljust(_HEALTH_BYTES - 1) + b"\n", 0)
        except OSError as exc:
            log.debug("cannot update the health file %s: %s", self.path, exc)

    def close(self) -> None:
        """Remove the file (a clean exit says nothing about health any more) and close it."""
        if self._fd is None:
            return
        try:
            os.close(self._fd)
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            log.debug("cannot remove the health file %s: %s", self.path, exc)
        self._fd = None


def read_health(lake: str | os.PathLike[str], now: float | None = None) -> list[dict[str, Any]]:
    """The consumers currently waiting on a write fault, from their health files (stale ones left out).

    Never raises: an unreadable or half-written file is skipped.
    """
    directory = Path(lake) / HEALTH_DIR
    waiting: list[dict[str, Any]] = []
    current = time.time() if now is None else now
    try:
        entries = sorted(directory.glob("*.json"))
    except OSError:
        return waiting
    for path in entries:
        try:
            state = orjson.loads(path.read_bytes())
            updated = datetime.fromisoformat(str(state["updated_at"]).replace("Z", "+00:00")).timestamp()
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if state.get("state") == "waiting" and current - updated <= STALE_AFTER_S:
            waiting.append(state)
    return waiting


class WriteRetry:
    """Retry a lake write on ``OSError`` with capped exponential backoff; see the module docstring.

    ``stop``: when set, a wait ends with :class:`Interrupted` (the caller must
    not commit). ``sleep``/``clock`` are injectable for tests. Not for
    concurrent use: one consumer loop owns it.
    """

    def __init__(self, *, initial_s: float = 0.5, max_s: float = 30.0, stop: threading.Event | None = None,
                 counters: metrics.Counters | None = None, health: HealthFile | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if initial_s <= 0 or max_s < initial_s:
            raise ValueError("backoff needs 0 < initial_s <= max_s")
        self.initial_s = initial_s
        self.max_s = max_s
        self.stop = stop or threading.Event()
        self.counters = counters or metrics.Counters()
        self.health = health
        self._clock = clock
        self.waiting = False
        self.retries = 0
        self._since = 0.0
        self._since_text = ""

    def run(self, fn: Callable[[], T], what: str) -> T:
        """``fn()``, retried until it returns. Raises :class:`Interrupted` when ``stop`` is set during a wait
        (or already set when a write fails); any non-``OSError`` exception propagates at once."""
        delay = self.initial_s
        while True:
            try:
                result = fn()
            except OSError as exc:
                self._failed(exc, what, delay)
                if self.stop.wait(delay):
                    log.warning("stop requested while waiting for the lake: the held batch is not committed "
                                "and will be re-read")
                    raise Interrupted("stopped while waiting for the lake to accept writes") from None
                delay = min(delay * 2, self.max_s)
                continue
            if self.waiting:
                self._recovered()
            return result

    def _failed(self, exc: OSError, what: str, delay: float) -> None:
        self.counters.inc(metrics.WRITE_FAILURES, label=error_name(exc))
        if not self.waiting:
            self.waiting, self.retries = True, 0
            self._since, self._since_text = self._clock(), _now()
            self.counters.inc(metrics.WRITE_FAULTS)
            log.warning("lake write failed (%s) for %s; holding the batch uncommitted and retrying with backoff "
                        "(%.1f s, doubling to %.0f s) until the disk accepts it", describe(exc), what, delay,
                        self.max_s)
        else:
            self.retries += 1
        if self.health is not None:
            self.health.update(state="waiting", since=self._since_text, error=describe(exc), retries=self.retries,
                               next_retry_s=delay)

    def _recovered(self) -> None:
        waited = self._clock() - self._since
        log.info("lake writes succeed again after %.1f s and %d retries; resuming", waited, self.retries)
        self.waiting = False
        if self.health is not None:
            self.health.update(state="ok", since=_now(), error=None, retries=0)


class RetryingWriter(LakeWriter):
    """A :class:`LakeWriter` whose ``write`` waits out disk faults through a shared :class:`WriteRetry`."""

    def __init__(self, inner: LakeWriter, retry: WriteRetry) -> None:
        self.inner = inner
        self.retry = retry

    def write(self, table: pa.Table, name: str, positions: Mapping[str, int] | None = None) -> int:
        return self.retry.run(lambda: self.inner.write(table, name, positions), what=f"batch {name}")


def guard_writes(parts: Any, lake: str | os.PathLike[str], stop: threading.Event,
                 group: str | None = None) -> HealthFile:
    """Make ``parts``' (a :class:`~tracelake.ingest.pipeline.PipelineParts`) lake writers wait out disk faults.

    Both writers share one :class:`WriteRetry` (one fault episode, one log line) reporting to the
    returned :class:`HealthFile`; the caller closes it on exit.
    """
    health = HealthFile(lake, group)
    retry = WriteRetry(stop=stop, counters=parts.counters, health=health)
    parts.events = RetryingWriter(parts.events, retry)
    parts.dead_letters = RetryingWriter(parts.dead_letters, retry)
    return health
