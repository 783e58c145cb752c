"""tracelake's own Presidio recognizers: secrets, US SSNs, e-mail, street addresses, phones.

Each is a Presidio ``LocalRecognizer`` so it sits in the same registry as the
stock ones, but matches with one precompiled alternation (stdlib ``re``, fixed
flags) instead of one pass per pattern. Every pattern is linear: no nested
quantifiers, bounded repeats, so hostile input cannot make it backtrack.

``gate`` on each recognizer is a cheap test of whether it can match at all;
the engine skips a recognizer whose gate says no (most agent texts hold no
digits run long enough to be a phone number, no ``@``, no ``://``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

import phonenumbers
from phonenumbers.phonenumbermatcher import _PATTERN as _PHONE_CANDIDATE  # the matcher's own cut
from phonenumbers.phonenumbermatcher import (  # the matcher's own VALID checks, without its re-scan of the text
    _contains_only_valid_x_chars,
    _is_national_prefix_present_if_required,
)
from presidio_analyzer import LocalRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from tracelake.transforms.redact.config import EMAIL_ADDRESS, LOCATION, PERSON, PHONE_NUMBER, SECRET, US_SSN

# name -> regex; the span of group "s" (or the whole match) is the secret.
SECRET_PATTERNS: dict[str, str] = {
    "aws_access_key_id": r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[A-Z0-9]{16}\b",
    "gcp_api_key": r"\bAIza[0-9A-Za-z_\-]{35}(?![0-9A-Za-z_\-])",
    "github_token": r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}\b",
    "github_fine_grained_pat": r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b",
    "gitlab_token": r"\bgl(?:pat|dt|ptt|rt|cbt|oas|ft)-[A-Za-z0-9_\-]{20,255}",
    "stripe_key": r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,255}\b",
    "stripe_webhook_secret": r"\bwhsec_[A-Za-z0-9]{24,255}\b",
    "slack_token": r"\bxox[abposre]-[A-Za-z0-9\-]{10,255}",
    "slack_webhook": r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_\-]{20,255}",
    "anthropic_key": r"\bsk-ant-[A-Za-z0-9_\-]{20,255}",
    "openai_key": r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,255}",
    "huggingface_token": r"\bhf_[A-Za-z0-9]{30,255}\b",
    "npm_token": r"\bnpm_[A-Za-z0-9]{36}\b",
    "pypi_token": r"\bpypi-AgE[A-Za-z0-9_\-]{50,255}",
    "sendgrid_key": r"\bSG\.[A-Za-z0-9_\-]{20,24}\.[A-Za-z0-9_\-]{39,50}",
    "telegram_bot_token": r"\b\d{8,10}:AA[A-Za-z0-9_\-]{33}\b",
    "square_token": r"\bsq0(?:atp|csp)-[A-Za-z0-9_\-]{22,60}",
    "azure_account_key": r"(?i:AccountKey)=(?P<s>[A-Za-z0-9+/]{40,100}={0,2})",
    "jwt": r"\beyJ[A-Za-z0-9_\-]{8,4096}\.eyJ[A-Za-z0-9_\-]{8,8192}\.[A-Za-z0-9_\-]{0,4096}",
    "private_key_block": (
        r"-----BEGIN (?:[A-Z0-9]{1,20} ){0,3}PRIVATE KEY(?: BLOCK)?-----"
        r"(?:[^-]{0,16384}?-----END (?:[A-Z0-9]{1,20} ){0,3}PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\s\\]{0,16384})"
    ),
    "bearer_token": r"\b(?i:bearer)\s{1,8}(?P<s>[A-Za-z0-9\-._~+/]{8,4096}=*)",
    "basic_auth": r"\b(?i:basic)\s{1,8}(?P<s>[A-Za-z0-9+/]{12,4096}={0,2})(?![A-Za-z0-9+/=])",
    # scheme://user:password@host — the password only; the user is kept.
    "url_password": r"\b[A-Za-z][A-Za-z0-9+.\-]{1,20}://[^\s:/@]{1,256}:(?P<s>[^\s@/]{1,256})@",
    # password=..., "api_key": "...", client_secret: ... — the value only.
    "secret_pair": (
        r"(?<![<\w])(?i:(?:password|passwd|pwd|passphrase|secret|client[_\-]?secret|api[_\-]?key|apikey|access[_\-]?key"
        r"|secret[_\-]?key|auth[_\-]?token|access[_\-]?token|refresh[_\-]?token|token))"
        r"[\"']?\s{0,4}[:=]\s{0,4}[\"']?(?P<s>[^\s\"',;&}{)(\]\[<>]{3,512})"
    ),
}

_SECRET_RE = re.compile("|".join(f"(?:{p})" for p in SECRET_PATTERNS.values()).replace("(?P<s>", "(?:"))
_SECRET_PARTS = [(name, re.compile(p)) for name, p in SECRET_PATTERNS.items()]

# Placeholder values never count as secrets: "password=<SECRET>" after a first pass.
_ALREADY_REDACTED = re.compile(r"^<[A-Z_]+(?::[0-9a-f]{8})?>$")


class _Recognizer(LocalRecognizer):
    """A recognizer with a ``gate``: ``gate(text) is False`` means it cannot match ``text``."""

    name: str  # set by Presidio's EntityRecognizer.__init__

    gate: Callable[[str], bool] = staticmethod(lambda text: True)

    def load(self) -> None:  # nothing to load: patterns compile at import
        pass

    def _result(self, entity: str, start: int, end: int, score: float) -> RecognizerResult:
        return RecognizerResult(
            entity_type=entity, start=start, end=end, score=score,
            recognition_metadata={
                RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
            },
        )


class SecretRecognizer(_Recognizer):
    """Credentials: cloud, VCS, payment, chat and LLM-provider keys, JWTs, private keys, bearer/basic
    tokens, passwords in URLs and in ``password=``-style pairs. Score 1.0: a key shape is unambiguous."""

    def __init__(self) -> None:
        super().__init__(supported_entities=[SECRET], name="TracelakeSecretRecognizer", supported_language="en")

    @staticmethod
    def gate(text: str) -> bool:
        return _SECRET_RE.search(text) is not None

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        found: set[tuple[int, int]] = set()  # kinds overlap (sk-ant- is also an sk- key): one result per span
        for _name, pattern in _SECRET_PARTS:
            for match in pattern.finditer(text):
                group = "s" if "s" in pattern.groupindex and match.group("s") is not None else 0
                start, end = match.span(group)
                if end > start and not _ALREADY_REDACTED.match(text[start:end]):
                    found.add((start, end))
        return [self._result(SECRET, start, end, 1.0) for start, end in sorted(found)]


# 123-45-6789 and 123 45 6789 (one separator kind throughout). Presidio's stock
# recognizer drops "sample-looking" numbers such as 123-45-6789; the contract
# asks for them. Only impossible groups (000, 666, 00, 0000) are refused.
_SSN = re.compile(r"(?<![\w-])(?!000|666)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\w-])")


class StrictUsSsnRecognizer(_Recognizer):
    def __init__(self) -> None:
        super().__init__(supported_entities=[US_SSN], name="TracelakeUsSsnRecognizer", supported_language="en")

    @staticmethod
    def gate(text: str) -> bool:
        return _SSN.search(text) is not None

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        return [self._result(US_SSN, m.start(), m.end(), 0.9) for m in _SSN.finditer(text)]


# Any dotted domain with an alphabetic TLD: the stock recognizer asks tldextract
# whether the TLD is public, which misses corp.internal mail and needs a
# public-suffix list (network, or a stale snapshot).
_EMAIL = re.compile(
    r"(?<![\w.%+\-])[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}[A-Za-z0-9])?){0,8}\.[A-Za-z]{2,24}(?![A-Za-z0-9\-])"
)


_URL_USERINFO = re.compile(r"://[^\s/@:]{0,256}:$")


class OfflineEmailRecognizer(_Recognizer):
    def __init__(self) -> None:
        super().__init__(supported_entities=[EMAIL_ADDRESS], name="TracelakeEmailRecognizer",
                         supported_language="en")

    @staticmethod
    def gate(text: str) -> bool:
        return "@" in text

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        return [
            self._result(EMAIL_ADDRESS, m.start(), m.end(), 1.0) for m in _EMAIL.finditer(text)
            # "scheme://user:password@host" holds a password, not an address
            if not _URL_USERINFO.search(text, max(0, m.start() - 300), m.start())
        ]


_UP, _LO = "A-ZÀ-ÖØ-ÞĀ-ſ", "a-zß-öø-ÿā-ſ"
NAME_WORD = f"[{_UP}](?:[{_LO}]+(?:[-'’][{_UP}]?[{_LO}]+)?|['’][{_UP}][{_LO}]+)"
_PERSON_CUE = re.compile(
    r"(?:\b(?:[Cc]ustomer|[Cc]lient|[Cc]aller|[Pp]atient|[Ee]mployee|[Aa]pprover|[Rr]equester|[Aa]pplicant"
    r"|[Cc]ardholder|[Cc]ontact|[Cc]all|[Nn]amed|[Ss]igned by|[Aa]ttn:?|Mr\.?|Mrs\.?|Ms\.?|Dr\.?|Dear|Hi|Hello)\s{1,3}"
    r"|\"(?:customer|name|full_name|customer_name|requester|approver|user|contact)\"\s{0,2}:\s{0,2}\")"
    f"(?P<s>{NAME_WORD}(?:\\s{{1,2}}{NAME_WORD}){{1,2}})"
)


class PersonCueRecognizer(_Recognizer):
    """Two or three capitalised words right after a word that introduces a person (``customer``,
    ``call``, ``Dear``, ``Mr``, a ``"customer": "..."`` pair): names the small model does not know."""

    def __init__(self) -> None:
        super().__init__(supported_entities=[PERSON], name="TracelakePersonCueRecognizer", supported_language="en")

    @staticmethod
    def gate(text: str) -> bool:
        return _PERSON_CUE.search(text) is not None

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        return [self._result(PERSON, m.start("s"), m.end("s"), 0.6) for m in _PERSON_CUE.finditer(text)
                if not any(word.lower() in ORG_WORDS for word in m.group("s").split())]


_STREET_TYPES = (
    "Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Way|Court|Ct|Place|Pl|Square|Sq|Terrace"
    "|Parkway|Pkwy|Highway|Hwy|Close|Crescent|Gardens|Strasse|Straße|Str|Allee|Weg|Gasse|Platz"
)
_STREET = re.compile(
    r"\b\d{1,5}[A-Za-z]?,?\s{1,3}(?:[A-Z][A-Za-zÀ-ÿ'\-]{1,30}\s{1,3}){1,4}(?:" + _STREET_TYPES + r")\b\.?"
    r"|\b(?:Rue|Avenue|Calle|Via|Viale|Rua|Boulevard)\s{1,3}(?:d[eu']\s?|de la\s)?(?:[A-Z][A-Za-zÀ-ÿ'\-]{1,30}\s?){1,4}"
    r",?\s{0,3}\d{1,5}\b"
    r"|\b[A-Z][a-zà-ÿß]{2,30}(?:strasse|straße|str\.|weg|gasse|allee|platz)\s{1,3}\d{1,5}[a-z]?\b"
)


class StreetAddressRecognizer(_Recognizer):
    """Street addresses (``12 Baker Street``, ``Rue de Rivoli 99``, ``Hauptstraße 5``) -> LOCATION.

    spaCy's small model finds cities and countries but rarely the street."""

    def __init__(self) -> None:
        super().__init__(supported_entities=[LOCATION], name="TracelakeStreetAddressRecognizer",
                         supported_language="en")

    @staticmethod
    def gate(text: str) -> bool:
        return _STREET.search(text) is not None

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        return [self._result(LOCATION, m.start(), m.end(), 0.7) for m in _STREET.finditer(text)]


