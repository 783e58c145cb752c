-- idempotency_key_present: every mutating tool call carries an idempotency_key, so a retry cannot act twice.
-- Item: a mutating tool_call. Passes when its idempotency_key is present and not empty.
-- Evidence: the call.
SELECT tenant, run_id, coalesce(idempotency_key <> '', false) AS passed, [event_id] AS evidence
FROM mutations
