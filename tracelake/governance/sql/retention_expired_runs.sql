-- The runs a retention policy expires: one row (tenant, run_id) per run whose every event goes.
-- Run over a read-only lake connection (queries/engine.py open_lake): its `events` (de-duplicated) and
-- `runs` views. A run is decided whole (docs/governance.md "Retention"): on its tenant, the workflow and
-- environment of the `runs` view (of its earliest event when the view has no row for it, e.g. a run holding
-- only late confirmations), its HIGHEST risk tier over all its events ('none' without any), and aged from
-- its LAST event of any type.
-- Slots: {now} (TIMESTAMPTZ literal: the instant ages are measured at),
--        {run_days} (the policy's CASE over workflow, environment, tenant, risk_tier: days kept, NULL = forever).
WITH per_run AS (
    SELECT tenant, run_id,
           max(ts) AS last_ts,
           max(CASE risk_tier WHEN 'red' THEN 3 WHEN 'yellow' THEN 2 WHEN 'green' THEN 1 END) AS tier_rank,
           arg_min(workflow, ts) AS first_workflow,
           arg_min(environment, ts) AS first_environment
    FROM events
    WHERE run_id IS NOT NULL
    GROUP BY tenant, run_id
), decided AS (
    SELECT p.tenant, p.run_id, p.last_ts,
           coalesce(r.workflow, p.first_workflow) AS workflow,
           coalesce(r.environment, p.first_environment) AS environment,
           coalesce(['green', 'yellow', 'red'][p.tier_rank], 'none') AS risk_tier
    FROM per_run p
    LEFT JOIN runs r ON r.tenant IS NOT DISTINCT FROM p.tenant AND r.run_id = p.run_id
)
SELECT tenant, run_id
FROM decided
WHERE last_ts < {now} - to_days({run_days})
