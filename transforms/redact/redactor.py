"""Redact trace events: every text field at every depth, before anything is written.

Contract (``redaction.md``): the free-text fields of ``events.md``
(``TEXT_FIELDS`` and ``error.message``) and every string at any depth inside
``tool_args``, ``tool_result`` and ``attributes`` are analysed; a value under
a secret or personal key (``password``, ``email``, ...) is replaced whole;
identifiers, enums, numbers and booleans are kept. Typed placeholders replace
exactly the matched span.

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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from tracelake.contract import JSON_TEXT_FIELDS, TEXT_FIELDS
from tracelake.transforms.redact.config import RedactionConfig
from tracelake.transforms.redact.engine import NER_RECOGNIZER, Engine, NerPlan
from tracelake.transforms.redact.keys import sensitive_type
from tracelake.transforms.redact.spans import Finding, merge, placeholder, plausible, render

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


@dataclass(frozen=True, slots=True)
class _Slot:
    """Where a text sat in the event skeleton; ``index`` into the batch's distinct texts."""

    index: int
    where: str


class Redactor:
    """One per process; not thread-safe (the spaCy pipeline and the cache are not)."""

    def __init__(self, config: RedactionConfig | None = None, engine: Engine | None = None) -> None:
        self.config = config or RedactionConfig()
        self.engine = engine or Engine(self.config)
        self._cache: OrderedDict[str, tuple[str, Counts]] = OrderedDict()
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
        plan = plans.get(text)
        if plan is None:
            plan = plans[text] = self.engine.plan(text)
        return plan

    def redact_texts(self, texts: list[str], plans: dict[str, NerPlan] | None = None
                     ) -> list[tuple[str, Counts] | Exception]:
        """Each text redacted, same order; a text that failed is an ``Exception`` in its slot
        (:class:`TooCostly` for one that alone needs more than ``max_ner_tokens`` tokens of NER).
        ``plans``: :meth:`Engine.plan` results the caller already has (reused, and added to)."""
        plans = {} if plans is None else plans
        limit_tokens = self.config.max_ner_tokens
        out: list[tuple[str, Counts] | Exception | None] = [None] * len(texts)
        todo: dict[str, list[int]] = {}
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
            elif len(text) > limit_tokens and (tokens := self._plan(text, plans).tokens) > limit_tokens:
                # A token is at least one character, so only a longer text can be over.
                out[i] = TooCostly(f"too_costly: {tokens} tokens of name analysis, the limit is {limit_tokens}")
            else:
                todo.setdefault(text, []).append(i)
        if todo:
            distinct = list(todo)
            self.stats.analysed += len(distinct)
            for text, found in zip(distinct, self.engine.find(distinct, plans), strict=True):
                if isinstance(found, Exception):
                    result: tuple[str, Counts] | Exception = found
                else:
                    findings = (Finding(r.entity_type, r.start, r.end, r.score, _by_ner(r)) for r in found)
                    spans = merge(f for f in findings if plausible(text, f))
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
        for event in events:
            counts: Counts = {}
            used: set[int] = set()
            try:
                skeletons.append((self._skeleton(event, texts, index, counts, used), counts))
            except Exception as exc:  # noqa: BLE001 - a shape we cannot walk: reject, do not store
                skeletons.append(RedactionError(f"cannot walk event: {type(exc).__name__}"))
            uses.append(used)
        plans: dict[str, NerPlan] = {}
        needed: set[int] = set()
        for n, (item, used) in enumerate(zip(skeletons, uses, strict=True)):
            if isinstance(item, RedactionError):
                continue
            costly = self._too_costly([texts[i] for i in used], plans)
            if costly is not None:
                skeletons[n] = RedactionError(costly, code="too_costly")
            else:
                needed.update(used)
        order = sorted(needed)
        analysed = self.redact_texts([texts[i] for i in order], plans)
        results: list[tuple[str, Counts] | Exception | None] = [None] * len(texts)
        for i, result in zip(order, analysed, strict=True):
            results[i] = result
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
        """The ``too_costly`` reason when these (distinct) texts need more NER tokens than allowed."""
        limit = self.config.max_ner_tokens
        if sum(len(text) for text in texts) <= limit:  # a token is at least one character
            return None
        tokens = sum(self._plan(text, plans).tokens for text in texts)
        if tokens <= limit:
            return None
        return f"too_costly: the event needs {tokens} tokens of name analysis, the limit is {limit}"

    def _skeleton(self, event: dict[str, Any], texts: list[str], index: dict[str, int], counts: Counts,
                  used: set[int]) -> dict[str, Any]:
        def slot(text: str, where: str) -> _Slot:
            i = index.get(text)
            if i is None:
                i = index[text] = len(texts)
                texts.append(text)
            used.add(i)
            return _Slot(i, where)

        def walk(value: Any, where: str) -> Any:
            if isinstance(value, str):
                return slot(value, where)
            if isinstance(value, list):
                return [walk(v, f"{where}[{n}]") for n, v in enumerate(value)]
            if isinstance(value, dict):
                out = {}
                for key, v in value.items():
                    entity = sensitive_type(key) if isinstance(key, str) else None
                    if entity is not None and v is not None and not isinstance(v, bool):
                        raw = v if isinstance(v, str) else orjson.dumps(v).decode()
                        out[key] = placeholder(entity, raw, self.config.pseudonym_key)
                        counts[entity] = counts.get(entity, 0) + 1
                    else:
                        out[key] = walk(v, f"{where}.{key}")
                return out
            return value

        out = dict(event)
        for name in TEXT_FIELDS:
            if isinstance(out.get(name), str):
                out[name] = slot(out[name], name)
        error = out.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            out["error"] = {**error, "message": slot(error["message"], "error.message")}
        for name in JSON_TEXT_FIELDS:
            if name in out:
                out[name] = walk(out[name], name)
        return out


def _by_ner(result: Any) -> bool:
    return (result.recognition_metadata or {}).get("recognizer_name") == NER_RECOGNIZER


def _fill(value: Any, results: list[Any], counts: Counts, failures: list[str]) -> Any:
    if isinstance(value, _Slot):
        result = results[value.index]
        if isinstance(result, Exception):
            failures.append(f"{value.where} ({type(result).__name__})")
            return None
        text, found = result
        for entity, n in found.items():
            counts[entity] = counts.get(entity, 0) + n
        return text
    if isinstance(value, list):
        return [_fill(v, results, counts, failures) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, results, counts, failures) for k, v in value.items()}
    return value

