-- idempotency_single_success: no idempotency_key succeeds twice within a run (a double refund under one key).
-- Item: an idempotency_key of the run's tool calls. Passes when at most one tool_call with that key has
-- success = true.
-- Evidence: the calls with that key that succeeded (every call with the key when it passes).
SELECT tenant, run_id,
       count(*) FILTER (WHERE success) <= 1 AS passed,
       CASE WHEN count(*) FILTER (WHERE success) > 1 THEN list(event_id) FILTER (WHERE success)
            ELSE list(event_id) END AS evidence
FROM ev
WHERE event_type = 'tool_call' AND idempotency_key IS NOT NULL AND idempotency_key <> ''
GROUP BY tenant, run_id, idempotency_key
