"""The honest corpus: labelled agent-trace texts built from sources tracelake did not write.

Values come from Faker (MIT): per-locale names, phone numbers as each locale's
provider writes them, e-mails, card numbers of every brand Faker knows, IBANs,
SSNs, IPv4/IPv6, addresses. Sentences come from two places: presidio-evaluator's
``templates.txt`` (MIT, copied beside this file, see its header) and agent-trace
shapes (tool arguments, tool results, error messages, prompts with instructions,
JSON inside strings, logs, markdown tables). Must-keep tokens (order ids with
year prefixes, ticket/invoice numbers, ISBNs, EANs, UUIDs, hashes, epoch times,
amounts, ...) are planted beside them.

Two splits, disjoint in everything we can separate:

- ``tuning``: what detection work may look at; its own seed, half of the
  templates (by a hash of the template text), its own locales.
- ``test``: reported, never tuned on; other seed, the other half of the
  templates, other locales, among them :data:`HELD_OUT_LOCALES`, whose name
  lists the redactor's gazetteer does not load (``transforms/redact/names.py``)
  so part of the test names are unknown to every list we ship.

Scoring is strict (:func:`score`): a name counts as found only when every word
of it is gone (``Jamal <PERSON>`` is a miss); a number only when every run of
three or more of its digits is gone. Latin-script locales only: the product
reads English traces with spaCy's English model; other scripts are not measured.
"""

from __future__ import annotations

import hashlib
import random
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from faker import Faker

Split = Literal["tuning", "test"]
# Faker's dates end at "now" unless told otherwise; a fixed end keeps the corpus the same every day.
_END = datetime(2027, 1, 1)

TUNING_LOCALES = (
    "en_US",
    "de_DE",
    "es_ES",
    "it_IT",
    "nl_NL",
    "pl_PL",
    "tr_TR",
    "en_IN",
    "da_DK",
    "cs_CZ",
    "en_KE",
    "es_MX",
    "hr_HR",
)
# Names of these locales are not in the redactor's gazetteer (names.py excludes them).
HELD_OUT_LOCALES = ("fi_FI", "hu_HU", "zu_ZA", "yo_NG", "tw_GH", "id_ID")
TEST_LOCALES = (
    "en_GB",
    "fr_FR",
    "pt_BR",
    "sv_SE",
    "en_IE",
    "de_AT",
    "es_CO",
    "ro_RO",
    "sk_SK",
    "en_NZ",
    "fr_BE",
    "en_PK",
    *HELD_OUT_LOCALES,
)
SEEDS = {"tuning": 1_000_003, "test": 2_000_029}

PERSON, PHONE, EMAIL, CARD, IBAN, SSN, IP, LOCATION, SECRET = (
    "PERSON",
    "PHONE_NUMBER",
    "EMAIL_ADDRESS",
    "CREDIT_CARD",
    "IBAN_CODE",
    "US_SSN",
    "IP_ADDRESS",
    "LOCATION",
    "SECRET",
)


@dataclass
class Sample:
    text: str
    planted: list[tuple[str, str]] = field(default_factory=list)  # (type, value)
    keep: list[str] = field(default_factory=list)
    locale: str = ""
    source: str = ""  # "presidio" or "trace"


_TEMPLATES_FILE = Path(__file__).with_name("presidio_templates.txt")

