"""The Redactor over whole events: every text field at every depth, key rules, counts, fail closed."""

from __future__ import annotations

from typing import Any

from tracelake.transforms.redact import Engine, RedactionConfig, RedactionError, RedactionFailed, Redactor

BASE = {"schema_version": "1", "event_id": "01J0000000000000000000000A", "run_id": "run-1",
        "ts": "2026-11-25T10:00:00Z", "workflow": "refund_request", "workflow_version": "v3", "tenant": "acme"}


def one(redactor: Redactor, **fields: Any) -> tuple[dict[str, Any], dict[str, int]]:
    (result,) = redactor.redact_events([{**BASE, **fields}])
    assert not isinstance(result, RedactionError), result
    return result


def test_every_free_text_field_is_redacted(redactor: Redactor) -> None:
    event, counts = one(
        redactor, event_type="run_finished", outcome="success",
        input="Refund order 8812 for Maria Garcia", output="Mailed maria.garcia@example.com",
        outcome_reason="card 4111 1111 1111 1111 charged back", prompt="SSN 123-45-6789", completion="from 10.1.2.3",
        query="IBAN GB82WEST12345698765432", detail="token ghp_" + "a" * 36,
        error={"type": "E_X", "message": "Bob Smith"},
    )
    assert event["input"] == "Refund order 8812 for <PERSON>"
    assert event["output"] == "Mailed <EMAIL_ADDRESS>"
    assert event["outcome_reason"] == "card <CREDIT_CARD> charged back"
    assert event["prompt"] == "SSN <US_SSN>"
    assert event["completion"] == "from <IP_ADDRESS>"
    assert event["query"] == "IBAN <IBAN_CODE>"
    assert event["detail"] == "token <SECRET>"
    assert event["error"] == {"type": "E_X", "message": "<PERSON>"}
    assert counts == {"PERSON": 2, "EMAIL_ADDRESS": 1, "CREDIT_CARD": 1, "US_SSN": 1, "IP_ADDRESS": 1, "IBAN_CODE": 1,
                      "SECRET": 1}


def test_nested_json_fields_at_any_depth_and_key_rules(redactor: Redactor) -> None:
    event, counts = one(
        redactor, event_type="tool_call", tool_name="crm.update_contact",
        tool_args={"contact": {"notes": ["met Maria Garcia", {"deep": "call +44 20 7946 0958"}], "email": "x@y.io",
                               "password": 12345, "apiKey": {"nested": "whole"}, "input_tokens": 900,
                               "tool_name": "lookup_order", "verified": True, "ssn": None}},
        tool_result="ok for maria@example.com", attributes={"Authorization": "Bearer abc"},
    )
    contact = event["tool_args"]["contact"]
    assert contact["notes"] == ["met <PERSON>", {"deep": "call <PHONE_NUMBER>"}]
    assert contact["email"] == "<EMAIL_ADDRESS>"
    assert contact["password"] == "<SECRET>" and contact["apiKey"] == "<SECRET>"
    assert (contact["input_tokens"], contact["tool_name"], contact["verified"], contact["ssn"]) == (
        900, "lookup_order", True, None)
    assert event["tool_result"] == "ok for <EMAIL_ADDRESS>"
    assert event["attributes"] == {"Authorization": "<SECRET>"}
    assert event["tool_name"] == "crm.update_contact"
    assert counts == {"PERSON": 1, "PHONE_NUMBER": 1, "EMAIL_ADDRESS": 2, "SECRET": 3}


def test_identifiers_enums_and_numbers_are_kept(redactor: Redactor) -> None:
    fields = {"event_type": "approval", "action": "issue_refund", "decision": "approved", "approver": "ops-lead",
              "wait_ms": 1200.0, "run_id": "Maria Garcia"}  # even a name-like identifier is not text
    event, counts = one(redactor, **fields)
    assert {k: event[k] for k in fields} == fields
    assert counts == {}


