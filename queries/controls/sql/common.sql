-- The relations every control's SQL may read (docs/controls.md "Writing a control"). Not a control itself:
-- the evaluator (queries/controls/evaluate.py) puts these CTEs first, then one CTE per control.
-- Slots: {events}, the relation holding the (de-duplicated, scoped) events of the runs evaluated; {key_events},
-- the events the idempotency keys are compared across (every run of the tenant in reach; often {events} itself).
--
-- ev         the events the controls look at, with observed_us = ts + duration_ms (µs since the epoch)
-- run_keys   one row per run: its group values (those of its earliest run_finished, else run_started, else
--            earliest event: the rule of queries/sql/run_facts.sql), finished_at, first_ts, outcome,
--            total_cost_usd and event_date (the day of finished_at, of first_ts in flight)
-- initiators one row per run with a run_started: who started it (initiator: human/system/agent), the agent
--            that started it and that event's id (the earliest run_started counts)
-- mutations  every mutating tool_call with the latest policy_decision of its run at or before it (gate_*:
--            its id, action, risk tier and decision; null when none came before)
-- key_successes every successful mutating tool_call with a non-empty idempotency_key in {key_events}:
--            tenant, idempotency_key, run_id, event_id, ts (the other runs a key is compared with)
ev AS NOT MATERIALIZED (
    SELECT tenant, run_id, event_id, event_type, ts,
           epoch_us(ts) + coalesce(duration_ms, 0) * 1000.0 AS observed_us,
           workflow, workflow_version, team, release, environment, agent, initiator, outcome,
           tool_name, schema_valid, success, mutating, idempotency_key, retry_of, cost_usd,
           action, risk_tier, decision, approver, wait_ms, budget
    FROM {events}
    WHERE run_id IS NOT NULL
      AND event_type <> 'outcome_confirmed'  -- a late confirmation is no step of the run (events.md)
), run_keys AS MATERIALIZED (
    SELECT k.tenant, k.run_id, k.workflow, k.workflow_version, k.team, k.release, k.environment,
           p.finished_at, p.first_ts, k.outcome, p.total_cost_usd,
           CAST(coalesce(p.finished_at, p.first_ts) AS DATE) AS event_date
    FROM (
        SELECT tenant, run_id,
               min(ts) FILTER (WHERE event_type = 'run_finished') AS finished_at,
               min(ts) AS first_ts,
               coalesce(sum(cost_usd), 0) AS total_cost_usd
        FROM ev GROUP BY tenant, run_id
    ) p
    JOIN (
        -- the run's earliest run_finished, else its earliest run_started (few rows to order) …
        SELECT tenant, run_id, workflow, workflow_version, team, release, environment,
               CASE WHEN event_type = 'run_finished' THEN outcome END AS outcome
        FROM ev
        WHERE event_type IN ('run_finished', 'run_started')
        QUALIFY row_number() OVER (PARTITION BY tenant, run_id
                                   ORDER BY event_type = 'run_finished' DESC, ts, event_id) = 1
        UNION ALL
        -- … else its earliest event
        SELECT tenant, run_id, workflow, workflow_version, team, release, environment, CAST(NULL AS VARCHAR)
        FROM ev e
        WHERE NOT EXISTS (SELECT 1 FROM ev b WHERE b.tenant = e.tenant AND b.run_id = e.run_id
                                                AND b.event_type IN ('run_finished', 'run_started'))
        QUALIFY row_number() OVER (PARTITION BY tenant, run_id ORDER BY ts, event_id) = 1
    ) k USING (tenant, run_id)
), initiators AS (
    SELECT tenant, run_id,
           arg_min(initiator, (ts, event_id)) AS initiator,
           arg_min(agent, (ts, event_id)) AS initiating_agent,
           arg_min(event_id, (ts, event_id)) AS started_event
    FROM ev
    WHERE event_type = 'run_started'
    GROUP BY tenant, run_id
), mutations AS (
    SELECT m.tenant, m.run_id, m.event_id, m.ts, m.observed_us, m.agent, m.tool_name, m.schema_valid, m.success,
           m.idempotency_key, m.retry_of,
           p.event_id AS gate_id, p.action AS gate_action, p.risk_tier AS gate_tier, p.decision AS gate_decision
    FROM ev m
    LEFT JOIN ev p
      ON p.tenant = m.tenant AND p.run_id = m.run_id AND p.event_type = 'policy_decision' AND p.ts <= m.ts
    WHERE m.event_type = 'tool_call' AND m.mutating
    QUALIFY row_number() OVER (PARTITION BY m.tenant, m.run_id, m.event_id
                               ORDER BY p.ts DESC NULLS LAST, p.event_id DESC NULLS LAST) = 1
), key_successes AS (
    SELECT tenant, idempotency_key, run_id, event_id, ts
    FROM {key_events}
    WHERE event_type = 'tool_call' AND mutating AND success AND run_id IS NOT NULL
      AND idempotency_key IS NOT NULL AND idempotency_key <> ''
)
