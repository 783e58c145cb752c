-- latency_split (metrics.md), per finished run: model_ms = sum of duration_ms of its llm_call
-- events (0 without any), tool_ms = the same for tool_call, run_ms = run_finished ts − run_started
-- ts (null without run_started). Continuous percentiles (quantile_cont). The metric column is
-- run_ms_p95 (end-to-end latency), the value the latency_p95_rise alert watches.
SELECT {select_groups}
    quantile_cont(run_ms, 0.95) AS latency_split,
    quantile_cont(model_ms, 0.5) AS model_ms_p50,
    quantile_cont(model_ms, 0.95) AS model_ms_p95,
    quantile_cont(tool_ms, 0.5) AS tool_ms_p50,
    quantile_cont(tool_ms, 0.95) AS tool_ms_p95,
    quantile_cont(run_ms, 0.5) AS run_ms_p50,
    quantile_cont(run_ms, 0.95) AS run_ms_p95,
    count(*) AS runs
FROM runs
WHERE finished_at >= $since AND finished_at < $until
    {where}
{group_by}
{order_by}
