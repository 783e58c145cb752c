"""The CPU side of OTLP ingest, run off the event loop: body → validated records.

:func:`ingest_otlp` is a plain top-level function with picklable arguments,
so the route runs it in a worker thread for small bodies and in a worker
*process* (:class:`ProcessOffload`) for large ones. A thread alone does not
keep the loop responsive for a large body: ``orjson.loads`` and protobuf
parsing hold the GIL for their whole run (about 10–35 ms a MB on a loaded
2-core VM, so up to half a second for a 16 MiB body), and so do the garbage
collector's full passes over the hundreds of thousands of objects a big
request becomes. Measured on ``/healthz`` during a 9 000-span, 4.4 MB JSON
request: 1.7 s on the loop, 0.21 s in a thread, a few ms in a process.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import zlib
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from tracelake.api.ingest import Outcome, process_events
from tracelake.api.keys import ApiKey
from tracelake.errors import TooLarge, UserError
from tracelake.transforms.otlp import OtlpMapping, decode_json, decode_protobuf, to_events

log = logging.getLogger("tracelake.api")


@dataclass(frozen=True)
class OtlpLimits:
    max_body_bytes: int
    max_events: int  # also the span limit: every span is at least one event
    max_event_bytes: int


@dataclass
class OtlpResult:
    """What the route needs back: the gate's outcome, whether any event was mapped, spans with a refusal."""

    outcome: Outcome
    events: int
    rejected_spans: int


def gunzip(body: bytes, limit: int) -> bytes:
    """A gzip body inflated, at most ``limit`` bytes (``TooLarge`` past it, ``UserError`` if not gzip)."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise UserError(f"Content-Encoding gzip but the body is not gzip: {exc}") from None
    if len(out) > limit:
        raise TooLarge(f"body over the size limit of {limit} bytes once decompressed")
    return out


def ingest_otlp(body: bytes, gzipped: bool, protobuf: bool, key: ApiKey, mapping: OtlpMapping,
                limits: OtlpLimits) -> OtlpResult:
    """Inflate, decode (span count checked before spans are decoded), map, count events and validate.

    Raises ``TooLarge`` (decompressed size, span count, event count),
    ``OtlpError``/``UserError`` (not an OTLP request, not gzip): both
    picklable, so they cross back from a worker process unchanged.
    """
    if gzipped:
        body = gunzip(body, limits.max_body_bytes)
    limit = limits.max_events
    spans = decode_protobuf(body, max_spans=limit) if protobuf else decode_json(body, max_spans=limit)
    del body  # up to the body limit: not kept while the events are built
    pairs = to_events(spans, mapping)
    if len(pairs) > limit:
        raise TooLarge(f"{len(pairs)} events in one request; the limit is {limit}")
    outcome = process_events([event for _, event in pairs], key, limits.max_event_bytes)
    rejected = len({pairs[refusal.index][0] for refusal in outcome.refused})
    return OtlpResult(outcome, len(pairs), rejected)


class ProcessOffload:
    """A small pool of worker processes (``spawn``: safe from a threaded server), started on first use.

    ``close`` shuts it down (the app's lifespan calls it). A worker that dies
    (a crash in a C parser, the OOM killer) breaks the pool: the next call
    gets a fresh one, this call raises ``BrokenProcessPool`` (a logged 500).
    """

    def __init__(self, workers: int = 2) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
            return self._pool

    async def run(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` in a worker process, awaited without blocking the loop."""
        import asyncio

        from starlette.concurrency import run_in_threadpool

        pool = self.pool()
        try:
            # submit() may start a worker process (fork_exec, pickling the spawn data): not on the loop either.
            future = await run_in_threadpool(pool.submit, fn, *args)
            return await asyncio.wrap_future(future)
        except BrokenProcessPool:
            log.error("an OTLP worker process died; starting a new pool")
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            raise

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
