"""names.py's rules for names no list knows (redaction.md, "Names"): unknown words in a person's place,
whole-name extension over them, titles, labels, possessives, coordination; and what they must leave alone.

The names here are made up for these tests (none is from the honest corpus's test split).
"""

from __future__ import annotations

import pytest

from tracelake.transforms.redact import Redactor
from tracelake.transforms.redact.config import DEFAULT_MODEL
from tracelake.transforms.redact.names import NameLists, english_words, find_names, name_lists


@pytest.mark.parametrize("text, leaked", [
    ("Dear Tolga Əsgəroğlu,\nyour refund is on its way.", "Əsgəroğlu"),  # extension over an unknown surname
    ("Meeting notes: Ọlájídé Ẹniọlá agreed to migrate the SKU.", "Ẹniọlá"),  # an unknown pair, Yoruba letters
    ("Nnamdiolu shouted at Kwabenaa: stop!", "Kwabenaa"),  # reported speech
    ("Pelajiko lives on Elm street.", "Pelajiko"),  # a person's verb after an unknown word
    ("I would like to remove my kid Şakirov from the will.", "Şakirov"),  # a relation cue
    ("Name:    Sa’adatuma Mustaphai\nAddress: 12 Elm Street", "Mustaphai"),  # a labelled line
    ("Directed By:    Ermanisz Liepaa", "Liepaa"),
    ("It was a done thing between him and Dušanko's kid.", "Dušanko"),  # possessive
    ("Please join accounts with ms. Faith", "Faith"),  # a title names any word
    ("Ifeomaa and Jamal Okafor agreed.", "Ifeomaa"),  # coordinated with a found name
    ("Ujamaak, can I please speak to your boss?", "Ujamaak"),  # vocative opening a line
    ('tool_result: {"contact": {"first": "Ana", "last": "de Kokke"}}', "Kokke"),  # particle first in a name key
])
def test_name_no_list_knows_is_redacted(redactor: Redactor, text: str, leaked: str) -> None:
    out, counts = redactor.redact_text(text)
    assert leaked not in out, out  # under any label: the small model calls some names a LOCATION
    assert counts, out


@pytest.mark.parametrize("text", [
    "Traceback (most recent call last): KeyError: 'customer_id'",
    "ValueError: no account for the order",
    "The agent called lookup_order, then issue_refund with amount 42.5.",
    "Refund policy RP-7 says refunds over 25 USD need approval.",
    "Summary: the customer wants a refund for a damaged speaker.",
    "Hello! How can I help you today?",
])
def test_trace_words_are_not_names(redactor: Redactor, text: str) -> None:
    out, _ = redactor.redact_text(text)
    assert out == text


def test_unknown_needs_the_dictionary() -> None:
    lists = name_lists(DEFAULT_MODEL)
    assert len(lists.english) > 50_000
    assert lists.unknown("Nnamdiolu") and not lists.unknown("Refunds") and not lists.unknown("Traceback")
    assert not lists.unknown("Maria")  # listed: the list rules decide
    # Without a dictionary no unlisted word is taken for a name.
    bare = NameLists(lists.first, lists.last, lists.common)
    assert not bare.unknown("Nnamdiolu")
    assert find_names("Nnamdiolu lives here.", [], bare) == []
    assert find_names("Nnamdiolu lives here.", [], lists) == [(0, 9)]


def test_english_words_of_a_model_without_lookups(tmp_path: object) -> None:
    assert english_words(str(tmp_path)) == frozenset()


def test_coordination_pass_is_bounded() -> None:
    lists = name_lists(DEFAULT_MODEL)
    text = ", ".join(f"Zqxa{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}" for i in range(400)) + " and Jamal Okafor"
    spans = find_names(text, [(len(text) - len("Jamal Okafor"), len(text))], lists)
    assert 0 < len(spans) < 400  # grows a few words a pass, never quadratic