# Agent-trace shapes. {PERSON} = a full name, {FIRST}/{LAST} = one part of a name; upper-case slots are
# planted, lower-case slots are must-keep tokens.
TRACE_TEMPLATES = [
    'tool_call lookup_customer args={{"name": "{PERSON}", "phone": "{PHONE}", "order_id": "{order}"}}',
    '{{"tool": "crm.update_contact", "arguments": "{{\\"full_name\\": \\"{PERSON}\\", \\"email\\": \\"{EMAIL}\\"}}", '
    '"request_id": "{uuid}"}}',
    "2026-05-14 10:22:31,044 INFO refund_worker: refund {amount} issued to {PERSON} for {order} (ticket {ticket})",
    "ERROR payment_gateway: card {CARD} declined for {order}; trace {sha}; retry at {ts}",
    "| customer | phone | order | total |\n|---|---|---|---|\n| {PERSON} | {PHONE} | {order} | {amount} |",
    "You are a support agent. The customer is {PERSON} ({EMAIL}). Never share their IBAN {IBAN}. "
    "Reference invoice {invoice}.",
    'Tool result: {{"status": "found", "owner": "{FIRST} {LAST}", "isbn": "{isbn}", "ean": "{ean}"}}',
    "User: hi, it's {FIRST} again, my order {order} never arrived. Can you call me on {PHONE}?",
    "Assistant: I have escalated ticket {ticket} to {PERSON}; they will reply before {ts}.",
    "WARN auth: failed login for {EMAIL} from {IP} at {epoch} (attempt 3, build {build})",
    "Please ship {sku} to {PERSON}, {ADDRESS}. Tracking {tracking}, invoice {invoice}.",
    "Summary: {PERSON} asked to change the payout account to {IBAN}; request {uuid} flagged by rule R-{rule}.",
    'Traceback (most recent call last):\n  File "agent.py", line {line}, in run\nValueError: no account for '
    "{EMAIL} (customer {PERSON}, order {order})",
    "system: verify identity. SSN on file {SSN}; caller {PERSON}; session {uuid}; amount {amount}",
    "| name | email | card |\n|------|-------|------|\n| {FIRST} {LAST} | {EMAIL} | {CARD} |\n| total | | {amount} |",
    'tool_result: {{"contact": {{"first": "{FIRST}", "last": "{LAST}", "tel": "{PHONE}"}}, '
    '"invoice": "{invoice}", "at": "{ts}"}}',
    "Thanks {FIRST}! I've noted {PHONE} as your callback number for case {ticket}.",
    "Dear {PERSON},\nyour refund of {amount} for {order} is on its way.\nBest regards,\n{SIGNER}",
    "DEBUG http: POST /v2/orders/{order}/notes body={{'note': 'spoke with {PERSON}, prefers {PHONE}'}} took {ms} ms",
    "Agent plan: 1) look up {LAST} in the CRM 2) confirm address {ADDRESS} 3) close {ticket}",
    "escalation from {IP}: {PERSON} <{EMAIL}> disputes charge {amount} on card ending {last4}, order {order}",
    "The approver for {invoice} is {PERSON}; contact {EMAIL} or {PHONE} before {date}.",
    "Meeting notes ({date}): {FIRST} and {PERSON} agreed to migrate {sku} by {ts}; owner {LAST}.",
    "ticket {ticket}: customer says '{PERSON}' is the account holder, phone {PHONE}, card {CARD}",
]

_PRESIDIO_SLOTS = {
    "person": PERSON,
    "name": PERSON,
    "name_male": PERSON,
    "name_female": PERSON,
    "first_name": "FIRST",
    "first_name_male": "FIRST",
    "first_name_female": "FIRST",
    "first_name_nonbinary": "FIRST",
    "last_name": "LAST",
    "last_name_male": "LAST",
    "last_name_female": "LAST",
    "phone_number": PHONE,
    "email": EMAIL,
    "credit_card_number": CARD,
    "iban": IBAN,
    "ssn": SSN,
    "ip_address": IP,
    "address": "ADDRESS",
    "city": "CITY",
    "country": "COUNTRY",
    "street_name": "STREET",
}
_FILLERS: dict[str, Callable[[Faker], str]] = {
    "organization": lambda f: f.company(),
    "building_number": lambda f: f.building_number(),
    "age": lambda f: str(f.random_int(18, 90)),
    "year": lambda f: f.date(pattern="%Y", end_datetime=_END),
    "secondary_address": lambda f: f"Apt. {f.random_int(1, 999)}",
    "postcode": lambda f: f.postcode(),
    "zipcode": lambda f: f.postcode(),
    "nationality": lambda f: "Italian",
    "job": lambda f: f.job(),
    "url": lambda f: f.url(),
    "date_time": lambda f: f.date(end_datetime=_END),
    "date_of_birth": lambda f: f.date(end_datetime=_END),
    "day_of_week": lambda f: f.day_of_week(),
    "state_abbr": lambda f: "CA",
    "prefix": lambda f: "Mr.",
    "prefix_male": lambda f: "Mr.",
    "prefix_female": lambda f: "Ms.",
    "nation_woman": lambda f: "Italian",
    "nation_plural": lambda f: "Italians",
}
_ALIASES = {"PHONE": PHONE, "EMAIL": EMAIL, "CARD": CARD, "IBAN": IBAN, "SSN": SSN, "IP": IP}
_SLOT = re.compile(r"\{\{(\w+)\}\}")


