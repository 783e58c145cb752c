-- Runs that called the tool $tool_name (a clause of search.sql).
AND run_id IN (SELECT run_id FROM tool_calls WHERE tool_name = $tool_name)
