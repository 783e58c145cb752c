"""The pure ingest step: body splitting, the tenant rule, per-item reasons."""

from __future__ import annotations

import orjson
import pytest

from tests.api.conftest import make_event
from tracelake.api.ingest import BadBody, process, split_body
from tracelake.api.keys import ALL_TENANTS, ApiKey

ACME = ApiKey("acme-ingest", "acme", "ingest", "")
EVERYONE = ApiKey("all", ALL_TENANTS, "admin", "")


def run(body: bytes, key: ApiKey = ACME, limit: int = 1 << 20):
    return process(split_body(body, limit), key, limit)


def test_array_and_ndjson_give_the_same_events(event) -> None:
    events = [event("a"), event("b", run_id="run-2")]
    as_array = run(orjson.dumps(events))
    as_ndjson = run(b"\n".join(orjson.dumps(e) for e in events) + b"\n\n")
    assert as_array.event_ids == as_ndjson.event_ids == ["a", "b"]
    assert [k for k, _ in as_array.records] == [b"run-1", b"run-2"]
    assert as_array.records == as_ndjson.records


def test_tenant_rule(event) -> None:
    outcome = run(orjson.dumps([event("mine"), event("theirs", tenant="globex"), event("explicit", tenant="acme")]))
    assert outcome.event_ids == ["mine", "explicit"]
    assert [orjson.loads(v)["tenant"] for _, v in outcome.records] == ["acme", "acme"]
    (refusal,) = outcome.refused
    assert (refusal.index, refusal.event_id, refusal.reason) == (1, "theirs", "tenant: key is scoped to acme")
    # An all-tenant key leaves tenants alone (absent → the contract default).
    outcome = run(orjson.dumps([event("x", tenant="globex"), event("y")]), key=EVERYONE)
    assert [orjson.loads(v)["tenant"] for _, v in outcome.records] == ["globex", "default"]


def test_each_bad_item_has_its_reason(event) -> None:
    body = orjson.dumps([event("ok"), 7, {"event_id": "half"}, event("nots", ts="2026-11-24T10:00:00"),
                         event("big", attributes={"blob": "x" * 3000})])
    outcome = run(body, limit=2000)
    assert outcome.event_ids == ["ok"]
    reasons = {r.index: r.reason for r in outcome.refused}
    assert reasons[1].startswith("event must be a JSON object")
    assert reasons[2].startswith("schema_version: required")
    assert reasons[3] == "ts: timestamp has no UTC offset"
    assert reasons[4].startswith("too_large")


def test_ndjson_bad_line_is_one_refusal_not_a_bad_body(event) -> None:
    outcome = run(orjson.dumps(event("a")) + b"\n{not json\n")
    assert outcome.event_ids == ["a"] and outcome.refused[0].reason.startswith("not valid JSON")


@pytest.mark.parametrize("body", [b"", b"   \n", b"[1, 2", b"[{]", b"[]", b'{"a": 1}'[:0] + b" []"])
def test_malformed_body(body: bytes) -> None:
    with pytest.raises(BadBody):
        split_body(body, 1 << 20)


# --- issue 11: depth and time range, per event ------------------------------------------------------------------

def deep_line(event_id: str, depth: int, field: str = "attributes") -> bytes:
    """An event whose ``field`` nests ``depth`` levels, built as text (orjson cannot encode past 254 levels)."""
    head = orjson.dumps(make_event(event_id))[:-1]
    return head + f',"{field}":'.encode() + b'{"a":' * depth + b"1" + b"}" * depth + b"}"


def test_a_deep_event_is_refused_alone() -> None:
    ok1, ok2 = orjson.dumps(make_event("ok-1")), orjson.dumps(make_event("ok-2"))
    for body in (b"[" + b",".join([ok1, deep_line("deep", 200), ok2]) + b"]",
                 b"\n".join([ok1, deep_line("deep", 300), ok2]),
                 b"\n".join([ok1, deep_line("deep", 5000), ok2])):
        outcome = run(body)
        assert outcome.event_ids == ["ok-1", "ok-2"]
        (refusal,) = outcome.refused
        assert (refusal.index, refusal.code) == (1, "too_deep")
        assert "nested more than 64 levels deep" in refusal.reason


def test_a_deep_event_in_an_array_body_past_orjsons_encoder_limit_is_refused_alone() -> None:
    ok = orjson.dumps(make_event("ok"))
    outcome = run(b"[" + ok + b"," + deep_line("deep", 300) + b"]")
    assert outcome.event_ids == ["ok"] and outcome.refused[0].code == "too_deep"


def test_out_of_range_timestamps_are_refused_alone(event) -> None:
    outcome = run(orjson.dumps([event("old", ts="0999-01-01T00:00:00Z"), event("ok"),
                                event("late", ts="9999-01-01T00:00:00Z")]))
    assert outcome.event_ids == ["ok"]
    assert [(r.index, r.event_id) for r in outcome.refused] == [(0, "old"), (2, "late")]
    assert all(r.reason.startswith("ts: ") for r in outcome.refused)


def test_deep_event_over_http_is_refused_alone_not_a_500(serve, settings, keys, memory_producer) -> None:
    settings.api_keys_file = keys["path"]
    server = serve(settings, producer=memory_producer)
    reason = "attributes: nested more than 64 levels deep (JSON objects and arrays)"
    with server.client(keys["acme-ingest"]) as c:
        r = c.post("/v1/events", content=b"[" + orjson.dumps(make_event("ok")) + b"," + deep_line("d1", 100) + b"]",
                   headers={"Content-Type": "application/json"})
        assert r.status_code == 207, r.text
        assert r.json()["errors"] == [{"index": 1, "event_id": "d1", "reason": reason}]
        r = c.post("/v1/events", content=orjson.dumps(make_event("ok-2")) + b"\n" + deep_line("d2", 900),
                   headers={"Content-Type": "application/x-ndjson"})
        assert r.status_code == 207, r.text
        assert r.json()["errors"] == [{"index": 1, "event_id": "d2", "reason": reason}]
        r = c.post("/v1/events", content=deep_line("d3", 3000, "tool_args"),
                   headers={"Content-Type": "application/x-ndjson"})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["errors"][0]["reason"] == "nested more than 64 levels deep (JSON objects and arrays)"
    assert memory_producer.flush(10)
    assert [orjson.loads(rec.value)["event_id"] for rec in memory_producer.transport.delivered] == ["ok", "ok-2"]
