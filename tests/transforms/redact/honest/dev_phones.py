"""A phone DEVELOPMENT set: in neither the tuning nor the test split, for phone work only.

Built with the honest corpus's machinery (:func:`tests.transforms.redact.honest._keepers`, Faker, the
tuning split's presidio-evaluator templates) but with its own seed, its own trace shapes (written for
this set: phones as they sit in agent traces, JSON values under ``phone``/``tel``/``mobile``/
``contact`` keys, log lines, markdown tables, CSV rows, signature blocks, lines with no cue word at
all) and phone numbers from every Faker locale that has a phone provider of its own, except the
tuning split's locales. Two groups, reported apart (:data:`UNSEEN_LOCALES`, :data:`TEST_REGION_LOCALES`):

- locales in neither split (38; Faker's `en_PH`/`fil_PH` have no `phone_number`, `bn_BD` writes Bengali digits);
- the phone providers the test split draws from, known from the generator's configuration
  (``TEST_LOCALES`` and which Faker provider each falls back to), never from its texts: fresh numbers
  from the same formats, under another seed, in other sentences.

Numbers of fewer than seven digits (service numbers such as ``999``) and numbers in digits of other scripts
are drawn again. A tenth of the numbers are rewritten the ways people write them and Faker does not: ``+`` as ``00``
(``0044 20 …``, ``00 44 …``), the international form without any prefix, an extension (``x123``,
``ext. 12``). Each sample records the number's *shape* (digits as ``9``) so recall can be read per
shape: :func:`recall_by_shape`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from faker import Faker

from tests.transforms.redact.honest import (
    _FORMATTER,
    PERSON,
    PHONE,
    TUNING_LOCALES,
    Sample,
    _keepers,
    found,
    templates,
)

DEV_SEED = 3_000_017
# Faker locales with a phone provider of their own that no split uses (names from a Latin-script
# locale are paired with them when the locale's own names are in another script).
UNSEEN_LOCALES = (
    "de_CH", "fr_CH", "it_CH", "de_LI", "de_LU", "en_AU", "en_CA", "es_AR", "es_CL", "pt_PT",
    "nl_BE", "no_NO", "sl_SI", "bs_BA", "lt_LT", "lv_LV", "az_AZ", "uz_UZ", "fr_DZ", "vi_VN", "el_GR", "bg_BG",
    "ru_RU", "uk_UA", "he_IL", "ja_JP", "ko_KR", "zh_CN", "zh_TW", "th_TH", "ar_AE", "ar_JO", "fa_IR", "hy_AM",
    "ka_GE", "mk_MK", "ne_NP", "am_ET",
)
# The phone providers the test split's locales use (its configuration: en_IE, fr_BE, en_PK, zu_ZA and yo_NG
# fall back to en_US, which is also a tuning locale, so it is not here).
TEST_REGION_LOCALES = (
    "en_GB", "fr_FR", "pt_BR", "sv_SE", "de_AT", "es_CO", "ro_RO", "sk_SK", "en_NZ", "fi_FI", "hu_HU", "tw_GH",
    "id_ID",
)
assert not set(UNSEEN_LOCALES + TEST_REGION_LOCALES) & set(TUNING_LOCALES)

# Phones as agent traces carry them. {PHONE} planted, {PERSON}/{FIRST} planted names, lower-case keepers.
DEV_TRACE_TEMPLATES = [
    '{{"customer": {{"name": "{PERSON}", "phone": "{PHONE}"}}, "order_id": "{order}"}}',
    'tool_call crm.lookup args={{"tel": "{PHONE}", "ticket": "{ticket}"}}',
    '{{"mobile":"{PHONE}","invoice":"{invoice}","ts":"{ts}"}}',
    '{{"contact": "{PHONE}", "sku": "{sku}", "amount": "{amount}"}}',
    "{{'whatsapp': '{PHONE}', 'tracking': '{tracking}'}}",
    "2026-03-02 11:04:55,120 INFO sms_gateway: OTP sent to {PHONE} for {order} (request {uuid})",
    "WARN dialer: no answer from {PHONE} after 3 attempts; ticket {ticket}; build {build}",
    "level=info msg=\"callback scheduled\" contact={PHONE} order={order} at={ts}",
    "| name | phone | order |\n|---|---|---|\n| {PERSON} | {PHONE} | {order} |",
    "| contact | number | amount |\n|---|---|---|\n| {FIRST} | {PHONE} | {amount} |",
    "{PERSON};{PHONE};{EMAIL};{invoice}",
    "{PERSON}, {PHONE}, {EMAIL}",
    "{PERSON} — {PHONE}",
    "Assistant: I found {PERSON} ({PHONE}) on order {order}.",
    "Kind regards,\n{PERSON}\nAccounts team\n{PHONE}",
    "User: my number changed, it's now {PHONE}. Order {order}, invoice {invoice}.",
    "Tool result: customer {PERSON} reachable at {PHONE} until {date}; case {ticket}",
    "notes: spoke to {FIRST}, will ring back on {PHONE}. Ref {isbn}, EAN {ean}.",
    "escalate to on-call {PHONE} if {sku} stock < 5 (run {uuid}, build {build})",
    "{PHONE}",
]


def _shape(number: str) -> str:
    return re.sub(r"\d", "9", number)


def _phone(fake: Faker) -> str:
    """A number of the locale with at least seven ASCII digits: shorter ones are service numbers (``999``,
    ``112``), not a person's, and digits of other scripts are out of scope (as in the honest corpus)."""
    for _ in range(50):
        number = fake.phone_number()
        if sum(ch in "0123456789" for ch in number) >= 7 and not any(ch.isdigit() and ch not in "0123456789"
                                                                      for ch in number):
            return number
    raise ValueError("no phone number of seven digits or more")