_ORG_WORDS = """
inc ltd llc gmbh ag sa plc corp corporation co company bank group team support services service policy labs
systems technologies tech university college institute agency department office council foundation partners
holdings capital solutions software cloud api platform store shop market outdoor airlines hotel hospital
"""
ORG_WORDS = frozenset(_ORG_WORDS.split())

# Seven digits, each at most four characters from the next: the loosest
# shape of the shortest national number worth looking for.
_PHONE_SHAPE = re.compile(r"\d(?:\D{0,4}\d){6}")
_DATE_LIKE = re.compile(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}$|^\d{1,2}[-/.]\d{1,2}[-/.]\d{4}$")
PHONE_REGIONS = ("US", "GB", "DE", "FR", "IL", "IN", "CA", "BR", "ES", "IT", "NL", "AU", "JP", "MX", "NG", "ZA")


def _luhn_valid(text: str) -> bool:
    digits = [int(ch) for ch in text if ch.isdigit()]
    total = sum(digits[-1::-2]) + sum(sum(divmod(2 * d, 10)) for d in digits[-2::-2])
    return total % 10 == 0


# --- phones by shape, numbers kept by shape (redaction.md, "Phones and kept numbers") -------------
# Words right before a number that say it is a phone: the number is one whatever its range.
_PHONE_CUE_BEFORE = re.compile(
    r"(?i:\b(?:phone|tel|telephone|mobile|mob|cell|cellphone|fax|ph|sms|whatsapp|callback|hotline"
    r"|call(?:\s(?:me|us|him|her|them))?(?:\s(?:on|at|back\son|back\sat))?|reach\s(?:me|us)\s(?:on|at)"
    r"|text\s(?:me|us)(?:\s(?:on|at))?|number|reachable\s(?:at|on)|reach\s(?:\w+\s)?(?:at|on)"
    r"|ring(?:\s(?:me|us|him|her|them))?(?:\sback)?\s(?:on|at)|answering\s(?:at|on)|dial(?:ed|led)?|sent\sto"
    r"|registered|answer\sfrom|msisdn|whatsapp|viber|telegram|on-call|landline|telefon|telefono|tlf|tfn|handy|celular)\b"
    r"[\"'\s:=#.\-]{0,6}"
    r"|\b(?:phone|tel|mobile|cell|fax|contact|msisdn|whatsapp)[\"']?\s{0,2}[:=]\s{0,2}[\"']?)\Z"
)
_PHONE_CUE_AFTER = re.compile(
    r"\s{0,2}(?:\(?(?i:mobile|cell|fax|phone|tel|office|home|work)\b|as\s(?:your|my|the|a)\s(?:\w+\s)?(?:number|phone))")
