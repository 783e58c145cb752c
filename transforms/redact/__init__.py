"""Redaction of personal data and secrets (``docs/contract/redaction.md``).

``Redactor(RedactionConfig(...))`` is the whole surface: ``redact_events``
for the ingest chain, ``redact_text`` for dead-letter payloads and free text.
Importing this package loads Presidio and spaCy; the model loads when a
``Redactor`` is built.
"""

from tracelake.transforms.redact.config import DEFAULT_MODEL, ENTITY_TYPES, RedactionConfig
from tracelake.transforms.redact.engine import Engine, RedactorUnavailable
from tracelake.transforms.redact.redactor import RedactionError, RedactionFailed, Redactor, RedactorStats

__all__ = [
    "DEFAULT_MODEL",
    "ENTITY_TYPES",
    "Engine",
    "RedactionConfig",
    "RedactionError",
    "RedactionFailed",
    "Redactor",
    "RedactorStats",
    "RedactorUnavailable",
]
