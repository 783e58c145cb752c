"""The redaction step over a batch: accepted events get ``redactions``, rejections a redacted payload.

Fails closed: an event the redactor cannot handle becomes a rejection with
reason ``redaction: …`` (and its payload is replaced, not stored raw); a
payload that cannot be redacted is stored as ``<UNREDACTABLE>``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol

import orjson

from tracelake.transforms.processor import Accepted, Rejected

UNREDACTABLE = "<UNREDACTABLE>"


class RedactionFailed(Protocol):
    reason: str


class BatchRedactor(Protocol):
    """What :class:`tracelake.transforms.redact.Redactor` offers this step."""

    def redact_events(self, events: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, int]] | Any]: ...

    def redact_text(self, text: str) -> tuple[str, dict[str, int]]: ...


def _redacted_payload(redactor: BatchRedactor, payload: bytes) -> str:
    try:
        return redactor.redact_text(payload.decode("utf-8", errors="replace"))[0]
    except Exception:  # noqa: BLE001 - fail closed: keep the reason, drop the raw text
        return UNREDACTABLE


def redact_batch(redactor: BatchRedactor, items: list[Accepted | Rejected]) -> list[Accepted | Rejected]:
    """Same length and order as ``items``."""
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
            payload = orjson.dumps(item.event)
            by_id[id(item)] = Rejected(
                code="redaction_failed",
                reason=f"redaction: {reason}",
                payload=payload,
                meta=item.meta,
                redacted_payload=_redacted_payload(redactor, payload),
            )
    out: list[Accepted | Rejected] = []
    for original in items:
        if isinstance(original, Rejected):
            out.append(replace(original, redacted_payload=_redacted_payload(redactor, original.payload)))
        else:
            out.append(by_id[id(original)])
    return out
