-- cost_per_success (metrics.md): total cost_usd of every event of the window's finished runs,
-- whatever their outcome ÷ successful finished runs. Runs are selected by run_finished ts.
SELECT {select_groups}
    sum(total_cost_usd) / nullif(count(*) FILTER (WHERE outcome = 'success'), 0) AS cost_per_success,
    coalesce(sum(total_cost_usd), 0) AS total_cost_usd,
    sum(total_cost_usd) / nullif(count(*), 0) AS cost_per_run,
    count(*) AS runs,
    count(*) FILTER (WHERE outcome = 'success') AS successes
FROM runs
WHERE finished_at >= $since AND finished_at < $until
    {where}
{group_by}
{order_by}
