-- budget_halt: no run goes over its budget without a halt.
-- Item: a run that reported a budget_exceeded, or whose workflow has a per-run cost budget configured
-- ({run_budgets}: workflow, limit_usd). Passes when
--   - its total cost is within the configured budget, or it reported a budget_exceeded; and
--   - after a budget_exceeded, the run halted: outcome 'halted' (a run in flight is not judged on that), and
--     no llm_call or tool_call started after the first budget_exceeded.
-- Evidence: the budget_exceeded events, and the calls made after the first one.
WITH exceeded AS (
    SELECT tenant, run_id, min(ts) AS first_at, list(event_id) AS ids
    FROM ev WHERE event_type = 'budget_exceeded' GROUP BY tenant, run_id
), after_halt AS (
    SELECT e.tenant, e.run_id, list(c.event_id) AS ids
    FROM exceeded e
    JOIN ev c ON c.tenant = e.tenant AND c.run_id = e.run_id AND c.event_type IN ('llm_call', 'tool_call')
             AND c.ts > e.first_at
    GROUP BY e.tenant, e.run_id
)
SELECT k.tenant, k.run_id,
       (x.run_id IS NOT NULL OR b.limit_usd IS NULL OR k.total_cost_usd <= b.limit_usd)
       AND (x.run_id IS NULL OR ((k.outcome IS NULL OR k.outcome = 'halted') AND h.run_id IS NULL)) AS passed,
       coalesce(x.ids, []) || coalesce(h.ids, []) AS evidence
FROM run_keys k
LEFT JOIN {run_budgets} b ON b.workflow = k.workflow
LEFT JOIN exceeded x ON x.tenant = k.tenant AND x.run_id = k.run_id
LEFT JOIN after_halt h ON h.tenant = k.tenant AND h.run_id = k.run_id
WHERE x.run_id IS NOT NULL OR b.limit_usd IS NOT NULL
