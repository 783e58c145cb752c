"""Our own recognizers, one by one, without the language model."""

from __future__ import annotations

import random

import pytest

from tracelake.fleet.fakedata import card, iban, phone, secret
from tracelake.transforms.redact.patterns import (
    FastPhoneRecognizer,
    OfflineEmailRecognizer,
    PersonCueRecognizer,
    SecretRecognizer,
    StreetAddressRecognizer,
    StrictUsSsnRecognizer,
)


def spans(recognizer, text: str) -> list[str]:
    return [text[r.start:r.end] for r in recognizer.analyze(text, entities=recognizer.supported_entities)]


SECRETS = {
    "AKIAIOSFODNN7EXAMPLE": "aws",
    "AIzaSyA-1234567890abcdefghijklmnopqrstu": "gcp",
    "ghp_" + "a1B2" * 9: "github classic",
    "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz": "github fine-grained",
    "glpat-abcdefghij0123456789": "gitlab",
    "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc": "stripe",
    "xoxb-123456789012-123456789012-abcdefghijklmnopqrstuvwx": "slack",
    "sk-proj-" + "Ab3_" * 12: "openai",
    "sk-ant-api03-" + "xY9-" * 15: "anthropic",
    "hf_" + "abcdefghijklmnopqrstuvwxyz01234567": "huggingface",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U": "jwt",
}


@pytest.mark.parametrize("token", list(SECRETS), ids=list(SECRETS.values()))
def test_each_secret_kind_is_found_whole(token: str) -> None:
    assert spans(SecretRecognizer(), f"used {token} to call the API") == [token]


def test_secret_values_in_context_are_found_and_the_context_kept() -> None:
    rec = SecretRecognizer()
    assert spans(rec, "Authorization: Bearer abc.def-123_456") == ["abc.def-123_456"]
    assert spans(rec, "postgres://svc:p4ss!word@db.internal:5432/x") == ["p4ss!word"]
    assert spans(rec, "set password=hunter2!; done") == ["hunter2!"]
    assert spans(rec, '{"api_key": "k-123456"}') == ["k-123456"]
    assert spans(rec, "AccountKey=" + "A" * 86 + "==;") == ["A" * 86 + "=="]
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"
    assert spans(rec, f"key: {pem} end") == [pem]


def test_generated_secrets_of_every_kind() -> None:
    rng = random.Random(3)
    rec = SecretRecognizer()
    for _ in range(200):
        token = secret(rng)
        assert spans(rec, f"token {token} leaked") == [token]


@pytest.mark.parametrize(
    "text",
    ["tool issue_refund returned E_TIMEOUT", "input_tokens=1200 max_tokens: 400",
     "SKU-4411-BLK at 2026-11-25T10:00:00Z", "model gpt-4o-mini cost $0.0042", "password reset link sent",
     "a task-list of skills", "Bearer of bad news"],
)
def test_ordinary_text_holds_no_secret(text: str) -> None:
    assert spans(SecretRecognizer(), text) == []


def test_placeholders_are_not_found_again() -> None:
    assert spans(SecretRecognizer(), "password=<SECRET> token: <SECRET:3f9a1c2b>") == []


def test_ssn_both_forms_including_the_ones_stock_presidio_drops() -> None:
    rec = StrictUsSsnRecognizer()
    assert spans(rec, "SSN 123-45-6789 and 078 05 1120") == ["123-45-6789", "078 05 1120"]
    assert spans(rec, "000-12-3456 666-12-3456 123-00-4567 123-45-0000 123-45 6789 2026-11-25") == []


def test_email_finds_internal_domains_but_not_url_credentials() -> None:
    rec = OfflineEmailRecognizer()
    assert spans(rec, "mail ana.souza+billing@corp.internal now") == ["ana.souza+billing@corp.internal"]
    assert spans(rec, "postgres://svc:hunter2@db.internal:5432/x") == []


def test_phone_numbers_from_many_regions_and_formats() -> None:
    rng = random.Random(5)
    rec = FastPhoneRecognizer()
    for _ in range(100):
        number = phone(rng)
        assert spans(rec, f"call back on {number} please") == [number], number


@pytest.mark.parametrize(
    "text",
    ["order 8812 total $42.50", "at 2026-11-25T10:00:00Z", "SKU-4411-BLK", "card 4111 1111 1111 1111",
     "SSN 123-45-6789", "version v3.12.1 build 20261125"],
)
def test_phone_leaves_amounts_dates_cards_and_ssns(text: str) -> None:
    assert spans(FastPhoneRecognizer(), text) == []


def test_cards_and_ibans_are_valid_in_the_corpus() -> None:
    # the stock recognizers validate checksums; the corpus must generate valid ones
    from presidio_analyzer.predefined_recognizers import CreditCardRecognizer, IbanRecognizer

    rng = random.Random(9)
    for _ in range(50):
        assert CreditCardRecognizer().validate_result(card(rng))
        assert IbanRecognizer().validate_result(iban(rng).replace(" ", ""))


def test_street_addresses_and_person_cues() -> None:
    assert spans(StreetAddressRecognizer(), "ship to 221B Baker Street, London") == ["221B Baker Street"]
    assert spans(StreetAddressRecognizer(), "Hauptstraße 5, Berlin") == ["Hauptstraße 5"]
    assert spans(PersonCueRecognizer(), "Call Anjali Souza back") == ["Anjali Souza"]
    assert spans(PersonCueRecognizer(), '{"customer": "Zoë Adeyemi"}') == ["Zoë Adeyemi"]
    assert spans(PersonCueRecognizer(), "customer Acme Outdoor called") == []
