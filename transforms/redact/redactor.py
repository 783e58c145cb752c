"""Redact trace events: every string of every field at every depth, keys too, before anything is written.

Contract (``redaction.md``, "What is walked"): the walk follows the contract model
(:mod:`~tracelake.transforms.redact.walk`), so every string of every field, nested
models (``error``, ``references[]``) and object keys included, is analysed, except
the identifier fields of :data:`~tracelake.transforms.redact.walk.IDENTIFIER_FIELDS`
and well-typed closed-vocabulary and timestamp values. A value under a secret or
personal key (``password``, ``email``, ...) is replaced whole. Typed placeholders
replace exactly the matched span. A key that holds personal data becomes its
placeholder; when two keys of one object come out the same, the later ones get
``#2``, ``#3``, ... in the order they were sent (deterministic, nothing dropped).

Detection reads a normalised copy of each text
(:mod:`~tracelake.transforms.redact.normalize`: NFKC, invisible characters
removed, exotic spaces as spaces); the spans found are mapped back and replaced in
the original, which keeps its form everywhere else.

A batch is redacted in three moves: collect the distinct texts of every event,
analyse the ones not in the LRU cache in one :meth:`Engine.find` call (one
``nlp.pipe`` pass), then rebuild each event. System prompts and tool outputs
repeat across a fleet's runs, so most texts of a realistic stream are cache hits.

Fail closed: an event holding a text that could not be analysed comes back as
:class:`RedactionError` (the caller rejects it; it is never stored raw).
:meth:`Redactor.redact_text` raises :class:`RedactionFailed` instead.

Bounded work (``redaction.md``, "Hostile input"): before anything is
analysed, an event whose texts would need more than
``RedactionConfig.max_ner_tokens`` tokens of name analysis is refused whole
with code ``too_costly`` (the same bound applies to one free text), so no
single event can hold the consumer for more than seconds. The count is
deterministic (it does not depend on the cache or the clock): a re-delivered
event gets the same verdict.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from tracelake.transforms.redact.config import RedactionConfig
from tracelake.transforms.redact.engine import NER_RECOGNIZER, Engine, NerPlan
from tracelake.transforms.redact.keys import sensitive_type
from tracelake.transforms.redact.normalize import Normalized, detection_text, normalize
from tracelake.transforms.redact.spans import Finding, merge, placeholder, plausible, render
from tracelake.transforms.redact.walk import EVENT_SHAPE, TEXT, Kind, Shape, is_timestamp

Counts = dict[str, int]


@dataclass(frozen=True, slots=True)
class RedactionError:
    """An event that could not be redacted, and why (no raw text in ``reason``).

    ``code`` is ``redaction_failed``, or ``too_costly`` when the event would need more
    analysis than :attr:`RedactionConfig.max_ner_tokens` allows (``reason`` then starts
    with ``too_costly:``)."""

    reason: str
    code: str = "redaction_failed"


class RedactionFailed(RuntimeError):
    """A single text could not be redacted."""


class TooCostly(RuntimeError):
    """A text that would need more name analysis than the configured bound (``max_ner_tokens``)."""


@dataclass(slots=True)
class RedactorStats:
    texts: int = 0
    cache_hits: int = 0
    analysed: int = 0
    failed_events: int = 0
    by_type: Counts = field(default_factory=dict)


class _Slot:
    """Where a text sat in the event skeleton; ``index`` into the batch's distinct texts.
    (A plain class: one is built per string walked, and a frozen dataclass is slower to build.)"""

    __slots__ = ("index", "where")

    def __init__(self, index: int, where: str) -> None:
        self.index = index
        self.where = where


class _Object:
    """A JSON object in the skeleton: (key, value) pairs in order; a key is a ``str`` kept as is
    or a :class:`_Slot` to be redacted."""

    __slots__ = ("items",)

    def __init__(self, items: list[tuple[str | _Slot, Any]]) -> None:
        self.items = items


# Keys seen to come out of analysis unchanged are remembered (bounded) and kept without a
# slot: a fleet's keys (``order_id``, ``role``, ``content``) repeat in every event.
_PLAIN_KEYS_MAX = 10_000
_SCALARS = frozenset({int, float, bool})
_IDENTIFIER, _VOCABULARY, _TIMESTAMP, _LIST, _OBJECT = (Kind.IDENTIFIER, Kind.VOCABULARY, Kind.TIMESTAMP, Kind.LIST,
                                                        Kind.OBJECT)
_PLAIN_KEY_MAX_CHARS = 64


class Redactor:
    """One per process; not thread-safe (the spaCy pipeline and the cache are not)."""

    def __init__(self, config: RedactionConfig | None = None, engine: Engine | None = None) -> None:
        self.config = config or RedactionConfig()
        self.engine = engine or Engine(self.config)
        self._cache: OrderedDict[str, tuple[str, Counts]] = OrderedDict()
        self._plain_keys: set[str] = set()
        self.stats = RedactorStats()

    # -- texts ------------------------------------------------------------------------------

    @property
    def should_stop(self) -> Callable[[], bool] | None:
        """Checked between units of work (about a second each); once it returns True, redaction
        raises :class:`~tracelake.transforms.processor.Interrupted` (the consumer sets it from its
        stop signal, see :func:`~tracelake.transforms.processor.interrupt_when`)."""
        return self.engine.should_stop

    @should_stop.setter
    def should_stop(self, check: Callable[[], bool] | None) -> None:
        self.engine.should_stop = check

    def _plan(self, text: str, plans: dict[str, NerPlan]) -> NerPlan:
        """The NER plan of a detection text (plans are keyed by what the engine reads)."""
        plan = plans.get(text)
        if plan is None:
            plan = plans[text] = self.engine.plan(text)
        return plan

    def redact_texts(self, texts: list[str], plans: dict[str, NerPlan] | None = None
                     ) -> list[tuple[str, Counts] | Exception]:
        """Each text redacted, same order; a text that failed is an ``Exception`` in its slot
        (:class:`TooCostly` for one that alone needs more than ``max_ner_tokens`` tokens of NER).
        ``plans``: :meth:`Engine.plan` results the caller already has, keyed by detection text
        (:func:`normalize`), reused and added to."""
        plans = {} if plans is None else plans
        limit_tokens = self.config.max_ner_tokens
        out: list[tuple[str, Counts] | Exception | None] = [None] * len(texts)
        todo: dict[str, list[int]] = {}
        norms: dict[str, Normalized] = {}
        cache, limit = self._cache, self.config.cache_max_text
        for i, text in enumerate(texts):
            self.stats.texts += 1
            if len(text) < 2:  # nothing fits in one character
                out[i] = (text, {})
                continue
            hit = cache.get(text)
            if hit is not None:
                cache.move_to_end(text)
                self.stats.cache_hits += 1
                out[i] = hit
                continue
            if text in todo:
                todo[text].append(i)
                continue
            # The cost is what NER reads: the detection copy (NFKC may lengthen a text).
            norm = norms[text] = normalize(text)
            detect = norm.text
            if len(detect) > limit_tokens and (tokens := self._plan(detect, plans).tokens) > limit_tokens:
                # A token is at least one character, so only a longer text can be over.
                out[i] = TooCostly(f"too_costly: {tokens} tokens of name analysis, the limit is {limit_tokens}")
            else:
                todo[text] = [i]
        if todo:
            distinct = list(todo)
            self.stats.analysed += len(distinct)
            # Two spellings of one text (a zero-width space apart) are analysed once.
            detect_texts = list(dict.fromkeys(norms[text].text for text in distinct))
            found_by = dict(zip(detect_texts, self.engine.find(detect_texts, plans), strict=True))
            for text in distinct:
                norm = norms[text]
                found = found_by[norm.text]
                if isinstance(found, Exception):
                    result: tuple[str, Counts] | Exception = found
                else:
                    findings = (Finding(r.entity_type, r.start, r.end, r.score, _by_ner(r)) for r in found)
                    spans = merge(_to_original(norm, f) for f in findings if plausible(norm.text, f))
                    result = render(text, spans, self.config.pseudonym_key)
                    if len(text) <= limit:
                        cache[text] = result
                for i in todo[text]:
                    out[i] = result
            while len(cache) > self.config.cache_size:
                cache.popitem(last=False)
        return out  # type: ignore[return-value]  # every slot is filled above

    def redact_text(self, text: str) -> tuple[str, Counts]:
        """Free text redacted, with counts. Raises :class:`RedactionFailed`."""
        result = self.redact_texts([text])[0]
        if isinstance(result, Exception):
            raise RedactionFailed(f"{type(result).__name__}: {result}") from result
        return result

    # -- events -----------------------------------------------------------------------------

    def redact_events(self, events: list[dict[str, Any]]) -> list[tuple[dict[str, Any], Counts] | RedactionError]:
        """Each event redacted with its ``redactions`` counts, same order; never raises for bad data.

        An event whose texts together need more than ``max_ner_tokens`` tokens of name analysis
        comes back as a ``too_costly`` :class:`RedactionError` and none of its texts is analysed.
        Raises only :class:`~tracelake.transforms.processor.Interrupted` (see :attr:`should_stop`)."""
        texts: list[str] = []
        index: dict[str, int] = {}
        skeletons: list[tuple[dict[str, Any], Counts] | RedactionError] = []
        uses: list[set[int]] = []
        key_slots: set[int] = set()
        for event in events:
            counts: Counts = {}
            used: set[int] = set()
            try:
                skeletons.append((self._skeleton(event, texts, index, counts, used, key_slots), counts))
            except Exception as exc:  # noqa: BLE001 - a shape we cannot walk: reject, do not store
                skeletons.append(RedactionError(f"cannot walk event: {type(exc).__name__}"))
            uses.append(used)
        plans: dict[str, NerPlan] = {}
        needed: set[int] = set()
        for n, (item, used) in enumerate(zip(skeletons, uses, strict=True)):
            if isinstance(item, RedactionError):
                continue
            costly = self._too_costly([detection_text(texts[i]) for i in used], plans)
            if costly is not None:
                skeletons[n] = RedactionError(costly, code="too_costly")
            else:
                needed.update(used)
        order = sorted(needed)
        analysed = self.redact_texts([texts[i] for i in order], plans)
        results: list[tuple[str, Counts] | Exception | None] = [None] * len(texts)
        for i, result in zip(order, analysed, strict=True):
            results[i] = result
        self._learn_plain_keys(texts, results, key_slots)
        out: list[tuple[dict[str, Any], Counts] | RedactionError] = []
        for item in skeletons:
            if isinstance(item, RedactionError):
                self.stats.failed_events += 1
                out.append(item)
                continue
            skeleton, counts = item
            failures: list[str] = []
            event = _fill(skeleton, results, counts, failures)
            if failures:
                self.stats.failed_events += 1
                out.append(RedactionError(f"could not analyse {failures[0]}"))
                continue
            for entity, n in counts.items():
                self.stats.by_type[entity] = self.stats.by_type.get(entity, 0) + n
            out.append((event, counts))
        return out

    def _too_costly(self, texts: list[str], plans: dict[str, NerPlan]) -> str | None:
        """The ``too_costly`` reason when these detection texts need more NER tokens than allowed."""
        limit = self.config.max_ner_tokens
        if sum(len(text) for text in texts) <= limit:  # a token is at least one character
            return None
        tokens = sum(self._plan(text, plans).tokens for text in texts)
        if tokens <= limit:
            return None
        return f"too_costly: the event needs {tokens} tokens of name analysis, the limit is {limit}"

    def _learn_plain_keys(self, texts: list[str], results: list[Any], key_slots: set[int]) -> None:
        plain = self._plain_keys
        for i in key_slots:
            result = results[i]
            text = texts[i]
            if isinstance(result, tuple) and not result[1] and result[0] == text and len(text) <= _PLAIN_KEY_MAX_CHARS:
                if len(plain) >= _PLAIN_KEYS_MAX:
                    plain.clear()
                plain.add(text)

    def _skeleton(self, event: dict[str, Any], texts: list[str], index: dict[str, int], counts: Counts,
                  used: set[int], key_slots: set[int]) -> Any:
        """The event with every string to analyse replaced by a :class:`_Slot` (see :mod:`.walk`).
        Raises ``TypeError`` for an event that is not a JSON object (the caller rejects it)."""
        if not isinstance(event, dict):
            raise TypeError("an event must be a JSON object")
        key = self.config.pseudonym_key
        plain_keys = self._plain_keys

        def slot(text: str, where: str) -> _Slot:
            i = index.get(text)
            if i is None:
                i = index[text] = len(texts)
                texts.append(text)
            used.add(i)
            return _Slot(i, where)

        def keep(value: str, shape: Shape) -> bool:
            kind = shape.kind
            return (kind is _IDENTIFIER or (kind is _VOCABULARY and value in shape.vocabulary)
                    or (kind is _TIMESTAMP and is_timestamp(value)))

        def text_object(value: dict[Any, Any], where: str, declared: Mapping[str, Shape]) -> Any:
            # A plain dict while every key stays as it is (the common case: fewer objects to
            # build and collect); a list of (key, value) pairs once a key needs analysis.
            plain: dict[str, Any] = {}
            items: list[tuple[str | _Slot, Any]] | None = None
            for name, v in value.items():
                shape = declared.get(name) if declared and isinstance(name, str) else None
                if shape is not None:  # a field of the model: its name stays, its value by its shape
                    if isinstance(v, str):
                        new: Any = v if keep(v, shape) else slot(v, where + name)
                    elif v is None or type(v) in _SCALARS:
                        new = v
                    else:
                        new = walk(v, shape, where + name)
                    if items is None:
                        plain[name] = new
                    else:
                        items.append((name, new))
                    continue
                label = name if isinstance(name, str) else str(name)
                path = where + label
                entity = sensitive_type(label)
                if entity is not None and v is not None and not isinstance(v, bool):
                    raw = v if isinstance(v, str) else orjson.dumps(v).decode()
                    new = placeholder(entity, raw, key)
                    counts[entity] = counts.get(entity, 0) + 1
                elif isinstance(v, str):
                    new = slot(v, path)
                elif v is None or type(v) in _SCALARS:
                    new = v
                else:
                    new = walk(v, TEXT, path)
                if items is None and label in plain_keys and label not in plain:
                    plain[label] = new
                    continue
                if items is None:
                    items = list(plain.items())
                if label in plain_keys:
                    items.append((label, new))
                else:
                    key_slot = slot(label, f"{path} (key)")
                    key_slots.add(key_slot.index)
                    items.append((key_slot, new))
            return plain if items is None else _Object(items)

        def walk(value: Any, shape: Shape, where: str) -> Any:
            if isinstance(value, str):
                return value if keep(value, shape) else slot(value, where)
            if isinstance(value, list):
                item = shape.item if shape.kind is _LIST and shape.item is not None else TEXT
                return [walk(v, item, f"{where}[{n}]") for n, v in enumerate(value)]
            if isinstance(value, dict):
                declared = shape.fields if shape.kind is _OBJECT else {}
                return text_object(value, f"{where}." if where else "", declared)
            return value  # numbers, booleans, null (and a datetime under a timestamp field)

        return walk(event, EVENT_SHAPE, "")


def _by_ner(result: Any) -> bool:
    return (result.recognition_metadata or {}).get("recognizer_name") == NER_RECOGNIZER


def _to_original(norm: Normalized, finding: Finding) -> Finding:
    start, end = norm.original(finding.start, finding.end)
    return Finding(finding.entity, start, end, finding.score, finding.ner)


def _fill(value: Any, results: list[Any], counts: Counts, failures: list[str]) -> Any:
    kind = type(value)
    if kind is _Slot:
        result = results[value.index]
        if isinstance(result, Exception):
            failures.append(f"{value.where} ({type(result).__name__})")
            return None
        text, found = result
        for entity, n in found.items():
            counts[entity] = counts.get(entity, 0) + n
        return text
    if kind is _Object:
        out: dict[str, Any] = {}
        for key, v in value.items:
            if type(key) is not str:
                key = _fill(key, results, counts, failures)
                if not isinstance(key, str):  # its analysis failed: the event is refused anyway
                    key = ""
            if type(v) in _CONTAINERS:
                v = _fill(v, results, counts, failures)
            out[unique_key(out, key) if key in out else key] = v
        return out
    if kind is dict:
        return {k: _fill(v, results, counts, failures) if type(v) in _CONTAINERS else v for k, v in value.items()}
    if kind is list:
        return [_fill(v, results, counts, failures) for v in value]
    return value


_CONTAINERS = frozenset({_Slot, _Object, list, dict})


def unique_key(taken: Mapping[str, Any], key: str) -> str:
    """``key``, or ``key#2``, ``key#3``, ... (the first not in ``taken``): two keys that redact to the
    same placeholder both stay, named in the order they were sent."""
    if key not in taken:
        return key
    n = 2
    while f"{key}#{n}" in taken:
        n += 1
    return f"{key}#{n}"
