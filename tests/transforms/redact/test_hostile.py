"""Hostile input: bounded redaction work (issue 12, findings 3 and 4).

Assertions are on what spaCy is given (characters, longest whitespace-free
run, whether a whole-text Doc is built) and on verdicts, never on wall time;
timings are printed for the record (``pytest -s``).
"""

from __future__ import annotations

import base64
import random
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest

from tracelake.transforms import processor
from tracelake.transforms.processor import Interrupted, interrupt_when
from tracelake.transforms.redact import Engine, RedactionConfig, RedactionError, Redactor
from tracelake.transforms.redact.engine import ner_view

RUN = re.compile(r"\S+")
PUNCT_RUN = re.compile(r"[^\w\s]+")

HOSTILE = {
    "brackets": "(" * 200_000,
    "brackets_spaced": "( " * 100_000,
    "long_token": "A" * 60_000,
    "base64": base64.b64encode(random.Random(1).randbytes(45_000)).decode(),
    "mixed_punct": "".join(random.Random(2).choice("()[]{}<>!?.,;:-_=+*&^%$#@~/|'`abcXYZ") for _ in range(200_000)),
    "compact_json": '{"first":"Maria","last":"Garcia","city":"Paris","n":1}' * 4_000,
}


def longest(pattern: re.Pattern[str], text: str) -> int:
    return max((len(m.group()) for m in pattern.finditer(text)), default=0)


@contextmanager
def spy_on_spacy(engine: Engine) -> Iterator[list[str]]:
    """Every segment handed to ``nlp.pipe``; ``make_doc`` on a whole text fails the test."""
    nlp = engine.nlp
    given: list[str] = []
    real_pipe, real_make_doc = nlp.pipe, nlp.make_doc

    def pipe(texts: Any, **kw: Any) -> Any:
        def record() -> Iterator[str]:
            for text in texts:
                given.append(text)
                yield text
        return real_pipe(record(), **kw)

    def make_doc(text: str) -> Any:
        assert len(text) <= engine.config.ner_segment_chars, f"make_doc on {len(text)} characters"
        return real_make_doc(text)

    nlp.pipe, nlp.make_doc = pipe, make_doc  # type: ignore[method-assign]
    try:
        yield given
    finally:
        nlp.pipe, nlp.make_doc = real_pipe, real_make_doc  # type: ignore[method-assign]


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_ner_view_keeps_offsets_and_has_no_long_run(name: str) -> None:
    text = HOSTILE[name]
    view = ner_view(text, 64, 8)
    assert len(view) == len(text)
    assert longest(RUN, view) <= 64 and longest(PUNCT_RUN, view) <= 8
    # Whatever is not blanked is the original character at the same offset.
    assert all(v == t for v, t in zip(view, text, strict=True) if v != " ")


def test_ner_view_keeps_words_of_compact_json_and_blanks_blobs() -> None:
    blob = base64.b64encode(random.Random(3).randbytes(300)).decode()
    text = '{"customer":"Maria","city":"Paris","sig":"' + blob + '"} ' + "=" * 20 + " Dana Whitfield"
    view = ner_view(text, 64, 8)
    assert view.split() == ["customer", "Maria", "city", "Paris", "sig", "Dana", "Whitfield"]
    assert ner_view("short (( text, v2.5.1 and a@b.io", 64, 8) == "short (( text, v2.5.1 and a@b.io"


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_spacy_never_sees_a_long_run_or_a_whole_text(engine: Engine, name: str) -> None:
    text = HOSTILE[name]
    redactor = Redactor(RedactionConfig(), engine=engine)
    start = time.perf_counter()
    with spy_on_spacy(engine) as given:
        result = redactor.redact_texts([text])[0]
    print(f"{name}: {len(text)} chars, spaCy given {sum(map(len, given))} in {len(given)} segments, "
          f"{time.perf_counter() - start:.2f} s")
    assert not isinstance(result, Exception)
    assert all(len(segment) <= engine.config.ner_segment_chars for segment in given)
    assert all(longest(RUN, segment) <= engine.config.ner_max_run_chars for segment in given)
    assert engine.plan(text).chars == sum(map(len, given))


def test_punctuation_and_blobs_cost_no_ner_at_all(engine: Engine) -> None:
    for name in ("brackets", "long_token", "base64"):
        assert engine.plan(HOSTILE[name]).chars == 0, name


