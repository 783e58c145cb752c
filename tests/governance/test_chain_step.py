"""The consumer's seal step, and sealing wired from the settings: ingest-file seals what it wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from tracelake.governance.signing import generate
from tracelake.governance.verify import verify_lake
from tracelake.ingest.message import Message
from tracelake.ingest.strategies.base import ProcessingStep
from tracelake.ingest.strategies.seal import SealChain
from tracelake.lake.lake import Lake
from tracelake.settings import Settings


class Collect(ProcessingStep[Any]):
    def __init__(self) -> None:
        self.got: list[Any] = []
        self.closed = False

    def submit(self, message: Message[Any]) -> None:
        self.got.append(message)

    def poll(self) -> None:
        pass

    def join(self, timeout: float | None = None) -> None:
        pass

    def close(self) -> None:
        self.closed = True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_step_seals_at_most_every_interval_passes_everything_and_survives_failures() -> None:
    calls: list[int] = []
    fail = [False]

    def seal() -> None:
        calls.append(1)
        if fail[0]:
            raise OSError("bucket unreachable")

    clock, sink = Clock(), Collect()
    step = SealChain(seal, 10.0, sink, clock=clock)
    message: Any = object()
    step.submit(message)
    assert sink.got == [message] and calls == []
    clock.now = 11
    step.poll()
    assert len(calls) == 1
    step.poll()
    assert len(calls) == 1  # nothing written since
    fail[0] = True
    step.submit(message)
    clock.now = 22
    step.poll()
    assert len(calls) == 2 and step.failures == 1
    fail[0] = False
    step.close()  # written since the failed seal: sealed at close
    assert len(calls) == 3 and sink.closed


def test_ingest_file_with_a_chain_key_leaves_a_clean_lake(tmp_path: Path) -> None:
    from tests.helpers import MarkingRedactor
    from tracelake.ingest.file_ingest import ingest_stream
    from tracelake.ingest.setup import make_parts

    generate(tmp_path / "keys" / "chain.pem")
    settings = Settings(lake=tmp_path / "lake", chain_key_file=tmp_path / "keys" / "chain.pem")
    source = tmp_path / "events.jsonl"
    source.write_bytes(orjson.dumps({"schema_version": "1", "event_id": "e1", "event_type": "custom", "name": "x",
                                     "ts": "2026-11-24T10:00:00Z", "run_id": "r1", "workflow": "w",
                                     "workflow_version": "v1"}) + b"\n")
    lake = Lake.at(settings.lake)
    summary = ingest_stream([str(source)], make_parts(settings, redactor=MarkingRedactor(), lake=lake), lake)
    assert summary.accepted == 1
    report = verify_lake(lake)
    assert (report.status, report.entries >= 1) == ("clean", True), [f.line() for f in report.findings]
