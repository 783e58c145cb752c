-- success_rate (metrics.md): finished runs with outcome = success ÷ finished runs.
-- A finished run is selected by its run_finished ts in [since, until). A run still in flight at the
-- window's end (no run_finished before until) whose first event falls in the window counts in
-- runs_unfinished only: the answer for a past window does not change when its runs finish later.
-- Placeholders: {select_groups} {where} {group_by} {order_by} (identifiers from an allow-list);
-- values are bound: $since, $until, $w_N.
SELECT {select_groups}
    count(*) FILTER (WHERE outcome = 'success' AND finished_at < $until)
        / nullif(count(*) FILTER (WHERE finished_at < $until), 0) AS success_rate,
    count(*) FILTER (WHERE finished_at < $until) AS runs,
    count(*) FILTER (WHERE outcome = 'success' AND finished_at < $until) AS successes,
    count(*) FILTER (WHERE outcome = 'success' AND finished_at < $until) AS success,
    count(*) FILTER (WHERE outcome = 'failure' AND finished_at < $until) AS failure,
    count(*) FILTER (WHERE outcome = 'escalated' AND finished_at < $until) AS escalated,
    count(*) FILTER (WHERE outcome = 'fallback' AND finished_at < $until) AS fallback,
    count(*) FILTER (WHERE outcome = 'halted' AND finished_at < $until) AS halted,
    count(*) FILTER (WHERE finished_at IS NULL OR finished_at >= $until) AS runs_unfinished
FROM runs
WHERE ((finished_at >= $since AND finished_at < $until)
       OR ((finished_at IS NULL OR finished_at >= $until) AND first_ts >= $since AND first_ts < $until))
    {where}
{group_by}
{order_by}
