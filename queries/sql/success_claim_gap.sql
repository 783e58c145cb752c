-- success_claim_gap (metrics.md "Confirmed outcomes"): of the window's finished runs that claimed success
-- (outcome = success), the share whose latest outcome_confirmed is not `confirmed` (reversed, or none yet).
-- Runs are selected by run_finished ts. A confirmation still on its way counts as a gap (pending_claims says
-- how many): alert on windows that end after the confirmations usually arrive. Placeholders as
-- confirmed_success_rate.sql.
WITH confirmations AS ({confirmations})
SELECT {select_groups}
    count(*) FILTER (WHERE outcome = 'success' AND coalesce(confirmation, '') <> 'confirmed')
        / nullif(count(*) FILTER (WHERE outcome = 'success'), 0) AS success_claim_gap,
    count(*) FILTER (WHERE outcome = 'success') AS claimed_successes,
    count(*) FILTER (WHERE outcome = 'success' AND coalesce(confirmation, '') <> 'confirmed')
        AS unconfirmed_claims,
    count(*) FILTER (WHERE outcome = 'success' AND confirmation = 'confirmed') AS confirmed_claims,
    count(*) FILTER (WHERE outcome = 'success' AND confirmation = 'reversed') AS reversed_claims,
    count(*) FILTER (WHERE outcome = 'success' AND confirmation IS NULL) AS pending_claims
FROM runs r
LEFT JOIN confirmations c ON c.c_tenant = r.tenant AND c.c_run_id = r.run_id
WHERE finished_at >= $since AND finished_at < $until
    {where}
{group_by}
{order_by}
