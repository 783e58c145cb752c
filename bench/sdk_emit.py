"""SDK emit() latency and sustained throughput against a bare KafkaProducer.send.

    python bench/sdk_emit.py [--events 20000] [--repeats 5] [--bootstrap HOST:PORT]

Starts the local Kafka unless --bootstrap is given. For each of ``repeats``
rounds it times, per call, ``Client.emit`` (enqueue; the background sender
does the Kafka work) and a bare ``KafkaProducer.send`` (kafka-python's own
buffering) with the same event bodies, then the sustained rate: N events
emitted and flushed to Kafka-acknowledged. Prints medians over the rounds and
the emit/send ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
import uuid

import orjson
from kafka import KafkaProducer

from tracelake.localkafka import LocalKafka
from tracelake.sdk import Client, new_event_id, now_ts


def body(i: int) -> dict:
    return {
        "event_type": "tool_call",
        "run_id": f"run-{i // 10}",
        "workflow": "refund_request",
        "workflow_version": "v3",
        "tool_name": "get_order",
        "tool_args": {"order_id": str(8800 + i % 50)},
        "tool_result": {"status": "delivered", "amount": 42.5},
        "schema_valid": True,
        "success": True,
        "duration_ms": 12.5,
    }


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def time_sdk(bootstrap: str, events: int) -> tuple[list[float], float]:
    topic = f"bench.sdk.{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as spool, Client(bootstrap=bootstrap, topic=topic, spool_dir=spool) as client:
        client.emit(body(0))  # connect before timing
        client.flush(30)
        lat = []
        started = time.perf_counter()
        for i in range(events):
            t0 = time.perf_counter()
            client.emit(body(i))
            lat.append(time.perf_counter() - t0)
        assert client.flush(120), client.stats()
        elapsed = time.perf_counter() - started
        print(f"  sdk round: {client.stats()}", flush=True)
    return lat, events / elapsed


def time_bare(bootstrap: str, events: int) -> tuple[list[float], float]:
    topic = f"bench.bare.{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    producer.send(topic, b"warm").get(30)
    lat = []
    started = time.perf_counter()
    for i in range(events):
        # The same work an agent would do with a bare producer: complete and encode the event.
        event = {"schema_version": "1", "event_id": new_event_id(), "ts": now_ts(), **body(i)}
        t0 = time.perf_counter()
        producer.send(topic, key=event["run_id"].encode(), value=orjson.dumps(event))
        lat.append(time.perf_counter() - t0)
    producer.flush(120)
    elapsed = time.perf_counter() - started
    producer.close()
    return lat, events / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--bootstrap", default=None)
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        bootstrap = args.bootstrap or stack.enter_context(LocalKafka()).bootstrap
        rows: dict[str, list[tuple[float, float, float]]] = {"sdk emit()": [], "bare KafkaProducer.send": []}
        for _ in range(args.repeats):
            for name, fn in (("sdk emit()", time_sdk), ("bare KafkaProducer.send", time_bare)):
                lat, rate = fn(bootstrap, args.events)
                rows[name].append((pct(lat, 0.5) * 1e6, pct(lat, 0.99) * 1e6, rate))
    print(f"{args.events} events x {args.repeats} rounds, medians over rounds (2-core machine)")
    print(f"{'path':26} {'p50 µs':>8} {'p99 µs':>8} {'events/s (to acked)':>20}")
    med = {}
    for name, runs in rows.items():
        med[name] = tuple(statistics.median(r[i] for r in runs) for i in range(3))
        p50, p99, rate = med[name]
        print(f"{name:26} {p50:8.1f} {p99:8.1f} {rate:20.0f}")
    sdk, bare = med["sdk emit()"], med["bare KafkaProducer.send"]
    print(f"ratio sdk/bare: p50 {sdk[0] / bare[0]:.2f}x, p99 {sdk[1] / bare[1]:.2f}x, "
          f"throughput {sdk[2] / bare[2]:.2f}x")


if __name__ == "__main__":
    main()
