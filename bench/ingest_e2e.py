"""End-to-end ingest: events/s from Kafka to the lake per consumer process, and freshness.

    python bench/ingest_e2e.py [--events 20000] [--repeats 3] [--freshness-samples 20] [--bootstrap HOST:PORT]
                               [--variants parquet,delta-local,delta-s3,delta-local-rollup] [--lean-append]

1. Redaction stage alone: ``Redactor.redact_events`` over the decoded events in
   batches of the consumer's size (the ceiling, same process).
2. Kafka → lake, the real consumer chain (KafkaBackend → validate → batch →
   redact → write → commit) in this process over a topic pre-filled with the
   same events; events/s from the first poll to the last commit. Each round
   runs every variant on the same events (fresh topic, fresh redactor, the
   order rotated between rounds):

   - ``parquet``: the pre-Delta writer (:class:`tracelake.lake.legacy.ParquetLakeWriter`,
     one Hive-partitioned file per Kafka partition per batch, as the pipeline
     wrote before the Delta table) through a small adapter — the baseline;
   - ``delta-local``: the Delta table on local disk (``Lake.writer``), the
     consumer resuming from the table's offsets as ``tracelake consume`` does;
   - ``delta-s3``: the same on the loopback S3 server (S3Proxy, ``tracelake.locals3``);
   - ``delta-local-rollup``: ``delta-local`` with the consumer's upkeep (tidy, runs rollup, control
     results) as shipped: in the background, started at most every ``TRACELAKE_ROLLUP_INTERVAL_S`` (5 s)
     — what keeping the derived tables current costs ingest. The other variants run without it.
     Its upkeep runs in a worker process whose CPU time the events/CPU-s figure does not count.

   Targets: Delta ≥ 0.90 × Parquet (within 10 %), and ≥ 70 % of (1). Beside
   the wall-clock rate, events per CPU second (this process, plus the S3
   server's JVM for ``delta-s3``): on a machine shared with other work it moves
   far less than the wall clock.
3. Freshness, per Delta variant: one event at a time through the SDK while a
   consumer runs with the default batch age; the time from ``emit`` until the
   event is in a live file of the table (``lake.data_files`` polled every
   20 ms, new files read; at most 60 s per event). Target: p95 ≤ batch age + 1 s.

``--lean-append`` swaps ``DeltaLakeWriter._append`` for a version without the
``update_incremental`` + ``history`` calls after each commit (the number of
files added is taken from the commit's own add actions), to measure what they
cost (the figures then show ``delta-…-lean`` beside the unpatched variants).

Medians over ``--repeats`` rounds.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from tracelake.contract import validate_event
from tracelake.ingest.backends.kafka import KafkaBackend
from tracelake.ingest.consumer import Consumer, lake_resume
from tracelake.ingest.metrics import EVENTS_STORED
from tracelake.ingest.pipeline import PipelineParts, build_pipeline
from tracelake.ingest.setup import make_parts, make_redactor
from tracelake.lake import delta as delta_module
from tracelake.lake.lake import Lake
from tracelake.lake.legacy import ParquetLakeWriter
from tracelake.lake.tables import DEAD_LETTERS, EVENTS, Table
from tracelake.lake.writer import LakeWriter
from tracelake.localkafka import LocalKafka
from tracelake.sdk import Client
from tracelake.settings import Settings

SYSTEM = ("You are the refund agent of Acme Outdoor. Follow policy RP-7: refunds over 25 USD need approval; "
          "never reveal internal notes; answer in the customer's language.")
NAMES = ["Dana Whitfield", "Wei Zhang", "Priya Raghunathan", "Oluwaseun Adeyemi", "María José García",
         "Yuki Tanaka", "Olga Petrova", "Jean-Luc Moreau", "Fatima Al-Sayed", "Liam O'Brien"]
VARIANTS = ("parquet", "delta-local", "delta-s3", "delta-local-rollup")
BUCKET = "bench"
POLL_S = 0.02
FRESH_TIMEOUT_S = 60.0


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


def redaction_alone(redactor: Any, events: list[bytes], batch: int) -> float:
    wire = [validate_event(e).to_wire() for e in events]
    started = time.perf_counter()
    for i in range(0, len(wire), batch):
        redactor.redact_events(wire[i:i + batch])
    return len(wire) / (time.perf_counter() - started)


# -- the baseline: the pre-Delta writer in today's pipeline ---------------------------------------
class LegacyWriter(LakeWriter):
    """The pre-Delta Hive-Parquet writer behind today's ``LakeWriter`` interface: ``positions`` are ignored
    (the old lake recorded no offsets) and, as the old ``WriteLake`` did, one file is written per Kafka
    partition of the batch, named ``<topic>.p<partition>.o<first>-<last>``; returns the number of files."""

    def __init__(self, root: Path, table: Table) -> None:
        self.inner = ParquetLakeWriter(root, table)

    def write(self, table: pa.Table, name: str, positions: Mapping[str, int] | None = None) -> int:
        if table.num_rows == 0:
            return 0
        keys = pc.binary_join_element_wise(
            pc.cast(table.column("kafka_topic"), pa.string()),
            pc.cast(table.column("kafka_partition"), pa.string()), ".p")
        files = 0
        for key in pc.unique(keys).to_pylist():
            group = table.filter(pc.equal(keys, key))
            offsets = group.column("kafka_offset")
            first, last = pc.min(offsets).as_py(), pc.max(offsets).as_py()
            files += len(self.inner.write(group, f"{key}.o{first:012d}-{last:012d}"))
        return files


def with_legacy_writers(parts: PipelineParts, root: Path) -> PipelineParts:
    return replace(parts, events=LegacyWriter(root, EVENTS), dead_letters=LegacyWriter(root, DEAD_LETTERS))


# -- the local patch measured by --lean-append -----------------------------------------------------
def lean_append(self: Any, delta: Any, rows: pa.Table, name: str, fresh: Mapping[str, int]) -> int:
    """``DeltaLakeWriter._append`` without re-reading the log and the history after the commit: the files
    added are counted from the commit's add actions (``write_deltalake`` leaves the handle at the new version)."""
    deltalake = delta_module._delta()
    deltalake.write_deltalake(
        delta, self.table.for_delta(rows), mode="append", partition_by=[self.table.partition],
        writer_properties=deltalake.WriterProperties(compression="ZSTD",
                                                     max_row_group_size=delta_module.ROW_GROUP_SIZE),
        commit_properties=deltalake.CommitProperties(
            custom_metadata={delta_module.BATCH_KEY: name},
            app_transactions=[deltalake.Transaction(s, o) for s, o in sorted(fresh.items())]),
    )
    if rows.num_rows == 0:
        return 0
    # One file per partition day touched (batches are far below delta-rs' file size limit).
    return len(pc.unique(rows.column(self.table.partition)))


