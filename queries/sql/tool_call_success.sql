-- tool_call_success (metrics.md): tool_call events with success = true ÷ tool_call events where
-- success is present (tool_calls). Events are selected by their own ts.
SELECT {select_groups}
    count(*) FILTER (WHERE success) / nullif(count(success), 0) AS tool_call_success,
    count(success) AS tool_calls,
    count(*) FILTER (WHERE success) AS successful_calls
FROM events
WHERE event_type = 'tool_call' AND ts >= $since AND ts < $until
    {where}
{group_by}
{order_by}
