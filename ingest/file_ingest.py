"""``tracelake ingest-file``: JSON Lines through the same chain as the consumer, without Kafka.

Every line is accounted for (a blank one is rejected as not JSON): ``accepted + rejected + duplicates ==
lines``. A file's batches are named after a digest of its content and the
line range, and events already in the lake count as duplicates, so
re-ingesting a file adds nothing.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from tracelake.ingest import metrics
from tracelake.ingest.message import Message, RawMessage
from tracelake.ingest.pipeline import PipelineParts, build_pipeline
from tracelake.lake.lake import Lake, as_lake
from tracelake.transforms.metadata import MessageMeta


@dataclass(frozen=True)
class IngestSummary:
    accepted: int
    rejected: int
    duplicates: int


def _spooled(stream: BinaryIO) -> tuple[Path, str]:
    """A seekable copy of ``stream`` and the SHA-256 of its bytes."""
    digest = hashlib.sha256()
    tmp = tempfile.NamedTemporaryFile(prefix="tracelake-ingest-", suffix=".jsonl", delete=False)  # noqa: SIM115
    with tmp:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            tmp.write(chunk)
    return Path(tmp.name), digest.hexdigest()


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _lines(path: Path, file_id: str, received_at: datetime) -> Iterator[RawMessage]:
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, start=1):
            yield RawMessage(line.rstrip(b"\r\n"), MessageMeta("file", received_at, file_id, None, number))


def ingest_stream(paths: list[str], parts: PipelineParts, lake: Lake | Path, stdin: BinaryIO | None = None
                  ) -> IngestSummary:
    """Ingest each path (``-`` is ``stdin``) through ``parts`` (whose writers write to ``lake``, the
    :class:`~tracelake.lake.lake.Lake` or its root, read here to skip events already stored); returns the
    counts of this call. Raises ``OSError`` when the lake refuses a write."""
    known = as_lake(lake)
    counters = parts.counters
    before = {name: counters.get(name) for name in
              (metrics.EVENTS_STORED, metrics.EVENTS_REJECTED, metrics.DUPLICATES_SKIPPED)}
    parts.known_ids = known.stored_event_ids
    chain = build_pipeline(parts, commit=lambda offsets: None)
    received_at = datetime.now(UTC)
    try:
        for name in paths:
            temporary = False
            if name == "-":
                assert stdin is not None
                path, digest = _spooled(stdin)
                temporary = True
            else:
                path = Path(name)
                digest = _digest(path)
            try:
                for raw in _lines(path, f"file-{digest[:16]}", received_at):
                    chain.submit(Message(raw))
                chain.join()
            finally:
                if temporary:
                    path.unlink(missing_ok=True)
    finally:
        chain.close()
    return IngestSummary(
        accepted=counters.get(metrics.EVENTS_STORED) - before[metrics.EVENTS_STORED],
        rejected=counters.get(metrics.EVENTS_REJECTED) - before[metrics.EVENTS_REJECTED],
        duplicates=counters.get(metrics.DUPLICATES_SKIPPED) - before[metrics.DUPLICATES_SKIPPED],
    )


