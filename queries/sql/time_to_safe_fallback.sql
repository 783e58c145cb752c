-- time_to_safe_fallback (metrics.md "Time to safe fallback"). For each finished run holding a
-- fallback or escalation, F = the earliest of them (ts, then event_id). The signal S is:
--   1. the event named by F.trigger_event_id, if it is in the run;
--   2. else the earliest (ts, then event_id) trouble event whose observed time is at or before F.ts;
--   3. else the run's start: run_started ts, or the run's earliest ts.
-- Observed time of an event = ts + duration_ms (ts alone without duration). TTSF = F.ts − S, in ms,
-- floored at 0. The metric column is p95_ms's value.
WITH finished AS (
    SELECT * FROM runs
    WHERE finished_at >= $since AND finished_at < $until
        {where}
), ev AS (
    SELECT run_id, event_id, event_type, ts, status, schema_valid, success, decision, passed, trigger_event_id,
           epoch_us(ts) + coalesce(duration_ms, 0) * 1000.0 AS observed_us
    FROM events
    WHERE run_id IN (SELECT run_id FROM finished)
), {fallback_signal}), per_run AS (
    SELECT finished.*,
           greatest(0.0, (epoch_us(f.f_ts) - coalesce(triggered.signal_us, trouble.signal_us,
                                                      epoch_us(coalesce(finished.started_at, finished.first_ts))))
                         / 1000.0) AS ttsf_ms
    FROM finished
    JOIN first_fallback f USING (run_id)
    LEFT JOIN triggered USING (run_id)
    LEFT JOIN trouble USING (run_id)
)
SELECT {select_groups}
    quantile_cont(ttsf_ms, 0.95) AS time_to_safe_fallback,
    count(*) AS runs,
    quantile_cont(ttsf_ms, 0.5) AS p50_ms,
    quantile_cont(ttsf_ms, 0.95) AS p95_ms,
    max(ttsf_ms) AS max_ms
FROM per_run
{group_by}
{order_by}
