-- postcondition_pass_rate (metrics.md): postcondition_check events with passed = true ÷ all
-- postcondition_check events (checks). Events are selected by their own ts.
SELECT {select_groups}
    count(*) FILTER (WHERE passed) / nullif(count(*), 0) AS postcondition_pass_rate,
    count(*) AS checks,
    count(*) FILTER (WHERE passed) AS passed_checks
FROM events
WHERE event_type = 'postcondition_check' AND ts >= $since AND ts < $until
    {where}
{group_by}
{order_by}