def test_must_keep_tokens_survive(redactor: Redactor) -> None:
    text = ("Tool issue_refund failed with E_TIMEOUT at 2026-11-25T10:00:00Z for SKU-4411-BLK, order 8812, "
            "amount $42.50, model gpt-4o-mini, policy RP-7 v3.12.1, ERR-4012, HTTP 503, #55123")
    assert redactor.redact_text(text) == (text, {})


def test_pseudonyms_count_distinct_customers(engine: Engine) -> None:
    redactor = Redactor(RedactionConfig(pseudonym_key=b"k"), engine=engine)
    a = redactor.redact_text("mail maria@example.com")[0]
    b = redactor.redact_text("again: Maria@Example.com")[0]
    c = redactor.redact_text("mail bob@example.com")[0]
    assert a.startswith("mail <EMAIL_ADDRESS:") and a.removeprefix("mail ") == b.removeprefix("again: ")
    assert a != c


def test_repeated_texts_hit_the_cache(redactor: Redactor) -> None:
    system = "You are the refund agent of Acme. Never reveal notes to Maria Garcia."
    events = [{**BASE, "event_id": f"e{i}", "event_type": "llm_call", "model": "m", "prompt": system}
              for i in range(50)]
    results = redactor.redact_events(events)
    assert {r[0]["prompt"] for r in results} == {"You are the refund agent of Acme. Never reveal notes to <PERSON>."}
    assert redactor.stats.analysed == 1  # 50 copies in one batch: analysed once
    again = redactor.redact_events(events)
    assert (redactor.stats.analysed, redactor.stats.cache_hits) == (1, 1)  # the next batch: a cache hit
    assert again == results


def test_a_text_longer_than_a_segment_is_read_whole(engine: Engine) -> None:
    config = RedactionConfig(ner_segment_chars=200)
    redactor = Redactor(config, engine=Engine(config))
    filler = "The parcel left the warehouse on time and is on its way. " * 40
    text = filler + "Please call Maria Garcia at maria@example.com. " + filler + "Customer Wei Zhang agreed."
    out, counts = redactor.redact_text(text)
    assert "Maria Garcia" not in out and "Wei Zhang" not in out and "maria@example.com" not in out
    assert counts["EMAIL_ADDRESS"] == 1 and counts["PERSON"] == 2
    assert out.count("The parcel left the warehouse") == 80


class _Breaks(Engine):
    """Fails on any text holding the word BOOM (a stand-in for a model or recognizer crash)."""

    def __init__(self, real: Engine) -> None:
        self.__dict__.update(real.__dict__)

    def _analyze(self, text, doc):  # type: ignore[override]
        if "BOOM" in text:
            raise MemoryError("simulated")
        return super()._analyze(text, doc)


def test_fail_closed_rejects_only_the_event_that_cannot_be_redacted(engine: Engine) -> None:
    redactor = Redactor(RedactionConfig(), engine=_Breaks(engine))
    good = {**BASE, "event_type": "run_started", "input": "hi Maria Garcia"}
    bad = {**BASE, "event_type": "tool_call", "tool_name": "t", "tool_args": {"a": ["x", "BOOM secret"]}}
    results = redactor.redact_events([good, bad, good])
    assert isinstance(results[1], RedactionError)
    assert results[1].reason == "could not analyse tool_args.a[1] (MemoryError)"
    assert "BOOM" not in results[1].reason
    assert results[0][0]["input"] == results[2][0]["input"] == "hi <PERSON>"
    assert redactor.stats.failed_events == 1
    try:
        redactor.redact_text("BOOM")
    except RedactionFailed as exc:
        assert "MemoryError" in str(exc)
    else:
        raise AssertionError("redact_text must raise")


def test_a_failed_text_is_not_cached(engine: Engine) -> None:
    breaking = _Breaks(engine)
    redactor = Redactor(RedactionConfig(), engine=breaking)
    assert isinstance(redactor.redact_texts(["BOOM Maria Garcia"])[0], Exception)
    assert "BOOM Maria Garcia" not in redactor._cache
