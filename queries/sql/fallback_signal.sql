-- The safe-fallback signal of each run (metrics.md "Time to safe fallback"), defined once: CTEs over a
-- relation `ev` with run_id, event_id, event_type, ts, status, schema_valid, success, decision, passed,
-- trigger_event_id and observed_us (ts + duration_ms, in microseconds). Pasted where a query writes
-- {fallback_signal} (queries/metrics.py for time_to_safe_fallback.sql, the run rollup).
--   first_fallback: F, a run's earliest fallback or escalation (ts, then event_id), and its trigger;
--   triggered:      the observed time of the event F names, if it is in the run;
--   trouble:        else the earliest trouble event observed at or before F.
first_fallback AS (
    SELECT run_id, ts AS f_ts, trigger_event_id
    FROM ev
    WHERE event_type IN ('fallback', 'escalation')
    QUALIFY row_number() OVER (PARTITION BY run_id ORDER BY ts, event_id) = 1
), triggered AS (
    SELECT f.run_id, any_value(t.observed_us) AS signal_us
    FROM first_fallback f JOIN ev t ON t.run_id = f.run_id AND t.event_id = f.trigger_event_id
    GROUP BY f.run_id
), trouble AS (
    SELECT f.run_id, arg_min(t.observed_us, (t.ts, t.event_id)) AS signal_us
    FROM first_fallback f JOIN ev t ON t.run_id = f.run_id
    WHERE t.observed_us <= epoch_us(f.f_ts)
      AND (t.status = 'error'
           OR (t.event_type = 'tool_call' AND (t.schema_valid = false OR t.success = false))
           OR (t.event_type = 'policy_decision' AND t.decision = 'block')
           OR t.event_type = 'budget_exceeded'
           OR (t.event_type = 'postcondition_check' AND t.passed = false))
    GROUP BY f.run_id
