-- idempotency_single_success: no idempotency_key succeeds twice, within a run or across the tenant's runs (a
-- double refund under one key, in one run or in two).
-- Items:
--   - an idempotency_key of the run's tool calls: passes when at most one tool_call of the run with that key has
--     success = true. Evidence: the calls with that key that succeeded (every call with the key when it passes).
--   - a successful mutating tool_call of the run with a key: fails when another run of the same tenant already
--     succeeded under that key (key_successes) earlier, (ts, event_id) before the call's and at most
--     {key_horizon_us} µs before its ts. The first success passes: the later run is the one that fails, and an
--     earlier run's verdict never depends on a later run. Evidence: the call, and the first such earlier
--     success when there is one (an event of the other run).
WITH within_run AS (
    SELECT tenant, run_id,
           count(*) FILTER (WHERE success) <= 1 AS passed,
           CASE WHEN count(*) FILTER (WHERE success) > 1 THEN list(event_id) FILTER (WHERE success)
                ELSE list(event_id) END AS evidence
    FROM ev
    WHERE event_type = 'tool_call' AND idempotency_key IS NOT NULL AND idempotency_key <> ''
    GROUP BY tenant, run_id, idempotency_key
), across_runs AS (
    SELECT c.tenant, c.run_id,
           count(p.event_id) = 0 AS passed,
           [c.event_id] || coalesce(list(p.event_id ORDER BY p.ts, p.event_id)
                                        FILTER (WHERE p.event_id IS NOT NULL)[1:1], []) AS evidence
    FROM mutations c
    LEFT JOIN key_successes p
      ON p.tenant = c.tenant AND p.idempotency_key = c.idempotency_key AND p.run_id <> c.run_id
     AND (p.ts < c.ts OR (p.ts = c.ts AND p.event_id < c.event_id))
     AND epoch_us(p.ts) >= epoch_us(c.ts) - {key_horizon_us}
    WHERE c.success AND c.idempotency_key IS NOT NULL AND c.idempotency_key <> ''
    GROUP BY c.tenant, c.run_id, c.event_id
)
SELECT tenant, run_id, passed, evidence FROM within_run
UNION ALL
SELECT tenant, run_id, passed, evidence FROM across_runs
