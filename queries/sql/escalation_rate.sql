-- escalation_rate (metrics.md): finished runs holding at least one escalation event ÷ finished
-- runs. reasons: escalation events of those runs counted per reason ({reason: count}).
-- The rate reads only runs (one row per run: the rollup's rows on the fast path); the reasons join the
-- escalation events of the escalated runs alone, then meet the rates on the group columns ({join_groups}).
WITH finished AS (
    SELECT * FROM runs
    WHERE finished_at >= $since AND finished_at < $until
        {where}
), rates AS (
    SELECT {select_groups}
        count(*) FILTER (WHERE escalated) / nullif(count(*), 0) AS escalation_rate,
        count(*) AS runs,
        count(*) FILTER (WHERE escalated) AS escalated_runs
    FROM finished
    {group_by}
), escalations AS (
    SELECT f.*, e.reason AS escalation_reason
    FROM (SELECT * FROM finished WHERE escalated) f
    JOIN events e ON e.tenant = f.tenant AND e.run_id = f.run_id
    WHERE e.event_type = 'escalation' AND e.reason IS NOT NULL
), reasons AS (
    SELECT {select_groups}
        histogram(escalation_reason) AS reasons
    FROM escalations
    {group_by}
)
SELECT r.*, s.reasons
FROM rates r
LEFT JOIN reasons s ON {join_groups}
{order_by}
