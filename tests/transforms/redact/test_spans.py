from __future__ import annotations

from tracelake.transforms.redact.spans import Finding, merge, placeholder, plausible, pseudonym, render


def test_overlaps_merge_into_one_span_named_by_the_best() -> None:
    spans = merge([Finding("PHONE_NUMBER", 4, 15, 0.6), Finding("US_SSN", 4, 15, 0.9), Finding("PERSON", 20, 30, 0.85)])
    assert spans == [Finding("US_SSN", 4, 15, 0.9), Finding("PERSON", 20, 30, 0.85)]


def test_partial_overlap_covers_the_union_never_leaks_a_tail() -> None:
    (span,) = merge([Finding("EMAIL_ADDRESS", 10, 30, 1.0), Finding("SECRET", 5, 12, 1.0)])
    assert (span.start, span.end) == (5, 30)
    assert span.entity == "SECRET"  # tie on score: the type ranked first wins


def test_render_replaces_exactly_the_spans_and_counts() -> None:
    text = "refund order 8812 for Maria Garcia <maria@example.com>"
    spans = [Finding("PERSON", 22, 34, 0.85), Finding("EMAIL_ADDRESS", 36, 53, 1.0)]
    assert render(text, spans, None) == (
        "refund order 8812 for <PERSON> <<EMAIL_ADDRESS>>", {"PERSON": 1, "EMAIL_ADDRESS": 1})


def test_pseudonyms_are_keyed_stable_and_ignore_formatting() -> None:
    key = b"k1"
    assert placeholder("EMAIL_ADDRESS", "Maria@Example.com", key) == placeholder("EMAIL_ADDRESS", "maria@example.com",
                                                                                  key)
    assert pseudonym("CREDIT_CARD", "4111 1111 1111 1111", key) == pseudonym("CREDIT_CARD", "4111-1111-1111-1111", key)
    assert pseudonym("PERSON", "Maria Garcia", key) != pseudonym("PERSON", "Maria Garcia", b"k2")
    assert pseudonym("PERSON", "Maria Garcia", key) != pseudonym("PERSON", "Mario Garcia", key)
    assert placeholder("PERSON", "x", key).startswith("<PERSON:") and len(placeholder("PERSON", "x", key)) == 17
    assert placeholder("PERSON", "x", None) == "<PERSON>"


def test_model_guesses_inside_identifiers_are_dropped() -> None:
    text = "ORD-2759 v2.5.1 issue_refund Maria Garcia"
    assert not plausible(text, Finding("LOCATION", 0, 8, 0.85, ner=True))
    assert not plausible(text, Finding("LOCATION", 9, 15, 0.85, ner=True))
    assert not plausible(text, Finding("PERSON", 16, 28, 0.85, ner=True))
    assert plausible(text, Finding("PERSON", 29, 41, 0.85, ner=True))
    assert plausible(text, Finding("LOCATION", 0, 8, 0.7, ner=False))  # a street pattern may hold digits
