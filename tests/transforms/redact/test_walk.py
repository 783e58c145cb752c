"""Every string reaches the redactor: every field of the model (nested ones too), every depth, keys.

The per-field tests are generated from ``TraceEvent.model_fields`` (and the fields of the
models nested in it), not from a list: a field a later contract version adds gets a canary
automatically, and fails here unless it is redacted or deliberately added to
``IDENTIFIER_FIELDS``.
"""

from __future__ import annotations

from typing import Any, get_args

import orjson
import pytest
from pydantic import BaseModel, ValidationError, create_model

from tracelake.contract.model import ErrorInfo, TraceEvent
from tracelake.transforms.redact import RedactionConfig, RedactionError, Redactor
from tracelake.transforms.redact import redactor as redactor_module
from tracelake.transforms.redact.walk import (
    EVENT_SHAPE,
    IDENTIFIER_FIELDS,
    Kind,
    model_shape,
    unwalked_fields,
)

BASE: dict[str, Any] = {"schema_version": "1", "event_id": "e-1", "event_type": "custom", "name": "step",
                        "ts": "2026-11-25T10:00:00Z", "run_id": "run-1", "workflow": "refund_request",
                        "workflow_version": "v3"}
LEAK = "canary.leak@example.org"
CANARY = f"write to {LEAK} today"


