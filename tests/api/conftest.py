"""API test fixtures: a real uvicorn server on 127.0.0.1 (random free port), keys, events."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from tracelake.api.app import create_app
from tracelake.api.keys import create_key
from tracelake.api.producer import EventProducer
from tracelake.localkafka import free_port
from tracelake.sdk.transport import MemoryTransport
from tracelake.settings import Settings


class ApiServer:
    """uvicorn serving one app in a background thread; ``stop`` ends it (bounded)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False,
                                lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn-test", daemon=True)

    def start(self, timeout: float = 20.0) -> ApiServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
        raise AssertionError(f"API server did not answer /healthz within {timeout}s")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)

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


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@pytest.fixture(name="wait_until")
def wait_until_fixture() -> Callable[..., bool]:
    return wait_until
