-- control_pass_rate (metrics.md, docs/controls.md): per control, among the finished runs it applied to (verdict
-- pass or fail), the share that passed. A finished run is selected by its run_finished ts in [since, until);
-- runs in flight are left out (their verdicts may still change). Reads the control_results view (maintained
-- rows + the runs touched since, evaluated on the fly), one row per run and control version.
-- Placeholders: {select_groups} {where} {group_by} {order_by} (identifiers from an allow-list);
-- values are bound: $since, $until, $w_N.
SELECT {select_groups}
    count(*) FILTER (WHERE verdict = 'pass')
        / nullif(count(*) FILTER (WHERE verdict IN ('pass', 'fail')), 0) AS control_pass_rate,
    count(*) FILTER (WHERE verdict IN ('pass', 'fail')) AS applicable,
    count(*) FILTER (WHERE verdict = 'pass') AS passed,
    count(*) FILTER (WHERE verdict = 'fail') AS failed,
    count(*) FILTER (WHERE verdict = 'not_applicable') AS not_applicable
FROM control_results
WHERE finished_at >= $since AND finished_at < $until
    {where}
{group_by}
{order_by}