# Words or tokens right before a number that say it is an identifier: order/ticket/invoice numbers, ISBNs...
_KEEP_CUE_BEFORE = re.compile(
    r"(?i:\b(?:order|orders|invoice|inv|ticket|case|incident|tracking|shipment|parcel|isbn|isbn-1[03]|ean|upc|gtin"
    r"|sku|item|article|part|ref|reference|po|build|version|release|rev|id|no|nr|num|batch|lot|serial|account"
    r"|acct|policy|claim|request|req|job|run|pid|port|line|row|page|ms|bytes|epoch|ts|timestamp)\b[\"'\s:=#.\-]{0,4}"
    r"|#\s?)\Z"
)
# A number glued to the token before it is part of that token: ORD-2026-026536, INV/2022/3845,
# T14:05:04.348831, v2.5.1, SKU-4411-BLK.
_GLUED = re.compile(r"[A-Za-z0-9][\-/_#.:]?\Z")
_YEAR_PREFIX = re.compile(r"^(?:19|20)\d\d[\-/._]\d")
_DATE_PREFIX = re.compile(r"^\d{1,2}[./\-]\d{1,2}[./\-](?:19|20)\d\d\b|^(?:19|20)\d\d[\-/.]\d{1,2}[\-/.]\d{1,2}\b")
# ISBN-10/13 and similar check-digit identifiers end in a one-digit group: 1-4355-6372-7, 978-1-109-24834-0.
_CHECK_DIGIT_GROUP = re.compile(r"\d[\- ]\d$")
# Phone groupings: international (+ or 00 and a country code), a trunk 0 or a bracketed area code with
# separators, North-American 3-3-4 (optionally after 1), or pairs (94 97 70 22, 06 12 34 56 78).
_PHONE_SHAPE_BY_GROUPS = re.compile(
    r"^(?:\+|＋|00[1-9])[\s\-./()]{0,3}\d"
    r"|^(?:\d\s?)?\(\d{1,5}\)\s?\d"
    r"|^0\d{1,5}(?:[\s\-./]|\)\s?|/\s)\d{2,8}(?:[\s\-./]\d{2,8}){0,3}$"
    r"|^\(?\d{1,4}\)?/\s?\d{3,4}[\s\-]\d{3,4}$"
    r"|^\d{3}[\- ]\d{4}$|^\d{3}-\d{2}-\d{2}$"
    r"|^(?:1[\s\-.])?\d{3}(?P<nanp>[\-. ])\d{3}(?P=nanp)\d{4}$"
    r"|^\d\d(?P<pair>[ .])\d\d(?P=pair)\d\d(?P=pair)\d\d(?:(?P=pair)\d\d)?$"
)
_BARE_DIGITS = re.compile(r"^\d+$")
# An undelimited national number: the trunk prefix 0 (used from Europe to Africa and Asia) and 8 to 11
# more digits (0612345678, 03001234567, 081234567890). Ids padded with zeros start 00 and stay open.
_TRUNK_NATIONAL = re.compile(r"^0[1-9]\d{7,10}$")
# Phone groups separated by spaces or dots: a lead of 1-5 digits, then two or more groups of 2-4
# (483 82 071, 866 71 43, 8 701 480 02 58, 2540 810 480), 7-13 digits in all. A thousands shape
# (1-3 digits, then groups of exactly three: 12 345 678) is an amount, not a phone.
_SPACED_GROUPS = re.compile(r"^\d{1,5}([ .])\d{2,4}(?:\1\d{2,4}){1,4}$")
_THOUSANDS = re.compile(r"^\d{1,3}(?:([ .])\d{3})(?:\1\d{3})*$")
# A currency code right after a number makes it an amount: "78524550 JPY".
_AMOUNT_AFTER = re.compile(
    r"\s?(?:USD|EUR|GBP|JPY|CNY|INR|CHF|CAD|AUD|NZD|SEK|NOK|DKK|PLN|CZK|HUF|RON|BRL|MXN|COP|ZAR|NGN|KES|GHS|PKR"
    r"|IDR|TRY|RUB|UAH|KRW|SGD|HKD|AED|SAR|ILS)\b"
)
_EXTENSION = re.compile(r"\s{0,2}(?:x|ext\.?|extension|#)\s{0,2}\d{1,6}$", re.IGNORECASE)
# International numbers written without +: 00 and a country code as one run (00233276819660, not the
# zero-padded 00012345678), and country code 1 before a North-American number or a Chinese mobile.
_INTERNATIONAL_00 = re.compile(r"^00[1-9]\d{8,13}$")
_COUNTRY_1 = re.compile(r"^1[2-9]\d\d[2-9]\d{6}$|^1[3-9]\d{9}$")
# A markdown table column whose header says it holds phones: | name | phone | order |.
_TABLE_PHONE_HEADER = re.compile(
    r"(?i)^\s*(?:phone|tel|telephone|mobile|cell|fax|contact|number|phone number|whatsapp|msisdn|callback)"
    r"(?:\s*(?:no\.?|number|#))?\s*$")
