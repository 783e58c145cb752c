"""Names the small spaCy model misses: gazetteers, cues, and whole-name extension (redaction.md, "Names").

spaCy's small English model finds about two names in three in text it was not
tuned on, and often only part of one (``Jamal <PERSON>``). :func:`find_names`
adds, after the other recognizers ran:

1. **extension**: a PERSON finding grows over the capitalised words right
   beside it that are in a name list or are name particles (``van der``), so
   a found surname takes its first name with it and vice versa;
2. **pairs**: two or more adjacent capitalised words that are all in the name
   lists (``Wiktor Roter``);
3. **cued single names**: one capitalised listed word after a word that
   introduces a person (``Hi``, ``Thanks``, ``Dear``, ``it's``, ``name is``,
   ``Mr``/``Ms``, ``look up``, ``owner``, ``with``, ``and`` beside a name), or as
   the value of a name key in JSON (``"first": "Karen"``, any capitalised
   words there), or on the line after a sign-off (``Best regards,``);
4. **listed single names**: a capitalised word that is in the first-name list
   and in no list of common English words.

The name lists are Faker's per-locale first and last names (MIT licence, a
runtime dependency), Latin-script locales only, less the locales the honest
test corpus keeps aside (:data:`HELD_OUT_LOCALES`) so that part of its names
are unknown to every list we ship; common English words (spaCy's stop words,
Faker's English lorem word list, months, days, trace vocabulary) are removed
from the single-word rules. Loaded once per process (about 0.2 s).

Linear: one pass of a bounded regular expression over capitalised words.
Failure mode: none at run time beyond ``ImportError`` at start-up when Faker
is missing (the engine then fails to start: nothing is stored unredacted).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

# Kept out of the lists so the honest test corpus holds names no list knows (tests/.../honest).
HELD_OUT_LOCALES = frozenset({"fi_FI", "hu_HU", "zu_ZA", "yo_NG", "tw_GH", "id_ID"})

_LATIN = re.compile(r"^[A-Za-zÀ-ÖØ-öø-ɏ'’\-]{2,}$")
_PARTICLES = frozenset(
    [
        "van",
        "der",
        "den",
        "de",
        "da",
        "das",
        "do",
        "dos",
        "du",
        "von",
        "zu",
        "di",
        "del",
        "della",
        "la",
        "le",
        "bin",
        "ben",
        "al",
        "el",
        "ter",
        "ten",
    ]
)
_UP, _LO = "A-ZÀ-ÖØ-ÞĀ-Ž", "a-zß-öø-ÿā-ž"
# A capitalised word (O'Brien, Kelly-Fowler, Şener) or a particle, with its position.
_WORD = re.compile(
    rf"[{_UP}][{_LO}]+(?:[-'’][{_UP}]?[{_LO}]+)*|[{_UP}]['’][{_UP}][{_LO}]+|\b(?:{'|'.join(_PARTICLES)})\b"
)

_TRACE_WORDS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "today",
    "tomorrow",
    "yesterday",
    "status",
    "error",
    "warn",
    "warning",
    "info",
    "debug",
    "trace",
    "order",
    "orders",
    "refund",
    "refunds",
    "policy",
    "customer",
    "customers",
    "tool",
    "tools",
    "result",
    "results",
    "ticket",
    "invoice",
    "case",
    "user",
    "users",
    "agent",
    "system",
    "assistant",
    "summary",
    "total",
    "name",
    "names",
    "email",
    "phone",
    "card",
    "please",
    "thanks",
    "thank",
    "hello",
    "hi",
    "dear",
    "best",
    "regards",
    "meeting",
    "notes",
    "plan",
    "look",
    "confirm",
    "address",
    "close",
    "ship",
    "tracking",
    "found",
    "owner",
    "contact",
    "first",
    "last",
    "model",
    "update",
    "true",
    "false",
    "null",
    "none",
    "yes",
    "no",
    "ok",
    "okay",
    "bot",
    "manager",
    "account",
    "accounts",
    "bank",
    "service",
    "support",
    "team",
    "admin",
    "api",
    "http",
    "https",
    "json",
    "sir",
    "madam",
    "miss",
    "mister",
    "doctor",
    "street",
    "avenue",
    "road",
    "lane",
    "drive",
    "court",
    "place",
    "square",
    "park",
    "hall",
    "city",
    "state",
    "country",
    "north",
    "south",
    "east",
    "west",
    "new",
    "old",
    "great",
    "grand",
    "saint",
    "san",
    "santa",
    "fort",
    "port",
    "mount",
    "lake",
    "river",
    "hill",
    "valley",
    "beach",
    "bay",
    "christmas",
    "easter",
    "god",
    "king",
    "queen",
    "prince",
    "princess",
    "lord",
    "lady",
    "king's",
    "art",
    "gift",
    "grace",
    "hope",
    "joy",
    "faith",
    "will",
    "mark",
    "bill",
    "price",
    "rose",
    "may",
    "june",
    "august",
    "long",
    "young",
    "white",
    "black",
    "brown",
    "green",
    "grey",
    "gray",
    "gold",
    "silver",
    "stone",
    "wood",
    "field",
]


@dataclass(frozen=True, slots=True)
class NameLists:
    first: frozenset[str]
    last: frozenset[str]
    common: frozenset[str]

    def listed(self, word: str) -> bool:
        low = word.lower()
        return low in self.first or low in self.last

    def single(self, word: str) -> bool:
        """A listed first name that is no common English word: a name even alone."""
        low = word.lower()
        return low in self.first and low not in self.common and len(low) >= 3


def _strings(value: object) -> Iterable[str]:
    if isinstance(value, dict):
        value = list(value)
    if isinstance(value, (list, tuple)):
        return (v for v in value if isinstance(v, str))
    return ()


@lru_cache(maxsize=1)
def name_lists() -> NameLists:
    """Faker's Latin-script first and last names of every locale but :data:`HELD_OUT_LOCALES`."""
    import faker.providers.lorem.en_US as lorem
    import faker.providers.person as person
    from spacy.lang.en.stop_words import STOP_WORDS

    first: set[str] = set()
    last: set[str] = set()
    for module in pkgutil.iter_modules(person.__path__):
        if module.name in HELD_OUT_LOCALES:
            continue
        provider = importlib.import_module(f"faker.providers.person.{module.name}").Provider
        for attr, into in (
            ("first_names", first),
            ("first_names_male", first),
            ("first_names_female", first),
            ("first_names_nonbinary", first),
            ("last_names", last),
            ("last_names_male", last),
            ("last_names_female", last),
        ):
            into.update(n.lower() for n in _strings(provider.__dict__.get(attr)) if _LATIN.match(n))
    common = {w.lower() for w in STOP_WORDS} | {w.lower() for w in lorem.Provider.word_list} | set(_TRACE_WORDS)
    return NameLists(frozenset(first), frozenset(last - {w for w in common if len(w) <= 3}), frozenset(common))


