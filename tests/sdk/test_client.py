"""The SDK surface: runs, helpers for every event type, the tool decorator, never breaking the agent."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from tracelake.contract import TraceEvent, validate_event
from tracelake.sdk import Client, tool
from tracelake.sdk.transport import MemoryTransport


@pytest.fixture
def memory(tmp_path: Path) -> tuple[Client, MemoryTransport]:
    transport = MemoryTransport()
    client = Client(transport=transport, spool_dir=str(tmp_path / "spool"), tenant="acme", team="support-ops")
    yield client, transport
    client.close()


def events(client: Client, transport: MemoryTransport) -> list[dict]:
    assert client.flush(10)
    return [orjson.loads(r.value) for r in transport.delivered]


@tool(validator=lambda args: args["order_id"].isdigit(), mutating=False)
def get_order(order_id: str) -> dict:
    if order_id == "0":
        raise TimeoutError("orders service timed out")
    return {"status": "delivered", "amount": 42.5}


def test_run_emits_every_event_type_and_all_are_contract_valid(memory) -> None:
    client, transport = memory
    with client.run("refund_request", "v3", input="refund order 8812", initiator="human") as run:
        with run.span("llm_call", model="gpt-small", provider="openai") as call:
            call.update(input_tokens=1450, output_tokens=120, cost_usd=0.0009)
        get_order("8812")
        run.retrieval("refund policy", references=[{"id": "kb-7", "version": "3"}])
        run.policy_decision("create_refund", "yellow", "require_approval", rule="refund_over_25")
        run.approval("create_refund", "approved", approver="lead-17", wait_ms=1200)
        run.postcondition_check("amount_le_order", True)
        run.custom("note", attributes={"k": "v"})
        run.tool_call("create_refund", tool_args={"order_id": "8812"}, success=True, schema_valid=True)
    got = events(client, transport)
    types = [e["event_type"] for e in got]
    assert types == ["run_started", "llm_call", "tool_call", "retrieval", "policy_decision", "approval",
                     "postcondition_check", "custom", "tool_call", "run_finished"]
    for event in got:
        assert isinstance(validate_event(orjson.dumps(event)), TraceEvent), event
        assert event["run_id"] == run.run_id and event["tenant"] == "acme" and event["team"] == "support-ops"
    assert len({e["event_id"] for e in got}) == len(got)
    assert [r.key for r in transport.delivered] == [run.run_id.encode()] * len(got)
    assert got[-1]["outcome"] == "success"
    llm = got[1]
    assert llm["duration_ms"] >= 0 and llm["input_tokens"] == 1450
    assert llm["parent_span_id"] == got[0]["span_id"]
    tool_event = got[2]
    assert tool_event["tool_args"] == {"order_id": "8812"}
    assert tool_event["tool_result"] == {"status": "delivered", "amount": 42.5}
    assert (tool_event["schema_valid"], tool_event["success"], tool_event["mutating"]) == (True, True, False)


def test_event_ids_are_time_ordered(memory) -> None:
    client, transport = memory
    with client.run("w", "v1") as run:
        for _ in range(20):
            run.custom("tick")
    ids = [e["event_id"] for e in events(client, transport)]
    assert ids == sorted(ids)


def test_exception_in_run_is_failure_with_type_and_reraised(memory) -> None:
    client, transport = memory
    with pytest.raises(KeyError), client.run("w", "v1"):
        raise KeyError("order")
    finished = events(client, transport)[-1]
    assert finished["outcome"] == "failure"
    assert finished["status"] == "error"
    assert finished["error"]["type"] == "KeyError"


def test_tool_error_recorded_and_reraised(memory) -> None:
    client, transport = memory
    with client.run("w", "v1") as run:
        with pytest.raises(TimeoutError):
            get_order("0")
        get_order("abc")
        run.fallback("tool_timeout", detail="handed to a human")
    got = events(client, transport)
    failed, invalid = got[1], got[2]
    assert failed["status"] == "error" and failed["success"] is False
    assert failed["error"] == {"type": "TimeoutError", "message": "orders service timed out"}
    assert invalid["schema_valid"] is False
    assert got[-1]["outcome"] == "fallback"


def test_async_tool(memory) -> None:
    client, transport = memory

    @tool("lookup")
    async def lookup(x: int) -> int:
        await asyncio.sleep(0)
        return x * 2

    async def agent() -> int:
        with client.run("w", "v1"):
            return await lookup(21)

    assert asyncio.run(agent()) == 42
    got = events(client, transport)
    assert got[1]["tool_name"] == "lookup" and got[1]["tool_result"] == 42


def test_tool_outside_a_run_just_runs(memory) -> None:
    client, transport = memory
    assert get_order("1")["status"] == "delivered"
    assert events(client, transport) == []


def test_explicit_finish_and_implied_outcomes(memory) -> None:
    client, transport = memory
    with client.run("w", "v1") as run:
        run.escalation("low_confidence")
    with client.run("w", "v1") as run:
        run.budget_exceeded("tokens", limit=1000, used=1500)
    with client.run("w", "v1") as run:
        run.escalation("x")
        run.finish("success", output="done anyway")
    outcomes = [e["outcome"] for e in events(client, transport) if e["event_type"] == "run_finished"]
    assert outcomes == ["escalated", "halted", "success"]


def test_unencodable_values_do_not_break_emit(memory) -> None:
    client, transport = memory
    with client.run("w", "v1") as run:
        run.custom("odd", attributes={"obj": object(), "when": time.time()})
    got = events(client, transport)
    assert "object object" in got[1]["attributes"]["obj"]


def test_validate_mode_counts_contract_breaks(tmp_path: Path) -> None:
    transport = MemoryTransport()
    with Client(transport=transport, spool_dir=str(tmp_path), validate=True) as client:
        client.emit({"event_type": "llm_call", "run_id": "r", "workflow": "w", "workflow_version": "1"})
        assert client.flush(5)
        assert client.invalid == 1
        assert len(transport.delivered) == 1  # still sent: the consumer dead-letters it


def test_unknown_client_argument_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match="tenent"):
        Client(transport=MemoryTransport(), tenent="acme")


def test_env_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tracelake.sdk import SdkConfig

    monkeypatch.setenv("TRACELAKE_TOPIC", "custom.topic")
    monkeypatch.setenv("TRACELAKE_SPOOL_MAX_BYTES", "1234")
    config = SdkConfig.resolve(spool_dir=str(tmp_path))
    assert (config.topic, config.spool_max_bytes, config.spool_dir) == ("custom.topic", 1234, str(tmp_path))
    assert SdkConfig.resolve(topic="arg.wins").topic == "arg.wins"
    monkeypatch.setenv("TRACELAKE_SDK_QUEUE_SIZE", "lots")
    with pytest.raises(ValueError, match="TRACELAKE_SDK_QUEUE_SIZE"):
        SdkConfig.resolve()


def test_importing_the_sdk_loads_no_heavy_stack() -> None:
    code = (
        "import sys, tracelake.sdk\n"
        "heavy = {'duckdb', 'spacy', 'presidio_analyzer', 'polars', 'fastapi', 'pyarrow', 'kafka'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
