"""Every keep-class of redaction.md ("Phones and kept numbers") survives, and numbers written as phones do not.

One test per class, each in the shapes agents write it; the same text also holds a phone number or a
name, so a keep-class test fails when detection is switched off as well as when it eats the token.
"""

from __future__ import annotations

import pytest

from tracelake.transforms.redact import Redactor

KEEP = {
    "order id with year prefix": "order ORD-2026-026536",
    "order id, year-first without a prefix": "order 2024-960542",
    "purchase order": "PO-20231359",
    "invoice number": "INV-2026-000042",
    "invoice with slashes": "INV/2022/3845",
    "ticket key": "JIRA-48213",
    "incident number": "INC6115216",
    "case number with a cue": "case #8115689",
    "ISO timestamp": "2026-05-14T10:22:31.044931Z",
    "SQL timestamp": "2011-06-19 08:25:55",
    "European date": "22.03.1971",
    "US date": "10/17/1998",
    "epoch seconds": "epoch 1767225600",
    "epoch milliseconds": "1767225600123",
    "ISBN-10": "1-4355-6372-7",
    "ISBN-13": "978-1-109-24834-0",
    "EAN-13": "4006381333931",
    "UUID": "43039588-89ab-4d98-86cc-35960f3a0a06",
    "SHA-1": "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",
    "tracking number": "1Z9999999999999999",
    "bare long id": "383251572583",
    "part number": "342-8590-18",
    "SKU": "SKU-4411-BLK",
    "amount": "EUR 1,234,567.00",
    "amount with a currency code": "78524550 JPY",
    "version": "v2.14.3",
    "build number": "build 4.12.2211",
    "tool name": "issue_refund",
    "error code": "E_TIMEOUT_504",
    "model name": "gpt-4o-mini-2024-07-18",
}


@pytest.mark.parametrize("token", KEEP.values(), ids=list(KEEP))
def test_keep_class_survives(redactor: Redactor, token: str) -> None:
    text, _ = redactor.redact_text(f"Maria Garcia (+44 20 7946 0958) asked about {token} today.")
    assert token in text, text
    assert "Maria" not in text and "7946" not in text, text


PHONES = [
    "+1-796-257-2474",  # unassigned area code, written as a phone
    "+31(0)932-502007",
    "00420 702 659 992",
    "(591)341-7776x890",
    "206.269.0743x9150",
    "001-301-355-1031x87260",
    "033 439 549",
    "94 97 70 22",
    "+911057014936",
]


@pytest.mark.parametrize("phone", PHONES)
def test_number_written_as_phone_is_a_phone(redactor: Redactor, phone: str) -> None:
    text, counts = redactor.redact_text(f"Please call me on {phone} after 5pm.")
    assert text == "Please call me on <PHONE_NUMBER> after 5pm.", text
    assert counts == {"PHONE_NUMBER": 1}


@pytest.mark.parametrize("text", [
    "1261813727 mobile",
    '{"phone": "00877427958"}',
    "I've noted 02340749137 as your callback number",
])
def test_phone_cue_makes_a_bare_number_a_phone(redactor: Redactor, text: str) -> None:
    out, counts = redactor.redact_text(text)
    assert counts.get("PHONE_NUMBER") == 1, out


@pytest.mark.parametrize("text, leaked", [
    ("Jamal Okafor asked for a refund.", "Jamal"),
    ("Thanks Macharia! Noted.", "Macharia"),
    ('{"first": "Yolanda", "last": "Tejeda"}', "Tejeda"),
    ("Dear Ana,\nyour refund is on its way.\nBest regards,\nErling Holm", "Holm"),
    ("The customer is Erling Holm (see ticket).", "Erling"),
])
def test_whole_name_is_redacted(redactor: Redactor, text: str, leaked: str) -> None:
    out, _ = redactor.redact_text(text)
    assert leaked not in out, out


@pytest.mark.parametrize("phone", [
    "0612345678",  # trunk 0, undelimited: a national number whatever the region
    "081234567890",
    "483 82 071",  # groups of 2-4 digits after a lead
    "8 701 480 02 58",
    "2540 810 480",
])
def test_national_number_by_shape_without_a_cue(redactor: Redactor, phone: str) -> None:
    out, counts = redactor.redact_text(f"spoke with him, prefers {phone} after lunch")
    assert out == "spoke with him, prefers <PHONE_NUMBER> after lunch", out
    assert counts == {"PHONE_NUMBER": 1}


@pytest.mark.parametrize("token", ["12 345 678", "036000291452", "30029096 JPY", "00012345678"])
def test_amounts_and_product_codes_are_not_phones_by_shape(redactor: Redactor, token: str) -> None:
    out, _ = redactor.redact_text(f"the total was {token} yesterday")
    assert token in out, out


# Shapes found failing on the phone development set (tests/transforms/redact/honest/dev_phones.py).
@pytest.mark.parametrize("phone", [
    "(+57)3060381234",  # country code in brackets
    "(+358) 691491234",
    "0316/84691234",  # trunk 0, an area code, a slash, a long subscriber group
    "0316 27801 565",
    "45/271 9912",  # area code and slash (Hungary)
    "(41)/380-1234",
    "791-1234",  # a local number without its area code
    "854-53-12",  # 3-2-2 (Ukraine, Russia)
    "1639212 x123",  # extensions
    "053 940 312 ext 4410",
    "00233276811234",  # 00 and a country code as one run
    "0044 20 7946 0958",
    "00 44 20 7946 0958",
    "18004831234",  # country code 1 without +
])
def test_phone_shapes_of_the_development_set(redactor: Redactor, phone: str) -> None:
    out, counts = redactor.redact_text(f"spoke with him, prefers {phone} after lunch")
    assert out == "spoke with him, prefers <PHONE_NUMBER> after lunch", out
    assert counts == {"PHONE_NUMBER": 1}


@pytest.mark.parametrize("text, phone", [
    ("Assistant: I found Bo Lund (+43 (0) 7592 32251234) on order SO90101234.", "7592"),
    ("Assistant: I found Bo Lund (1 (280) 759-1234) on order SO29391234.", "759"),
    ('{"contact": "6631234", "sku": "SKU-26869-BLK"}', "6631234"),
    ("WARN dialer: no answer from 96241234 after 3 attempts", "96241234"),
    ("| name | phone | order |\n|---|---|---|\n| Bo Lund | 1431234 | SO1683351 |", "1431234"),
])
def test_phone_in_brackets_keys_logs_and_tables(redactor: Redactor, text: str, phone: str) -> None:
    out, _ = redactor.redact_text(text)
    assert phone not in out, out


# Ids the new phone shapes could eat: each stays.
@pytest.mark.parametrize("text, token", [
    ("EAN 0095036621234 in stock", "0095036621234"),  # 00-prefixed, after an id cue
    ("user id 15296741234 logged in", "15296741234"),  # 11 digits from 1, after an id cue
    ("part 123-45-67 reordered", "123-45-67"),  # 3-2-2 after an id cue
    ("| order | phone |\n|---|---|\n| 1234567 | +44 20 7946 0958 |", "1234567"),  # not the phone column
    ("order 791-1234 shipped", "791-1234"),
    ("the total was 1 234 567 yesterday", "1 234 567"),
    ("released 2024-1234 and 2058.3683", "2058.3683"),  # a year prefix
])
def test_ids_beside_the_new_phone_shapes_are_kept(redactor: Redactor, text: str, token: str) -> None:
    out, _ = redactor.redact_text(text)
    assert token in out, out
