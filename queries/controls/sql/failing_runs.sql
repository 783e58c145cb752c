-- Not a control: finished runs that failed a control in [since, until), newest first (queries/controls/report.py;
-- the dashboard's links, `tracelake controls run --failures`, GET /v1/controls/failures).
-- Placeholders: {where} (AND clauses on allow-listed columns); bound: $since, $until, $limit, $w_N.
SELECT run_id, tenant, control_id, control_version, severity, workflow, workflow_version, environment,
       finished_at, evidence
FROM control_results
WHERE verdict = 'fail' AND finished_at >= $since AND finished_at < $until
    {where}
ORDER BY finished_at DESC, run_id, control_id
LIMIT $limit
