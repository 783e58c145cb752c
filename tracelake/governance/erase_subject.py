"""Who is erased: a person's identifiers turned into what is searched for, never stored.

``tracelake erase --email … --phone … --name … --pseudonym …`` names one data subject. Each identifier
gives *needles*: a regular expression (RE2 syntax that Python's ``re`` reads the same way) and the
placeholder a match is replaced with:

- **its keyed pseudonym** as the redactor writes it (``<EMAIL_ADDRESS:3f9a1c2b>``), computed with the
  redactor's own function (:func:`tracelake.transforms.redact.spans.pseudonym`, same normalisation: an
  e-mail lower-cased, a phone as its digits, a name with its spaces collapsed and case folded) and
  ``Settings.pseudonym_key``; without a key the redactor wrote only typed placeholders, which name nobody;
- **the raw value**, for a mention the redactor missed: case-insensitive; a phone as its digits with up to
  three separators between them, and, when more than ten digits are given, also its last ten (the number
  without its country code: ``+1 415 555 0100`` finds ``(415) 555-0100``; ``+44 20 7946 0958`` finds
  ``020 7946 0958``); a name with any run of white space between its words;
- ``--pseudonym`` takes a pseudonym as written (``<PERSON:3f9a1c2b>``) or its 8 hex digits (any type).

A match becomes the type's plain placeholder (``<EMAIL_ADDRESS>``): re-redacted, and no longer linkable.

:meth:`Subject.log_subject` is what the governance log keeps: a salted SHA-256 of the pseudonyms (of the
normalised identifiers when no key is set), the salt beside it; never an identifier, never a pseudonym.

Failure modes: :class:`tracelake.errors.UserError` for no identifier, an empty one, a phone without
digits, or a malformed pseudonym.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from tracelake.errors import UserError
from tracelake.transforms.redact.config import EMAIL_ADDRESS, PERSON, PHONE_NUMBER
from tracelake.transforms.redact.normalize import detection_text
from tracelake.transforms.redact.spans import pseudonym

_PSEUDONYM = re.compile(r"^(?:<([A-Z_]+):([0-9a-f]{8})>|([0-9a-f]{8}))$")
_RE2_SPECIAL = set("\\.+*?()|[]{}^$")


def _literal(text: str) -> str:
    """``text`` as a regular expression matching it literally, in syntax RE2 and Python share."""
    return "".join("\\" + c if c in _RE2_SPECIAL else c for c in text)


@dataclass(frozen=True)
class Needle:
    """One thing searched for: ``pattern`` (case-insensitive where it says so), replaced by ``placeholder``."""

    pattern: str
    placeholder: str
    kind: str  # pseudonym | raw


@dataclass
class Subject:
    """One data subject (see the module docstring)."""

    emails: Sequence[str] = ()
    phones: Sequence[str] = ()
    names: Sequence[str] = ()
    pseudonyms: Sequence[str] = ()
    key: bytes | None = None
    _salt: str = field(default_factory=lambda: secrets.token_hex(16))

    def __post_init__(self) -> None:
        if not (self.emails or self.phones or self.names or self.pseudonyms):
            raise UserError("name the person: --email, --phone, --name or --pseudonym (repeatable)")
        for option, values in (("--email", self.emails), ("--phone", self.phones), ("--name", self.names),
                               ("--pseudonym", self.pseudonyms)):
            if any(not detection_text(v).strip() for v in values):
                raise UserError(f"{option}: an empty value")
            if any("\x00" in v for v in values):
                raise UserError(f"{option}: a NUL character")
        if any(not re.sub(r"\D", "", detection_text(p)) for p in self.phones):
            raise UserError("--phone: no digits in it")
        if any(_PSEUDONYM.match(p.strip()) is None for p in self.pseudonyms):
            raise UserError("--pseudonym: not a pseudonym such as <EMAIL_ADDRESS:3f9a1c2b> or 3f9a1c2b")

    def _phone_forms(self) -> list[str]:
        """Each phone's digits, and its last ten when longer (the number without its country code)."""
        out: list[str] = []
        for phone in self.phones:
            digits = re.sub(r"\D", "", detection_text(phone))
            out += [digits] + ([digits[-10:]] if len(digits) > 10 else [])
        return list(dict.fromkeys(out))

    def _typed(self) -> list[tuple[str, str]]:
        return ([(EMAIL_ADDRESS, v) for v in self.emails] + [(PHONE_NUMBER, v) for v in self._phone_forms()]
                + [(PERSON, v) for v in self.names])

    def pseudonym_tokens(self) -> list[str]:
        """The subject's pseudonyms as the redactor writes them (``<TYPE:hex>``, or ``<*:hex>`` for a bare hex
        given with ``--pseudonym``); empty without a key and without ``--pseudonym``."""
        out = []
        if self.key:
            out += [f"<{entity}:{pseudonym(entity, value, self.key)}>" for entity, value in self._typed()]
        for given in self.pseudonyms:
            match = _PSEUDONYM.match(given.strip())
            assert match is not None  # checked in __post_init__
            out.append(f"<{match.group(1)}:{match.group(2)}>" if match.group(1) else f"<*:{match.group(3)}>")
        return sorted(set(out))

    def needles(self) -> list[Needle]:
        """Everything searched for, pseudonyms first (see the module docstring)."""
        out: list[Needle] = []
        for token in self.pseudonym_tokens():
            entity, hexdigits = token[1:-1].split(":")
            if entity == "*":
                out.append(Needle(f"<([A-Z_]+):{hexdigits}>", "<\\1>", "pseudonym"))
            else:
                out.append(Needle(_literal(token), f"<{entity}>", "pseudonym"))
        for email in self.emails:
            out.append(Needle("(?i)" + _literal(detection_text(email).strip()), f"<{EMAIL_ADDRESS}>", "raw"))
        for digits in self._phone_forms():
            out.append(Needle("[^0-9A-Za-z]{0,3}".join(digits), f"<{PHONE_NUMBER}>", "raw"))
        for name in self.names:
            words = detection_text(name).split()
            out.append(Needle("(?i)" + r"\s+".join(_literal(w) for w in words), f"<{PERSON}>", "raw"))
        return out

    def log_subject(self) -> str:
        """What the governance log keeps about the subject: ``sha256:<basis>:<salt>:<hex>``, the SHA-256 of a
        random salt and the subject's pseudonyms (basis ``pseudonyms``: only someone holding the pseudonym key
        can tell whom it names), or of the normalised identifiers when no key is set (basis ``identifiers``).
        Never an identifier or a pseudonym, so the log itself holds nothing a search for the subject finds;
        :meth:`matches_log` tells whether an entry is about this subject."""
        return self._log_digest(self._salt)

    def _log_digest(self, salt: str) -> str:
        tokens = self.pseudonym_tokens()
        if self.key or not self._typed():
            basis, material = "pseudonyms", tokens
        else:
            basis = "identifiers"
            material = sorted(f"{e}:{detection_text(v).strip().casefold()}" for e, v in self._typed()) + tokens
        digest = hashlib.sha256("\x00".join([salt, *material]).encode()).hexdigest()
        return f"sha256:{basis}:{salt}:{digest}"

    def matches_log(self, logged: str) -> bool:
        """Whether ``logged`` (a governance log ``subject``) was written for this subject."""
        parts = logged.split(":")
        return len(parts) == 4 and parts[0] == "sha256" and self._log_digest(parts[2]) == logged
