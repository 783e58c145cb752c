"""Every ingest metric name, declared once; the API's /metrics exports these."""

from __future__ import annotations

import threading
from collections import Counter

MESSAGES_POLLED = "tracelake_ingest_messages_polled_total"
EVENTS_STORED = "tracelake_ingest_events_stored_total"
EVENTS_REJECTED = "tracelake_ingest_events_rejected_total"
REDACTION_FAILURES = "tracelake_ingest_redaction_failures_total"
REDACTIONS = "tracelake_ingest_redactions_total"  # label: entity type
BATCHES_WRITTEN = "tracelake_ingest_batches_written_total"
FILES_WRITTEN = "tracelake_ingest_files_written_total"
OFFSETS_COMMITTED = "tracelake_ingest_offset_commits_total"
DLQ_PRODUCED = "tracelake_ingest_dlq_produced_total"
DUPLICATES_SKIPPED = "tracelake_ingest_duplicates_skipped_total"
WRITE_FAILURES = "tracelake_ingest_write_failures_total"  # label: errno name (EACCES, ENOSPC, EIO, …); one per try
WRITE_FAULTS = "tracelake_ingest_write_faults_total"  # fault episodes: writes failing until one succeeds again
ROLLUP_REFRESHES = "tracelake_ingest_rollup_refreshes_total"  # runs rollup brought up to date by this consumer
ROLLUP_FAILURES = "tracelake_ingest_rollup_refresh_failures_total"  # refreshes that failed (retried later)
ROLLUP_MS = "tracelake_ingest_rollup_refresh_ms_total"  # time spent refreshing, milliseconds


class Counters:
    """Thread-safe counters keyed by (name, label); cheap enough for the hot path."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: Counter[tuple[str, str]] = Counter()

    def inc(self, name: str, amount: int = 1, label: str = "") -> None:
        if amount:
            with self._lock:
                self._values[(name, label)] += amount

    def get(self, name: str, label: str = "") -> int:
        with self._lock:
            return self._values[(name, label)]

    def snapshot(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._values)
