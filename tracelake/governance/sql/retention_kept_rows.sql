-- The rows of one partition that a retention step keeps: what the partition is rewritten with.
-- Slots as retention_partitions.sql.
SELECT t.*
FROM {source} t
WHERE NOT coalesce({removed}, false)
