"""What every route shares, built once by the app factory and kept on ``app.state.ctx``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tracelake.api.auth import KeyStore
from tracelake.api.producer import EventProducer
from tracelake.api.telemetry import ApiMetrics
from tracelake.lake.lake import Lake
from tracelake.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    lake: Lake  # built once from ``settings`` by the app factory; every route reads through it
    keys: KeyStore
    producer: EventProducer
    metrics: ApiMetrics
    ingest_counters: Any = None  # tracelake.ingest.metrics.Counters of an in-process consumer, if any
