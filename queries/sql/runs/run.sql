-- One run's row of the runs view.
SELECT * EXCLUDE (first_ts) FROM runs WHERE run_id = $run_id
