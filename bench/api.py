"""HTTP API benchmark on loopback: ingest throughput/latency and metric-endpoint overhead.

    .venv/bin/python bench/api.py [--repeats 3] [--seconds 4] [--batch 10] [--no-kafka]

1. Ingest: ``POST /v1/events`` (``--batch`` events per request) from 1, 8 and
   32 concurrent keep-alive connections (asyncio, a minimal HTTP/1.1 client) against
   ``tracelake api`` in its own process, producing to the local Kafka broker
   (``--no-kafka``: events wait in a temporary spool). Each level runs for
   ``--seconds`` (bounded: also at most 20 000 requests); requests/s, p50 and
   p99 are the median over ``--repeats`` rounds.
2. Metric overhead: ``GET /v1/metrics/success_rate`` versus the same query
   through the CLI code path without HTTP
   (:func:`tracelake.queries.metrics.compute_metric`, what ``tracelake
   metrics`` calls), on a lake of ``--runs`` runs; medians of ``--queries``
   sequential calls each, alternating, per round.

Everything binds 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]


class PassThrough:
    """The bench's lake needs no redaction (no personal data in it); keeps setup fast."""

    def redact_events(self, events: list[dict[str, Any]]) -> list[Any]:
        return [(event, {}) for event in events]

    def redact_text(self, text: str) -> tuple[str, dict[str, int]]:
        return text, {}


def make_lake(lake: Path, runs: int) -> None:
    from tracelake.ingest.file_ingest import ingest_stream
    from tracelake.ingest.setup import make_parts
    from tracelake.settings import Settings

    source = lake.parent / "bench-events.jsonl"
    with open(source, "wb") as out:
        for i in range(runs):
            ts = f"2026-11-24T{(i // 60) % 24:02d}:{i % 60:02d}:00"
            common = {"schema_version": "1", "run_id": f"run-{i}", "workflow": f"wf-{i % 4}",
                      "workflow_version": f"v{i % 3}", "tenant": "acme"}
            for n, (kind, extra) in enumerate([
                ("run_started", {}),
                ("llm_call", {"model": "gpt-small", "input_tokens": 900, "output_tokens": 80, "duration_ms": 400}),
                ("tool_call", {"tool_name": "get_order", "schema_valid": True, "success": i % 7 != 0,
                               "duration_ms": 30}),
                ("run_finished", {"outcome": "success" if i % 5 else "failure"}),
            ]):
                event = {**common, "event_id": f"e-{i}-{n}", "event_type": kind, "ts": f"{ts}.{n}00Z", **extra}
                out.write(orjson.dumps(event) + b"\n")
    ingest_stream([str(source)], make_parts(Settings(lake=lake), redactor=PassThrough()), lake)


def start_api(lake: Path, port: int, bootstrap: str | None, spool: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TRACELAKE_LAKE": str(lake), "TRACELAKE_API_SPOOL_DIR": str(spool),
           "TRACELAKE_API_KEYS_FILE": "", "TRACELAKE_KAFKA_BOOTSTRAP": bootstrap or ""}
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "tracelake.cli.main", "api", "--port", str(port)],
                                env=env, stdout=out, stderr=out)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the API exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the API did not become healthy within 60 s")


def body(batch: int, seq: int) -> bytes:
    run = f"bench-{seq}"
    return orjson.dumps([{"schema_version": "1", "event_id": f"{run}-{n}", "event_type": "custom", "name": "step",
                          "ts": "2026-11-24T10:00:00.000Z", "run_id": run, "workflow": "bench",
                          "workflow_version": "v1", "attributes": {"n": n}} for n in range(batch)])


