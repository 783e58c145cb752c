-- control_failures (internal series of the control_regression alert and canary gate, docs/controls.md): per
-- control, among finished runs in [since, until) it applied to, how many failed (n) and passed (passed).
-- value = control_id. A control that applied to no run has no row.
SELECT {select_groups}
    control_id AS value,
    count(*) FILTER (WHERE verdict = 'fail') AS n,
    count(*) FILTER (WHERE verdict = 'pass') AS passed
FROM control_results
WHERE verdict IN ('pass', 'fail') AND finished_at >= $since AND finished_at < $until
    {where}
GROUP BY ALL
ORDER BY ALL
