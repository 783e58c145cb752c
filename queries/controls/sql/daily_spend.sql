-- Not a control: spend per UTC day against the configured daily budgets, per workflow and per team
-- (queries/controls/report.py; docs/controls.md "Daily budgets"). Spend is cost_usd summed over events by
-- their own ts and their own workflow / team, as cost_attribution counts it (metrics.md).
-- Slots: {workflow_budgets}, {team_budgets} (relations name, limit_usd). Bound: $since, $until.
WITH spend AS (
    SELECT CAST(ts AS DATE) AS day, workflow, team, sum(cost_usd) AS usd
    FROM events
    WHERE cost_usd IS NOT NULL AND ts >= $since AND ts < $until
    GROUP BY ALL
)
SELECT s.day, 'workflow' AS scope, s.workflow AS name, sum(s.usd) AS spend_usd, b.limit_usd AS budget_usd,
       sum(s.usd) > b.limit_usd AS over_budget
FROM spend s JOIN {workflow_budgets} b ON b.name = s.workflow
GROUP BY s.day, s.workflow, b.limit_usd
UNION ALL
SELECT s.day, 'team', s.team, sum(s.usd), b.limit_usd, sum(s.usd) > b.limit_usd
FROM spend s JOIN {team_budgets} b ON b.name = s.team
GROUP BY s.day, s.team, b.limit_usd
ORDER BY day, scope, name