def _variant(rng: random.Random, number: str) -> str:
    """One in ten numbers written the ways people do and Faker does not."""
    roll = rng.random()
    if roll >= 0.1:
        return number
    which = rng.randrange(4)
    if number.startswith("+") and which == 0:
        return "00" + number[1:].lstrip()
    if number.startswith("+") and which == 1:
        return "00 " + number[1:].lstrip()
    if number.startswith("+") and which == 2:
        return number[1:].lstrip()
    return number + rng.choice([" x123", " ext. 12", " ext 4410", " x7"])


def dev_phone_corpus(n: int, group: str = "all") -> list[Sample]:
    """``n`` samples whose planted phones come from ``group`` (``unseen``, ``test_regions`` or ``all``);
    each sample's ``source`` is ``"<locale>|<shape>"``. Deterministic."""
    locales = {"unseen": UNSEEN_LOCALES, "test_regions": TEST_REGION_LOCALES,
               "all": UNSEEN_LOCALES + TEST_REGION_LOCALES}[group]
    rng = random.Random(DEV_SEED)
    fakers = {}
    for i, locale in enumerate(locales):
        fake = Faker(locale)
        fake.seed_instance(DEV_SEED + i)
        fakers[locale] = fake
    names = Faker("en_US")  # names and e-mails: one Latin-script locale; the phones are what this set is about
    names.seed_instance(DEV_SEED - 1)
    shapes = [("trace", t) for t in DEV_TRACE_TEMPLATES] + [
        (src, t) for src, t in templates("tuning") if "{PHONE_NUMBER}" in t or "{PHONE}" in t]
    out = []
    for i in range(n):
        source, template = shapes[i % len(shapes)]
        locale = rng.choice(locales)
        fake = fakers[locale]
        keepers = _keepers(rng, names)
        sample = Sample(text="", locale=locale, source=source)
        values: dict[str, str] = {}
        parts: list[str] = []
        fill: dict[str, Callable[[], str]] = {
            PERSON: lambda: f"{names.first_name()} {names.last_name()}",
            "FIRST": names.first_name,
            "LAST": names.last_name,
            "EMAIL": names.email,
            "EMAIL_ADDRESS": names.email,
        }
        phone_shapes = []
        for literal, name, _spec, _conv in _FORMATTER.parse(template):
            parts.append(literal)
            if name is None:
                continue
            if name in ("PHONE", PHONE):
                value = _variant(rng, _phone(fake))
                sample.planted.append((PHONE, value))
                phone_shapes.append(_shape(value))
            elif name in fill:
                value = fill[name]()
                kind = "EMAIL_ADDRESS" if name.startswith("EMAIL") else PERSON
                sample.planted.append((kind, value))
            elif name in keepers:
                value = values.setdefault(name, keepers[name]())
                if name not in ("rule", "line", "ms", "last4"):
                    sample.keep.append(value)
            elif name.startswith("fill_"):
                value = _filler(name[5:], names)
            else:  # other planted slots of presidio templates: filled, not scored here
                value = names.city() if name in ("CITY", "ADDRESS", "STREET") else names.word()
            parts.append(value)
        sample.text = "".join(parts)
        sample.source = f"{locale}|{' / '.join(phone_shapes)}"
        out.append(sample)
    return out


def _filler(name: str, fake: Faker) -> str:
    from tests.transforms.redact.honest import _FILLERS

    return _FILLERS[name](fake) if name in _FILLERS else fake.word()


def recall_by_shape(samples: list[Sample], outputs: list[str]) -> dict[tuple[str, str], tuple[int, int]]:
    """(locale, phone shape) -> (found, planted) over the phones of ``samples``."""
    out: dict[tuple[str, str], list[int]] = {}
    for sample, output in zip(samples, outputs, strict=True):
        locale = sample.source.split("|", 1)[0]
        for (kind, value), ok in zip(sample.planted, found(sample, output), strict=True):
            if kind != PHONE:
                continue
            counts = out.setdefault((locale, _shape(value)), [0, 0])
            counts[1] += 1
            counts[0] += ok
    return {k: (v[0], v[1]) for k, v in out.items()}


