from __future__ import annotations

import pytest

from tracelake.transforms.redact.keys import key_words, sensitive_type


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("password", "SECRET"), ("userPassword", "SECRET"), ("api_key", "SECRET"), ("apiKey", "SECRET"),
        ("X-API-KEY", "SECRET"), ("Authorization", "SECRET"), ("github_token", "SECRET"),
        ("stripeSecretKey", "SECRET"), ("client_secret", "SECRET"), ("ssn", "US_SSN"), ("SSN", "US_SSN"),
        ("card_number", "CREDIT_CARD"), ("creditCardNumber", "CREDIT_CARD"), ("email", "EMAIL_ADDRESS"),
        ("customer_email", "EMAIL_ADDRESS"), ("email_address", "EMAIL_ADDRESS"), ("phone", "PHONE_NUMBER"),
        ("mobile_number", "PHONE_NUMBER"), ("iban", "IBAN_CODE"), ("ip_address", "IP_ADDRESS"),
        ("customerName", "PERSON"), ("last_name", "PERSON"), ("billing_address", "LOCATION"),
    ],
)
def test_sensitive_keys(key: str, expected: str) -> None:
    assert sensitive_type(key) == expected


@pytest.mark.parametrize(
    "key",
    ["tool_name", "input_tokens", "output_tokens", "token_count", "max_tokens", "order_id", "amount", "name",
     "automobile", "cell", "spin", "sku", "status", "workflow", "model", "username_hint_count", ""],
)
def test_ordinary_keys_are_left_alone(key: str) -> None:
    assert sensitive_type(key) is None


def test_key_words_split_camel_and_separators() -> None:
    assert key_words("X-API-KEY") == ["x", "api", "key"]
    assert key_words("stripeSecretKey") == ["stripe", "secret", "key"]
    assert key_words("HTTPAuthorization") == ["http", "authorization"]
