"""Turn findings into the redacted text: merge overlaps, write placeholders or keyed pseudonyms."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass

from tracelake.transforms.redact.config import (
    CREDIT_CARD,
    EMAIL_ADDRESS,
    ENTITY_TYPES,
    IBAN_CODE,
    PHONE_NUMBER,
    US_SSN,
)
from tracelake.transforms.redact.normalize import detection_text

_RANK = {entity: rank for rank, entity in enumerate(ENTITY_TYPES)}
_DIGITS_ONLY = {CREDIT_CARD, PHONE_NUMBER, US_SSN, IBAN_CODE}
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]")
_SPACES = re.compile(r"\s+")
# A "name" holding digits, '_' or '@' is an identifier spaCy mistook (SKU-4411, issue_refund).
_NOT_A_NAME = re.compile(r"[\d_@/=<>{}]")


@dataclass(frozen=True, slots=True)
class Finding:
    entity: str
    start: int
    end: int
    score: float
    ner: bool = False  # found by the language model (a guess), not by a pattern


def plausible(text: str, finding: Finding) -> bool:
    """Drop names and places the language model guessed inside identifiers (``ORD-2759``,
    ``v2.5.1``, ``issue_refund``, URLs); every pattern finding stands."""
    if not finding.ner:
        return True
    span = text[finding.start:finding.end]
    return not _NOT_A_NAME.search(span) and any(ch.isalpha() for ch in span)


def merge(findings: Iterable[Finding]) -> list[Finding]:
    """Non-overlapping spans in text order. Overlapping findings become one span covering all of
    them (never leak the part only one of them saw), named by the best: highest score, then the
    type ranked first in :data:`ENTITY_TYPES`."""
    ordered = sorted(findings, key=lambda f: (f.start, -f.end))
    merged: list[Finding] = []
    for finding in ordered:
        if finding.end <= finding.start:
            continue
        if merged and finding.start < merged[-1].end:
            last = merged[-1]
            best = min((last, finding), key=lambda f: (-f.score, _RANK.get(f.entity, len(_RANK))))
            merged[-1] = Finding(best.entity, last.start, max(last.end, finding.end), best.score)
        else:
            merged.append(finding)
    return merged


def pseudonym(entity: str, value: str, key: bytes) -> str:
    """8 hex digits of HMAC-SHA256(key, type + value), value normalised so formatting does not matter
    (the detection copy first: a zero-width space or a full-width digit does not make a new pseudonym)."""
    value = detection_text(value)
    if entity in _DIGITS_ONLY:
        norm = _NOT_ALNUM.sub("", value).upper()
    elif entity == EMAIL_ADDRESS:
        norm = value.strip().lower()
    else:
        norm = _SPACES.sub(" ", value.strip()).casefold()
    return hmac.new(key, f"{entity}\x00{norm}".encode(), hashlib.sha256).hexdigest()[:8]


def placeholder(entity: str, value: str, key: bytes | None) -> str:
    return f"<{entity}:{pseudonym(entity, value, key)}>" if key else f"<{entity}>"


def render(text: str, spans: list[Finding], key: bytes | None) -> tuple[str, dict[str, int]]:
    """``text`` with each span replaced; counts per placeholder type."""
    if not spans:
        return text, {}
    parts: list[str] = []
    counts: dict[str, int] = {}
    position = 0
    for span in spans:
        parts.append(text[position:span.start])
        parts.append(placeholder(span.entity, text[span.start:span.end], key))
        counts[span.entity] = counts.get(span.entity, 0) + 1
        position = span.end
    parts.append(text[position:])
    return "".join(parts), counts
