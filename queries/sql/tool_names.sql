-- tool_names (internal series of the new_tool_name alert): how often each tool_name was called,
-- by events' own ts. value = tool_name, n = tool_call events.
SELECT {select_groups}
    tool_name AS value,
    count(*) AS n
FROM events
WHERE event_type = 'tool_call' AND tool_name IS NOT NULL AND ts >= $since AND ts < $until
    {where}
GROUP BY ALL
ORDER BY ALL
