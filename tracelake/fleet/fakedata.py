"""Realistic, fake personal data and secrets for simulated agent traffic and redaction tests.

Every value is generated valid, so a redactor cannot pass a test by
rejecting malformed input: Luhn-valid cards, mod-97-valid IBANs, phone
numbers python-phonenumbers accepts for their region, well-formed secrets of
each kind. Names come from many cultures. Nothing here is a real person's data.
"""

from __future__ import annotations

import ipaddress
import random
import string
from collections.abc import Callable

import phonenumbers

FIRST = [
    "Maria", "Wei", "Aisha", "Oluwaseun", "Priya", "Hiroshi", "Fatima", "Dmitri", "Siobhan", "Kwame", "Sofia",
    "Lars", "Mehmet", "Ana", "José", "Raj", "Ngozi", "Björn", "Zoë", "Thanh", "Amara", "Yuki", "Ahmed", "Olga",
    "Carlos", "Ingrid", "Tendai", "Mei", "Rahul", "Chiara", "Sipho", "Leila", "Mateo", "Anjali", "Kofi", "Elena",
]
LAST = [
    "Garcia", "Zhang", "Bello", "Adeyemi", "Sharma", "Tanaka", "Al-Sayed", "Ivanov", "O'Connor", "Mensah", "Rossi",
    "Johansson", "Yılmaz", "Souza", "Hernández", "Patel", "Okafor", "Andersson", "Dubois", "Nguyen", "Kowalski",
    "Müller", "Haddad", "Petrov", "Moyo", "Chen", "Gupta", "Bianchi", "Dlamini", "Rahimi", "Fernández", "Nakamura",
]
CITIES = ["Lagos", "Berlin", "Mumbai", "São Paulo", "Osaka", "Toronto", "Nairobi", "Madrid", "Chicago", "Manchester"]
STREETS = ["Baker Street", "Elm Avenue", "Market Street", "Oak Lane", "Park Road", "Sunset Boulevard", "King Street"]
DOMAINS = ["example.com", "mail.example.org", "acme.co.uk", "corp.internal", "globex.de", "initech.io"]
PHONE_REGIONS = ["US", "GB", "DE", "FR", "IN", "BR", "JP", "AU", "NG", "MX", "ES", "IT"]
TOOLS = ["issue_refund", "crm.update_contact", "lookup_order", "grant_access", "close_ticket", "send_email",
         "payments.create_payout", "iam.add_role"]
ERRORS = ["E_TIMEOUT", "ERR-4012", "HTTP 503", "RATE_LIMITED", "SCHEMA_MISMATCH", "E_CONFLICT"]
MODELS = ["gpt-4o-mini", "claude-3-5-sonnet", "llama-3.1-70b", "gemini-1.5-pro"]


