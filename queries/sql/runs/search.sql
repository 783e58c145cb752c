-- Run search (GET /v1/runs, the dashboard's run list): newest first by the run's
-- first event, then run_id; the keyset cursor is that pair. The filters slot is filled
-- by tracelake.queries.runs.build_search: column filters, search_tool.sql, search_after.sql
-- (every value a bound parameter).
SELECT * EXCLUDE (first_ts), first_ts AS _cursor_ts
FROM runs
WHERE first_ts >= $since AND first_ts < $until
{filters}
ORDER BY first_ts DESC, run_id DESC
LIMIT $limit