# Part numbers and check-digit ids: hyphens only, three or more groups, a last group of one or two digits.
_PART_NUMBER = re.compile(r"^[1-9]\d*(?:-\d+){1,}-\d{1,2}$")
_LOCAL_3_2_2 = re.compile(r"^\d{3}-\d{2}-\d{2}$")  # a local number (Ukraine, Russia...): 854-53-41


def phone_verdict(text: str, start: int, end: int) -> bool | None:
    """Whether ``text[start:end]`` (a phone-number candidate) is a phone by its shape and the words
    around it: True = a phone whatever its range, False = an identifier to keep, None = ask
    python-phonenumbers whether its range is valid. Never raises; linear in a bounded window."""
    candidate = text[start:end]
    before = text[max(0, start - 40):start]
    extension = _EXTENSION.search(candidate)
    if extension and extension.start() > 0:
        candidate = candidate[:extension.start()]  # 1639246 x123, 053 940 356 ext 4410: the number before it
    international = candidate.startswith(("+", "＋", "(+", "(＋")) or (
        candidate.startswith("00") and not _BARE_DIGITS.match(candidate))
    glued_after = end < len(text) and (text[end].isalnum() or text[end] == "_")
    if international:
        digits = sum(ch.isdigit() for ch in candidate)
        return 8 <= digits <= 17 if not _GLUED.search(before) else None
    if glued_after or (_GLUED.search(before) and not before.lower().endswith(
            ("tel:", "phone:", "fax:", "mobile:", "tel=", "phone=", "mobile=", "contact="))):
        return False  # a part of a longer token (ORD-2026-026536, 14:05:04.348831)
    if ((_PART_NUMBER.match(candidate) and not _LOCAL_3_2_2.match(candidate)) or _YEAR_PREFIX.match(candidate)
            or _DATE_PREFIX.match(candidate)
            or _CHECK_DIGIT_GROUP.search(candidate)):
        return False
    if (_PHONE_CUE_BEFORE.search(before) or _PHONE_CUE_AFTER.match(text, end, min(len(text), end + 40))
            or _phone_column(text, start)):
        return True
    if _KEEP_CUE_BEFORE.search(before) or _AMOUNT_AFTER.match(text, end, min(len(text), end + 9)):
        return False
    if extension and sum(ch.isdigit() for ch in candidate) >= 7:
        return True  # an extension (x123, ext. 12) after a number is a phone's
    if _BARE_DIGITS.match(candidate) and (_INTERNATIONAL_00.match(candidate) or _COUNTRY_1.match(candidate)):
        return True  # 0044..., 0057..., 1 + a North-American or Chinese mobile number: international without +
    digits = sum(ch.isdigit() for ch in candidate)
    if _TRUNK_NATIONAL.match(candidate) and not (len(candidate) == 12 and _gtin_valid(candidate)):
        return True  # a UPC-A product code (12 digits, check digit) may start 0 too
    if _SPACED_GROUPS.match(candidate) and 7 <= digits <= 13 and not _THOUSANDS.match(candidate):
        return True
    if _BARE_DIGITS.match(candidate):
        # An undelimited run: a phone only when a region's plan says so, and never past 10 digits
        # without a ``+`` (EAN-13, tracking numbers, epoch milliseconds).
        return False if len(candidate) > 10 and not (len(candidate) == 11 and candidate[0] == "0") else None
    if _PHONE_SHAPE_BY_GROUPS.match(candidate):
        return True
    return None