def random_digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def random_chars(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def luhn_complete(prefix_and_body: str) -> str:
    digits = [int(c) for c in prefix_and_body + "0"]
    total = sum(digits[-1::-2]) + sum(sum(divmod(2 * d, 10)) for d in digits[-2::-2])
    return prefix_and_body + str((10 - total % 10) % 10)


def person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def email(rng: random.Random) -> str:
    first, last = rng.choice(FIRST).lower(), rng.choice(LAST).lower()
    local = "".join(c for c in f"{first}.{last}" if c.isascii() and (c.isalnum() or c == "."))
    local = rng.choice([local, local + "+billing", local.replace(".", "_"), local[0] + local.split(".")[-1]])
    return f"{local}@{rng.choice(DOMAINS)}"


def phone(rng: random.Random) -> str:
    region = rng.choice(PHONE_REGIONS)
    example = phonenumbers.example_number(region)
    assert example is not None, region  # every region in PHONE_REGIONS has an example number
    for _ in range(50):
        national = str(example.national_number)
        national = national[:-3] + random_digits(rng, 3)
        number = phonenumbers.parse(national, region)
        if phonenumbers.is_valid_number(number):
            break
    else:
        number = example
    fmt = rng.choice([phonenumbers.PhoneNumberFormat.INTERNATIONAL, phonenumbers.PhoneNumberFormat.NATIONAL,
                      phonenumbers.PhoneNumberFormat.E164])
    return phonenumbers.format_number(number, fmt)


def card(rng: random.Random) -> str:
    kind = rng.choice(["visa", "mc", "amex", "discover"])
    if kind == "amex":
        number = luhn_complete(rng.choice(["34", "37"]) + random_digits(rng, 12))
        groups = [number[:4], number[4:10], number[10:]]
    else:
        prefix = {"visa": "4", "mc": str(rng.randint(51, 55)), "discover": "6011"}[kind]
        number = luhn_complete(prefix + random_digits(rng, 15 - len(prefix)))
        groups = [number[i:i + 4] for i in range(0, 16, 4)]
    return rng.choice([" ", "-", ""]).join(groups)


def ssn(rng: random.Random) -> str:
    if rng.random() < 0.15:
        return rng.choice(["123-45-6789", "123 45 6789"])
    area = rng.choice([n for n in range(1, 900) if n != 666])
    sep = rng.choice(["-", " "])
    return f"{area:03d}{sep}{rng.randint(1, 99):02d}{sep}{rng.randint(1, 9999):04d}"


_IBAN_BBAN = {
    "GB": lambda r: random_chars(r, string.ascii_uppercase, 4) + random_digits(r, 14),
    "DE": lambda r: random_digits(r, 18),
    "FR": lambda r: random_digits(r, 23),
    "NL": lambda r: random_chars(r, string.ascii_uppercase, 4) + random_digits(r, 10),
    "ES": lambda r: random_digits(r, 20),
}


def iban(rng: random.Random) -> str:
    country = rng.choice(list(_IBAN_BBAN))
    bban = _IBAN_BBAN[country](rng)
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(numeric) % 97
    compact = f"{country}{check:02d}{bban}"
    return compact if rng.random() < 0.5 else " ".join(compact[i:i + 4] for i in range(0, len(compact), 4))


def ip(rng: random.Random) -> str:
    if rng.random() < 0.6:
        return str(ipaddress.IPv4Address(rng.randint(0x0B000000, 0xDF000000)))
    address = ipaddress.IPv6Address(rng.getrandbits(128))
    return address.compressed if rng.random() < 0.5 else address.exploded


def street(rng: random.Random) -> str:
    return f"{rng.randint(1, 999)} {rng.choice(STREETS)}"


BASE62 = string.ascii_letters + string.digits


def secret(rng: random.Random) -> str:
    kinds: list[Callable[[], str]] = [
        lambda: "AKIA" + random_chars(rng, string.ascii_uppercase + string.digits, 16),
        lambda: "AIza" + random_chars(rng, BASE62 + "_-", 35),
        lambda: "ghp_" + random_chars(rng, BASE62, 36),
        lambda: "github_pat_" + random_chars(rng, BASE62 + "_", 82),
        lambda: "glpat-" + random_chars(rng, BASE62 + "_-", 20),
        lambda: "sk_live_" + random_chars(rng, BASE62, 24),
        lambda: "xoxb-" + random_digits(rng, 12) + "-" + random_digits(rng, 12) + "-" + random_chars(rng, BASE62, 24),
        lambda: "sk-proj-" + random_chars(rng, BASE62 + "_-", 48),
        lambda: "sk-ant-api03-" + random_chars(rng, BASE62 + "_-", 60),
        lambda: "hf_" + random_chars(rng, BASE62, 34),
        lambda: ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ" + random_chars(rng, BASE62, 40) + "."
                 + random_chars(rng, BASE62 + "_-", 43)),
    ]
    return rng.choice(kinds)()



GENERATORS: dict[str, Callable[[random.Random], str]] = {
    "PERSON": person, "EMAIL_ADDRESS": email, "PHONE_NUMBER": phone, "CREDIT_CARD": card, "US_SSN": ssn,
    "IBAN_CODE": iban, "IP_ADDRESS": ip, "LOCATION": street, "SECRET": secret,
}
