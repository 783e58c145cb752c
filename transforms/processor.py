"""One message in: an accepted event or a typed rejection (snuba's ``processor.py`` shape).

Pure: no Kafka, no I/O. The caller passes the payload bytes and the message's
provenance; a rejection carries that provenance (partition, offset) so the
dead-letter row points at the exact message. Redaction is the next step
(:mod:`tracelake.transforms.redact_batch`): it fills ``redactions`` on an
accepted event and ``redacted_payload`` on a rejection. :func:`to_row` refuses
an event that has not been through it, so nothing reaches the lake unredacted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from tracelake.contract import DEFAULT_MAX_EVENT_BYTES, Rejection, validate_event
from tracelake.lake.tables import CONTRACT_JSON_COLUMNS as JSON_COLUMNS
from tracelake.lake.tables import mapped_fields
from tracelake.transforms.metadata import MessageMeta
from tracelake.transforms.pricing import PriceTable, estimate_cost

Row = dict[str, Any]

# A rejected message is redacted and stored over its first 64 KiB only: enough to
# see what was wrong, and what bounds the cost of a huge message (redact_batch.py).
DEAD_LETTER_PAYLOAD_MAX_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Accepted:
    """A valid event in its normalised wire form (``TraceEvent.to_wire()``)."""

    event: dict[str, Any]
    meta: MessageMeta
    redactions: dict[str, int] | None = None  # None until redacted


@dataclass(frozen=True, slots=True)
class Rejected:
    """A refused message; ``payload`` is raw (never stored), ``redacted_payload`` is what is.

    ``payload_cut``: ``redacted_payload`` covers only the start of ``payload`` (it was longer
    than :data:`DEAD_LETTER_PAYLOAD_MAX_BYTES`)."""

    code: str
    reason: str
    payload: bytes
    meta: MessageMeta
    redacted_payload: str | None = None
    payload_cut: bool = False


class NotRedacted(RuntimeError):
    """An event reached the row builder without passing redaction (a wiring bug)."""


class Interrupted(BaseException):  # a stop request (like KeyboardInterrupt), not an error
    """Work abandoned because the process was asked to stop (SIGTERM mid-batch).

    A ``BaseException`` on purpose: the fail-closed ``except Exception``
    handlers of the redaction step must not turn a stop into a dead letter.
    Whoever catches it must not commit the batch in hand: its messages are
    re-delivered to the next consumer, so nothing is lost.
    """


def interrupt_when(stop: threading.Event, grace_s: float) -> Callable[[], bool]:
    """A check that says "abandon the work" once ``stop`` has been set for ``grace_s`` seconds.

    The grace lets the final flush of a small batch finish normally after a
    signal; only work that would keep the process alive past it is abandoned.
    """
    seen: list[float] = []

    def should_stop() -> bool:
        if not stop.is_set():
            return False
        if not seen:
            seen.append(time.monotonic())
        return time.monotonic() - seen[0] >= grace_s

    return should_stop


def decode_validate(payload: bytes, meta: MessageMeta, max_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> Accepted | Rejected:
    """Size, JSON, contract. Never raises for bad input.

    The size is checked first, on the bytes, before anything parses them: a message over
    ``max_bytes`` costs one ``len()`` here (``too_large``)."""
    result = validate_event(payload, max_bytes=max_bytes)
    if isinstance(result, Rejection):
        return Rejected(code=result.code, reason=result.reason, payload=payload, meta=meta)
    return Accepted(event=result.to_wire(), meta=meta)


def to_row(item: Accepted, prices: PriceTable) -> Row:
    """A redacted event as a lake row: nested values as JSON text, cost source, provenance."""
    if item.redactions is None:
        raise NotRedacted(f"event {item.event.get('event_id')!r} was not redacted")
    event, meta = item.event, item.meta
    event = mapped_fields(event)
    row: Row = {key: value for key, value in event.items() if key not in JSON_COLUMNS}
    for column in JSON_COLUMNS:
        # An explicit ``"tool_result": null`` is data (the JSON text "null"); absence is NULL.
        row[column] = orjson.dumps(event[column]).decode() if column in event else None
    ts = datetime.fromisoformat(event["ts"].replace("Z", "+00:00")).astimezone(UTC)
    row["ts"] = ts
    if event["event_type"] == "llm_call" and event.get("cost_usd") is None:
        row["cost_usd"] = estimate_cost(
            prices, event.get("model", ""), event.get("input_tokens"), event.get("cached_input_tokens"),
            event.get("output_tokens"),
        )
        row["cost_source"] = "estimated" if row["cost_usd"] is not None else "unpriced"
    else:
        row["cost_source"] = "reported" if event.get("cost_usd") is not None else None
    row["redactions"] = orjson.dumps(item.redactions).decode()
    row["ingested_at"] = meta.received_at.astimezone(UTC)
    row["source"] = meta.source
    row["kafka_topic"] = meta.topic
    row["kafka_partition"] = meta.partition
    row["kafka_offset"] = meta.offset
    row["event_date"] = ts.strftime("%Y-%m-%d")
    return row


def dead_letter_row(item: Rejected) -> Row:
    """A rejection as a ``dead_letters`` row (payload only in its redacted form)."""
    received = item.meta.received_at.astimezone(UTC)
    return {
        "received_at": received,
        "source": item.meta.source,
        "reason": item.reason,
        "payload": item.redacted_payload,
        "kafka_topic": item.meta.topic,
        "kafka_partition": item.meta.partition,
        "kafka_offset": item.meta.offset,
        "event_date": received.strftime("%Y-%m-%d"),
    }
