"""The batch redaction step with a stand-in redactor: counts attached, failures fail closed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tracelake.transforms.metadata import MessageMeta
from tracelake.transforms.processor import Accepted, Interrupted, Rejected
from tracelake.transforms.redact_batch import UNREDACTABLE, redact_batch

META = MessageMeta(source="file", received_at=datetime(2026, 11, 24, tzinfo=UTC), offset=1)


class Failure:
    def __init__(self, reason: str) -> None:
        self.reason = reason


class FakeRedactor:
    """Replaces the word 'Dana' in ``input``; refuses events whose input says 'poison'."""

    def redact_events(self, events):
        out = []
        for event in events:
            if "poison" in event.get("input", ""):
                out.append(Failure("analyzer crashed"))
            else:
                text = event.get("input", "")
                out.append(({**event, "input": text.replace("Dana", "<PERSON>")}, {"PERSON": text.count("Dana")}))
        return out

    def redact_text(self, text: str):
        if "boom" in text:
            raise RuntimeError("cannot")
        return text.replace("Dana", "<PERSON>"), {"PERSON": text.count("Dana")}


def test_counts_attached_order_kept_and_failures_rejected_without_raw_text() -> None:
    items = [
        Accepted(event={"event_id": "1", "input": "hi Dana"}, meta=META),
        Rejected(code="bad_json", reason="not valid JSON", payload=b"{Dana", meta=META),
        Accepted(event={"event_id": "2", "input": "poison Dana"}, meta=META),
        Rejected(code="bad_json", reason="not valid JSON", payload=b"boom Dana", meta=META),
    ]
    out = redact_batch(FakeRedactor(), items)
    assert isinstance(out[0], Accepted) and out[0].event["input"] == "hi <PERSON>"
    assert out[0].redactions == {"PERSON": 1}
    assert items[0].event["input"] == "hi Dana"  # input untouched
    assert isinstance(out[1], Rejected) and out[1].redacted_payload == "{<PERSON>"
    assert isinstance(out[2], Rejected) and out[2].reason == "redaction: analyzer crashed"
    assert "Dana" not in (out[2].redacted_payload or "")
    assert out[3].redacted_payload == UNREDACTABLE


def test_whole_batch_failure_rejects_every_event() -> None:
    class Broken(FakeRedactor):
        def redact_events(self, events):
            raise MemoryError("model gone")

    out = redact_batch(Broken(), [Accepted(event={"event_id": "1", "input": "x"}, meta=META)])
    assert isinstance(out[0], Rejected) and "MemoryError" in out[0].reason


class Spy(FakeRedactor):
    def __init__(self) -> None:
        self.texts: list[str] = []

    def redact_text(self, text: str):
        self.texts.append(text)
        return super().redact_text(text)


def test_huge_rejection_is_redacted_over_its_first_bytes_only() -> None:
    spy = Spy()
    payload = b"Dana " + b"x" * (5 * 1024 * 1024)
    out = redact_batch(spy, [Rejected(code="too_large", reason="too_large", payload=payload, meta=META)])[0]
    assert isinstance(out, Rejected) and out.payload_cut
    assert [len(t) for t in spy.texts] == [64 * 1024]  # never the 5 MB
    assert out.redacted_payload is not None and out.redacted_payload.startswith("<PERSON> x")
    assert out.redacted_payload.endswith(f"…<TRUNCATED: {len(payload)} bytes>")
    small = redact_batch(spy, [Rejected(code="bad_json", reason="r", payload=b"{Dana", meta=META)])[0]
    assert isinstance(small, Rejected) and not small.payload_cut and small.redacted_payload == "{<PERSON>"


def test_too_costly_keeps_its_code_and_reason() -> None:
    class CostlyFailure(Failure):
        code = "too_costly"

    class Costly(FakeRedactor):
        def redact_events(self, events):
            return [CostlyFailure("too_costly: the event needs 9 tokens of name analysis, the limit is 1")]

    out = redact_batch(Costly(), [Accepted(event={"event_id": "1", "input": "Dana"}, meta=META)])[0]
    assert isinstance(out, Rejected) and out.code == "too_costly"
    assert out.reason.startswith("too_costly: the event needs") and out.redacted_payload is not None
    assert "Dana" not in out.redacted_payload


def test_interrupt_propagates_and_is_never_a_dead_letter() -> None:
    class Stopping(FakeRedactor):
        def redact_events(self, events):
            raise Interrupted("stopping")

    with pytest.raises(Interrupted):
        redact_batch(Stopping(), [Accepted(event={"event_id": "1", "input": "x"}, meta=META)])
