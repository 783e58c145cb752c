"""The app factory: one FastAPI app from one :class:`~tracelake.settings.Settings`.

``create_app(settings)`` wires the routes, the single error handler set
(:mod:`tracelake.api.errors`), auth (:mod:`tracelake.api.auth`), the Kafka
producer and the Prometheus registry. Nothing reads the environment here:
the caller (``tracelake api``, a test, the demo) builds the settings; the
factory builds the one :class:`~tracelake.lake.lake.Lake` from them (or takes
the caller's) and every route reads through ``ctx.lake``.

Every request first passes :class:`tracelake.api.guard.BrowserGuard` (Host and
Origin checks); dashboard sessions are signed by the app's
:class:`tracelake.api.dashboard.session.SessionSigner` (``app.state.sessions``).

Failure modes: a keys file that cannot be read or parsed raises
:class:`tracelake.api.keys.KeysFileError` here, before anything listens.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from tracelake import __version__
from tracelake.api import errors
from tracelake.api.auth import KeyStore
from tracelake.api.context import AppContext
from tracelake.api.dashboard.session import SessionSigner
from tracelake.api.guard import BrowserGuard
from tracelake.api.otlp_work import ProcessOffload
from tracelake.api.producer import EventProducer
from tracelake.api.routes import (
    alerts,
    analytics,
    controls,
    dashboard,
    events,
    evidence,
    flags,
    governance,
    otlp,
    runs,
    system,
)
from tracelake.api.telemetry import (
    ApiMetrics,
    ConsumerLagCollector,
    IngestCountersCollector,
    LakeRedactionsCollector,
    LatencyMiddleware,
    ProducerCollector,
)
from tracelake.lake.lake import Lake
from tracelake.settings import Settings

DESCRIPTION = """The HTTP face of tracelake (`docs/contract/api.md`).

Every `/v1` route needs an API key (`Authorization: Bearer tlk_…` or
`X-API-Key`) unless the server runs without a keys file (local mode).
Errors are always `{"error": {"code", "message"}}`.
"""


def create_app(
    settings: Settings,
    *,
    producer: EventProducer | None = None,
    ingest_counters: Any = None,
    lake: Lake | None = None,
) -> FastAPI:
    """The app over ``lake`` (default: ``Lake.from_settings(settings)``); see the module docstring."""
    lake = lake or Lake.from_settings(settings)
    keys = KeyStore(settings.api_keys_file)
    if producer is None:
        producer = EventProducer(settings.kafka_bootstrap, settings.topic, settings.api_spool_dir,
                                 settings.api_spool_max_bytes)
    metrics = ApiMetrics()
    otlp_workers = ProcessOffload()  # large OTLP bodies are decoded there; no process until the first one
    metrics.add_collector(ProducerCollector(producer.stats))
    metrics.add_collector(LakeRedactionsCollector(lake))
    if settings.kafka_bootstrap:
        metrics.add_collector(ConsumerLagCollector(settings.kafka_bootstrap, settings.topic, settings.group))
    if ingest_counters is not None:
        metrics.add_collector(IngestCountersCollector(ingest_counters))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # What exists at start (modules, the app) moves to the collector's permanent generation: a full
        # collection, triggered by a large request's objects, then walks those objects only. Without this a
        # full pass over the server's heap held the GIL, so the event loop, for 100-200 ms.
        gc.freeze()
        try:
            yield
        finally:
            otlp_workers.close()
            producer.close()

    app = FastAPI(
        title="tracelake",
        version=__version__,
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.ctx = AppContext(settings=settings, lake=lake, keys=keys, producer=producer, metrics=metrics,
                               ingest_counters=ingest_counters)
    app.state.otlp_workers = otlp_workers
    app.state.sessions = SessionSigner(settings.api_session_secret, settings.api_session_ttl_s)
    errors.install(app)
    # Every connection's control_results view uses the configured controls (docs/controls.md).
    from tracelake.queries.controls.library import configure

    configure(settings.controls_config_file)
    for module in (system, events, otlp, runs, evidence, analytics, alerts, flags, controls, governance, dashboard):
        app.include_router(module.router)
    # Host and Origin checks before any route (api/guard.py); Host: always in local mode, with keys if a list is set.
    app.add_middleware(BrowserGuard, check_host=keys.local_mode or bool(settings.api_allowed_hosts),
                       allowed=settings.api_allowed_hosts)
    app.add_middleware(LatencyMiddleware, metrics=metrics)
    return app
