-- Not a control: the events a verdict names, with the fields the controls read (queries/controls/report.py).
-- An idempotency verdict may name another run's earlier success under the same key: its run_id says so.
-- Bound: $run_id, $ids (the evidence list).
SELECT event_id, run_id, event_type, ts, agent, initiator, tool_name, mutating, idempotency_key, retry_of,
       schema_valid, success, action, risk_tier, decision, approver, wait_ms, budget, cost_usd, outcome
FROM events
WHERE list_contains($ids, event_id)
  AND (run_id = $run_id OR (event_type = 'tool_call' AND idempotency_key IS NOT NULL))
ORDER BY ts, event_id
