-- One run's events in order. Ingest bookkeeping is not part of an auditor's
-- timeline; the contract fields, cost_source, redactions and ingested_at are.
SELECT * EXCLUDE (kafka_topic, kafka_partition, kafka_offset, source, event_date)
FROM events WHERE run_id = $run_id
ORDER BY ts, event_id
