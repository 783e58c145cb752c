"""The detection copy of a text (NFKC, invisible characters removed, exotic spaces) and its offset map."""

from __future__ import annotations

import random

import pytest

from tracelake.transforms.redact.normalize import INVISIBLE, SPACES, detection_text, normalize

ZWSP, NBSP, THIN, NNBSP = "\u200b", "\u00a0", "\u2009", "\u202f"
LRO, PDF, BOM, SHY = "\u202e", "\u202c", "\ufeff", "\u00ad"


def test_ascii_and_already_clean_text_is_returned_as_is() -> None:
    for text in ("plain ascii, nothing to do", "Zoë Adeyemi – “quoted” — café", ""):
        norm = normalize(text)
        assert norm.text is text and norm.edits == ()
        assert norm.original(0, len(text)) == (0, len(text))


def test_exotic_spaces_become_spaces_without_moving_offsets() -> None:
    text = f"card 4111{NBSP}1111{THIN}1111{NNBSP}1111\u30001\u2028x"
    norm = normalize(text)
    assert norm.text == "card 4111 1111 1111 1111 1 x"
    assert norm.edits == ()  # same length: the map is the identity
    assert norm.original(5, 24) == (5, 24)


def test_invisible_characters_are_removed_and_spans_map_back_over_them() -> None:
    text = f"mail dana{ZWSP}.w@exa{BOM}{SHY}mple.org now"
    norm = normalize(text)
    assert norm.text == "mail dana.w@example.org now"
    start, end = norm.text.index("dana"), norm.text.index(" now")
    o_start, o_end = norm.original(start, end)
    assert text[o_start:o_end] == f"dana{ZWSP}.w@exa{BOM}{SHY}mple.org"
    # Consecutive removals are one edit; text after them shifts back by their length.
    assert len(norm.edits) == 2
    assert text[slice(*norm.original(norm.text.index("now"), len(norm.text)))] == "now"


def test_bidi_controls_are_removed() -> None:
    text = f"ssn {LRO}123-45-6789{PDF} end \u2066x\u2069"
    norm = normalize(text)
    assert norm.text == "ssn 123-45-6789 end x"
    start = norm.text.index("123")
    o_start, o_end = norm.original(start, start + len("123-45-6789"))
    assert text[o_start:o_end] == "123-45-6789"  # the controls around it are not part of the span


def test_nfkc_full_width_and_ligatures() -> None:
    text = "ｄａｎａ＠ｅｘａｍｐｌｅ．ｏｒｇ and \ufb01le ４１１１"
    norm = normalize(text)
    assert norm.text == "dana@example.org and file 4111"
    assert norm.original(0, 16) == (0, 16)  # one-for-one: no edit
    # "ﬁ" became two characters: a span over only its "f" still covers the whole ligature.
    f = norm.text.index("file")
    assert text[slice(*norm.original(f, f + 1))] == "\ufb01"
    assert text[slice(*norm.original(f + 2, f + 4))] == "le"
    assert text[slice(*norm.original(f, f + 4))] == "\ufb01le"


def test_combining_marks_compose_with_their_base_even_an_ascii_one() -> None:
    text = "Jose\u0301 Garci\u0301a"
    norm = normalize(text)
    assert norm.text == "José García"
    assert text[slice(*norm.original(0, 4))] == "Jose\u0301"
    assert text[slice(*norm.original(5, 11))] == "Garci\u0301a"


def test_expansion_maps_back_to_the_single_character() -> None:
    text = "x\ufdfay"  # one character whose NFKC form is 18
    norm = normalize(text)
    assert len(norm.text) == 20
    assert norm.original(1, 19) == (1, 2) and norm.original(5, 6) == (1, 2)
    assert norm.original(19, 20) == (2, 3)


def test_offsets_are_clamped_and_empty_spans_stay_empty() -> None:
    norm = normalize(f"a{ZWSP}b")
    assert norm.text == "ab"
    assert norm.original(-5, 99) == (0, 3)
    assert norm.original(1, 1) == (2, 2) and norm.original(2, 1) == (3, 3)


def test_detection_text_is_what_pseudonyms_read() -> None:
    assert detection_text(f"dana{ZWSP}.W@EXAMPLE.ORG") == "dana.W@EXAMPLE.ORG"


@pytest.mark.parametrize("seed", range(5))
def test_random_map_round_trip(seed: int) -> None:
    """Every span of the detection copy maps to an original span whose detection copy contains it,
    and the map is monotonic."""
    rng = random.Random(seed)
    alphabet = ["a", "B", "7", " ", "@", ".", ZWSP, NBSP, LRO, SHY, "\ufb01", "ｘ", "\u0301", "é", "\ufdfa", "\u2028"]
    text = "".join(rng.choice(alphabet) for _ in range(300))
    norm = normalize(text)
    assert not any(c in INVISIBLE or c in SPACES for c in norm.text)
    previous = (0, 0)
    for _ in range(300):
        start = rng.randrange(len(norm.text) + 1)
        end = rng.randrange(start, len(norm.text) + 1)
        o_start, o_end = norm.original(start, end)
        assert 0 <= o_start <= o_end <= len(text)
        assert norm.text[start:end] in detection_text(text[o_start:o_end])
    for pos in range(len(norm.text) + 1):
        mapped = norm.original(pos, pos)
        assert mapped >= previous
        previous = mapped