def presidio_templates() -> list[str]:
    """presidio-evaluator's templates that hold at least one slot we can fill, as ``str.format`` templates."""
    out = []
    for line in _TEMPLATES_FILE.read_text(encoding="utf-8").splitlines():
        slots = _SLOT.findall(line)
        if line.startswith("#") or not slots or any(s not in _PRESIDIO_SLOTS and s not in _FILLERS for s in slots):
            continue
        if not any(s in _PRESIDIO_SLOTS for s in slots):
            continue
        # The file writes line breaks of its multi-line templates as a literal backslash-n.
        escaped = line.replace("\\n", "\n").replace("{", "{{").replace("}", "}}")
        out.append(re.sub(r"\{\{\{\{(\w+)\}\}\}\}", lambda m: "{" + _presidio_slot(m.group(1)) + "}", escaped))
    return out


def _presidio_slot(name: str) -> str:
    return _PRESIDIO_SLOTS.get(name) or f"fill_{name}"


def _half(template: str) -> Split:
    """Templates split by a hash of their text: stable, and independent of list order."""
    return "tuning" if hashlib.sha256(template.encode()).digest()[0] % 2 == 0 else "test"


def templates(split: Split) -> list[tuple[str, str]]:
    """(source, template) of ``split``; the two splits share no template."""
    return [("presidio", t) for t in presidio_templates() if _half(t) == split] + [
        ("trace", t) for t in TRACE_TEMPLATES if _half(t) == split
    ]


# --- must-keep tokens -------------------------------------------------------------------------
def _keepers(rng: random.Random, fake: Faker) -> dict[str, Callable[[], str]]:
    year = lambda: str(rng.randint(2019, 2027))  # noqa: E731
    return {
        "order": lambda: rng.choice(
            [
                f"ORD-{year()}-{rng.randint(0, 999999):06d}",
                f"order #{rng.randint(10000, 9999999)}",
                f"PO-{year()}{rng.randint(100, 9999)}",
                f"SO{rng.randint(1000000, 99999999)}",
                f"order {year()}-{rng.randint(100000, 999999)}",
            ]
        ),
        "ticket": lambda: rng.choice(
            [
                f"JIRA-{rng.randint(100, 99999)}",
                f"INC{rng.randint(1000000, 9999999)}",
                f"#{rng.randint(100000, 9999999)}",
                f"CASE-{year()}-{rng.randint(1000, 99999)}",
            ]
        ),
        "invoice": lambda: rng.choice(
            [
                f"INV-{year()}-{rng.randint(1, 999999):06d}",
                f"INV/{year()}/{rng.randint(1, 9999):04d}",
                f"{year()}-{rng.randint(1, 12):02d}-{rng.randint(10000, 99999)}",
            ]
        ),
        "amount": lambda: rng.choice(
            [
                fake.pricetag(),
                f"EUR {rng.randint(1000, 9999999):,}.{rng.randint(0, 99):02d}",
                f"{rng.randint(1000000, 99999999)} JPY",
            ]
        ),
        "uuid": lambda: fake.uuid4(),
        "sha": lambda: fake.sha1(),
        "ts": lambda: rng.choice(
            [fake.iso8601(end_datetime=_END), fake.date_time(end_datetime=_END).strftime("%Y-%m-%d %H:%M:%S")]
        ),
        "date": lambda: rng.choice(
            [
                fake.date(end_datetime=_END),
                fake.date(pattern="%d.%m.%Y", end_datetime=_END),
                fake.date(pattern="%m/%d/%Y", end_datetime=_END),
            ]
        ),
        "epoch": lambda: str(rng.randint(1_600_000_000, 1_800_000_000) * rng.choice([1, 1000])),
        "build": lambda: rng.choice(
            [f"{rng.randint(1, 9)}.{rng.randint(0, 40)}.{rng.randint(0, 9999)}", f"b{rng.randint(100000, 9999999)}"]
        ),
        "isbn": lambda: rng.choice([fake.isbn13(), fake.isbn10()]),
        "ean": lambda: fake.ean13(),
        "sku": lambda: rng.choice(
            [
                f"SKU-{rng.randint(100, 99999)}-{rng.choice(['BLK', 'XL', 'R2'])}",
                f"{rng.randint(100, 999)}-{rng.randint(1000, 9999)}-{rng.randint(10, 99)}",
            ]
        ),
        "tracking": lambda: rng.choice(
            [
                f"1Z{rng.randint(10**15, 10**16 - 1)}",
                f"{rng.randint(10**11, 10**12 - 1)}",
                f"JD{rng.randint(10**17, 10**18 - 1)}",
            ]
        ),
        "rule": lambda: str(rng.randint(1, 99)),
        "line": lambda: str(rng.randint(10, 2999)),
        "ms": lambda: str(rng.randint(10, 99999)),
        "last4": lambda: f"{rng.randint(0, 9999):04d}",
    }


