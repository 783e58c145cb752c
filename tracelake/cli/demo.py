"""``tracelake demo`` for this stage of the product: emit → Kafka → read back.

Until the ingest, analytics and API stages land, the demo proves the first
hop for real: it starts the local Apache Kafka (unless ``--bootstrap``),
drives the SDK with a small stream of agent runs for ``duration`` seconds and
reads every event back from the topic. The report keeps the contract's keys;
``events_stored`` stays null until the lake exists.
"""

from __future__ import annotations

import contextlib
import random
import tempfile
import time
from typing import Any

import click

from tracelake.localkafka import LocalKafka
from tracelake.sdk import Client


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


def _read_back(bootstrap: str, topic: str, expected: int, timeout: float) -> int:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             group_id=None, enable_auto_commit=False, consumer_timeout_ms=1000)
    seen: set[bytes] = set()
    deadline = time.monotonic() + timeout
    try:
        while len(seen) < expected and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                seen.update(r.value for r in records)
    finally:
        consumer.close()
    return len(seen)


def run_demo(duration: float, rate: float, bootstrap: str | None, lake: str | None) -> dict[str, Any]:
    topic = f"tracelake.demo.{int(time.time())}"
    with contextlib.ExitStack() as stack:
        if bootstrap is None:
            click.echo("starting the local Apache Kafka …", err=True)
            broker = stack.enter_context(LocalKafka())
            bootstrap = broker.bootstrap
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
        in_kafka = _read_back(bootstrap, topic, emitted, timeout=60)
    return {
        "events_emitted": emitted,
        "events_in_kafka": in_kafka,
        "events_stored": None,
        "runs": runs,
        "topic": topic,
        "alerts": [],
        "canary": {"workflow": "refund_request", "baseline": "v3", "candidate": "v4", "verdict": "hold"},
        "note": "ingest, analytics and API stages are not built yet: events are not stored in a lake",
    }
