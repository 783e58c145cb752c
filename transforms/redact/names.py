"""Names the small spaCy model misses: gazetteers, cues, and whole-name extension (redaction.md, "Names").

spaCy's small English model finds about four names in five in text it was not
tuned on, and often only part of one (``Jamal <PERSON>``). :func:`find_names`
adds, after the other recognizers ran:

1. **extension**: a PERSON finding grows over the capitalised words right
   beside it that are in a name list, are name particles (``van der``) or are
   *unknown* (below), so a found surname takes its first name with it;
2. **pairs**: two or more adjacent capitalised words that are each listed or
   unknown (``Wiktor Roter``, ``Həzi Abbasova``);
3. **cued single names**: one capitalised listed word after a word that
   introduces a person (``Hi``, ``Thanks``, ``Dear``, ``it's``, ``name is``,
   ``Mr``/``Ms``, ``look up``, ``owner``, ``with``, ``and`` beside a name); one
   unknown word after a strong cue (``my kid``, ``said``, ``shouted at``,
   ``call me``), after a label (``Name:``, ``Directed By:``), before a person's
   verb (``Rabi shouted``, ``Pelaji lives``) or opening a line before ``,``/``:``;
   any word after a title (``ms. Faith``); the value of a name key in JSON
   (``"first": "Karen"``); the line after a sign-off (``Best regards,``);
4. **listed single names**: a capitalised word that is in the first-name list
   and in no list of common English words;
5. **second pass**: a lone listed or unknown word coordinated with a name
   already found (``Natalja and <PERSON>``, ``A, B and <PERSON>``).

The name lists are Faker's per-locale first and last names (MIT licence, a
runtime dependency), Latin-script locales only, less the locales the honest
test corpus keeps aside (:data:`HELD_OUT_LOCALES`) so that part of its names
are unknown to every list we ship; common English words (spaCy's stop words,
Faker's English lorem word list, months, days, trace and product vocabulary)
are removed from the single-word rules. A word is *unknown* when it is in no
name list, no common list and not in WordNet's English lemmas that the spaCy
model ships for its lemmatizer (:func:`english_words`, inflections included):
what a name no list knows looks like. Loaded once per process (about 0.3 s).

Linear: one pass of a bounded regular expression over capitalised words, each
rule looking at a bounded window. Failure modes: none at run time beyond
``ImportError`` at start-up when Faker is missing (the engine then fails to
start: nothing is stored unredacted); a model without lemma lookups only turns
the unknown-word rules off.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tracelake.transforms.redact.patterns import ORG_WORDS

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


def _letter_class(category: str) -> str:
    """A regex character class body of every ``category`` letter (``Lu`` or ``Ll``) of the Latin blocks:
    Basic Latin to IPA (U+0000-U+02AF: Azeri ``ə``, Twi ``ɛ ɔ``) and Latin Extended Additional
    (U+1E00-U+1EFF: Yoruba ``ẹ ọ ṣ``, Vietnamese). Python's ``re`` has no ``\\p{Lu}``."""
    points = [c for c in [*range(0x2B0), *range(0x1E00, 0x1F00)] if unicodedata.category(chr(c)) == category]
    ranges: list[tuple[int, int]] = []
    for c in points:
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1] = (ranges[-1][0], c)
        else:
            ranges.append((c, c))
    return "".join(chr(a) if a == b else f"{chr(a)}-{chr(b)}" for a, b in ranges)


_UP, _LO = _letter_class("Lu"), _letter_class("Ll")
_APOSTROPHES = "'’‘ʼ"
# A capitalised word (O'Brien, Kelly-Fowler, Şener, Sa’adatu, Əsgəroğlu) or a particle, with its position.
_WORD = re.compile(
    rf"[{_UP}][{_LO}]+(?:[-{_APOSTROPHES}][{_UP}]?[{_LO}]+)*|[{_UP}][{_APOSTROPHES}][{_UP}][{_LO}]+"
    rf"|\b(?:{'|'.join(_PARTICLES)})\b"
)
_POSSESSIVE = re.compile(rf"[{_APOSTROPHES}]s$")
_LETTER_OR_DIGIT = re.compile(rf"[0-9A-Za-z{_UP}{_LO}]")

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