# Values too short or too common to be told apart from the rest of the text: planted but never kept as keepers.
_NOT_SCORED_KEEP = {"rule", "line", "ms", "last4"}


def _single_line_address(fake: Faker) -> str:
    return re.sub(r"\s*\n\s*", ", ", fake.address())


def _sample(rng: random.Random, fakers: dict[str, Faker], us: Faker, source: str, template: str) -> Sample:
    """One sample: a locale of the split for names, phones, e-mails, addresses and IBANs; ``us`` for
    SSNs and card numbers (Faker writes those the US way in every locale)."""
    locale = rng.choice(list(fakers))
    fake = fakers[locale]
    out = Sample(text="", locale=locale, source=source)
    keepers = _keepers(rng, fake)
    # dict, not set: a set's order changes with the hash seed and the RNG would be drawn in another order
    names = list(dict.fromkeys(name for _, name, _, _ in _FORMATTER.parse(template) if name))
    values: dict[str, str] = {}

    def planted(kind: str) -> str:
        if kind == PERSON:
            return f"{fake.first_name()} {fake.last_name()}"
        if kind in ("FIRST", "SIGNER_FIRST"):
            return fake.first_name()
        if kind == "LAST":
            return fake.last_name()
        if kind == PHONE:
            return fake.phone_number()
        if kind == EMAIL:
            return fake.email()
        if kind == CARD:
            return us.credit_card_number()
        if kind == IBAN:
            return fake.iban() if hasattr(fake, "iban") else us.iban()
        if kind == SSN:
            return us.ssn()
        if kind == IP:
            return rng.choice([fake.ipv4_public(), fake.ipv6(), fake.ipv4()])
        if kind == "ADDRESS":
            return _single_line_address(fake)
        if kind == "CITY":
            return fake.city()
        if kind == "COUNTRY":
            return fake.country()
        if kind == "STREET":
            return fake.street_name()
        raise KeyError(kind)

    labels = {
        "FIRST": PERSON,
        "LAST": PERSON,
        "ADDRESS": LOCATION,
        "CITY": LOCATION,
        "COUNTRY": LOCATION,
        "STREET": LOCATION,
    }
    for name in names:
        if name in keepers:
            values[name] = keepers[name]()
            if name not in _NOT_SCORED_KEEP:
                out.keep.append(values[name])
        elif name.startswith("fill_"):
            values[name] = _FILLERS[name[5:]](fake)
        elif name == "SIGNER":
            values[name] = f"{fake.first_name()} {fake.last_name()}"
            out.planted.append((PERSON, values[name]))
    # Planted slots are filled one occurrence at a time so repeated slots get different people.
    parts: list[str] = []
    for literal, name, _spec, _conv in _FORMATTER.parse(template):
        parts.append(literal)
        if name is None:
            continue
        if name in values:
            parts.append(values[name])
            continue
        value = planted(_ALIASES.get(name, name))
        out.planted.append((labels.get(name, _ALIASES.get(name, name)), value))
        parts.append(value)
    out.text = "".join(parts)
    return out