def test_long_token_event_is_accepted_and_redacted(redactor: Redactor) -> None:
    token = "A" * 30_000 + ",maria.garcia@example.com,x-api-key=" + "k" * 40 + "&" + "B" * 30_000
    event = {"event_id": "e1", "tool_result": token, "input": "AAAA" * 15_000 + " call Maria Garcia today"}
    result = redactor.redact_events([event])[0]
    assert isinstance(result, tuple), result
    redacted, counts = result
    assert counts == {"EMAIL_ADDRESS": 1, "SECRET": 1, "PERSON": 1}
    assert "maria.garcia" not in redacted["tool_result"] and "k" * 40 not in redacted["tool_result"]
    assert redacted["tool_result"].startswith("A" * 30_000) and redacted["tool_result"].endswith("B" * 30_000)
    assert redacted["input"].endswith("call <PERSON> today")


def test_base64_blob_is_kept_whole(redactor: Redactor) -> None:
    blob = HOSTILE["base64"]
    text, counts = redactor.redact_text(f"attachment {blob} from Maria Garcia")
    assert text == f"attachment {blob} from <PERSON>" and counts == {"PERSON": 1}


def test_too_costly_is_refused_before_analysis_and_deterministically(engine: Engine) -> None:
    redactor = Redactor(RedactionConfig(max_ner_tokens=1_000), engine=engine)
    costly = {"event_id": "big", "tool_result": "Dana a b " * 400}  # 1 200 tokens
    fine = {"event_id": "ok", "input": "hi Dana Whitfield", "tool_result": "Dana a " * 100}
    with spy_on_spacy(engine) as given:
        out = redactor.redact_events([costly, fine])
    assert out[0] == RedactionError(
        "too_costly: the event needs 1200 tokens of name analysis, the limit is 1000", code="too_costly")
    assert isinstance(out[1], tuple) and out[1][0]["input"] == "hi <PERSON>"
    assert sum(map(len, given)) < 1_000  # the costly event's text never reached spaCy
    # Split over two fields, and again with a warm cache: the same verdict.
    halves = {"event_id": "big2", "input": "Dana a b " * 200, "tool_result": "Dana b c " * 200}
    for _ in range(2):
        verdict = redactor.redact_events([halves])[0]
        assert getattr(verdict, "code", None) == "too_costly"
    with pytest.raises(Exception, match="too_costly"):
        redactor.redact_text("Dana a b " * 400)


def test_stop_interrupts_mid_batch_and_is_not_a_rejection(engine: Engine) -> None:
    redactor = Redactor(RedactionConfig(), engine=engine)
    stop = threading.Event()
    redactor.should_stop = interrupt_when(stop, grace_s=0.0)
    try:
        assert isinstance(redactor.redact_events([{"event_id": "a", "input": "Dana Whitfield"}])[0], tuple)
        stop.set()
        with pytest.raises(Interrupted):
            redactor.redact_events([{"event_id": "b", "input": "Maria Garcia " * 2_000}])
    finally:
        redactor.should_stop = None


def test_interrupt_when_waits_for_the_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [4.0]  # a fake monotonic clock (binary fractions, so the sums are exact): the grace is not waited for
    monkeypatch.setattr(processor, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    stop = threading.Event()
    check = interrupt_when(stop, grace_s=0.25)
    clock[0] = 8.0
    assert not check()
    stop.set()
    assert not check()  # the grace starts when the stop is first seen (8.0), not when the check was made
    clock[0] = 8.125
    assert not check()
    clock[0] = 8.25
    assert check() and check()


@pytest.mark.parametrize("shape", ["a@" * 50_000, "1-" * 50_000, "(" * 100_000, "A" * 100_000,
                                   "sk-" * 30_000, "password=" * 10_000, "12 " * 30_000, "eyJ." * 20_000,
                                   "x:" * 50_000 + "@", "Basic " * 15_000])
def test_pattern_recognizers_finish_on_hostile_shapes(engine: Engine, shape: str) -> None:
    """The regex recognizers see the original text: they must be linear on it (bounded repeats,
    no nested quantifiers). Bounded by the test timeout; the time is printed, not asserted."""
    start = time.perf_counter()
    found = engine.find([shape])[0]
    print(f"{shape[:12]!r}x{len(shape)}: {time.perf_counter() - start:.2f} s")
    assert not isinstance(found, Exception)
