"""The security review's cases (issue 13), end to end: POST /v1/events → the records the API
publishes → the ingest chain (validate → real redactor → lake) → GET /v1/runs/{run_id}.

Nothing personal that the review found stored raw may come back from the lake: extra keys of
``error``, ``approver``, ``references[]``, keys of ``tool_args``/``attributes``, and Unicode
disguises (no-break spaces in a card, zero-width spaces in an e-mail or a card).
"""

from __future__ import annotations

from typing import Any

import orjson

from tests.api.conftest import make_event

RUN = "review-1"
RAW = [
    "123-45-6789", "dana.w@example.org", "4111 1111 1111 1111", "hunter2", "abcdefghijklmnopqrstuvwxyz0123456789",
    "s3cretPassw0rd", "Dana Whitfield", "415 555 0123", "4111\u00a01111", "dana\u200b.w", "4111\u200b1111",
    "bob.k@example.com",
]


def review_events() -> list[dict[str, Any]]:
    return [
        make_event("err", RUN, "tool_call", tool_name="charge_card", status="error", error={
            "type": "PaymentError", "message": "card declined",
            "customer": "SSN 123-45-6789, e-mail dana.w@example.org", "card": "4111 1111 1111 1111",
            "request": "password=hunter2", "headers": "Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123456789"}),
        make_event("appr", RUN, "approval", action="issue_refund", decision="approved",
                   approver="dana.w@example.org"),
        make_event("ret", RUN, "retrieval", query="refund policy", references=[
            {"id": "kb-12", "uri": "https://dana:s3cretPassw0rd@kb.example.com/doc/12", "owner": "Dana Whitfield",
             "phone": "+1 415 555 0123", "note": "SSN 123-45-6789"}]),
        make_event("keys", RUN, "tool_call", tool_name="crm.lookup",
                   tool_args={"dana.w@example.org": "primary", "123-45-6789": "on file"},
                   attributes={"bob.k@example.com": {"123-45-6789": 1}}),
        make_event("uni", RUN, "run_started", input="card 4111\u00a01111\u00a01111\u00a01111, mail "
                   "dana\u200b.w@example.org, card 4111\u200b1111\u200b1111\u200b1111"),
    ]


def test_the_reviews_cases_are_redacted_through_the_api(serve, settings, keys, memory_producer, write_lake) -> None:
    settings.api_keys_file = keys["path"]
    server = serve(settings, producer=memory_producer)
    with server.client(keys["acme-ingest"]) as c:
        r = c.post("/v1/events", content=orjson.dumps(review_events()), headers={"Content-Type": "application/json"})
        assert r.status_code == 202, r.text
    assert memory_producer.flush(10)
    published = [orjson.loads(rec.value) for rec in memory_producer.transport.delivered]
    assert [e["event_id"] for e in published] == ["err", "appr", "ret", "keys", "uni"]

    write_lake(settings.lake, published)  # the consumer's chain: validate, redact, write
    with server.client(keys["acme-read"]) as c:
        r = c.get(f"/v1/runs/{RUN}")
        assert r.status_code == 200, r.text
    timeline = r.json()
    stored = orjson.dumps(timeline).decode()
    for raw in RAW:
        assert raw not in stored and orjson.dumps(raw).decode()[1:-1] not in stored, raw

    events = {e["event_id"]: e for e in _events(timeline)}
    error = events["err"]["error"]
    assert error["type"] == "PaymentError" and error["message"] == "card declined"
    assert error["customer"] == "SSN <US_SSN>, e-mail <EMAIL_ADDRESS>" and error["card"] == "<CREDIT_CARD>"
    assert error["request"] == "password=<SECRET>"
    assert events["appr"]["approver"] == "<EMAIL_ADDRESS>"
    (ref,) = events["ret"]["references"]
    assert ref["uri"] == "https://dana:<SECRET>@kb.example.com/doc/12"
    assert (ref["owner"], ref["phone"], ref["note"]) == ("<PERSON>", "<PHONE_NUMBER>", "SSN <US_SSN>")
    assert events["keys"]["tool_args"] == {"<EMAIL_ADDRESS>": "primary", "<US_SSN>": "on file"}
    assert events["keys"]["attributes"] == {"<EMAIL_ADDRESS>": {"<US_SSN>": 1}}
    assert events["uni"]["input"] == "card <CREDIT_CARD>, mail <EMAIL_ADDRESS>, card <CREDIT_CARD>"
    assert events["keys"]["redactions"] == {"EMAIL_ADDRESS": 2, "US_SSN": 2}


def _events(node: Any) -> list[dict[str, Any]]:
    """Every event object in the timeline, whatever its nesting by span."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "event_id" in node and "event_type" in node:
            found.append(node)
        for value in node.values():
            found += _events(value)
    elif isinstance(node, list):
        for value in node:
            found += _events(value)
    return found
