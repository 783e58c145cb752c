"""A labelled corpus of agent-trace texts for redaction quality (tests) and speed (bench/redaction.py).

Each sample is a text, the personal values and secrets planted in it (with
their placeholder type) and the tokens that must survive (order numbers,
amounts, tool names, ISO timestamps, SKUs, error codes, model names).
Deterministic for a seed. Values are generated valid: Luhn-valid cards,
mod-97-valid IBANs, phone numbers python-phonenumbers accepts for their
region, well-formed secrets of each kind.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from tracelake.fleet.fakedata import BASE62, CITIES, ERRORS, GENERATORS, MODELS, TOOLS, random_chars


@dataclass
class Sample:
    text: str
    planted: list[tuple[str, str]] = field(default_factory=list)  # (type, value)
    keep: list[str] = field(default_factory=list)


ORDER = lambda rng: rng.choice(["order ", "#", "ORD-"]) + str(rng.randint(1000, 99999))  # noqa: E731
AMOUNT = lambda rng: rng.choice(["$", "EUR ", "£"]) + f"{rng.randint(1, 4999)}.{rng.randint(0, 99):02d}"  # noqa: E731
SKU = lambda rng: f"SKU-{rng.randint(1000, 9999)}-{rng.choice(['BLK', 'RED', 'XL', 'S'])}"  # noqa: E731
TS = lambda rng: f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z"  # noqa: E731,E501
VERSION = lambda rng: f"v{rng.randint(1, 4)}.{rng.randint(0, 12)}.{rng.randint(0, 9)}"  # noqa: E731

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
        values["pw"] = random_chars(rng, BASE62 + "!#%", 14)
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