# Words right before a single capitalised word that make it a name even when no list knows it.
_STRONG_CUE = re.compile(
    r"\b(?:[Hh]i|[Hh]ello|[Hh]ey|[Tt]hanks|[Tt]hank you|[Dd]ear|it's|it is|I'm|I am|this is|[Nn]ame is|named"
    r"|Mr|Mrs|Ms|Miss|Dr|Prof|[Ll]ook up|[Ll]ooked up|[Oo]wner|[Cc]ustomer|[Cc]aller|[Aa]pprover|[Aa]ssignee"
    r"|[Rr]equester|[Aa]ttn|[Ss]igned by)\.?,?:?\s{1,3}\Z"
)
# Words right before a single listed name that introduce a person.
_CUE_BEFORE = re.compile(
    r"(?:\b(?:[Hh]i|[Hh]ello|[Hh]ey|[Tt]hanks|[Tt]hank you|[Dd]ear|it's|it is|I'm|I am|this is|[Nn]ame is|named|called"
    r"|[Mm]r|[Mm]rs|[Mm]s|[Mm]iss|[Dd]r|[Pp]rof|[Ss]ir|[Mm]adam|[Ll]ook up|[Ll]ooked up|[Oo]wner|[Cc]ustomer|[Cc]lient"
    r"|[Cc]aller|[Aa]pprover|[Aa]ssignee|[Rr]equester|[Ww]ith|[Ff]or|[Bb]y|[Ff]rom|[Tt]o|[Aa]nd|[Oo]r|[Cc]ontact|[Aa]sk"
    r"|[Cc]all|[Tt]ell|[Mm]eet|[Ss]aid|[Ss]ays|[Uu]nder|[Kk]id|[Ss]on|[Dd]aughter|[Ww]ife|[Hh]usband|[Pp]artner"
    r"|[Ff]riend|[Bb]oss|[Cc]olleague|[Aa]gent|[Uu]ser|[Aa]ttn|[Cc]c|[Ss]igned)\.?,?:?\s{1,3}|^\s{0,4})\Z"
)
# After a single name: ", can you", ": \"...\"", " and <PERSON>", "'s", " is", " was", " said".
_CUE_AFTER = re.compile(r"(?:\s?[,:]|'s\b|’s\b|\s(?:and|is|was|said|says|will|has|had|asked|wrote|called|agreed)\b)")
_NAME_KEY = re.compile(
    r"[\"'](?:first|last|first_?name|last_?name|given_?name|family_?name|surname|full_?name|name|owner|contact"
    r"|customer|customer_name|user|user_name|assignee|approver|requester|signer|agent|author|recipient|sender"
    r"|holder|account_holder)[\"']\s{0,2}:\s{0,2}[\"']"
    rf"(?P<v>[{_UP}][{_LO}'’\-]+(?:\s{{1,2}}(?:[{_UP}][{_LO}'’\-]+|{'|'.join(_PARTICLES)})){{0,4}})[\"']"
)
_SIGN_OFF = re.compile(
    r"(?i:best regards|kind regards|regards|best|cheers|thanks|thank you|sincerely|yours|warm regards|br),?[ \t]*\n"
    rf"[ \t]*(?P<v>[{_UP}][{_LO}'’\-]+(?:[ \t](?:[{_UP}][{_LO}'’\-]+|{'|'.join(_PARTICLES)})){{0,3}})[ \t]*(?:\n|\Z)"
)


