-- tool_call_validity (metrics.md): tool_call events with schema_valid = true ÷ tool_call events
-- where schema_valid is present (that count is tool_calls). Events are selected by their own ts.
SELECT {select_groups}
    count(*) FILTER (WHERE schema_valid) / nullif(count(schema_valid), 0) AS tool_call_validity,
    count(schema_valid) AS tool_calls,
    count(*) FILTER (WHERE schema_valid) AS valid_calls
FROM events
WHERE event_type = 'tool_call' AND ts >= $since AND ts < $until
    {where}
{group_by}
{order_by}
