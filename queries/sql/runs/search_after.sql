-- The page after the cursor ($cursor_ts, $cursor_run): a clause of search.sql, in its order.
AND (first_ts < $cursor_ts OR (first_ts = $cursor_ts AND run_id < $cursor_run))
