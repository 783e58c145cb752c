-- time_to_safe_fallback (metrics.md "Time to safe fallback"): over the window's finished runs that hold a
-- fallback or escalation, the per-run time from the signal to the first safe fallback, ttsf_ms: a column of
-- the runs relation, defined once in run_facts.sql (F, its trigger, the earliest trouble, the run's start).
-- The metric column is p95_ms's value.
SELECT {select_groups}
    quantile_cont(ttsf_ms, 0.95) AS time_to_safe_fallback,
    count(*) AS runs,
    quantile_cont(ttsf_ms, 0.5) AS p50_ms,
    quantile_cont(ttsf_ms, 0.95) AS p95_ms,
    max(ttsf_ms) AS max_ms
FROM runs
WHERE finished_at >= $since AND finished_at < $until AND ttsf_ms IS NOT NULL
    {where}
{group_by}
{order_by}
