"""``tracelake demo`` for this stage of the product: emit → Kafka → consumer → lake.

Until the analytics and API stages land, the demo proves the data path for
real: it starts the local Apache Kafka (unless ``--bootstrap``) and the
consumer, drives the SDK with a small stream of agent runs for ``duration``
seconds, and waits until every emitted event is in the lake (counted through
the DuckDB ``events`` view). The report keeps the contract's keys; alerts and
the canary verdict arrive with the analytics issue.
"""

from __future__ import annotations

import contextlib
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import click

from tracelake.localkafka import LocalKafka
from tracelake.sdk import Client
from tracelake.settings import Settings


def _one_run(client: Client, rng: random.Random, version: str) -> None:
    with client.run("refund_request", version, input="refund order 8812 for a damaged parcel",
                    initiator="human") as run:
        with run.span("llm_call", model="gpt-small-2026-06", model_tier="small") as call:
            call.update(input_tokens=rng.randint(800, 2000), output_tokens=rng.randint(50, 300),
                        cost_usd=round(rng.uniform(0.0005, 0.002), 6))
        ok = rng.random() > (0.3 if version == "v4" else 0.1)
        run.tool_call("get_order", tool_args={"order_id": "8812"}, schema_valid=ok, success=ok,
                      duration_ms=rng.uniform(40, 300))
        if not ok:
            run.escalation("invalid_tool_args", detail="escalated to the support queue")


def _stored(lake: Path, topic: str) -> int:
    from tracelake.queries.views import connect

    try:
        return int(connect(lake).execute("SELECT count(*) FROM events WHERE kafka_topic = ?", [topic]).fetchone()[0])
    except Exception:  # noqa: BLE001 - the lake may be empty or mid-write; asked again shortly
        return 0


def _start_consumer(bootstrap: str, topic: str, lake: Path) -> tuple[threading.Event, threading.Thread]:
    from tracelake.ingest.backends.kafka import KafkaBackend
    from tracelake.ingest.consumer import Consumer
    from tracelake.ingest.pipeline import build_pipeline
    from tracelake.ingest.setup import make_parts
    from tracelake.ingest.sinks import KafkaDeadLetterSink

    settings = Settings.from_options(lake=lake, kafka_bootstrap=bootstrap, topic=topic, batch_max_age_s=0.5)
    parts = make_parts(settings, dlq=KafkaDeadLetterSink(bootstrap, settings.dlq_topic))
    backend = KafkaBackend(bootstrap, topic, f"tracelake-demo-{topic}")
    consumer = Consumer(backend, lambda commit: build_pipeline(parts, commit), parts.counters)
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,), name="tracelake-consumer", daemon=True)
    thread.start()
    return stop, thread


def run_demo(duration: float, rate: float, bootstrap: str | None, lake: str | None) -> dict[str, Any]:
    topic = f"tracelake.demo.{int(time.time())}"
    lake_root = Path(Settings.from_options(lake=lake).lake)
    with contextlib.ExitStack() as stack:
        if bootstrap is None:
            click.echo("starting the local Apache Kafka …", err=True)
            broker = stack.enter_context(LocalKafka())
            bootstrap = broker.bootstrap
        click.echo(f"starting the consumer (lake: {lake_root}) …", err=True)
        stop, consumer = _start_consumer(bootstrap, topic, lake_root)
        stack.callback(consumer.join, 60)
        stack.callback(stop.set)
        spool = stack.enter_context(tempfile.TemporaryDirectory(prefix="tracelake-spool-"))
        client = stack.enter_context(Client(bootstrap=bootstrap, topic=topic, spool_dir=spool, team="support-ops"))
        rng = random.Random(7)
        runs = 0
        started = time.monotonic()
        progress = click.progressbar(length=int(duration), label="agents running", file=click.get_text_stream("stderr"))
        with progress as bar:
            last = 0
            while (elapsed := time.monotonic() - started) < duration:
                _one_run(client, rng, "v4" if rng.random() < 0.2 else "v3")
                runs += 1
                time.sleep(max(0.0, runs / rate - (time.monotonic() - started)))
                bar.update(int(elapsed) - last)
                last = int(elapsed)
        client.flush(30)
        emitted = client.stats().enqueued
        deadline = time.monotonic() + 120
        while (stored := _stored(lake_root, topic)) < emitted and time.monotonic() < deadline:
            time.sleep(0.25)
    return {
        "events_emitted": emitted,
        "events_stored": stored,
        "runs": runs,
        "topic": topic,
        "lake": str(lake_root),
        "alerts": [],
        "canary": {"workflow": "refund_request", "baseline": "v3", "candidate": "v4", "verdict": "hold"},
        "note": "alerts and the canary verdict arrive with the analytics stage",
    }