# Product, tool and trace words no dictionary holds: never a name on their own (an unknown capitalised
# word in a person's position is redacted, so these would be, in "Zendesk is down").
_TECH_WORDS = """
traceback stacktrace webhook webhooks checkout signup login logout dropdown popup username email emails
inbox wifi api apis url urls json yaml xml csv pdf sql http https oauth sso saml jwt uuid sku skus
zendesk jira confluence slack github gitlab bitbucket kubernetes postgres postgresql mysql redis mongo
mongodb kafka nginx linux ubuntu debian macos ios android gmail outlook whatsapp paypal shopify stripe
salesforce hubspot twilio okta datadog grafana sentry pagerduty airtable notion figma asana trello
openai anthropic claude gemini llama mistral gpt chatgpt copilot langchain python javascript typescript
golang rust java pytest docker terraform ansible aws azure gcp lambda dynamodb bigquery snowflake
ebay amazon google microsoft apple netflix spotify uber airbnb youtube facebook instagram linkedin tiktok
tracelake presidio spacy faker acme initech globex
"""


@dataclass(frozen=True, slots=True)
class NameLists:
    """Name gazetteers and the English vocabulary that says what is *not* a name.

    ``first``/``last``: listed names (lower case). ``common``: words that never count as a name on
    their own (stop words, Faker's English word list, trace and product vocabulary). ``english``:
    a full English dictionary (WordNet's lemmas from the spaCy model); empty when the model ships
    none, and then no unlisted word is ever taken for a name (:meth:`unknown` is always False)."""

    first: frozenset[str]
    last: frozenset[str]
    common: frozenset[str]
    english: frozenset[str] = frozenset()

    def listed(self, word: str) -> bool:
        low = word.lower()
        return low in self.first or low in self.last

    def single(self, word: str) -> bool:
        """A listed first name that is no common English word: a name even alone."""
        low = word.lower()
        return low in self.first and low not in self.common and len(low) >= 3

    def unknown(self, word: str) -> bool:
        """A capitalised word in no name list, no common list and no English dictionary (inflections
        included): what a name no list knows looks like (``Nnamdi``, ``Əsgəroğlu``). Also what a place
        or a brand no list knows looks like, so the rules only take it in a person's position."""
        if not self.english:
            return False
        low = word.lower()
        if len(low) < 3 or low in self.common or self.listed(word) or not word[1:].islower():
            return False
        return not _inflected(low, self.english)


def _inflected(low: str, words: frozenset[str]) -> bool:
    """Whether ``low`` or a stem of it (plural, past, gerund, adverb, comparative) is in ``words``."""
    if low in words:
        return True
    for suffix, repl in (("ies", "y"), ("es", ""), ("s", ""), ("ed", ""), ("ed", "e"), ("ing", ""), ("ing", "e"),
                         ("ly", ""), ("er", ""), ("ers", ""), ("est", ""), ("ness", ""), ("ment", "")):
        if low.endswith(suffix) and len(low) - len(suffix) >= 3 and low[: -len(suffix)] + repl in words:
            return True
    return False


def _strings(value: object) -> Iterable[str]:
    if isinstance(value, dict):
        value = list(value)
    if isinstance(value, (list, tuple)):
        return (v for v in value if isinstance(v, str))
    return ()


@lru_cache(maxsize=4)
def english_words(model: str) -> frozenset[str]:
    """Single English words (lower case) of WordNet's lemma index that the spaCy ``model`` package ships
    for its lemmatizer (about 90 000 words, 0.05 s), with its irregular forms. Empty when the model
    is not an installed package or ships no lemma lookups: callers then take no unlisted word for a
    name (fewer names found, nothing else changes). Never raises for a missing table."""
    try:
        import spacy.util
        from spacy.lookups import Lookups

        root = Path(model) if Path(model).exists() else spacy.util.get_package_path(model)
        tables = sorted(root.glob("**/lemmatizer/lookups"))
        if not tables:
            return frozenset()
        lookups = Lookups().from_disk(tables[0])
    except Exception:  # noqa: BLE001 - a model without lookups: the dictionary is simply absent
        return frozenset()
    words: set[str] = set()
    for name in ("lemma_index", "lemma_exc"):
        if not lookups.has_table(name):
            continue
        for by_pos in lookups.get_table(name).values():
            words.update(w for w in by_pos if w.isalpha())
    return frozenset(w.lower() for w in words)


