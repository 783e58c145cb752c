-- Not a control: the verdicts of one run, for its timeline, its evidence bundle and `tracelake controls
-- explain` (queries/controls/report.py). Slot "results" (in braces below): the controls' statement (evaluate.py) over the run's
-- own events only, so the answer never waits on the control_results table (the same SQL fills it).
-- Bound: $run_id.
SELECT control_id, control_version, severity, verdict, evidence
FROM ({results})
ORDER BY control_id, control_version
