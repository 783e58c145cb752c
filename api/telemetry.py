"""``GET /metrics``: Prometheus text for the API process.

What it exports, each with its own registry per app (tests build many apps):

- ``tracelake_api_request_duration_seconds{method,route,status}`` — latency
  of every request, labelled by route *template* (``/v1/runs/{run_id}``), so
  ids never become label values;
- ``tracelake_api_events_accepted_total{source}`` /
  ``tracelake_api_events_refused_total{source,reason}`` — HTTP and OTLP
  ingest (``reason`` is the refusal's short code);
- ``tracelake_api_spool_pending_events`` / ``tracelake_api_events_sent_total``
  — the producer's backlog and Kafka-acknowledged count;
- the consumer's counters (``tracelake_ingest_*``, names from
  :mod:`tracelake.ingest.metrics`) when the consumer runs in this process
  (``tracelake demo``); labelled counters such as redactions get an
  ``entity_type`` label;
- ``tracelake_ingest_consumer_lag{partition}`` — when a broker is configured:
  the consumer group's uncommitted messages per partition (cached ``15 s``);
- ``tracelake_lake_redactions{entity_type}`` — redactions by type over the
  stored events, read from the lake's ``redactions`` column at most once
  per ``lake_ttl_s`` (the consumer usually runs in another process).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from tracelake.lake.lake import LakeRef

log = logging.getLogger("tracelake.api")

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = Histogram("tracelake_api_request_duration_seconds", "API request latency",
                                 ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.accepted = Counter("tracelake_api_events_accepted", "events accepted by the API and queued for Kafka",
                                ["source"], registry=self.registry)
        self.refused = Counter("tracelake_api_events_refused", "events refused by the API",
                               ["source", "reason"], registry=self.registry)

    def add_collector(self, collector: Collector) -> None:
        self.registry.register(collector)


class ProducerCollector(Collector):
    def __init__(self, stats: Callable[[], Any]) -> None:
        self._stats = stats

    def describe(self) -> Iterator[Any]:
        # Without describe() the registry calls collect() at registration (auto_describe).
        yield GaugeMetricFamily("tracelake_api_spool_pending_events", "")
        yield CounterMetricFamily("tracelake_api_events_sent", "")
        yield CounterMetricFamily("tracelake_api_events_dropped", "")

    def collect(self) -> Iterator[Any]:
        stats = self._stats()
        yield GaugeMetricFamily("tracelake_api_spool_pending_events", "events waiting in the spool for Kafka",
                                value=stats.spool_pending)
        yield CounterMetricFamily("tracelake_api_events_sent", "events acknowledged by Kafka", value=stats.sent)
        yield CounterMetricFamily("tracelake_api_events_dropped", "events the full spool had to drop",
                                  value=stats.dropped)


class IngestCountersCollector(Collector):
    """The in-process consumer's :class:`tracelake.ingest.metrics.Counters`."""

    def __init__(self, counters: Any) -> None:
        self._counters = counters

    def describe(self) -> Iterator[Any]:
        return iter(())  # names depend on what the consumer counted; nothing to pre-register

    def collect(self) -> Iterator[Any]:
        families: dict[str, CounterMetricFamily] = {}
        for (name, label), value in sorted(self._counters.snapshot().items()):
            base = name.removesuffix("_total")
            family = families.get(base)
            if family is None:
                family = families[base] = CounterMetricFamily(base, f"ingest counter {base}",
                                                              labels=["entity_type"] if label else None)
            if label:
                family.add_metric([label], value)
            elif not family._labelnames:
                family.add_metric([], value)
        yield from families.values()


