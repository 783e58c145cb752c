-- Not a control: the verdicts of one run, for its timeline, its evidence bundle and `tracelake controls
-- explain` (queries/controls/report.py). One row per control version evaluated, in control order as listed.
-- Bound: $run_id.
SELECT control_id, control_version, severity, verdict, evidence
FROM control_results
WHERE run_id = $run_id
ORDER BY control_id, control_version