_FORMATTER = string.Formatter()


def honest_corpus(split: Split, n: int) -> list[Sample]:
    """``n`` samples of ``split``, deterministic for the split: templates cycle in order, locales are
    drawn by an RNG seeded per split, and each locale's Faker is seeded from the split's seed."""
    seed = SEEDS[split]
    locales = TUNING_LOCALES if split == "tuning" else TEST_LOCALES
    fakers: dict[str, Faker] = {}
    for i, locale in enumerate(locales):
        fake = Faker(locale)
        fake.seed_instance(seed + i)
        fakers[locale] = fake
    us = Faker("en_US")
    us.seed_instance(seed - 1)
    rng = random.Random(seed)
    # Half the samples from each source: presidio-evaluator's templates outnumber the trace shapes.
    presidio = [t for t in templates(split) if t[0] == "presidio"]
    trace = [t for t in templates(split) if t[0] == "trace"]
    return [
        _sample(rng, fakers, us, *(trace[i // 2 % len(trace)] if i % 2 else presidio[i // 2 % len(presidio)]))
        for i in range(n)
    ]


_DIGIT_TYPES = {PHONE, CARD, IBAN, SSN}
_WORD = re.compile(r"[^\W\d_]{2,}")
_DIGIT_RUN = re.compile(r"\d{3,}")


def _parts(kind: str, value: str) -> list[str]:
    if kind == PERSON:
        return _WORD.findall(value)
    if kind in _DIGIT_TYPES:
        return _DIGIT_RUN.findall(value)
    return [value]


def _count(part: str, text: str) -> int:
    """Occurrences of ``part`` not inside a longer word or number."""
    edge = r"\w" if part[:1].isalnum() else ""
    if not edge:
        return text.count(part)
    return len(re.findall(rf"(?<![^\W_]){re.escape(part)}(?![^\W_])", text))


def found(sample: Sample, output: str) -> list[bool]:
    """Per planted value: gone from ``output`` (strict: every word of a name, every run of three or
    more digits of a number must be gone; each part may survive only as often as it occurs in the
    sample's text outside planted values)."""
    inside: dict[str, int] = {}
    for kind, value in sample.planted:
        for part in _parts(kind, value):
            inside[part] = inside.get(part, 0) + _count(part, value)
    verdicts = []
    for kind, value in sample.planted:
        ok = all(_count(part, output) <= _count(part, sample.text) - inside[part] for part in _parts(kind, value))
        verdicts.append(ok and (kind in _DIGIT_TYPES or kind == PERSON or value not in output))
    return verdicts


def score(samples: list[Sample], outputs: list[str]) -> tuple[dict[str, tuple[int, int]], tuple[int, int]]:
    """Per type (found, planted) and keep (kept, total) over ``samples`` and their redacted ``outputs``."""
    per_type: dict[str, list[int]] = {}
    kept = total = 0
    for sample, output in zip(samples, outputs, strict=True):
        for (kind, _value), ok in zip(sample.planted, found(sample, output), strict=True):
            counts = per_type.setdefault(kind, [0, 0])
            counts[1] += 1
            counts[0] += ok
        for token in sample.keep:
            total += 1
            kept += token in output
    return {k: (v[0], v[1]) for k, v in per_type.items()}, (kept, total)


def misses(samples: list[Sample], outputs: list[str], kind: str) -> list[tuple[str, str]]:
    """(value, output) of each planted value of ``kind`` that was not found: for reading, on the tuning split."""
    return [
        (value, output)
        for sample, output in zip(samples, outputs, strict=True)
        for (k, value), ok in zip(sample.planted, found(sample, output), strict=True)
        if k == kind and not ok
    ]
