"""Fixtures for the ingest tests: a stand-in redactor (pure logic; the real one is tested in transforms/redact)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tracelake.ingest.metrics import Counters
from tracelake.ingest.pipeline import PipelineParts
from tracelake.ingest.sinks import MemoryDeadLetterSink
from tracelake.ingest.writer import ParquetLakeWriter


class MarkingRedactor:
    """Replaces the word 'Secretname' wherever it appears and counts it as a PERSON."""

    def redact_events(self, events: list[dict[str, Any]]) -> list[Any]:
        import orjson

        out = []
        for event in events:
            text = orjson.dumps(event).decode()
            count = text.count("Secretname")
            out.append((orjson.loads(text.replace("Secretname", "<PERSON>")), {"PERSON": count} if count else {}))
        return out

    def redact_text(self, text: str) -> tuple[str, dict[str, int]]:
        return text.replace("Secretname", "<PERSON>"), {}


@pytest.fixture
def parts_factory(tmp_path: Path):
    def make(lake: Path | None = None, **kw: Any) -> PipelineParts:
        root = lake or tmp_path / "lake"
        return PipelineParts(
            redactor=kw.pop("redactor", MarkingRedactor()),
            events=ParquetLakeWriter(root, "events"),
            dead_letters=ParquetLakeWriter(root, "dead_letters"),
            prices={},
            counters=Counters(),
            dlq=kw.pop("dlq", MemoryDeadLetterSink()),
            **kw,
        )

    return make