def redact(redactor: Redactor, event: dict[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
    (result,) = redactor.redact_events([event])
    assert not isinstance(result, RedactionError), result
    return result


def nested_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in nested_models(arg)]


def model_cases(model: type[BaseModel]) -> list[tuple[str, dict[str, Any]]]:
    """(path, object) with the canary in one field of ``model`` each (plus an extra key and an extra
    key that is itself the canary, when the model allows extras); required fields get a plain value."""
    required = {name: "doc-1" for name, info in model.model_fields.items() if info.is_required()}
    cases = []
    for name in model.model_fields:
        cases.append((name, {**required, name: CANARY}))
    if model.model_config.get("extra") == "allow":
        cases.append(("<extra value>", {**required, "context": CANARY}))
        cases.append(("<extra key>", {**required, LEAK: "x"}))
    return cases


def field_cases() -> list[tuple[str, dict[str, Any]]]:
    """One event per (field path) holding the canary, for every field of the model that accepts
    a string somewhere; fields whose type takes no free string (numbers, booleans, closed
    vocabularies, timestamps) are refused by validation and produce no case."""
    cases: list[tuple[str, dict[str, Any]]] = []
    for name, info in TraceEvent.model_fields.items():
        models = nested_models(info.annotation)
        if models:
            for sub_path, obj in model_cases(models[0]):
                for wrapped in (obj, [obj]):
                    if accepts(name, wrapped):
                        cases.append((f"{name}.{sub_path}", {**BASE, name: wrapped}))
                        break
            continue
        for value in (CANARY, {"note": CANARY}, {LEAK: 1}, {"deep": [{"deeper": CANARY}]}, [CANARY]):
            if accepts(name, value):
                label = name if isinstance(value, str) else f"{name} {orjson.dumps(value).decode()[:20]}"
                cases.append((label, {**BASE, name: value}))
    return cases


def accepts(name: str, value: Any) -> bool:
    try:
        TraceEvent.model_validate({**BASE, name: value})
    except ValidationError:
        return False
    return True


CASES = field_cases()


@pytest.mark.parametrize(("path", "event"), CASES, ids=[path for path, _ in CASES])
def test_a_canary_in_any_field_is_redacted(redactor: Redactor, path: str, event: dict[str, Any]) -> None:
    wire = TraceEvent.model_validate(event).to_wire()
    out, counts = redact(redactor, wire)
    stored = orjson.dumps(out).decode()
    top = path.split(".")[0].split(" ")[0]
    if top in IDENTIFIER_FIELDS:
        assert LEAK in stored, "an identifier field is kept verbatim"
    else:
        assert LEAK not in stored, f"{path}: {stored}"
        assert counts.get("EMAIL_ADDRESS", 0) >= 1


def test_the_unwalked_fields_are_exactly_the_allow_list_vocabularies_and_timestamps() -> None:
    unwalked = unwalked_fields()
    assert {p for p, k in unwalked.items() if k is Kind.IDENTIFIER} == IDENTIFIER_FIELDS
    assert set(TraceEvent.model_fields) >= IDENTIFIER_FIELDS
    # The rest is kept only by type, and only when the value is of that type.
    assert {p for p, k in unwalked.items() if k is not Kind.IDENTIFIER} == {
        "schema_version", "event_type", "ts", "status", "initiator", "outcome", "risk_tier", "decision", "budget",
        "confirmation", "references[].updated_at"}
    # Every string-accepting field that keeps a canary is on the allow-list, and nothing else keeps one.
    kept = {path.split(".")[0].split(" ")[0] for path, _ in CASES
            if path.split(".")[0].split(" ")[0] in IDENTIFIER_FIELDS}
    assert kept == IDENTIFIER_FIELDS


def test_every_field_of_the_model_is_covered_by_a_case_or_takes_no_free_string() -> None:
    covered = {path.split(".")[0].split(" ")[0] for path, _ in CASES}
    for name, shape in EVENT_SHAPE.fields.items():
        if name in covered:
            continue
        # No case: the type refuses a free string (number, boolean, vocabulary, timestamp).
        assert not accepts(name, CANARY) and not accepts(name, {"note": CANARY}), name
        assert shape.kind in (Kind.TEXT, Kind.VOCABULARY, Kind.TIMESTAMP), name
    assert {"error.message", "error.type", "error.<extra value>", "error.<extra key>", "references.id",
            "references.uri", "references.version", "references.<extra value>", "references.<extra key>",
            "approver", "idempotency_key", "reason", "action", "rule", "check", "name"} <= {p for p, _ in CASES}


def test_a_field_added_by_a_later_contract_is_walked(redactor: Redactor, monkeypatch: pytest.MonkeyPatch) -> None:
    later = create_model("TraceEventV2", __base__=TraceEvent, customer_note=(str | None, None),
                         handoff=(ErrorInfo | None, None))
    shape = model_shape(later, IDENTIFIER_FIELDS)
    assert shape.fields["customer_note"].kind is Kind.TEXT
    assert shape.fields["handoff"].kind is Kind.OBJECT
    monkeypatch.setattr(redactor_module, "EVENT_SHAPE", shape)
    out, _ = redact(redactor, {**BASE, "customer_note": CANARY, "handoff": {"message": CANARY, LEAK: 1}})
    assert LEAK not in orjson.dumps(out).decode()


def test_an_unknown_top_level_key_and_its_value_are_redacted(redactor: Redactor) -> None:
    out, counts = redact(redactor, {**BASE, LEAK: CANARY})
    assert LEAK not in orjson.dumps(out).decode() and counts == {"EMAIL_ADDRESS": 2}


# -- the security review's cases -----------------------------------------------------------------------------------

def test_error_extra_keys_are_redacted(redactor: Redactor) -> None:
    out, counts = redact(redactor, {**BASE, "status": "error", "error": {
        "type": "PaymentError", "message": "declined", "customer": "SSN 123-45-6789, mail dana.w@example.org",
        "card": "4111 1111 1111 1111", "request": "password=hunter2", "headers": "Authorization: Bearer "
        "abcdefghijklmnopqrstuvwxyz0123456789", "ssn": "123-45-6789"}})
    error = out["error"]
    assert error["type"] == "PaymentError" and error["message"] == "declined"
    assert error["customer"] == "SSN <US_SSN>, mail <EMAIL_ADDRESS>"
    assert error["card"] == "<CREDIT_CARD>"
    assert error["request"] == "password=<SECRET>"
    assert "abcdefghijklmnopqrstuvwxyz" not in error["headers"] and "<SECRET>" in error["headers"]
    assert error["ssn"] == "<US_SSN>"  # a telling key replaces the value whole
    assert counts["US_SSN"] == 2 and counts["SECRET"] == 2


def test_approver_is_redacted_when_it_holds_personal_data_and_kept_when_opaque(redactor: Redactor) -> None:
    approval = {**BASE, "event_type": "approval", "action": "issue_refund", "decision": "approved"}
    assert redact(redactor, {**approval, "approver": "dana.w@example.org"})[0]["approver"] == "<EMAIL_ADDRESS>"
    assert redact(redactor, {**approval, "approver": "+1 415 555 0123"})[0]["approver"] == "<PHONE_NUMBER>"
    for opaque in ("ops-lead", "u_48213", "oncall-payments"):
        out, counts = redact(redactor, {**approval, "approver": opaque})
        assert out["approver"] == opaque and counts == {}
    out, _ = redact(redactor, {**BASE, "event_type": "run_started", "initiator": "human"})
    assert out["initiator"] == "human"


def test_references_are_walked(redactor: Redactor) -> None:
    out, counts = redact(redactor, {**BASE, "event_type": "retrieval", "references": [
        {"id": "kb-12", "version": "3", "uri": "https://dana:s3cretPassw0rd@kb.example.com/doc/12",
         "updated_at": "2026-11-01T00:00:00Z", "owner": "Dana Whitfield", "phone": "+1 415 555 0123",
         "note": "ssn 123-45-6789"}]})
    (ref,) = out["references"]
    assert ref["id"] == "kb-12" and ref["version"] == "3" and ref["updated_at"] == "2026-11-01T00:00:00Z"
    assert ref["uri"] == "https://dana:<SECRET>@kb.example.com/doc/12"
    assert ref["owner"] == "<PERSON>" and ref["phone"] == "<PHONE_NUMBER>" and ref["note"] == "ssn <US_SSN>"
    assert counts == {"SECRET": 1, "PERSON": 1, "PHONE_NUMBER": 1, "US_SSN": 1}


def test_keys_are_redacted_at_every_depth(redactor: Redactor) -> None:
    out, counts = redact(redactor, {**BASE, "event_type": "tool_call", "tool_name": "crm.lookup",
                                    "tool_args": {"dana.w@example.org": {"123-45-6789": "x"}, "order_id": "8812"},
                                    "tool_result": [{"bob@example.com": True}],
                                    "attributes": {"dana.w@example.org": "a"}})
    assert out["tool_args"] == {"<EMAIL_ADDRESS>": {"<US_SSN>": "x"}, "order_id": "8812"}
    assert out["tool_result"] == [{"<EMAIL_ADDRESS>": True}]
    assert out["attributes"] == {"<EMAIL_ADDRESS>": "a"}
    assert counts == {"EMAIL_ADDRESS": 3, "US_SSN": 1}


def test_colliding_keys_are_all_kept_in_order(redactor: Redactor) -> None:
    out, _ = redact(redactor, {**BASE, "attributes": {"dana@example.org": 1, "<EMAIL_ADDRESS>": 2,
                                                      "bob@example.org": 3}})
    # (a key that reads "email address" also has its value replaced, by the key rules)
    assert out["attributes"] == {"<EMAIL_ADDRESS>": 1, "<EMAIL_ADDRESS>#2": "<EMAIL_ADDRESS>", "<EMAIL_ADDRESS>#3": 3}


def test_keyed_pseudonym_keys_stay_distinct(redactor: Redactor) -> None:
    keyed = Redactor(RedactionConfig(pseudonym_key=b"k"), engine=redactor.engine)
    out, _ = redact(keyed, {**BASE, "attributes": {"dana@example.org": 1, "bob@example.org": 2}})
    first, second = out["attributes"]
    assert first.startswith("<EMAIL_ADDRESS:") and second.startswith("<EMAIL_ADDRESS:") and first != second


def test_a_telling_key_that_is_itself_personal_data(redactor: Redactor) -> None:
    out, counts = redact(redactor, {**BASE, "attributes": {"dana@example.org password": "hunter2"}})
    assert out["attributes"] == {"<EMAIL_ADDRESS> password": "<SECRET>"}
    assert counts == {"SECRET": 1, "EMAIL_ADDRESS": 1}


def test_clean_keys_are_remembered_and_still_correct(redactor: Redactor) -> None:
    event = {**BASE, "attributes": {"order_id": "8812", "Customer": "Dana Whitfield"}}
    first, second = redact(redactor, event), redact(redactor, event)
    assert first == second == ({**BASE, "attributes": {"order_id": "8812", "Customer": "<PERSON>"}},
                               {"PERSON": 1})
    assert "order_id" in redactor._plain_keys


def test_mistyped_values_under_kept_fields_are_walked(redactor: Redactor) -> None:
    """An event that skipped validation: a non-vocabulary ``status``, a non-timestamp ``ts`` and an
    object under an identifier are text, not exempt."""
    out, _ = redact(redactor, {**BASE, "status": LEAK, "ts": LEAK, "run_id": {"x": LEAK}})
    assert LEAK not in orjson.dumps(out).decode()
    out, _ = redact(redactor, {**BASE, "status": "error"})
    assert out["status"] == "error"


# -- Unicode ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("card 4111\u00a01111\u00a01111\u00a01111 ok", "card <CREDIT_CARD> ok"),
    ("card 4111\u20091111\u202f1111 1111", "card <CREDIT_CARD>"),
    ("mail dana\u200b.w@example.org now", "mail <EMAIL_ADDRESS> now"),
    ("card 4111\u200b1111\u200b1111\u200b1111", "card <CREDIT_CARD>"),
    ("ssn \u202e123-45-6789\u202c here", "ssn \u202e<US_SSN>\u202c here"),
    ("mail ｄａｎａ＠ｅｘａｍｐｌｅ．ｏｒｇ", "mail <EMAIL_ADDRESS>"),
    ("Hi\u00a0there,\u00a0mail dana\ufeff@example.org", "Hi\u00a0there,\u00a0mail <EMAIL_ADDRESS>"),
])
def test_unicode_tricks_are_found_and_the_rest_keeps_its_form(redactor: Redactor, text: str, expected: str) -> None:
    out, counts = redact(redactor, {**BASE, "event_type": "run_started", "input": text, "attributes": {text: 1}})
    assert out["input"] == expected
    assert list(out["attributes"]) == [expected]
    assert sum(counts.values()) >= 2


def test_key_rules_read_the_detection_copy(redactor: Redactor) -> None:
    out, counts = redact(redactor, {**BASE, "attributes": {"ｐａｓｓｗｏｒｄ": "hunter2", "pass\u200bword": "x"}})
    assert list(out["attributes"].values()) == ["<SECRET>", "<SECRET>"] and counts == {"SECRET": 2}


def test_pseudonyms_ignore_invisible_characters(redactor: Redactor) -> None:
    keyed = Redactor(RedactionConfig(pseudonym_key=b"k"), engine=redactor.engine)
    a = keyed.redact_text("mail dana.w@example.org")[0]
    b = keyed.redact_text("mail dana\u200b.w@example.org")[0]
    assert a == b and a.startswith("mail <EMAIL_ADDRESS:")