@lru_cache(maxsize=4)
def name_lists(model: str | None = None) -> NameLists:
    """Faker's Latin-script first and last names of every locale but :data:`HELD_OUT_LOCALES`, and,
    when ``model`` (a spaCy model package) is given, its English dictionary (:func:`english_words`)."""
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
    common = (
        {w.lower() for w in STOP_WORDS}
        | {w.lower() for w in lorem.Provider.word_list}
        | set(_TRACE_WORDS)
        | set(_TECH_WORDS.split())
    )
    english = english_words(model) if model else frozenset()
    return NameLists(
        frozenset(first), frozenset(last - {w for w in common if len(w) <= 3}), frozenset(common), english
    )


# Words right before a single capitalised word that make it a name even when no list knows it.
_STRONG_CUE = re.compile(
    r"\b(?:[Hh]i|[Hh]ello|[Hh]ey|[Tt]hanks|[Tt]hank you|[Dd]ear|it's|it is|I'm|I am|this is|[Nn]ame is|named"
    r"|[Nn]ame\?|[Cc]all me|[Cc]alls me|[Cc]alled me"
    r"|Mr|Mrs|Ms|Miss|Dr|Prof|[Ll]ook up|[Ll]ooked up|[Oo]wner|[Cc]ustomer|[Cc]aller|[Aa]pprover|[Aa]ssignee"
    r"|[Rr]equester|[Aa]ttn|[Ss]igned by"
    # relations and reported speech: "my kid Şakir", "said Raivo", "shouted at Nasiru", "commenter Obi"
    r"|[Kk]id|[Ss]on|[Dd]aughter|[Ww]ife|[Hh]usband|[Bb]rother|[Ss]ister|[Mm]other|[Ff]ather|[Mm]om|[Dd]ad"
    r"|[Uu]ncle|[Aa]unt|[Cc]ousin|[Nn]ephew|[Nn]iece|[Ff]riend|[Bb]oss|[Cc]olleague|[Nn]eighbou?r|[Cc]ommenter"
    r"|[Ff]ounders?|[Ss]aid|[Aa]sked|[Tt]old|[Mm]et|[Mm]eet|[Mm]arried"
    r"|(?:[Ss]houted|[Yy]elled|[Ss]poke|[Tt]alked|[Ww]rote|[Ss]miled|[Ww]aved|[Ll]ooked|[Ll]aughed) (?:at|to|with))"
    r"\.?,?:?\s{1,3}\Z"
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
# After a single unknown word, a verb only a person (or a pet) does: "Nashipie is very reliable", "Pelaji
# lives on", "Rabi shouted at", "Kaņeps began writing". An unknown product name before "is" goes too.
_PERSON_AFTER = re.compile(
    r"\s(?:is|was|has|had|said|says|asked|asks|told|tells|wrote|writes|called|agreed|agrees|lives|lived|shouted"
    r"|yelled|began|begins|went|gave|gives|wants|wanted|needs|needed|thinks|thought|works|worked|joined|left|met"
    r"|married|smiled|laughed|cried|replied|answered|complained|promised|decided|signed|paid|ordered|bought"
    r"|returned to|will|would|can|could|should|must|did|does|and I|and me|herself|himself)\b"
)
# A person named by a title, whatever the word: "Mr. Rose", "with ms. Faith", "Dr Mölder".
_TITLE = re.compile(
    r"\b(?:[Mm]rs?|[Mm]s|[Mm]x|Miss|Dr|Prof|Sir|Madam|Mme|Mlle|Herr|Frau|Sra?)\.?[ \t]{1,3}\Z"
)
# A line that labels a person: "Name: Nneka Okafor", "Directed By: Ermanis Liepa", "User: Mindaugas Nagys".
_LABEL = re.compile(
    r"(?im:^[ \t]*(?:(?:full |first |last |customer |contact |account |user ?)?name|customer|client|contact|owner"
    r"|author|user|caller|patient|employee|assignee|approver|requester|signed by|directed by|written by"
    r"|produced by|by|from|to|cc|attn)[ \t]*:[ \t]*)\Z"
)
_LINE_START = re.compile(r"(?:^|\n)[ \t]{0,4}\Z")
_COORDINATION = re.compile(r"(?:,? and |,? or | & |, )\Z")
_COORDINATION_PASSES = 4
_NAME_KEY = re.compile(
    r"[\"'](?:first|last|first_?name|last_?name|given_?name|family_?name|surname|full_?name|name|owner|contact"
    r"|customer|customer_name|user|user_name|assignee|approver|requester|signer|agent|author|recipient|sender"
    r"|holder|account_holder)[\"']\s{0,2}:\s{0,2}[\"']"
    rf"(?P<v>(?:(?:{'|'.join(_PARTICLES)})\s)?[{_UP}][{_LO}{_APOSTROPHES}\-]+"
    rf"(?:\s{{1,2}}(?:[{_UP}][{_LO}{_APOSTROPHES}\-]+|{'|'.join(_PARTICLES)})){{0,4}})[\"']"
)
_SIGN_OFF = re.compile(
    r"(?i:best regards|kind regards|regards|best|cheers|thanks|thank you|sincerely|yours|warm regards|br),?[ \t]*\n"
    rf"[ \t]*(?P<v>[{_UP}][{_LO}{_APOSTROPHES}\-]+(?:[ \t](?:[{_UP}][{_LO}{_APOSTROPHES}\-]+|{'|'.join(_PARTICLES)}))"
    r"{0,3})[ \t]*(?:\n|\Z)"
)

Word = tuple[int, int, str]


def _words(text: str) -> list[Word]:
    """Capitalised words and particles with their spans; a possessive ``'s`` is not part of the word
    (``Dušan's kid`` holds ``Dušan``), and a word glued to letters or digits (``ValueError``'s
    ``Error``, ``SKU9Foo``) is left out: it is part of an identifier."""
    out = []
    for m in _WORD.finditer(text):
        start, end, value = m.start(), m.end(), m.group()
        if start and _LETTER_OR_DIGIT.match(text, start - 1):
            continue
        if end < len(text) and _LETTER_OR_DIGIT.match(text, end):
            continue
        if _POSSESSIVE.search(value):
            end, value = end - 2, value[:-2]
        out.append((start, end, value))
    return out


def _adjacent(text: str, end: int, start: int) -> bool:
    """Whether only one space (or a hyphen) separates two words."""
    gap = text[end:start]
    return gap in (" ", "-", "  ")


def word_cued(text: str, word: Word, lists: NameLists) -> bool:
    """A lone capitalised word no list knows, right after a strong cue (``Thanks Macharia``)."""
    start, _end, value = word
    return value.lower() not in lists.common and _STRONG_CUE.search(text, max(0, start - 24), start) is not None


def _unknown_in_place(text: str, word: Word) -> bool:
    """A lone unknown word where a person stands: after a strong cue or a label (``Name:``), before a
    person's verb (``Rabi shouted``), or opening a line and followed by ``,``/``:`` (``Ujamaa, can I``,
    a chat turn ``Chijioke: "Who are you?"``)."""
    start, end, _value = word
    if _STRONG_CUE.search(text, max(0, start - 24), start) or _LABEL.search(text, max(0, start - 30), start):
        return True
    if _PERSON_AFTER.match(text, end, min(len(text), end + 16)):
        return True
    return (_LINE_START.search(text, max(0, start - 6), start) is not None
            and text[end:end + 1] in (",", ":"))


def find_names(
    text: str, found: list[tuple[int, int]], lists: NameLists | None = None, original: str | None = None
) -> list[tuple[int, int]]:
    """PERSON spans to add to ``found`` (the PERSON spans other recognizers already have in ``text``):
    extensions of found names over adjacent listed or unknown words, listed or unknown pairs, cued,
    titled, labelled and listed single names, names coordinated with a found one (``Natalja and
    <PERSON>``), name-key values and signature lines. Spans may overlap ``found``; the caller merges.

    ``text`` is what words are read from (the engine passes the NER view, same offsets); name keys
    and sign-offs are read from ``original`` (default ``text``), where JSON quotes are intact.
    Linear in ``len(text)``: each rule looks a bounded window around a word. Never raises."""
    lists = lists or name_lists()
    words = _words(text)
    out: list[tuple[int, int]] = []
    if not words:
        return out

    def part(word: Word) -> bool:  # may be part of a name beside other name words
        low = word[2].lower()
        return lists.listed(word[2]) or low in _PARTICLES or lists.unknown(word[2])

    # Runs of adjacent capitalised words/particles.
    runs: list[list[Word]] = []
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
        # 1. extension of a found name over the run's listed and unknown words
        for start, end in found:
            inside = [i for i, w in enumerate(run) if w[0] < end and w[1] > start]
            if not inside:
                continue
            lo, hi = inside[0], inside[-1]
            while lo > 0 and part(run[lo - 1]) and run[lo - 1][2].lower() not in lists.common:
                lo -= 1
            while hi + 1 < len(run) and part(run[hi + 1]):
                hi += 1
            while lo < hi and run[lo][2].lower() in _PARTICLES and not run[lo][2][0].isupper():
                lo += 1
            if run[lo][0] < start or run[hi][1] > end:
                out.append((min(start, run[lo][0]), max(end, run[hi][1])))
        # a title names whatever follows it: "Mr. Rose", "ms. Faith"
        if _TITLE.search(text, max(0, run[0][0] - 8), run[0][0]) and not any(
                w[2].lower() in ORG_WORDS for w in run):
            out.append((run[0][0], run[min(len(run), 3) - 1][1]))
        if len(run) == 1 and not lists.listed(run[0][2]) and (
            word_cued(text, run[0], lists) or (lists.unknown(run[0][2]) and _unknown_in_place(text, run[0]))
        ):
            out.append((run[0][0], run[0][1]))
        # 2. pairs: every capitalised word of a 2-4 word stretch is listed or unknown, not all common
        named = [part(w) for w in run]
        i = 0
        while i < len(run):
            if not named[i] or run[i][2].lower() in _PARTICLES:
                i += 1
                continue
            j = i
            while j + 1 < len(run) and named[j + 1]:
                j += 1
            while j > i and run[j][2].lower() in _PARTICLES:
                j -= 1
            stretch = run[i : j + 1]
            if len(stretch) >= 2 and not all(w[2].lower() in lists.common for w in stretch):
                out.append((stretch[0][0], stretch[-1][1]))
            elif len(stretch) == 1 and len(run) == 1 and lists.listed(stretch[0][2]):
                start, end, lone = stretch[0]
                # 3./4. a single listed word: cued, or a first name that is no common word
                cued = (
                    _CUE_BEFORE.search(text, max(0, start - 24), start) is not None
                    or _CUE_AFTER.match(text, end) is not None
                    or _LABEL.search(text, max(0, start - 30), start) is not None
                    or _STRONG_CUE.search(text, max(0, start - 24), start) is not None
                )
                if lists.single(lone) or (cued and lone.lower() not in lists.common):
                    out.append((start, end))
            i = j + 1
    # 5. a labelled line: "Name: X Y" (any capitalised words, one of them listed or unknown)
    for run in runs:
        if run and _LABEL.search(text, max(0, run[0][0] - 30), run[0][0]) and any(
                lists.listed(w[2]) or lists.unknown(w[2]) for w in run[:4]):
            out.append((run[0][0], run[min(len(run), 4) - 1][1]))
    for pattern in (_NAME_KEY, _SIGN_OFF):
        for match in pattern.finditer(original if original is not None else text):
            value = match.group("v")
            if not all(w.lower() in lists.common for w in value.split()):
                out.append(match.span("v"))
    # 6. second pass: a lone listed or unknown word coordinated with a name ("Natalja and <PERSON>",
    # "Arnarsdóttir, Allansdóttir and <PERSON>"). Spans are indexed by their ends, so each pass is linear;
    # a chain of coordinated names grows by one word a pass, for at most _COORDINATION_PASSES passes.
    starts = {s for s, _ in [*found, *out]}
    ends = {e for _, e in [*found, *out]}
    singles = [r[0] for r in runs if len(r) == 1 and (lists.listed(r[0][2]) or lists.unknown(r[0][2]))
            and r[0][2].lower() not in lists.common]
    for _ in range(_COORDINATION_PASSES):
        added = [w for w in singles if w[0] not in starts and (
            any(w[1] + k in starts and _COORDINATION.match(text, w[1], w[1] + k) for k in range(2, 7))
            or any(w[0] - k in ends and _COORDINATION.match(text, w[0] - k, w[0]) for k in range(2, 7)))]
        if not added:
            break
        for w in added:
            starts.add(w[0])
            ends.add(w[1])
            out.append((w[0], w[1]))
    return out
