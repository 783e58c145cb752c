"""The batch redaction step with a stand-in redactor: counts attached, failures fail closed."""

from __future__ import annotations

from datetime import UTC, datetime

from tracelake.transforms.metadata import MessageMeta
from tracelake.transforms.processor import Accepted, Rejected
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
