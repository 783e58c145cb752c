"""Key-name rules: a value under a key that says it is secret or personal is replaced whole.

Keys are split into words (separators and camelCase humps: ``apiKey``,
``API-KEY`` and ``api_key`` are all ``api key``). A rule matches the key's last
one to three words (``customer_email``, ``github_token``, ``x-api-key``), never
a fragment of a word or a word in the middle, so ``tool_name``,
``input_tokens``, ``token_count``, ``max_tokens`` and ``automobile`` are left
alone.
"""

from __future__ import annotations

import re
from functools import lru_cache

from tracelake.transforms.redact.config import (
    CREDIT_CARD,
    EMAIL_ADDRESS,
    IBAN_CODE,
    IP_ADDRESS,
    LOCATION,
    PERSON,
    PHONE_NUMBER,
    SECRET,
    US_SSN,
)
from tracelake.transforms.redact.normalize import detection_text

# (placeholder type, names); a name is the key's last one, two or three words
# run together. Checked in order, first match wins, so ``email_address`` is an
# e-mail before ``address`` makes it a location.
_RULES: tuple[tuple[str, frozenset[str]], ...] = (
    (EMAIL_ADDRESS, frozenset({"email", "emailaddress", "mail"})),
    (IP_ADDRESS, frozenset({"ip", "ipaddress", "ipv4", "ipv6", "remoteaddr"})),
    (US_SSN, frozenset({"ssn", "socialsecuritynumber", "socialsecurity"})),
    (CREDIT_CARD, frozenset({"cardnumber", "creditcard", "creditcardnumber", "ccnumber", "pan", "cvv", "cvc"})),
    (IBAN_CODE, frozenset({"iban", "bankaccount", "accountnumber", "bankaccountnumber"})),
    (PHONE_NUMBER, frozenset({"phone", "phonenumber", "mobile", "mobilenumber", "telephone", "fax"})),
    (SECRET, frozenset({
        "password", "passwd", "pwd", "passphrase", "secret", "token", "apikey", "authorization", "auth",
        "privatekey", "secretkey", "accesskey", "credentials", "credential", "cookie", "setcookie",
        "clientsecret", "xapikey", "bearer", "otp", "pin",
    })),
    (PERSON, frozenset({"fullname", "firstname", "lastname", "givenname", "familyname", "surname", "middlename",
                        "customername", "contactname", "patientname", "holdername", "cardholder"})),
    (LOCATION, frozenset({"address", "streetaddress", "street", "postaladdress", "homeaddress"})),
)

_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def key_words(key: str) -> list[str]:
    """``apiKey`` -> ``["api", "key"]``; ``X-API-KEY`` -> ``["x", "api", "key"]``."""
    return [word.lower() for word in _WORDS.findall(key)]


@lru_cache(maxsize=4096)
def sensitive_type(key: str) -> str | None:
    """The placeholder type for values under ``key``, or None when the key says nothing.
    Reads the key's detection copy, so ``ｐａｓｓｗｏｒｄ`` or ``pass<ZWSP>word`` is a password key."""
    words = key_words(detection_text(key))
    if not words:
        return None
    tails = ["".join(words[-n:]) for n in (1, 2, 3) if n <= len(words)]
    for entity, names in _RULES:
        if any(tail in names for tail in tails):
            return entity
    return None
