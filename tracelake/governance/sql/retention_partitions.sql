-- Per partition of one table: the rows stored (every copy) and those a retention or erasure step removes.
-- Run over the table's live files on a private DuckDB connection (tracelake/governance/retention_partitions.py),
-- where the temp table `expired_runs(tenant, run_id)` is registered.
-- Slots: {source} (read_parquet of the files, hive partitioning), {partition} (the partition column),
--        {removed} (SQL over one row `t`: true when the row goes; NULL counts as kept),
--        {run_key} (SQL: the row's run as a struct, NULL for a row of no run).
SELECT t.{partition} AS day,
       count(*) AS rows,
       count(*) FILTER (WHERE coalesce({removed}, false)) AS removed_rows,
       count(DISTINCT {run_key}) FILTER (WHERE coalesce({removed}, false)) AS removed_runs
FROM {source} t
GROUP BY t.{partition}
ORDER BY day
