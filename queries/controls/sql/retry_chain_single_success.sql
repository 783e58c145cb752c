-- retry_chain_single_success: a retry chain (tool calls linked by retry_of) succeeds at most once.
-- A retry's chain is named by its root: follow retry_of up through the run's retries (at most 64 hops); the
-- root is the first call named that retries nothing (or an event the run does not hold). Item: a chain, the
-- root and every retry under it. Passes when at most one of its calls has success = true.
-- Evidence: the chain's calls that succeeded (all its calls when it passes), those the run holds.
WITH RECURSIVE calls AS (
    SELECT tenant, run_id, event_id, retry_of, success FROM ev WHERE event_type = 'tool_call'
), retries AS (
    SELECT tenant, run_id, event_id, retry_of FROM calls WHERE retry_of IS NOT NULL
), up(tenant, run_id, event_id, root, hops) AS (
    SELECT tenant, run_id, event_id, retry_of, 1 FROM retries
    UNION ALL
    SELECT u.tenant, u.run_id, u.event_id, r.retry_of, u.hops + 1
    FROM up u
    JOIN retries r ON r.tenant = u.tenant AND r.run_id = u.run_id AND r.event_id = u.root
    WHERE u.hops < 64
), rooted AS (
    SELECT tenant, run_id, event_id, arg_max(root, hops) AS root FROM up GROUP BY tenant, run_id, event_id
), members AS (
    SELECT tenant, run_id, event_id, root FROM rooted
    UNION
    SELECT tenant, run_id, root, root FROM rooted
)
SELECT m.tenant, m.run_id,
       count(*) FILTER (WHERE c.success) <= 1 AS passed,
       CASE WHEN count(*) FILTER (WHERE c.success) > 1 THEN list(m.event_id) FILTER (WHERE c.success)
            ELSE list(m.event_id) FILTER (WHERE c.event_id IS NOT NULL) END AS evidence
FROM members m
LEFT JOIN calls c ON c.tenant = m.tenant AND c.run_id = m.run_id AND c.event_id = m.event_id
GROUP BY m.tenant, m.run_id, m.root
