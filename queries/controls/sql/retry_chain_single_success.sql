-- retry_chain_single_success: a retry chain (tool calls linked by retry_of) succeeds at most once.
-- A call's chain is named by its root: follow retry_of up through the run's tool calls (at most 64 hops; a
-- retry_of naming an event the run does not hold ends the walk there). Item: a chain with a retry in it.
-- Passes when at most one call of the chain has success = true.
-- Evidence: the chain's calls that succeeded (all its calls when it passes).
WITH RECURSIVE calls AS (
    SELECT tenant, run_id, event_id, retry_of, success FROM ev WHERE event_type = 'tool_call'
), up(tenant, run_id, event_id, root, hops) AS (
    SELECT tenant, run_id, event_id, event_id, 0 FROM calls
    UNION ALL
    SELECT u.tenant, u.run_id, u.event_id, c.retry_of, u.hops + 1
    FROM up u
    JOIN calls c ON c.tenant = u.tenant AND c.run_id = u.run_id AND c.event_id = u.root
    WHERE c.retry_of IS NOT NULL AND u.hops < 64
), rooted AS (
    SELECT tenant, run_id, event_id, arg_max(root, hops) AS root, max(hops) AS depth
    FROM up GROUP BY tenant, run_id, event_id
)
SELECT r.tenant, r.run_id,
       count(*) FILTER (WHERE c.success) <= 1 AS passed,
       CASE WHEN count(*) FILTER (WHERE c.success) > 1 THEN list(r.event_id) FILTER (WHERE c.success)
            ELSE list(r.event_id) END AS evidence
FROM rooted r
JOIN calls c USING (tenant, run_id, event_id)
GROUP BY r.tenant, r.run_id, r.root
HAVING max(r.depth) > 0