def _phone_column(text: str, start: int) -> bool:
    """Whether ``start`` lies in a markdown table cell under a header that says phone (``| phone |``).
    Reads at most 20 lines of 400 characters above it: bounded."""
    line_start = text.rfind("\n", max(0, start - 400), start) + 1
    if not text.startswith("|", line_start) and not text[line_start:start].lstrip().startswith("|"):
        return False
    column = text.count("|", line_start, start)
    header = line_start
    for _ in range(20):
        if header == 0:
            break
        previous = text.rfind("\n", max(0, header - 401), header - 1) + 1
        if not text[previous:header].lstrip().startswith("|"):
            break
        header = previous
    if header == line_start:
        return False
    cells = text[header:text.find("\n", header)].split("|")
    return column < len(cells) and _TABLE_PHONE_HEADER.match(cells[column]) is not None


_INNER_SEPARATOR = re.compile(r"[\s/]")
_TRIM_LEAD = re.compile(r"^[^\d+＋(]+")
_TRIM_TAIL = re.compile(r"[^\d]+$")
_AREA_IN_BRACKETS = re.compile(r"\([+＋]?\d{1,5}\)")


class FastPhoneRecognizer(_Recognizer):
    """Phone numbers by shape first, then by python-phonenumbers' range validation.

    :func:`phone_verdict` decides from the shape and the words around a candidate: a number written
    as a phone (``+`` or ``00`` and a country code, a trunk ``0`` with separators or undelimited
    (``0612345678``), a bracketed area code, 3-3-4, pairs, spaced groups such as ``483 82 071``, a
    ``phone:``/``call me on`` cue) is one whether or not its range is assigned (``+1-796-257-2474``);
    an identifier (glued to a letter prefix, a year prefix, a date, a check-digit group, an
    ``order``/``ticket``/``invoice`` cue, a currency code after it, an undelimited run over ten
    digits) never is. The rest is parsed once per region (16 regions) and kept when one region says
    it is valid (python-phonenumbers' ``VALID`` leniency, without its matcher's re-scan of the text);
    only a candidate that is not one valid number as a whole and holds a space or ``/`` is handed to
    the matcher for the number inside it. Verdicts are cached (bounded).
    """

    SCORE = 0.6

    def __init__(self, regions: tuple[str, ...] = PHONE_REGIONS, cache_size: int = 20_000) -> None:
        # Set before Presidio's __init__, which calls load().
        self.regions = regions
        self._cache: dict[str, bool] = {}
        self._inner_cache: dict[str, tuple[tuple[int, int], ...]] = {}
        self._cache_size = cache_size
        super().__init__(supported_entities=[PHONE_NUMBER], name="TracelakePhoneRecognizer",
                         supported_language="en")

    @staticmethod
    def gate(text: str) -> bool:
        return _PHONE_SHAPE.search(text) is not None

    def load(self) -> None:
        """Load python-phonenumbers' metadata of every region now (it loads and compiles each region's
        patterns lazily, on the first number it parses there): start-up, not the first texts, pays."""
        for region in self.regions:
            example = phonenumbers.example_number(region)
            if example is not None:
                self._valid(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL))
        self._cache.clear()

    def _valid(self, candidate: str) -> bool:
        """Whether ``candidate`` is a valid number of one of :attr:`regions` (python-phonenumbers'
        ``VALID`` leniency: valid range, ``x`` only before an extension, the national prefix where a
        region requires it). One parse per region, no matcher: the matcher re-scans the text and
        tries inner matches, several times the cost of a parse, and a shape rule has already cut the
        candidate. Cached (bounded)."""
        verdict = self._cache.get(candidate)
        if verdict is not None:
            return verdict
        verdict = False
        if len(self._cache) >= self._cache_size:
            self._cache.clear()  # bounded; a refill costs one parse per candidate
        # An international number reads the same under every region: one try.
        regions = self.regions[:1] if candidate.lstrip("([（［").startswith(("+", "＋")) else self.regions
        for region in regions:
            try:
                number = phonenumbers.parse(candidate, region, keep_raw_input=True)
            except phonenumbers.NumberParseException:
                continue
            if (phonenumbers.is_valid_number(number) and _contains_only_valid_x_chars(number, candidate)
                    and _is_national_prefix_present_if_required(number)):
                verdict = True
                break
        self._cache[candidate] = verdict
        return verdict

    def _inner(self, candidate: str) -> tuple[tuple[int, int], ...]:
        """Numbers inside a candidate that is not one number as a whole (``0612345678 / 0698765432``, a
        number after a stray group): python-phonenumbers' matcher, region by region. Several times the
        cost of :meth:`_valid`, so only asked for candidates with a separator and enough digits for a
        number beside another group. Cached (bounded)."""
        found = self._inner_cache.get(candidate)
        if found is not None:
            return found
        found = ()
        for region in self.regions:
            found = tuple((m.start, m.end) for m in phonenumbers.PhoneNumberMatcher(candidate, region, leniency=1))
            if found:
                break
        if len(self._inner_cache) >= self._cache_size:
            self._inner_cache.clear()
        self._inner_cache[candidate] = found
        return found

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        results = []
        for match in _PHONE_CANDIDATE.finditer(text):
            raw = match.group()
            lead = _TRIM_LEAD.match(raw)
            start = match.start() + (lead.end() if lead else 0)
            tail = _TRIM_TAIL.search(raw)
            end = match.start() + (tail.start() if tail else len(raw))
            if end <= start:
                continue
            candidate = text[start:end]
            if candidate.startswith("(") and not _AREA_IN_BRACKETS.match(candidate):
                start, candidate = start + 1, candidate[1:]  # "(1 (280) 759-1984)", "(+43 (0) 7592 …)"
            digits = sum(ch.isdigit() for ch in candidate)
            if digits < 7 or digits > 20 or _DATE_LIKE.match(candidate) or _SSN.fullmatch(candidate):
                continue
            if digits >= 12 and _CARD.fullmatch(candidate) and card_at(text, start, end):
                continue  # a payment card: the card recognizer names it
            verdict = phone_verdict(text, start, end)
            if verdict is False:
                continue
            if verdict:
                results.append(self._result(PHONE_NUMBER, start, end, self.SCORE))
                continue
            if self._valid(candidate):
                results.append(self._result(PHONE_NUMBER, start, end, self.SCORE))
            elif digits >= 8 and _INNER_SEPARATOR.search(candidate):
                for s, e in self._inner(candidate):
                    results.append(self._result(PHONE_NUMBER, start + s, start + e, self.SCORE))
        return results