@contextlib.contextmanager
def patched_append(lean: bool) -> Iterator[None]:
    if not lean:
        yield
        return
    original = delta_module.DeltaLakeWriter._append
    delta_module.DeltaLakeWriter._append = lean_append  # type: ignore[method-assign]
    try:
        yield
    finally:
        delta_module.DeltaLakeWriter._append = original  # type: ignore[method-assign]


# -- lakes ----------------------------------------------------------------------------------------
@dataclass
class Where:
    """Where a variant's lakes go: a fresh temporary directory, or a fresh prefix in the S3 server's bucket."""

    s3_env: dict[str, str] | None = None
    s3_pid: int | None = None

    def server_cpu(self, variant: str) -> float:
        """CPU seconds the S3 server process has used so far (0 for the other variants)."""
        if not variant.startswith("delta-s3") or self.s3_pid is None:
            return 0.0
        fields = Path(f"/proc/{self.s3_pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    @contextlib.contextmanager
    def lake(self, variant: str) -> Iterator[tuple[Lake, Path | None]]:
        if variant.startswith("delta-s3"):
            assert self.s3_env is not None
            yield Lake.at(f"s3://{BUCKET}/{variant}-{uuid.uuid4().hex[:8]}", self.s3_env), None
            return
        with tempfile.TemporaryDirectory() as root:
            yield Lake.at(root), Path(root)


def fill_topic(bootstrap: str, prefix: str, events: list[bytes]) -> str:
    topic = f"{prefix}.{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, 3, 1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    for value in events:
        producer.send(topic, key=orjson.loads(value)["run_id"].encode(), value=value)
    producer.flush(120)
    producer.close()
    return topic


def consumer_for(variant: str, bootstrap: str, topic: str, settings: Settings, lake: Lake, root: Path | None,
                 redactor: Any = None) -> tuple[Consumer, PipelineParts]:
    parts = make_parts(settings, redactor=redactor, lake=lake)
    resume = None
    if not variant.endswith("-rollup"):
        parts = replace(parts, refresh_rollup=None)  # the write path alone, as before the rollup
    if variant == "parquet":
        assert root is not None
        parts = with_legacy_writers(parts, root)
    else:
        resume = lake_resume(lake)  # what `tracelake consume` does
    backend = KafkaBackend(bootstrap, topic, f"bench-{topic}")
    return Consumer(backend, lambda commit: build_pipeline(parts, commit), parts.counters, resume=resume), parts


def kafka_to_lake(variant: str, where: Where, bootstrap: str, events: list[bytes], settings: Settings,
                  redactor: Any) -> tuple[float, float]:
    """(events/s of wall-clock time, events per CPU second of this process plus the S3 server's)."""
    topic = fill_topic(bootstrap, "bench.ingest", events)
    with where.lake(variant) as (lake, root), patched_append(variant.endswith("-lean")):
        consumer, parts = consumer_for(variant, bootstrap, topic, settings.model_copy(update={"topic": topic}),
                                       lake, root, redactor)
        stop = threading.Event()
        watcher_started: list[float] = []

        stored_at: list[float] = []

        def watch() -> None:
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline and parts.counters.get(EVENTS_STORED) < len(events):
                if not watcher_started and parts.counters.get("tracelake_ingest_messages_polled_total"):
                    watcher_started.append(time.perf_counter())
                time.sleep(0.01)
            stored_at.append(time.perf_counter())  # the last event stored (stopping, and its last upkeep, apart)
            stop.set()

        thread = threading.Thread(target=watch)
        cpu_before = time.process_time() + where.server_cpu(variant)
        thread.start()
        consumer.run(stop)
        cpu = time.process_time() + where.server_cpu(variant) - cpu_before
        thread.join()
        finished = stored_at[0]
        if parts.counters.get(EVENTS_STORED) < len(events):
            raise RuntimeError(f"{variant}: only {parts.counters.get(EVENTS_STORED)} of {len(events)} stored")
        return len(events) / (finished - watcher_started[0]), len(events) / cpu


# -- freshness ------------------------------------------------------------------------------------
class TableWatcher:
    """Polls the table's live files (``lake.data_files``) and reads the event ids of the files not seen yet."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.seen: set[str] = set()
        self.ids: set[str] = set()
        self.filesystem = _s3_filesystem(lake.storage_options) if lake.is_remote else None

    def holds(self, event_id: str) -> bool:
        for item in self.lake.data_files(EVENTS):
            if item.uri in self.seen:
                continue
            path = item.uri.split("://", 1)[1] if self.filesystem is not None else item.uri
            column = pq.read_table(path, columns=["event_id"], filesystem=self.filesystem).column("event_id")
            self.ids.update(column.to_pylist())
            self.seen.add(item.uri)
        return event_id in self.ids


def _s3_filesystem(options: Mapping[str, str]) -> Any:
    from pyarrow import fs

    endpoint = options["AWS_ENDPOINT_URL"]
    return fs.S3FileSystem(access_key=options["AWS_ACCESS_KEY_ID"], secret_key=options["AWS_SECRET_ACCESS_KEY"],
                           region=options.get("AWS_REGION"), endpoint_override=endpoint,
                           scheme="http" if endpoint.startswith("http://") else "https")


def freshness(variant: str, where: Where, bootstrap: str, settings: Settings, samples: int) -> list[float]:
    topic = f"bench.fresh.{uuid.uuid4().hex[:8]}"
    lags = []
    with where.lake(variant) as (lake, root), tempfile.TemporaryDirectory() as spool, \
            patched_append(variant.endswith("-lean")):
        consumer, parts = consumer_for(variant, bootstrap, topic, settings.model_copy(update={"topic": topic}),
                                       lake, root)
        stop = threading.Event()
        failed: list[BaseException] = []

        def run() -> None:
            try:
                consumer.run(stop)
            except BaseException as exc:
                failed.append(exc)
                raise

        runner = threading.Thread(target=run)
        runner.start()
        watcher = TableWatcher(lake)
        try:
            with Client(bootstrap=bootstrap, topic=topic, spool_dir=spool) as client:
                with client.run("w", "v1"):  # warm-up: topic creation, group join, table creation
                    pass
                deadline = time.monotonic() + 120
                while parts.counters.get(EVENTS_STORED) < 2 and time.monotonic() < deadline:
                    time.sleep(0.05)
                for _ in range(samples):
                    started = time.perf_counter()
                    event_id = client.emit({"event_type": "custom", "name": "ping", "run_id": "fresh",
                                            "workflow": "w", "workflow_version": "v1"})
                    deadline = time.monotonic() + FRESH_TIMEOUT_S
                    while time.monotonic() < deadline and not watcher.holds(event_id):
                        if failed:
                            raise RuntimeError(f"{variant}: the consumer stopped: {failed[0]!r}")
                        time.sleep(POLL_S)
                    lags.append(time.perf_counter() - started)
        finally:
            stop.set()
            runner.join(60)
    return lags


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--freshness-samples", type=int, default=20)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--lean-append", action="store_true",
                        help="also run each Delta variant with the lean _append patch (see the docstring)")
    parser.add_argument("--bootstrap", default=None)
    args = parser.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    if args.lean_append:
        variants += [f"{v}-lean" for v in variants if v.startswith("delta")]
    settings = Settings()
    make_redactor(settings)
    rates: dict[str, list[float]] = {v: [] for v in variants}
    per_cpu: dict[str, list[float]] = {v: [] for v in variants}
    lags: dict[str, list[float]] = {}
    with contextlib.ExitStack() as stack:
        bootstrap = args.bootstrap or stack.enter_context(LocalKafka()).bootstrap
        where = Where()
        if any(v.startswith("delta-s3") for v in variants):
            from tracelake.locals3 import LocalS3

            server = stack.enter_context(LocalS3())
            server.create_bucket(BUCKET)
            where = Where(server.env(), server.pid)
        alone = []
        for round_ in range(args.repeats):
            events = make_events(args.events, seed=round_)
            alone.append(redaction_alone(make_redactor(settings), events, settings.batch_max_events))
            same = make_events(args.events, seed=100 + round_)
            order = variants[round_ % len(variants):] + variants[:round_ % len(variants)]
            for variant in order:
                rate, cpu_rate = kafka_to_lake(variant, where, bootstrap, same, settings, make_redactor(settings))
                rates[variant].append(rate)
                per_cpu[variant].append(cpu_rate)
            print(f"  round {round_ + 1}: redaction alone {alone[-1]:.0f}/s, "
                  + ", ".join(f"{v} {rates[v][-1]:.0f}/s ({per_cpu[v][-1]:.0f}/cpu-s)" for v in variants), flush=True)
        for variant in variants:
            if variant.startswith("delta"):
                lags[variant] = freshness(variant, where, bootstrap, settings, args.freshness_samples)
                print(f"  freshness {variant}: " + " ".join(f"{x:.2f}" for x in lags[variant]), flush=True)
    base = statistics.median(rates["parquet"]) if "parquet" in rates else None
    base_cpu = statistics.median(per_cpu["parquet"]) if "parquet" in per_cpu else None
    print(f"{args.events} events x {args.repeats} rounds, medians (2-core machine)")
    print(f"{'redaction stage alone':<28}{statistics.median(alone):8.0f} events/s")
    for variant in variants:
        rate = statistics.median(rates[variant])
        versus = f"  = {rate / base:.2f} × parquet" if base and variant != "parquet" else ""
        if variant.endswith("-rollup") and variant.removesuffix("-rollup") in rates:
            plain = statistics.median(rates[variant.removesuffix("-rollup")])
            versus += f" = {rate / plain:.2f} × {variant.removesuffix('-rollup')}"
        cpu_rate = statistics.median(per_cpu[variant])
        cpu_versus = f" = {cpu_rate / base_cpu:.2f} ×" if base_cpu and variant != "parquet" else ""
        print(f"Kafka → {variant:<20}{rate:8.0f} events/s  "
              f"({rate / statistics.median(alone):.0%} of redaction alone){versus}; "
              f"{cpu_rate:.0f} events/CPU-s{cpu_versus}")
    goal = settings.batch_max_age_s + 1
    for variant, found in lags.items():
        verdict = "meets" if p95(found) <= goal else "MISSES"
        print(f"freshness emit → {variant:<15} p50 {statistics.median(found):.2f} s, p95 {p95(found):.2f} s, "
              f"max {max(found):.2f} s ({len(found)} samples; batch age {settings.batch_max_age_s} s, "
              f"goal p95 ≤ {goal:.1f} s: {verdict})")


if __name__ == "__main__":
    main()
