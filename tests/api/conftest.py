"""API test fixtures: a real uvicorn server on 127.0.0.1 (random free port), keys, events."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tracelake.api.app import create_app
from tracelake.api.keys import create_key
from tracelake.api.producer import EventProducer
from tracelake.api.server import BackgroundServer
from tracelake.localkafka import free_port
from tracelake.sdk.transport import MemoryTransport
from tracelake.settings import Settings


class ApiServer(BackgroundServer):
    """The product's background server on a random free port, plus an httpx client factory."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        super().__init__(app, self.port)

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(lake=tmp_path / "lake", api_spool_dir=tmp_path / "spool")


@pytest.fixture
def memory_producer(settings: Settings) -> EventProducer:
    """A producer whose 'Kafka' is a list (``producer.transport.delivered``)."""
    transport = MemoryTransport()
    producer = EventProducer(None, settings.topic, settings.api_spool_dir, settings.api_spool_max_bytes,
                             transport=transport)
    producer.transport = transport  # type: ignore[attr-defined]
    return producer


@pytest.fixture
def serve() -> Iterator[Callable[..., ApiServer]]:
    """``serve(settings, **create_app_kwargs)`` → a started server, stopped after the test."""
    servers: list[ApiServer] = []

    def start(settings: Settings, **kwargs: Any) -> ApiServer:
        server = ApiServer(create_app(settings, **kwargs)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Any]:
    """A keys file with one key per (tenant, role) used by the tests; ``keys['path']`` is the file."""
    path = tmp_path / "keys.toml"
    out: dict[str, Any] = {"path": path}
    for tenant, role in [("acme", "ingest"), ("acme", "read"), ("acme", "admin"), ("globex", "read"),
                         ("globex", "ingest"), ("*", "admin"), ("*", "read")]:
        key, entry = create_key(path, tenant, role)
        out[entry.id] = key
    return out


def make_event(event_id: str, run_id: str = "run-1", event_type: str = "custom", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"schema_version": "1", "event_id": event_id, "event_type": event_type,
                            "ts": "2026-11-24T10:00:00Z", "run_id": run_id, "workflow": "refund_request",
                            "workflow_version": "v3"}
    if event_type == "custom":
        body["name"] = "step"
    body.update(fields)
    return body


@pytest.fixture(name="event")
def event_fixture() -> Callable[..., dict[str, Any]]:
    """``event(event_id, run_id=..., event_type=..., **fields)`` → a valid contract event."""
    return make_event


@pytest.fixture(scope="session")
def redactor() -> Any:
    """The real redactor (transforms/redact), built once: the spaCy model loads in about a second."""
    from tracelake.ingest.setup import make_redactor

    return make_redactor(Settings())


@pytest.fixture
def write_lake(redactor: Any, tmp_path: Path) -> Callable[[Path, list[dict[str, Any]]], None]:
    """``write_lake(lake, events)``: the events through the ingest-file chain (validate → redact → write)."""
    from tracelake.ingest.file_ingest import ingest_stream
    from tracelake.ingest.setup import make_parts

    def write(lake: Path, events: list[dict[str, Any]]) -> None:
        source = tmp_path / f"batch-{len(list(tmp_path.glob('batch-*')))}.jsonl"
        source.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
        summary = ingest_stream([str(source)], make_parts(Settings(lake=lake), redactor=redactor), lake)
        assert summary.rejected == 0, summary

    return write


def agent_run(run_id: str, tenant: str, *, workflow: str = "refund_request", version: str = "v3",
              outcome: str | None = "success", tool: str = "get_order", minute: int = 0) -> list[dict[str, Any]]:
    """One run's events (started, llm call, tool call, finished unless in flight), a minute apart per run."""
    ts = f"2026-11-24T10:{minute:02d}:00"
    common = {"schema_version": "1", "run_id": run_id, "workflow": workflow, "workflow_version": version,
              "tenant": tenant}
    events = [
        {**common, "event_id": f"{run_id}-1", "event_type": "run_started", "ts": f"{ts}.000Z", "span_id": "root",
         "input": "refund order 8812 for Dana Whitfield, dana@example.org"},
        {**common, "event_id": f"{run_id}-2", "event_type": "llm_call", "ts": f"{ts}.100Z", "span_id": "llm",
         "parent_span_id": "root", "model": "gpt-small", "input_tokens": 100, "output_tokens": 20,
         "cost_usd": 0.01, "duration_ms": 50},
        {**common, "event_id": f"{run_id}-3", "event_type": "tool_call", "ts": f"{ts}.200Z", "span_id": "tool",
         "parent_span_id": "llm", "tool_name": tool, "tool_args": {"order_id": "8812"}, "schema_valid": True,
         "success": True, "duration_ms": 20},
    ]
    if outcome is not None:
        events.append({**common, "event_id": f"{run_id}-4", "event_type": "run_finished", "ts": f"{ts}.900Z",
                       "parent_span_id": "root", "outcome": outcome})
    return events


@pytest.fixture(name="agent_run")
def agent_run_fixture() -> Callable[..., list[dict[str, Any]]]:
    return agent_run


def emit_agent_run(endpoint: str, key: str, compression: Any = None) -> str:
    """An agent run traced with the OpenTelemetry SDK and sent by its own OTLP/HTTP exporter; returns the trace id."""
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import Status, StatusCode


    provider = TracerProvider(resource=Resource.create({"service.name": "refund-agent", "service.version": "v7",
                                                         "tracelake.workflow": "refund_request"}))
    exporter = OTLPSpanExporter(endpoint=endpoint, headers={"Authorization": f"Bearer {key}"},
                                compression=compression or Compression.NoCompression, timeout=10)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test-agent")
    with tracer.start_as_current_span("invoke_agent refund", attributes={"gen_ai.operation.name": "invoke_agent",
                                                                          "gen_ai.agent.name": "planner"}) as root:
        with tracer.start_as_current_span("chat gpt-4o", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 1450, "gen_ai.usage.output_tokens": 120}):
            pass
        with tracer.start_as_current_span("execute_tool get_order", attributes={
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_order",
                "gen_ai.tool.call.arguments": '{"order_id": "8812", "email": "dana@example.org"}'}) as tool:
            tool.set_attribute("error.type", "TimeoutError")
            tool.set_status(Status(StatusCode.ERROR, "upstream timed out"))
        trace_id = format(root.get_span_context().trace_id, "032x")
    provider.shutdown()
    return trace_id


@pytest.fixture(name="emit_agent_run")
def emit_agent_run_fixture() -> Callable[..., str]:
    return emit_agent_run
