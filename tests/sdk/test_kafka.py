"""SDK → real Kafka → read back (no mocks; one test holds the sender's sends to show emit() never waits for them)."""

from __future__ import annotations

import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest

from tracelake.localkafka import LocalKafka, free_port
from tracelake.sdk import Client
from tracelake.sdk.transport import KafkaTransport

pytestmark = pytest.mark.kafka


def test_roundtrip_fields_keys_and_order(kafka_broker: LocalKafka, topic: str, tmp_path: Path, read_topic) -> None:
    with Client(bootstrap=kafka_broker.bootstrap, topic=topic, spool_dir=str(tmp_path), tenant="acme",
                release="canary-2") as client:
        sent: list[dict] = []
        for r in range(10):
            with client.run("refund_request", "v3", input="refund order 8812 for Dana") as run:
                with run.span("llm_call", model="gpt-small", provider="openai", model_tier="small") as call:
                    call.update(input_tokens=1450, cached_input_tokens=400, output_tokens=120, cost_usd=0.0009,
                                prompt="You are a refund agent.", completion="Call get_order.")
                run.tool_call("get_order", tool_args={"order_id": "8812", "nested": {"a": [1, 2]}},
                              tool_result=[1, "two", None], schema_valid=True, success=True, mutating=False,
                              idempotency_key=f"k-{r}")
                run.policy_decision("refund", "yellow", "require_approval", rule="over_25")
                run.postcondition_check("amount_ok", passed=r % 2 == 0, detail="checked")
        assert client.flush(30)
        stats = client.stats()
        assert stats.sent == stats.enqueued == 10 * 6 and stats.spooled == 0
    records = read_topic(kafka_broker.bootstrap, topic, expected=60)
    assert len(records) == 60
    by_run: dict[bytes, list] = defaultdict(list)
    for record in records:
        event = orjson.loads(record.value)
        assert record.key == event["run_id"].encode()
        by_run[record.key].append(event)
        sent.append(event)
    partitions = {record.key: set() for record in records}
    for record in records:
        partitions[record.key].add(record.partition)
    assert all(len(p) == 1 for p in partitions.values())  # one partition per run
    for events in by_run.values():
        assert [e["event_type"] for e in events] == ["run_started", "llm_call", "tool_call", "policy_decision",
                                                     "postcondition_check", "run_finished"]
        assert [e["event_id"] for e in events] == sorted(e["event_id"] for e in events)
        llm, tool_call = events[1], events[2]
        assert (llm["cached_input_tokens"], llm["cost_usd"], llm["completion"]) == (400, 0.0009, "Call get_order.")
        assert tool_call["tool_args"] == {"order_id": "8812", "nested": {"a": [1, 2]}}
        assert tool_call["tool_result"] == [1, "two", None]
        assert all(e["tenant"] == "acme" and e["release"] == "canary-2" for e in events)


