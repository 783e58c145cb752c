-- Not a control: the events a verdict names, with the fields the controls read (queries/controls/report.py).
-- Bound: $run_id, $ids (the evidence list).
SELECT event_id, event_type, ts, agent, initiator, tool_name, mutating, idempotency_key, retry_of, schema_valid,
       success, action, risk_tier, decision, approver, wait_ms, budget, cost_usd, outcome
FROM events
WHERE run_id = $run_id AND list_contains($ids, event_id)
ORDER BY ts, event_id