# --- payment cards ---------------------------------------------------------------------------------
# Issuer prefixes of the brands Faker and the card networks issue: Visa 4, Mastercard 51-55 and
# 2221-2720, Amex 34/37, Diners 30/36/38/39, JCB 35 and 2131/1800, Discover/UnionPay/Maestro 5/6.
_CARD_PREFIX = re.compile(r"^(?:4|5|6|0604|3[0456789]|2131|1800|22[2-9]|2[3-6]\d|27[0-2])")
_NOT_DIGIT = re.compile(r"\D")
_CARD = re.compile(r"(?<![\w\-.])\d{4}([ \-]?)\d{2,6}(?:\1\d{1,5}){1,4}(?![\w\-]|\.\d)"
                   r"|(?<![\w\-.])\d{12,19}(?![\w\-]|\.\d)")
_CARD_CUE = re.compile(r"(?i:card|\bcc\b|visa|master|maestro|amex|discover|jcb|diners|debit|credit|\bpan\b)")


def card_at(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` reads as a payment card number (see :class:`CardRecognizer`)."""
    digits = _NOT_DIGIT.sub("", text[start:end])
    if not 12 <= len(digits) <= 19 or not _CARD_PREFIX.match(digits) or not _luhn_valid(digits):
        return False
    if _CARD_CUE.search(text, max(0, start - 60), start) is not None:
        return True
    if _KEEP_CUE_BEFORE.search(text, max(0, start - 40), start):
        return False  # "ean 4006381333931", "tracking 1234...": an identifier that happens to pass Luhn
    # A 12/13-digit number that is a valid UPC-A/EAN-13 is a product code unless a card word says otherwise.
    return len(digits) > 13 or not _gtin_valid(digits)


def _gtin_valid(digits: str) -> bool:
    """UPC-A / EAN-13 check digit (weights 3 and 1 from the right, the check digit excluded)."""
    body, check = [int(d) for d in digits[:-1]], int(digits[-1])
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


class CardRecognizer(_Recognizer):
    """Payment card numbers: 12 to 19 digits, compact or in groups, Luhn-valid, with an issuer prefix.

    Stock Presidio's pattern knows neither Mastercard's 2-series nor 19-digit Visa/Maestro. A number of
    12 to 19 digits is a card; 12 and 13 digits (also UPC/EAN and tracking-number
    lengths) too, unless an identifier word (``ean``, ``tracking``, ``order``) precedes it or it is a valid
    UPC-A/EAN-13 with no card word (``card``, ``cc``, ``visa``, ...) in the 60 characters before it."""

    def __init__(self) -> None:
        super().__init__(supported_entities=["CREDIT_CARD"], name="TracelakeCardRecognizer", supported_language="en")

    @staticmethod
    def gate(text: str) -> bool:
        return _CARD.search(text) is not None

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        return [self._result("CREDIT_CARD", m.start(), m.end(), 1.0) for m in _CARD.finditer(text)
                if card_at(text, m.start(), m.end())]


# --- IP addresses ----------------------------------------------------------------------------------
_IP_CANDIDATE = re.compile(
    r"(?<![\w.:])(?:\d{1,3}(?:\.\d{1,3}){3}(?!\.?\d)|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\d{1,3}(?:\.\d{1,3}){3})?)"
)


class IpAddressRecognizer(_Recognizer):
    """IPv4 and IPv6 addresses validated by :mod:`ipaddress`, also when a ``:`` or ``.`` follows them
    (``from e331:f1f5::e93d: John``), where stock Presidio's pattern gives up. A candidate that does
    not validate loses trailing colons one at a time (an IPv6 address before a ``:`` label)."""

    def __init__(self) -> None:
        super().__init__(supported_entities=["IP_ADDRESS"], name="TracelakeIpRecognizer", supported_language="en")

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        out = []
        for match in _IP_CANDIDATE.finditer(text):
            candidate = match.group()
            while candidate:
                try:
                    ipaddress.ip_address(candidate)
                except ValueError:
                    if not candidate.endswith(":"):
                        break
                    candidate = candidate[:-1]
                    continue
                if candidate.count(":") >= 2 or candidate.count(".") == 3:
                    out.append(self._result("IP_ADDRESS", match.start(), match.start() + len(candidate), 0.8))
                break
        return out
