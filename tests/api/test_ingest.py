"""The pure ingest step: body splitting, the tenant rule, per-item reasons."""

from __future__ import annotations

import orjson
import pytest

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