class RawHttp:
    """A minimal keep-alive HTTP/1.1 client on asyncio streams: httpx's pool costs more CPU than the
    server does per request, and on two cores the load generator must not be what is measured."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, payload: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\n\r\n").encode()
        self.writer.write(head + payload)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


async def ingest_level(url: str, clients: int, seconds: float, batch: int, max_requests: int = 20_000
                       ) -> dict[str, float]:
    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = []
    errors = 0
    counter = iter(range(max_requests))
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal errors
        http = RawHttp(host, int(port))
        try:
            for seq in counter:
                if time.perf_counter() >= deadline:
                    return
                payload = body(batch, seq)
                started = time.perf_counter()
                status = await http.post("/v1/events", payload)
                latencies.append(time.perf_counter() - started)
                if status != 202:
                    errors += 1
        finally:
            await http.close()

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {"requests_s": len(latencies) / elapsed, "events_s": len(latencies) * batch / elapsed,
            "p50_ms": latencies[len(latencies) // 2] * 1000,
            "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
            "errors": errors}


def metric_round(url: str, lake: Path, queries: int) -> tuple[float, float]:
    from tracelake.queries.metrics import compute_metric

    params = {"since": "2026-11-24T00:00:00Z", "until": "2026-11-25T00:00:00Z"}
    from tracelake.queries.timewin import parse_time

    since, until = parse_time(params["since"]), parse_time(params["until"])
    direct, http = [], []
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(queries):
            started = time.perf_counter()
            rows = compute_metric(lake, "success_rate", since=since, until=until)
            direct.append(time.perf_counter() - started)
            started = time.perf_counter()
            r = client.get("/v1/metrics/success_rate", params=params)
            http.append(time.perf_counter() - started)
            assert r.status_code == 200 and len(r.json()["rows"]) == len(rows)
    return statistics.median(direct) * 1000, statistics.median(http) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--no-kafka", action="store_true")
    args = parser.parse_args()

    from tracelake.localkafka import LocalKafka, free_port

    with tempfile.TemporaryDirectory(prefix="tracelake-bench-api-") as tmp:
        work = Path(tmp)
        lake = work / "lake"
        print(f"writing a lake of {args.runs} runs …", file=sys.stderr)
        make_lake(lake, args.runs)
        broker = None
        if not args.no_kafka:
            print("starting the local Kafka broker …", file=sys.stderr)
            broker = LocalKafka(data_dir=work / "kafka")
            broker.start()
        port = free_port()
        api = start_api(lake, port, broker.bootstrap if broker else None, work / "spool", work / "api.log")
        url = f"http://127.0.0.1:{port}"
        try:
            asyncio.run(ingest_level(url, 8, 1.0, args.batch))  # warm-up: connections, JIT-free but caches
            levels: dict[int, list[dict[str, float]]] = {1: [], 8: [], 32: []}
            overheads: list[tuple[float, float]] = []
            for round_ in range(args.repeats):
                for clients in levels:
                    levels[clients].append(asyncio.run(ingest_level(url, clients, args.seconds, args.batch)))
                overheads.append(metric_round(url, lake, args.queries))
                print(f"round {round_ + 1}/{args.repeats} done", file=sys.stderr)
        finally:
            api.terminate()
            api.wait(30)
            if broker:
                broker.close()

    kafka = "local Kafka" if not args.no_kafka else "no Kafka (spool)"
    print(f"\nPOST /v1/events, {args.batch} events per request, {kafka}, medians of {args.repeats} rounds "
          f"of {args.seconds:g} s")
    print("| clients | requests/s | events/s | p50 ms | p99 ms | non-202 |")
    print("|---|---|---|---|---|---|")
    for clients, rounds in levels.items():
        med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
        print(f"| {clients} | {med['requests_s']:,.0f} | {med['events_s']:,.0f} | {med['p50_ms']:.1f} | "
              f"{med['p99_ms']:.1f} | {int(sum(r['errors'] for r in rounds))} |")
    direct = statistics.median(d for d, _ in overheads)
    http = statistics.median(h for _, h in overheads)
    print(f"\nsuccess_rate over {args.runs} runs, median of {args.repeats} × {args.queries} calls:")
    print("| path | median ms |")
    print("|---|---|")
    print(f"| compute_metric() in process (the CLI code path) | {direct:.2f} |")
    print(f"| GET /v1/metrics/success_rate over HTTP | {http:.2f} |")
    print(f"| overhead | {100 * (http - direct) / direct:+.1f} % |")


if __name__ == "__main__":
    main()
