-- One row per run, identity (tenant, run_id): every run-level fact a metric reads (metrics.md "SQL views",
-- `runs`). Defined once: the `runs` view of a connection is this query over its de-duplicated `events`
-- (the event-level path), and the runs rollup (queries/rollup/runs.py) stores exactly these rows, computed
-- by this query over the events of the runs a new events file touched (the fast path).
-- Slot: {events}, the relation holding the (de-duplicated, scoped) events.
--
-- Group values (workflow, version, team, release, environment) are those of the run's earliest run_finished
-- event (ts, then event_id), else of its earliest run_started, else of its earliest event.
-- Safe fallback (metrics.md "Time to safe fallback"): F = the run's earliest fallback or escalation (ts, then
-- event_id). The signal S is the event F.trigger_event_id names if it is in the run; else the earliest
-- (ts, then event_id) trouble event observed at or before F.ts; else the run's start (run_started ts, or
-- its earliest ts). Observed time = ts + duration_ms. ttsf_ms = F.ts - S in ms, floored at 0.
WITH ev AS MATERIALIZED (
    SELECT tenant, run_id, event_id, event_type, ts, workflow, workflow_version, team, release, environment,
           outcome, cost_usd, cost_source, duration_ms, status, schema_valid, success, decision, passed,
           trigger_event_id, epoch_us(ts) + coalesce(duration_ms, 0) * 1000.0 AS observed_us
    FROM {events}
    WHERE run_id IS NOT NULL  -- the contract requires one; a row without it belongs to no run
      -- a late confirmation is not a fact of the run (events.md "Confirmed outcomes"; sql/run_confirmations.sql)
      AND event_type <> 'outcome_confirmed'
), per_run AS (
    SELECT
        tenant, run_id,
        min(ts) FILTER (WHERE event_type = 'run_started') AS started_at,
        min(ts) FILTER (WHERE event_type = 'run_finished') AS finished_at,
        min(ts) AS first_ts,
        max(ts) AS last_ts,
        coalesce(sum(cost_usd), 0) AS total_cost_usd,
        count(*) FILTER (WHERE event_type = 'llm_call') AS llm_calls,
        count(*) FILTER (WHERE event_type = 'tool_call') AS tool_calls,
        coalesce(sum(duration_ms) FILTER (WHERE event_type = 'llm_call'), 0) AS model_ms,
        coalesce(sum(duration_ms) FILTER (WHERE event_type = 'tool_call'), 0) AS tool_ms,
        bool_or(event_type = 'escalation') AS escalated,
        bool_or(event_type = 'fallback') AS fell_back,
        count(*) AS events,
        coalesce(sum(cost_usd) FILTER (WHERE cost_source = 'reported'), 0) AS cost_reported_usd,
        coalesce(sum(cost_usd) FILTER (WHERE cost_source = 'estimated'), 0) AS cost_estimated_usd,
        count(schema_valid) FILTER (WHERE event_type = 'tool_call') AS tool_calls_validity_known,
        count(*) FILTER (WHERE event_type = 'tool_call' AND schema_valid) AS tool_calls_valid,
        count(success) FILTER (WHERE event_type = 'tool_call') AS tool_calls_success_known,
        count(*) FILTER (WHERE event_type = 'tool_call' AND success) AS tool_calls_successful,
        count(*) FILTER (WHERE event_type = 'postcondition_check') AS postcondition_checks,
        count(*) FILTER (WHERE event_type = 'postcondition_check' AND passed) AS postconditions_passed,
        count(*) FILTER (WHERE event_type = 'postcondition_check' AND passed = false) AS postconditions_failed,
        count(*) FILTER (WHERE event_type = 'escalation') AS escalations,
        count(*) FILTER (WHERE event_type = 'fallback') AS fallbacks
    FROM ev
    GROUP BY tenant, run_id
), boundary AS (
    SELECT tenant, run_id, workflow, workflow_version, team, release, environment,
           CASE WHEN event_type = 'run_finished' THEN outcome END AS outcome
    FROM ev
    WHERE event_type IN ('run_finished', 'run_started')
    QUALIFY row_number() OVER (PARTITION BY tenant, run_id
                               ORDER BY event_type = 'run_finished' DESC, ts, event_id) = 1
), orphan AS (
    SELECT tenant, run_id, workflow, workflow_version, team, release, environment,
           CAST(NULL AS VARCHAR) AS outcome
    FROM ev ANTI JOIN boundary USING (tenant, run_id)
    QUALIFY row_number() OVER (PARTITION BY tenant, run_id ORDER BY ts, event_id) = 1
), picked AS (
    SELECT * FROM boundary UNION ALL SELECT * FROM orphan
), first_fallback AS (
    SELECT tenant, run_id, ts AS f_ts, trigger_event_id
    FROM ev
    WHERE event_type IN ('fallback', 'escalation')
    QUALIFY row_number() OVER (PARTITION BY tenant, run_id ORDER BY ts, event_id) = 1
), triggered AS (
    SELECT f.tenant, f.run_id, any_value(t.observed_us) AS signal_us
    FROM first_fallback f
    JOIN ev t ON t.tenant = f.tenant AND t.run_id = f.run_id AND t.event_id = f.trigger_event_id
    GROUP BY f.tenant, f.run_id
), trouble AS (
    SELECT f.tenant, f.run_id, arg_min(t.observed_us, (t.ts, t.event_id)) AS signal_us
    FROM first_fallback f JOIN ev t ON t.tenant = f.tenant AND t.run_id = f.run_id
    WHERE t.observed_us <= epoch_us(f.f_ts)
      AND (t.status = 'error'
           OR (t.event_type = 'tool_call' AND (t.schema_valid = false OR t.success = false))
           OR (t.event_type = 'policy_decision' AND t.decision = 'block')
           OR t.event_type = 'budget_exceeded'
           OR (t.event_type = 'postcondition_check' AND t.passed = false))
    GROUP BY f.tenant, f.run_id
)
SELECT
    p.run_id, p.tenant, k.workflow, k.workflow_version, k.team, k.release, k.environment,
    p.started_at, p.finished_at, k.outcome,
    p.total_cost_usd, p.llm_calls, p.tool_calls, p.model_ms, p.tool_ms,
    (epoch_us(p.finished_at) - epoch_us(p.started_at)) / 1000.0 AS run_ms,
    p.escalated, p.fell_back, p.first_ts,
    p.events, p.cost_reported_usd, p.cost_estimated_usd,
    p.tool_calls_validity_known, p.tool_calls_valid, p.tool_calls_success_known, p.tool_calls_successful,
    p.postcondition_checks, p.postconditions_passed, p.postconditions_failed,
    p.escalations, p.fallbacks,
    f.f_ts AS safe_fallback_at, f.trigger_event_id AS safe_fallback_trigger,
    CASE WHEN f.run_id IS NOT NULL THEN
        greatest(0.0, (epoch_us(f.f_ts) - coalesce(triggered.signal_us, trouble.signal_us,
                                                   epoch_us(coalesce(p.started_at, p.first_ts)))) / 1000.0)
    END AS ttsf_ms,
    p.last_ts,
    CAST(coalesce(p.finished_at, p.first_ts) AS DATE) AS event_date
FROM per_run p
JOIN picked k USING (tenant, run_id)
LEFT JOIN first_fallback f USING (tenant, run_id)
LEFT JOIN triggered USING (tenant, run_id)
LEFT JOIN trouble USING (tenant, run_id)
