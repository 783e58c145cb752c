"""A labelled corpus of agent-trace texts for redaction quality (tests) and speed (bench/redaction.py).

Each sample is a text, the personal values and secrets planted in it (with
their placeholder type) and the tokens that must survive (order numbers,
amounts, tool names, ISO timestamps, SKUs, error codes, model names).
Deterministic for a seed. Values are generated valid: Luhn-valid cards,
mod-97-valid IBANs, phone numbers python-phonenumbers accepts for their
region, well-formed secrets of each kind.
"""

from __future__ import annotations

import ipaddress
import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field

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


@dataclass
class Sample:
    text: str
    planted: list[tuple[str, str]] = field(default_factory=list)  # (type, value)
    keep: list[str] = field(default_factory=list)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def _chars(rng: random.Random, alphabet: str, n: int) -> str:
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
    for _ in range(50):
        national = str(example.national_number)
        national = national[:-3] + _digits(rng, 3)
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
        number = luhn_complete(rng.choice(["34", "37"]) + _digits(rng, 12))
        groups = [number[:4], number[4:10], number[10:]]
    else:
        prefix = {"visa": "4", "mc": str(rng.randint(51, 55)), "discover": "6011"}[kind]
        number = luhn_complete(prefix + _digits(rng, 15 - len(prefix)))
        groups = [number[i:i + 4] for i in range(0, 16, 4)]
    return rng.choice([" ", "-", ""]).join(groups)


def ssn(rng: random.Random) -> str:
    if rng.random() < 0.15:
        return rng.choice(["123-45-6789", "123 45 6789"])
    area = rng.choice([n for n in range(1, 900) if n != 666])
    sep = rng.choice(["-", " "])
    return f"{area:03d}{sep}{rng.randint(1, 99):02d}{sep}{rng.randint(1, 9999):04d}"


_IBAN_BBAN = {"GB": lambda r: _chars(r, string.ascii_uppercase, 4) + _digits(r, 14), "DE": lambda r: _digits(r, 18),
              "FR": lambda r: _digits(r, 23), "NL": lambda r: _chars(r, string.ascii_uppercase, 4) + _digits(r, 10),
              "ES": lambda r: _digits(r, 20)}


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


_B62 = string.ascii_letters + string.digits


def secret(rng: random.Random) -> str:
    kinds: list[Callable[[], str]] = [
        lambda: "AKIA" + _chars(rng, string.ascii_uppercase + string.digits, 16),
        lambda: "AIza" + _chars(rng, _B62 + "_-", 35),
        lambda: "ghp_" + _chars(rng, _B62, 36),
        lambda: "github_pat_" + _chars(rng, _B62 + "_", 82),
        lambda: "glpat-" + _chars(rng, _B62 + "_-", 20),
        lambda: "sk_live_" + _chars(rng, _B62, 24),
        lambda: "xoxb-" + _digits(rng, 12) + "-" + _digits(rng, 12) + "-" + _chars(rng, _B62, 24),
        lambda: "sk-proj-" + _chars(rng, _B62 + "_-", 48),
        lambda: "sk-ant-api03-" + _chars(rng, _B62 + "_-", 60),
        lambda: "hf_" + _chars(rng, _B62, 34),
        lambda: "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ" + _chars(rng, _B62, 40) + "." + _chars(rng, _B62 + "_-", 43),
    ]
    return rng.choice(kinds)()


ORDER = lambda rng: rng.choice(["order ", "#", "ORD-"]) + str(rng.randint(1000, 99999))  # noqa: E731
AMOUNT = lambda rng: rng.choice(["$", "EUR ", "£"]) + f"{rng.randint(1, 4999)}.{rng.randint(0, 99):02d}"  # noqa: E731
SKU = lambda rng: f"SKU-{rng.randint(1000, 9999)}-{rng.choice(['BLK', 'RED', 'XL', 'S'])}"  # noqa: E731
TS = lambda rng: f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z"  # noqa: E731,E501
VERSION = lambda rng: f"v{rng.randint(1, 4)}.{rng.randint(0, 12)}.{rng.randint(0, 9)}"  # noqa: E731

