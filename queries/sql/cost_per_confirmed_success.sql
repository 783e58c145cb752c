-- cost_per_confirmed_success (metrics.md "Confirmed outcomes"): total cost_usd of the window's finished runs,
-- whatever their outcome ÷ those whose latest outcome_confirmed says `confirmed`. Runs are selected by
-- run_finished ts. Placeholders as confirmed_success_rate.sql.
WITH confirmations AS ({confirmations})
SELECT {select_groups}
    sum(total_cost_usd) / nullif(count(*) FILTER (WHERE confirmation = 'confirmed'), 0)
        AS cost_per_confirmed_success,
    coalesce(sum(total_cost_usd), 0) AS total_cost_usd,
    count(*) AS runs,
    count(*) FILTER (WHERE confirmation = 'confirmed') AS confirmed_successes,
    coalesce(sum(amount) FILTER (WHERE confirmation = 'confirmed'), 0) AS confirmed_amount
FROM runs r
LEFT JOIN confirmations c ON c.c_tenant = r.tenant AND c.c_run_id = r.run_id
WHERE finished_at >= $since AND finished_at < $until
    {where}
{group_by}
{order_by}
