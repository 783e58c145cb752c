-- escalation_rate (metrics.md): finished runs holding at least one escalation event ÷ finished
-- runs. reasons: escalation events of those runs counted per reason ({reason: count}).
WITH finished AS (
    SELECT * FROM runs
    WHERE finished_at >= $since AND finished_at < $until
        {where}
), escalations AS (
    SELECT run_id, reason AS escalation_reason
    FROM events
    WHERE event_type = 'escalation' AND run_id IN (SELECT run_id FROM finished WHERE escalated)
), joined AS (
    SELECT finished.*, escalations.escalation_reason
    FROM finished LEFT JOIN escalations USING (run_id)
)
SELECT {select_groups}
    count(DISTINCT run_id) FILTER (WHERE escalated) / nullif(count(DISTINCT run_id), 0) AS escalation_rate,
    count(DISTINCT run_id) AS runs,
    count(DISTINCT run_id) FILTER (WHERE escalated) AS escalated_runs,
    histogram(escalation_reason) FILTER (WHERE escalation_reason IS NOT NULL) AS reasons
FROM joined
{group_by}
{order_by}