def test_broker_down_agent_keeps_running_then_spool_arrives_once(tmp_path: Path, topic: str, read_topic,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    broker = LocalKafka(data_dir=tmp_path / "kafka", port=free_port())
    spool = tmp_path / "spool"
    # The sender's sends to the absent broker are held, as a silent broker holds a connection attempt, until the
    # agent is done: emit() must neither send nor wait for a send (it would hang here, not merely be slow).
    senders: set[int] = set()
    sending, release = threading.Event(), threading.Event()
    real_send = KafkaTransport.send

    def held_send(self: KafkaTransport, records: Any) -> int:
        senders.add(threading.get_ident())
        sending.set()
        release.wait(60)
        return real_send(self, records)

    monkeypatch.setattr(KafkaTransport, "send", held_send)
    try:
        client = Client(bootstrap=broker.bootstrap, topic=topic, spool_dir=str(spool), send_timeout_s=1.0)

        def agent(runs: int) -> None:
            for _run in range(runs):
                with client.run("w", "v1") as run:
                    for _ in range(8):
                        run.custom("step")

        agent(1)
        assert sending.wait(30), "the sender never tried the broker"
        emitting = threading.Thread(target=agent, args=(19,), name="agent")
        emitting.start()
        emitting.join(60)  # a hang guard: emit() blocked behind the held send would never return
        assert not emitting.is_alive(), "emit() waited for the broker"
        assert client.stats().enqueued == 20 * 10
        assert threading.get_ident() not in senders and emitting.ident not in senders
        release.set()
        emitted = client.stats().enqueued
        assert not client.flush(2)
        assert client.stats().spool_pending > 0
        assert list(spool.glob("*/seg-*.jsonl"))

        broker.start()
        assert client.flush(60), client.stats()
        client.close()
        stats = client.stats()
        assert stats.replayed > 0 and stats.dropped == 0
        records = read_topic(broker.bootstrap, topic, expected=emitted)
        ids = [orjson.loads(r.value)["event_id"] for r in records]
        assert len(set(ids)) == emitted
        assert len(ids) == emitted  # exactly once, not merely at least once
        assert not list(spool.glob("*/seg-*.jsonl"))
    finally:
        release.set()
        broker.close()


def test_spool_left_by_a_dead_process_is_resent_by_the_next(kafka_broker: LocalKafka, tmp_path: Path, topic: str,
                                                            read_topic) -> None:
    spool = tmp_path / "spool"
    dead_port = free_port()
    first = Client(bootstrap=f"127.0.0.1:{dead_port}", topic=topic, spool_dir=str(spool), send_timeout_s=0.5)
    with first.run("w", "v1") as run:
        run.custom("before-crash")
    first.close(timeout=5)
    assert first.stats().spooled == 3
    second = Client(bootstrap=kafka_broker.bootstrap, topic=topic, spool_dir=str(spool))
    assert second.flush(30)
    second.close()
    records = read_topic(kafka_broker.bootstrap, topic, expected=3)
    assert sorted(orjson.loads(r.value)["event_type"] for r in records) == ["custom", "run_finished", "run_started"]


def test_spool_bound_drops_newest_and_counts(tmp_path: Path, topic: str) -> None:
    port = free_port()
    client = Client(bootstrap=f"127.0.0.1:{port}", topic=topic, spool_dir=str(tmp_path), send_timeout_s=0.5,
                    spool_max_bytes=20_000)
    for _ in range(10):
        with client.run("w", "v1") as run:
            for _ in range(20):
                run.custom("step", attributes={"pad": "x" * 100})
    client.close(timeout=5)
    stats = client.stats()
    assert stats.enqueued == 220
    assert stats.spooled + stats.dropped == 220
    assert 0 < stats.spooled < 220 and stats.dropped > 0
    on_disk = sum(p.stat().st_size for p in tmp_path.glob("*/seg-*.jsonl"))
    assert on_disk <= 20_000
    first_lines = next(iter(sorted(tmp_path.glob("*/seg-*.jsonl")))).read_bytes().splitlines()
    assert orjson.loads(first_lines[0])["event_type"] == "run_started"  # the oldest are the ones kept


def test_broker_stops_mid_stream_nothing_lost(tmp_path: Path, topic: str, read_topic) -> None:
    broker = LocalKafka(data_dir=tmp_path / "kafka")
    try:
        broker.start()
        client = Client(bootstrap=broker.bootstrap, topic=topic, spool_dir=str(tmp_path / "spool"),
                        send_timeout_s=1.0)
        ids = []
        for phase in ("up", "down", "up-again"):
            if phase == "down":
                assert client.flush(30)
                broker.stop()
            if phase == "up-again":
                broker.start()
            for _ in range(5):
                with client.run("w", "v1", attributes={"phase": phase}) as run:
                    ids.append(run.custom("step"))
        assert client.flush(60), client.stats()
        client.close()
        records = read_topic(broker.bootstrap, topic, expected=45)
        got = {orjson.loads(r.value)["event_id"] for r in records}
        assert set(ids) <= got and len(got) == 45  # every event, each id once after de-duplication
        assert client.stats().spooled > 0
    finally:
        broker.close()
