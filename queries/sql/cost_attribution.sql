-- cost_attribution (metrics.md): sum of cost_usd over events selected by their own ts, grouped by
-- team, workflow, release unless asked otherwise; the column is cost_usd. Events without a cost
-- are left out, so a group appears only when it has spent something (or reported a cost of 0).
SELECT {select_groups}
    coalesce(sum(cost_usd), 0) AS cost_usd
FROM events
WHERE cost_usd IS NOT NULL AND ts >= $since AND ts < $until
    {where}
{group_by}
{order_by}
