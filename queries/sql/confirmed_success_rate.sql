-- confirmed_success_rate (metrics.md "Confirmed outcomes"): finished runs whose latest outcome_confirmed says
-- `confirmed` ÷ finished runs. Runs are selected by run_finished ts in [since, until); the system of record
-- wins over the run's own claim (a run that claimed failure but was confirmed counts as a confirmed success).
-- Placeholders: confirmations (the text of run_confirmations.sql), {select_groups} {where} {group_by} {order_by};
-- values are bound: $since, $until, $w_N.
WITH confirmations AS ({confirmations})
SELECT {select_groups}
    count(*) FILTER (WHERE confirmation = 'confirmed') / nullif(count(*), 0) AS confirmed_success_rate,
    count(*) AS runs,
    count(*) FILTER (WHERE confirmation = 'confirmed') AS confirmed_successes,
    count(*) FILTER (WHERE outcome = 'success') AS claimed_successes,
    count(*) FILTER (WHERE confirmation = 'reversed') AS reversed,
    count(*) FILTER (WHERE confirmation IS NULL) AS unconfirmed
FROM runs r
LEFT JOIN confirmations c ON c.c_tenant = r.tenant AND c.c_run_id = r.run_id
WHERE finished_at >= $since AND finished_at < $until
    {where}
{group_by}
{order_by}