class LakeRedactionsCollector(Collector):
    """Redactions by entity type over the lake, cached for ``ttl_s``."""

    def __init__(self, lake: LakeRef, ttl_s: float = 60.0) -> None:
        self.lake = lake
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._at = -1e18
        self._rows: list[tuple[str, int]] = []

    def describe(self) -> Iterator[Any]:
        # Registration must not read the lake (auto_describe would call collect()).
        yield GaugeMetricFamily("tracelake_lake_redactions", "", labels=["entity_type"])

    def _read(self) -> list[tuple[str, int]]:
        from tracelake.queries.views import connect

        con = connect(self.lake)
        try:
            columns = {r[0] for r in con.execute("DESCRIBE events").fetchall()}
            if "redactions" not in columns:
                return []
            return con.execute("SELECT key, sum(value::BIGINT) FROM events, json_each(redactions) "
                               "GROUP BY key ORDER BY key").fetchall()
        finally:
            con.close()

    def collect(self) -> Iterator[Any]:
        with self._lock:
            if time.monotonic() - self._at > self.ttl_s:
                try:
                    self._rows = self._read()
                except Exception as exc:  # noqa: BLE001 - a half-written file must not break the scrape
                    log.warning("lake redaction counts unavailable: %s", exc)
                self._at = time.monotonic()
            rows = list(self._rows)
        family = GaugeMetricFamily("tracelake_lake_redactions", "redactions in stored events by entity type",
                                   labels=["entity_type"])
        for entity, count in rows:
            family.add_metric([entity], count)
        yield family


class ConsumerLagCollector(Collector):
    """``tracelake_ingest_consumer_lag{partition}``: end offset − the group's committed offset,
    asked of Kafka at most once per ``ttl_s`` (a scrape must not hammer the broker)."""

    def __init__(self, bootstrap: str, topic: str, group: str, ttl_s: float = 15.0) -> None:
        self.bootstrap, self.topic, self.group, self.ttl_s = bootstrap, topic, group, ttl_s
        self._lock = threading.Lock()
        self._at = -1e18
        self._lag: dict[int, int] = {}

    def describe(self) -> Iterator[Any]:
        # Registration must not call Kafka (auto_describe would call collect()).
        yield GaugeMetricFamily("tracelake_ingest_consumer_lag", "", labels=["partition"])

    def _read(self) -> dict[int, int]:
        from kafka import KafkaAdminClient, TopicPartition
        from kafka.admin import OffsetSpec

        from tracelake.api.producer import kafka_reachable

        if not kafka_reachable(self.bootstrap, timeout_s=0.5):
            raise ConnectionError(f"cannot connect to {self.bootstrap}")  # fast, not the admin client's timeouts

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap.split(","), client_id="tracelake-api-lag",
                                 request_timeout_ms=3000)
        try:
            partitions = admin.describe_topics([self.topic])[0].get("partitions") or []
            tps = [TopicPartition(self.topic, p.get("partition_index", p.get("partition"))) for p in partitions]
            if not tps:
                return {}
            ends = admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in tps})
            committed = admin.list_group_offsets({self.group: tps}).get(self.group, {})
        finally:
            admin.close()
        lag = {}
        for tp in tps:
            end = ends[tp].offset if tp in ends else 0
            done = committed.get(tp)
            lag[tp.partition] = max(end - (done.offset if done is not None and done.offset >= 0 else 0), 0)
        return lag

    def collect(self) -> Iterator[Any]:
        with self._lock:
            if time.monotonic() - self._at > self.ttl_s:
                try:
                    self._lag = self._read()
                    self._at = time.monotonic()
                except Exception as exc:  # noqa: BLE001 - Kafka down: the scrape still answers, without lag
                    # Not cached: a coordinator move or a broker restart is retried at the next scrape.
                    log.warning("consumer lag unavailable: %s", exc)
                    self._lag = {}
            lag = dict(self._lag)
        family = GaugeMetricFamily("tracelake_ingest_consumer_lag",
                                   "messages of the events topic the consumer group has not committed yet",
                                   labels=["partition"])
        for partition, value in sorted(lag.items()):
            family.add_metric([str(partition)], value)
        yield family


class LatencyMiddleware:
    """Pure ASGI (no per-request task like BaseHTTPMiddleware): times each HTTP request."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_wrapper(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.latency.labels(scope["method"], template, str(status[0])).observe(
                time.perf_counter() - started)