def _words(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group()) for m in _WORD.finditer(text)]


def _adjacent(text: str, end: int, start: int) -> bool:
    """Whether only one space (or a hyphen) separates two words."""
    gap = text[end:start]
    return gap in (" ", "-", "  ")


def word_cued(text: str, word: tuple[int, int, str], lists: NameLists) -> bool:
    """A lone capitalised word no list knows, right after a strong cue (``Thanks Macharia``)."""
    start, _end, value = word
    return value.lower() not in lists.common and _STRONG_CUE.search(text, max(0, start - 24), start) is not None


def find_names(
    text: str, found: list[tuple[int, int]], lists: NameLists | None = None, original: str | None = None
) -> list[tuple[int, int]]:
    """PERSON spans to add to ``found`` (the PERSON spans other recognizers already have in ``text``):
    extensions of found names over adjacent listed words, listed pairs, cued and listed single names,
    name-key values and signature lines. Spans may overlap ``found``; the caller merges.

    ``text`` is what words are read from (the engine passes the NER view, same offsets); name keys
    and sign-offs are read from ``original`` (default ``text``), where JSON quotes are intact."""
    lists = lists or name_lists()
    words = _words(text)
    out: list[tuple[int, int]] = []
    if not words:
        return out
    # Runs of adjacent capitalised words/particles.
    runs: list[list[tuple[int, int, str]]] = []
    for word in words:
        if word[2].lower() in lists.common and not lists.listed(word[2]):
            runs.append([])  # "Thanks", "Dear", "Status": never part of a name, and they end a run
            continue
        if runs and runs[-1] and _adjacent(text, runs[-1][-1][1], word[0]):
            runs[-1].append(word)
        else:
            runs.append([word])
    for run in runs:
        caps = [w for w in run if w[2].lower() not in _PARTICLES or w[2][0].isupper()]
        if not caps:
            continue
        # 1. extension of a found name over the run's listed words
        for start, end in found:
            inside = [i for i, w in enumerate(run) if w[0] < end and w[1] > start]
            if not inside:
                continue
            lo, hi = inside[0], inside[-1]
            while (
                lo > 0
                and (lists.listed(run[lo - 1][2]) or run[lo - 1][2].lower() in _PARTICLES)
                and run[lo - 1][2].lower() not in lists.common
            ):
                lo -= 1
            while hi + 1 < len(run) and (lists.listed(run[hi + 1][2]) or run[hi + 1][2].lower() in _PARTICLES):
                hi += 1
            while lo < hi and run[lo][2].lower() in _PARTICLES and not run[lo][2][0].isupper():
                lo += 1
            if run[lo][0] < start or run[hi][1] > end:
                out.append((min(start, run[lo][0]), max(end, run[hi][1])))
        if len(run) == 1 and not lists.listed(run[0][2]) and word_cued(text, run[0], lists):
            out.append((run[0][0], run[0][1]))
        # 2. listed pairs: every capitalised word of a 2-4 word stretch is listed, not all common
        listed = [lists.listed(w[2]) or w[2].lower() in _PARTICLES for w in run]
        i = 0
        while i < len(run):
            if not listed[i] or run[i][2].lower() in _PARTICLES:
                i += 1
                continue
            j = i
            while j + 1 < len(run) and listed[j + 1]:
                j += 1
            while j > i and run[j][2].lower() in _PARTICLES:
                j -= 1
            stretch = run[i : j + 1]
            if len(stretch) >= 2 and not all(w[2].lower() in lists.common for w in stretch):
                out.append((stretch[0][0], stretch[-1][1]))
            elif len(stretch) == 1 and len(run) == 1:
                start, end, lone = stretch[0]
                # 3./4. a single listed word: cued, or a first name that is no common word
                cued = (
                    _CUE_BEFORE.search(text, max(0, start - 24), start) is not None
                    or _CUE_AFTER.match(text, end) is not None
                )
                if lists.single(lone) or (cued and lone.lower() not in lists.common):
                    out.append((start, end))
            i = j + 1
    for pattern in (_NAME_KEY, _SIGN_OFF):
        for match in pattern.finditer(original if original is not None else text):
            value = match.group("v")
            if not all(w.lower() in lists.common for w in value.split()):
                out.append(match.span("v"))
    return out
