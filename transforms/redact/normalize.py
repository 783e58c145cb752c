"""Normalise text for detection only, with a map back to the original offsets.

Recognizers see a cleaned copy of each text; the redactor replaces spans in the
original. So a card written with non-breaking spaces between its groups, or an
e-mail with a zero-width space inside, is found, while everything outside the
redacted spans is stored exactly as sent (redaction.md, "Normalisation").

What the detection copy changes:

- **invisible characters are removed**: every format character (Unicode
  category ``Cf``: zero-width space/joiners, word joiner, BOM, soft hyphen,
  bidi embeddings, overrides and isolates, ...), variation selectors, the
  combining grapheme joiner and the Hangul/Khmer fillers that render as
  nothing;
- **exotic spaces become a plain space**: every ``Zs``/``Zl``/``Zp`` character
  (no-break space, thin and narrow spaces, ideographic space, line and
  paragraph separators);
- **NFKC**, applied per cluster (a base character with its combining marks):
  full-width ``ｄａｎａ＠ｅｘａｍｐｌｅ．ｏｒｇ`` reads as ASCII, ligatures
  split, ``e`` + combining acute becomes ``é``.

ASCII text (the common case) is returned as is without any work, and so is any
text that is already NFKC with nothing to remove: :func:`normalize` costs a
C-speed scan unless something actually changes.

The map: :class:`Normalized` records one edit per changed piece that is not one
character for one (a removed run, an expanded character, a composed cluster);
between edits offsets shift by a constant. :meth:`Normalized.original` maps a span of
the detection copy to the smallest span of the original covering every
original character that produced it, so a placeholder never leaves part of a
changed character behind. Never raises for any ``str``.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

# Rendered as nothing but not category Cf: variation selectors, the combining
# grapheme joiner, Hangul and Khmer fillers (used to hide text in plain sight).
_EXTRA_INVISIBLE = "\u034f\u115f\u1160\u17b4\u17b5\u3164\uffa0" + "".join(
    chr(c) for c in (*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)))


def _chars(categories: tuple[str, ...]) -> str:
    # Derived from the running Python's Unicode tables, so a newer Unicode
    # version's additions are covered without a hand-kept list (about 0.1 s, once).
    return "".join(chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) in categories)


INVISIBLE = frozenset(_chars(("Cf",)) + _EXTRA_INVISIBLE)
# Every separator except the ASCII space itself.
SPACES = frozenset(_chars(("Zs", "Zl", "Zp"))) - {" "}
_SPECIAL = re.compile("[" + "".join(re.escape(c) for c in sorted(INVISIBLE | SPACES)) + "]")
# Only non-ASCII runs (plus the character before a leading combining mark) can change.
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")


@dataclass(frozen=True, slots=True)
class Edit:
    """``norm[norm_start:norm_end]`` came from ``original[orig_start:orig_end]`` (lengths differ)."""

    norm_start: int
    norm_end: int
    orig_start: int
    orig_end: int


@dataclass(frozen=True, slots=True)
class Normalized:
    """The detection copy ``text`` of ``source`` and the edits that map it back."""

    source: str
    text: str
    edits: tuple[Edit, ...] = ()
    _starts: tuple[int, ...] = field(default=(), repr=False)

    def original(self, start: int, end: int) -> tuple[int, int]:
        """The span of ``source`` that produced ``text[start:end]``.

        A span that starts or ends inside a changed piece is widened to the whole
        original piece. Offsets outside ``0..len(text)`` are clamped."""
        n = len(self.text)
        start, end = min(max(start, 0), n), min(max(end, 0), n)
        if not self.edits:
            return start, max(start, end)
        if end <= start:
            s = self._map_start(start)
            return s, s
        return self._map_start(start), self._map_end(end)

    def _map_start(self, pos: int) -> int:
        i = bisect_right(self._starts, pos) - 1
        if i < 0:
            return pos
        edit = self.edits[i]
        if pos < edit.norm_end:  # inside a changed piece: take all of it
            return edit.orig_start
        return pos - edit.norm_end + edit.orig_end

    def _map_end(self, pos: int) -> int:
        i = bisect_left(self._starts, pos) - 1
        if i < 0:
            return pos
        edit = self.edits[i]
        if pos <= edit.norm_end:
            return edit.orig_end
        return pos - edit.norm_end + edit.orig_end


def _replacement(cluster: str) -> str:
    kept = "".join(" " if c in SPACES else c for c in cluster if c not in INVISIBLE)
    return unicodedata.normalize("NFKC", kept) if kept else ""


def normalize(text: str) -> Normalized:
    """The detection copy of ``text`` (see the module docstring); ``text`` itself when nothing changes."""
    if text.isascii() or (_SPECIAL.search(text) is None and unicodedata.is_normalized("NFKC", text)):
        return Normalized(text, text)
    out: list[str] = []
    edits: list[Edit] = []
    pos = 0  # next original offset not yet copied
    norm_len = 0
    for run in _NON_ASCII_RUN.finditer(text):
        run_start, run_end = run.span()
        # A combining mark composes with the character before it, which may be ASCII.
        if run_start > pos and unicodedata.combining(text[run_start]):
            run_start -= 1
        if run_start > pos:
            out.append(text[pos:run_start])
            norm_len += run_start - pos
        i = run_start
        while i < run_end:
            j = i + 1
            while j < run_end and unicodedata.combining(text[j]):
                j += 1
            cluster = text[i:j]
            new = _replacement(cluster)
            if new != cluster:
                # One character for one keeps the offsets; anything else (a removal, an
                # expansion, a cluster composed) is an edit, so a span never splits it.
                if len(new) != 1 or len(cluster) != 1:
                    last = edits[-1] if edits else None
                    if not new and last is not None and last.norm_end == last.norm_start == norm_len \
                            and last.orig_end == i:
                        # Consecutive removals are one edit.
                        edits[-1] = Edit(norm_len, norm_len, last.orig_start, j)
                    else:
                        edits.append(Edit(norm_len, norm_len + len(new), i, j))
                out.append(new)
                norm_len += len(new)
            else:
                out.append(cluster)
                norm_len += len(cluster)
            i = j
        pos = run_end
    if pos < len(text):
        out.append(text[pos:])
    normalized = "".join(out)
    if not edits:
        return Normalized(text, normalized)
    return Normalized(text, normalized, tuple(edits), tuple(e.norm_start for e in edits))


def detection_text(text: str) -> str:
    """Only the detection copy (for pseudonyms: the same value written two ways, one pseudonym;
    for the cost bound: NER reads this copy)."""
    return text if text.isascii() else normalize(text).text
