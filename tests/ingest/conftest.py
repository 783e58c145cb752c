"""Fixtures for the ingest tests: a stand-in redactor (pure logic; the real one is tested in transforms/redact)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import MarkingRedactor
from tracelake.ingest.metrics import Counters
from tracelake.ingest.pipeline import PipelineParts
from tracelake.ingest.sinks import MemoryDeadLetterSink
from tracelake.lake.lake import Lake


@pytest.fixture
def parts_factory(tmp_path: Path):
    def make(lake: Path | None = None, **kw: Any) -> PipelineParts:
        root = lake or tmp_path / "lake"
        return PipelineParts(
            redactor=kw.pop("redactor", MarkingRedactor()),
            events=Lake.at(root).writer("events"),
            dead_letters=Lake.at(root).writer("dead_letters"),
            prices={},
            counters=Counters(),
            dlq=kw.pop("dlq", MemoryDeadLetterSink()),
            **kw,
        )

    return make
