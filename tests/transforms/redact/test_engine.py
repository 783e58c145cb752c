from __future__ import annotations

import pytest

from tracelake.transforms.redact import Engine, RedactionConfig, RedactorUnavailable
from tracelake.transforms.redact.engine import _segments, may_hold_name, name_shaped


def test_missing_model_is_a_clear_error_and_never_a_download() -> None:
    with pytest.raises(RedactorUnavailable, match=r"not installed .*never downloads"):
        Engine(RedactionConfig(model="en_core_web_no_such_model"))


def test_only_ner_is_loaded(engine: Engine) -> None:
    assert engine.nlp.pipe_names == ["ner"]


def test_segments_cut_at_whitespace_and_cover_the_text() -> None:
    text = "word " * 100
    pieces = _segments(text, 42)
    assert "".join(p for _, p in pieces) == text
    assert all(len(p) <= 42 and (p.endswith(" ") or o + len(p) == len(text)) for o, p in pieces)
    assert _segments("x" * 100, 30)[0] == (0, "x" * 30)  # no whitespace: hard cut, nothing lost


def test_name_gate() -> None:
    assert may_hold_name("call maria Garcia") and may_hold_name("王伟 called")
    assert not may_hold_name("order 8812 shipped, tool issue_refund ok")


def test_model_mislabels_reclaimed_as_people_only_when_name_shaped() -> None:
    assert name_shaped("Amara Mensah") and name_shaped("Elena O'Connor") and name_shaped("Mehmet Yılmaz")
    assert not name_shaped("Acme Outdoor") and not name_shaped("Stripe") and not name_shaped("SKU-4411 Team")


def test_findings_are_per_text_and_in_order(engine: Engine) -> None:
    texts = ["nothing here", "mail a@b.io and call Maria Garcia", "", "ip 10.0.0.1"]
    found = engine.find(texts)
    assert [sorted({r.entity_type for r in f}) for f in found] == [
        [], ["EMAIL_ADDRESS", "PERSON"], [], ["IP_ADDRESS"]]


def test_ner_multiplies_through_numpy_on_one_blas_thread(engine: Engine) -> None:
    from thinc.api import NumpyOps
    from threadpoolctl import threadpool_info

    ner = engine.nlp.get_pipe("ner")
    ops = {type(node.ops) for node in ner.model.walk()}
    assert ops == {NumpyOps}
    assert all(not node.ops.use_blis for node in ner.model.walk())
    assert all(pool["num_threads"] == 1 for pool in threadpool_info() if pool["user_api"] == "blas")


def test_numpy_blas_finds_what_blis_finds(engine: Engine) -> None:
    # The same weights through BLIS and through numpy: float rounding may differ, the entities must not.
    import spacy
    from thinc.api import NumpyOps

    texts = ["Please refund Maria Gonzalez, she lives in Porto.", "Ticket from Kwame Mensah about order 8812.",
             "Dear Mr. Tanaka, your flight to Berlin is confirmed.", "Amara Okafor and Lars Nilsson met in Oslo."]
    blis = spacy.load(engine.config.model, exclude=["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer"])
    blis_ops = NumpyOps(use_blis=True)
    for node in blis.get_pipe("ner").model.walk():
        node.ops = blis_ops
    ours = [[(e.text, e.label_) for e in doc.ents] for doc in engine.nlp.pipe(texts)]
    theirs = [[(e.text, e.label_) for e in doc.ents] for doc in blis.pipe(texts)]
    assert ours == theirs
    assert any(ours)
