"""The redaction step over a batch: accepted events get ``redactions``, rejections a redacted payload.

Fails closed: an event the redactor cannot handle becomes a rejection with
reason ``redaction: …`` (and its payload is replaced, not stored raw); a
payload that cannot be redacted is stored as ``<UNREDACTABLE>``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol

import orjson

from tracelake.transforms.processor import DEAD_LETTER_PAYLOAD_MAX_BYTES, Accepted, Rejected

UNREDACTABLE = "<UNREDACTABLE>"


class RedactionFailed(Protocol):
    reason: str


class BatchRedactor(Protocol):
    """What :class:`tracelake.transforms.redact.Redactor` offers this step."""

    def redact_events(self, events: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, int]] | Any]: ...

    def redact_text(self, text: str) -> tuple[str, dict[str, int]]: ...


def truncation_marker(size: int) -> str:
    """What ends a dead-letter payload that was cut: the size of the whole message, in bytes."""
    return f"<TRUNCATED: {size} bytes>"


def _redacted_payload(redactor: BatchRedactor, payload: bytes, max_bytes: int) -> tuple[str, bool]:
    """(the redacted text of at most the first ``max_bytes`` of ``payload``, whether it was cut)."""
    cut = len(payload) > max_bytes
    # A multi-byte character split by the cut decodes to U+FFFD; nothing else is lost.
    text = payload[:max_bytes].decode("utf-8", errors="replace")
    try:
        redacted = redactor.redact_text(text)[0]
    except Exception:  # noqa: BLE001 - fail closed: keep the reason, drop the raw text
        redacted = UNREDACTABLE
    return (redacted + "…" + truncation_marker(len(payload)) if cut else redacted), cut


def redact_batch(redactor: BatchRedactor, items: list[Accepted | Rejected],
                 max_payload_bytes: int = DEAD_LETTER_PAYLOAD_MAX_BYTES) -> list[Accepted | Rejected]:
    """Same length and order as ``items``; never raises for bad data (see the module docstring)."""
    accepted = [item for item in items if isinstance(item, Accepted)]
    try:
        results = redactor.redact_events([item.event for item in accepted])
    except Exception as exc:  # noqa: BLE001 - the whole batch failed: reject each, never store raw
        results = [exc] * len(accepted)
    by_id: dict[int, Accepted | Rejected] = {}
    for item, result in zip(accepted, results, strict=True):
        if isinstance(result, tuple):
            event, counts = result
            by_id[id(item)] = replace(item, event=event, redactions=dict(counts))
        else:
            reason = getattr(result, "reason", None) or f"{type(result).__name__}: {result}"
            code = getattr(result, "code", None) or "redaction_failed"
            payload = orjson.dumps(item.event)
            redacted, cut = _redacted_payload(redactor, payload, max_payload_bytes)
            by_id[id(item)] = Rejected(
                code=code,
                reason=reason if code == "too_costly" else f"redaction: {reason}",
                payload=payload,
                meta=item.meta,
                redacted_payload=redacted,
                payload_cut=cut,
            )
    out: list[Accepted | Rejected] = []
    for original in items:
        if isinstance(original, Rejected):
            redacted, cut = _redacted_payload(redactor, original.payload, max_payload_bytes)
            out.append(replace(original, redacted_payload=redacted, payload_cut=cut))
        else:
            out.append(by_id[id(original)])
    return out
