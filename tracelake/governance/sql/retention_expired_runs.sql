-- The runs a retention policy expires: one row (tenant, run_id) per run whose every event goes.
-- Run over a read-only lake connection (queries/engine.py open_lake): its `runs` view (the rollup plus the
-- runs touched since, or the event-level view) and its de-duplicated `events`. A run is decided whole
-- (docs/governance.md "Retention"): on its tenant, the workflow and environment of the `runs` view, its
-- HIGHEST risk tier over all its events ('none' without any), and aged from its LAST event of any type.
-- The `runs` view leaves out late confirmations (queries/sql/run_facts.sql: event_type 'outcome_confirmed'
-- is no run fact), so they are added here: a confirmation extends its run's age, and a run holding only
-- confirmations is decided on its own (workflow and environment of its earliest one).
-- Reading `runs` instead of grouping every event by run: 2x faster on the 10M-event bench lake (bench/retention.py).
-- Slots: {now} (TIMESTAMPTZ literal: the instant ages are measured at),
--        {run_days} (the policy's CASE over workflow, environment, tenant, risk_tier: days kept, NULL = forever).
WITH tiers AS (
    SELECT tenant, run_id,
           max(CASE risk_tier WHEN 'red' THEN 3 WHEN 'yellow' THEN 2 WHEN 'green' THEN 1 END) AS tier_rank
    FROM events
    WHERE run_id IS NOT NULL AND risk_tier IS NOT NULL
    GROUP BY tenant, run_id
), confirmations AS (
    SELECT tenant, run_id, max(ts) AS last_ts,
           arg_min(workflow, ts) AS workflow, arg_min(environment, ts) AS environment
    FROM events
    WHERE run_id IS NOT NULL AND event_type = 'outcome_confirmed'
    GROUP BY tenant, run_id
), per_run AS (
    SELECT coalesce(r.tenant, c.tenant) AS tenant, coalesce(r.run_id, c.run_id) AS run_id,
           greatest(r.last_ts, c.last_ts) AS last_ts,
           coalesce(r.workflow, c.workflow) AS workflow,
           coalesce(r.environment, c.environment) AS environment
    FROM runs r
    FULL OUTER JOIN confirmations c ON c.tenant IS NOT DISTINCT FROM r.tenant AND c.run_id = r.run_id
), decided AS (
    SELECT p.tenant, p.run_id, p.last_ts, p.workflow, p.environment,
           coalesce(['green', 'yellow', 'red'][t.tier_rank], 'none') AS risk_tier
    FROM per_run p
    LEFT JOIN tiers t ON t.tenant IS NOT DISTINCT FROM p.tenant AND t.run_id = p.run_id
)
SELECT tenant, run_id
FROM decided
WHERE last_ts < {now} - to_days({run_days})
