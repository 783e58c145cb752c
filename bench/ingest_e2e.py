"""End-to-end ingest: events/s from Kafka to Parquet per consumer process, and freshness.

    python bench/ingest_e2e.py [--events 20000] [--repeats 3] [--bootstrap HOST:PORT]

1. Redaction stage alone: ``Redactor.redact_events`` over the decoded events in
   batches of the consumer's size (the baseline, same process).
2. Kafka → Parquet: the real consumer chain (KafkaBackend → validate → batch →
   redact → write → commit) in this process over a topic pre-filled with the
   same events; events/s from the first poll to the last commit. Target: ≥ 70 %
   of (1).
3. Freshness: one event at a time through the SDK while a consumer runs with
   the default batch age; time until a DuckDB query over the lake sees it
   (p50/p95).

Medians over ``--repeats`` rounds.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

import orjson
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from tracelake.contract import validate_event
from tracelake.ingest.backends.kafka import KafkaBackend
from tracelake.ingest.consumer import Consumer
from tracelake.ingest.metrics import EVENTS_STORED
from tracelake.ingest.pipeline import build_pipeline
from tracelake.ingest.setup import make_parts, make_redactor
from tracelake.localkafka import LocalKafka
from tracelake.queries.views import connect
from tracelake.sdk import Client
from tracelake.settings import Settings

SYSTEM = ("You are the refund agent of Acme Outdoor. Follow policy RP-7: refunds over 25 USD need approval; "
          "never reveal internal notes; answer in the customer's language.")
NAMES = ["Dana Whitfield", "Wei Zhang", "Priya Raghunathan", "Oluwaseun Adeyemi", "María José García",
         "Yuki Tanaka", "Olga Petrova", "Jean-Luc Moreau", "Fatima Al-Sayed", "Liam O'Brien"]


def make_events(count: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        name = rng.choice(NAMES)
        order = rng.randint(1000, 99999)
        kind = i % 4
        base = {"schema_version": "1", "event_id": f"bench-{seed}-{i}", "ts": "2026-11-24T10:00:00.000Z",
                "run_id": f"run-{i // 8}", "workflow": "refund_request", "workflow_version": "v3",
                "tenant": "acme"}
        if kind == 0:
            event = {**base, "event_type": "llm_call", "model": "gpt-small", "input_tokens": 1400,
                     "output_tokens": 120, "prompt": f"{SYSTEM}\nCustomer {name} asks about order {order}.",
                     "completion": f"Call get_order({order}) then create_refund_request."}
        elif kind == 1:
            event = {**base, "event_type": "tool_call", "tool_name": "get_order",
                     "tool_args": {"order_id": str(order)},
                     "tool_result": {"status": "delivered", "amount": 42.5,
                                     "email": f"{name.split()[0].lower()}@example.org"},
                     "schema_valid": True, "success": True}
        elif kind == 2:
            event = {**base, "event_type": "run_started", "initiator": "human",
                     "input": f"Hi, I'm {name}, call me on +1 415-555-{rng.randint(1000, 9999)} about order {order}."}
        else:
            event = {**base, "event_type": "run_finished", "outcome": "success",
                     "output": f"Refund rf_{order} of 42.50 USD created for order {order}."}
        out.append(orjson.dumps(event))
    return out


def redaction_alone(redactor, events: list[bytes], batch: int) -> float:
    wire = [validate_event(e).to_wire() for e in events]
    started = time.perf_counter()
    for i in range(0, len(wire), batch):
        redactor.redact_events(wire[i:i + batch])
    return len(wire) / (time.perf_counter() - started)


def kafka_to_parquet(bootstrap: str, events: list[bytes], settings: Settings, redactor) -> float:
    topic = f"bench.ingest.{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, 3, 1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    for value in events:
        producer.send(topic, key=orjson.loads(value)["run_id"].encode(), value=value)
    producer.flush(120)
    producer.close()
    with tempfile.TemporaryDirectory() as lake:
        settings = settings.model_copy(update={"lake": Path(lake), "topic": topic})
        parts = make_parts(settings, redactor=redactor)
        backend = KafkaBackend(bootstrap, topic, f"bench-{topic}")
        stop = threading.Event()
        consumer = Consumer(backend, lambda commit: build_pipeline(parts, commit), parts.counters)
        watcher_started: list[float] = []

        def watch() -> None:
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline and parts.counters.get(EVENTS_STORED) < len(events):
                if not watcher_started and parts.counters.get("tracelake_ingest_messages_polled_total"):
                    watcher_started.append(time.perf_counter())
                time.sleep(0.01)
            stop.set()

        thread = threading.Thread(target=watch)
        thread.start()
        consumer.run(stop)
        finished = time.perf_counter()
        thread.join()
        return len(events) / (finished - watcher_started[0])


def freshness(bootstrap: str, settings: Settings, samples: int) -> list[float]:
    topic = f"bench.fresh.{uuid.uuid4().hex[:8]}"
    lags = []
    with tempfile.TemporaryDirectory() as lake, tempfile.TemporaryDirectory() as spool:
        settings = settings.model_copy(update={"lake": Path(lake), "topic": topic})
        parts = make_parts(settings)
        backend = KafkaBackend(bootstrap, topic, f"fresh-{topic}")
        stop = threading.Event()
        consumer = Consumer(backend, lambda commit: build_pipeline(parts, commit), parts.counters)
        runner = threading.Thread(target=consumer.run, args=(stop,))
        runner.start()
        with Client(bootstrap=bootstrap, topic=topic, spool_dir=spool) as client:
            with client.run("w", "v1"):  # warm-up: topic creation and group join
                pass
            deadline = time.monotonic() + 120
            while parts.counters.get(EVENTS_STORED) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            for _ in range(samples):
                started = time.perf_counter()
                event_id = client.emit({"event_type": "custom", "name": "ping", "run_id": "fresh",
                                        "workflow": "w", "workflow_version": "v1"})
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    with contextlib.suppress(Exception):
                        con = connect(lake)
                        if con.execute("SELECT count(*) FROM events WHERE event_id = ?", [event_id]).fetchone()[0]:
                            break
                    time.sleep(0.02)
                lags.append(time.perf_counter() - started)
        stop.set()
        runner.join(60)
    return lags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--freshness-samples", type=int, default=15)
    parser.add_argument("--bootstrap", default=None)
    args = parser.parse_args()
    settings = Settings()
    make_redactor(settings)
    with contextlib.ExitStack() as stack:
        bootstrap = args.bootstrap or stack.enter_context(LocalKafka()).bootstrap
        alone, e2e = [], []
        for round_ in range(args.repeats):
            events = make_events(args.events, seed=round_)
            alone.append(redaction_alone(make_redactor(settings), events, settings.batch_max_events))
            e2e.append(kafka_to_parquet(bootstrap, make_events(args.events, seed=100 + round_), settings,
                                        make_redactor(settings)))
            print(f"  round {round_ + 1}: redaction alone {alone[-1]:.0f}/s, Kafka→Parquet {e2e[-1]:.0f}/s",
                  flush=True)
        lags = freshness(bootstrap, settings, args.freshness_samples)
    print(f"{args.events} events x {args.repeats} rounds, medians (2-core machine)")
    print(f"redaction stage alone      {statistics.median(alone):8.0f} events/s")
    print(f"Kafka → Parquet (1 proc)   {statistics.median(e2e):8.0f} events/s  "
          f"= {statistics.median(e2e) / statistics.median(alone):.0%} of redaction alone")
    q = statistics.quantiles(lags, n=20)
    print(f"freshness emit → DuckDB    p50 {statistics.median(lags):.2f} s, p95 {q[18]:.2f} s "
          f"(batch age {settings.batch_max_age_s} s, {len(lags)} samples)")


if __name__ == "__main__":
    main()