GENERATORS: dict[str, Callable[[random.Random], str]] = {
    "PERSON": person, "EMAIL_ADDRESS": email, "PHONE_NUMBER": phone, "CREDIT_CARD": card, "US_SSN": ssn,
    "IBAN_CODE": iban, "IP_ADDRESS": ip, "LOCATION": street, "SECRET": secret,
}
KEEPERS: dict[str, Callable[[random.Random], str]] = {
    "order": ORDER, "amount": AMOUNT, "sku": SKU, "ts": TS, "version": VERSION,
    "tool": lambda rng: rng.choice(TOOLS), "error": lambda rng: rng.choice(ERRORS),
    "model": lambda rng: rng.choice(MODELS),
}

TEMPLATES = [
    "Refund {order} for {PERSON} ({EMAIL_ADDRESS}); amount {amount}, tool {tool} at {ts}.",
    "Customer {PERSON} called from {PHONE_NUMBER} about {sku}; {tool} failed with {error}.",
    "Update card on file to {CREDIT_CARD} for {order}; approved {amount} by policy refund_limit_{version}.",
    "Identity check: SSN {US_SSN} matched for access request {order} at {ts} ({model}).",
    "Create payout of {amount} to IBAN {IBAN_CODE} for invoice {order}; tool {tool}, workflow {version}.",
    "Login for {EMAIL_ADDRESS} from {IP_ADDRESS} flagged {error} at {ts}.",
    "Ship {sku} to {PERSON}, {LOCATION}, {city}; {order} total {amount}.",
    "Deploy step used {SECRET} against {tool} at {ts}; result {error}.",
    '{{"customer": "{PERSON}", "email": "{EMAIL_ADDRESS}", "order_id": "{order}", "sku": "{sku}", "at": "{ts}"}}',
    "Escalated: {PERSON} disputes {amount} on card {CREDIT_CARD}; model {model} flagged {error}.",
    "Call {PERSON} back on {PHONE_NUMBER} regarding {order}; {tool} succeeded at {ts}.",
    "curl -H 'Authorization: Bearer {SECRET}' https://api.example.com/v1/orders/{order}",
    "DB url postgres://svc_refunds:{pw}@db.internal:5432/refunds for {tool} at {ts}",
    "Set password={pw} for service account on {ts}; ticket {order}.",
    "Access request from {IP_ADDRESS} by {PERSON} for role billing_admin ({version}); error {error}.",
]
_FIELD = {"PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE", "IP_ADDRESS", "LOCATION",
          "SECRET"}


def sample(rng: random.Random, template: str) -> Sample:
    values: dict[str, str] = {}
    out = Sample(text="")
    for name in GENERATORS:
        if "{" + name + "}" in template:
            values[name] = GENERATORS[name](rng)
            out.planted.append((name, values[name]))
    for name, gen in KEEPERS.items():
        if "{" + name + "}" in template:
            values[name] = gen(rng)
            out.keep.append(values[name])
    if "{city}" in template:
        values["city"] = rng.choice(CITIES)
        out.planted.append(("LOCATION", values["city"]))
    if "{pw}" in template:
        values["pw"] = _chars(rng, _B62 + "!#%", 14)
        out.planted.append(("SECRET", values["pw"]))
    out.text = template.format(**values)
    return out


def corpus(n: int, seed: int = 7) -> list[Sample]:
    """``n`` samples cycling through every template, each with fresh values."""
    rng = random.Random(seed)
    return [sample(rng, TEMPLATES[i % len(TEMPLATES)]) for i in range(n)]


def score(samples: list[Sample], outputs: list[str]) -> tuple[dict[str, tuple[int, int]], tuple[int, int]]:
    """Per type (found, planted) and keep (kept, total). A planted value counts as found when it no
    longer appears in the output; a keeper is kept when it still appears whole."""
    per_type: dict[str, list[int]] = {}
    kept = total = 0
    for s, out in zip(samples, outputs, strict=True):
        for kind, value in s.planted:
            counts = per_type.setdefault(kind, [0, 0])
            counts[1] += 1
            counts[0] += value not in out
        for token in s.keep:
            total += 1
            kept += token in out
    return {k: (v[0], v[1]) for k, v in per_type.items()}, (kept, total)
