"""Stage 2, ingest: Kafka consumer → decode → validate → redact → buffer → write → commit.

Imports as ``tracelake.ingest``. Built by the ingest issue.
"""
